//! A share as a peer sent it: its bytes exactly as received, with its
//! header and [`ShareInfo`] read ([`ShareView`]'s parser) and its id. The
//! coinbase stays in the bytes: the chain checks it there
//! ([`crate::Chain::accept_received`]), the store keeps the bytes, relaying
//! forwards them, and only a share that meets the block target is decoded
//! into a [`Share`] (a rust-bitcoin `Transaction`, one heap script per
//! output) for `submitblock` ([`ReceivedShare::decode`]).
//!
//! The fields are private, so the bytes and what was read from them cannot
//! disagree: a `ReceivedShare` comes from bytes the parser accepted, from
//! the p2p codec (which falls back to rust-bitcoin's decoder where the view
//! refuses, so it accepts exactly what it accepted before), or from an
//! encoded [`Share`].

use crate::share::{DecodeError, Share, ShareHash, ShareInfo, MAX_SHARE_BYTES};
use crate::share_view::{header_bytes, ShareView};
use crate::txview::TxLayout;
use bitcoin::block::Header;
use bitcoin::consensus::{encode, Encodable};
use bitcoin::hashes::Hash;
use bitcoin::TxMerkleNode;
use hearth_shacheck::Checker;

/// A share's bytes as received, with its header, info and id.
#[derive(Clone)]
pub struct ReceivedShare {
    bytes: Vec<u8>,
    header: Header,
    info: ShareInfo,
    hash: ShareHash,
    /// What the view's parse found, for [`ReceivedShare::view`] to put back
    /// together without reading the bytes again; `None` for bytes the view
    /// did not read (over the size limit: the chain refuses them).
    parts: Option<Parts>,
}

#[derive(Debug, Clone)]
struct Parts {
    coinbase: TxLayout,
    merkle_branch: Vec<TxMerkleNode>,
    info_at: usize,
}

impl Parts {
    fn of(view: &ShareView<'_>, bytes: &[u8]) -> Parts {
        let (coinbase, info_at) = view.layout(bytes);
        Parts {
            coinbase,
            merkle_branch: view.merkle_branch.clone(),
            info_at,
        }
    }
}

/// Equal when the bytes are: everything else is read from them.
impl PartialEq for ReceivedShare {
    fn eq(&self, other: &ReceivedShare) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for ReceivedShare {}

impl std::fmt::Debug for ReceivedShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceivedShare")
            .field("hash", &self.hash.to_hex())
            .field("height", &self.info.height)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

fn id_of(header: &Header) -> ShareHash {
    ShareHash(header.block_hash().to_byte_array())
}

impl ReceivedShare {
    /// One share's bytes (a stored row, a test's), refusing what
    /// [`Share::from_bytes`] refuses.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<ReceivedShare, DecodeError> {
        let view = ShareView::parse(&bytes)?;
        let parts = Parts::of(&view, &bytes);
        let (header, info) = (view.header, view.info);
        Ok(ReceivedShare {
            hash: id_of(&header),
            header,
            info,
            bytes,
            parts: Some(parts),
        })
    }

    /// Reads `n` shares from the front of `r` and advances it (shares in a
    /// p2p payload: no length prefix, each ends where its encoding ends),
    /// their ids hashed side by side by the share checker (4 lanes on a
    /// Pi 4, not one scalar SHA-256d per header; every backend computes the
    /// same hashes). See [`ReceivedShare::read_from`].
    pub(crate) fn read_many(r: &mut &[u8], n: usize) -> Result<Vec<ReceivedShare>, encode::Error> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(ReceivedShare::read_from(r)?);
        }
        let headers: Vec<[u8; 80]> = v.iter().map(|s| header_bytes(&s.header)).collect();
        for (s, h) in v.iter_mut().zip(Checker::detect().hash_headers(&headers)) {
            s.hash = ShareHash(h.0);
        }
        Ok(v)
    }

    /// Reads one share from the front of `r` and advances it; its id is left
    /// for [`ReceivedShare::read_many`] to hash.
    /// The borrowed view reads it when it can, with the size limit applied
    /// after; otherwise rust-bitcoin's `Share` decoder decides, so what is
    /// accepted, and the reason for what is not, is what that decoder says
    /// (the view accepts exactly what it accepts within [`MAX_SHARE_BYTES`],
    /// tested in share_view.rs; a longer share is read by the decoder and
    /// refused later by the chain, as before).
    fn read_from(r: &mut &[u8]) -> Result<ReceivedShare, encode::Error> {
        let rest: &[u8] = r;
        if let Ok((view, used)) = ShareView::parse_prefix(rest) {
            if used <= MAX_SHARE_BYTES {
                let bytes = &rest[..used];
                let parts = Parts::of(&view, bytes);
                let (header, info) = (view.header, view.info);
                *r = &rest[used..];
                return Ok(ReceivedShare {
                    hash: ShareHash::default(),
                    header,
                    info,
                    bytes: bytes.to_vec(),
                    parts: Some(parts),
                });
            }
        }
        let mut after = rest;
        let share: Share = bitcoin::consensus::Decodable::consensus_decode(&mut after)?;
        let used = rest.len() - after.len();
        *r = after;
        Ok(ReceivedShare {
            hash: ShareHash::default(),
            header: share.header,
            info: share.info,
            bytes: rest[..used].to_vec(),
            parts: None,
        })
    }

    /// The share's id (its header's SHA-256d).
    pub fn hash(&self) -> ShareHash {
        self.hash
    }

    /// Its Bitcoin header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Its committed share data.
    pub fn info(&self) -> &ShareInfo {
        &self.info
    }

    /// The bytes, exactly as received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, taken.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The share as the chain validates it, its coinbase borrowed from the
    /// bytes: put back together from what was read on arrival (no second
    /// parse), or parsed now (and refused: over the size limit) for bytes
    /// the view did not read.
    pub fn view(&self) -> Result<ShareView<'_>, DecodeError> {
        let rebuilt = self.parts.as_ref().and_then(|p| {
            ShareView::from_parts(
                &self.bytes,
                self.header,
                &p.coinbase,
                p.merkle_branch.clone(),
                self.info.clone(),
                p.info_at,
            )
        });
        match rebuilt {
            Some(v) => Ok(v),
            None => ShareView::parse(&self.bytes),
        }
    }

    /// The share decoded with rust-bitcoin (its coinbase a `Transaction`):
    /// only for what needs one, a block to submit.
    pub fn decode(&self) -> Result<Share, DecodeError> {
        encode::deserialize(&self.bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}

impl From<&Share> for ReceivedShare {
    /// A decoded share (ours, a test's), encoded once.
    fn from(share: &Share) -> ReceivedShare {
        let bytes = share.to_bytes();
        let parts = ShareView::parse(&bytes).ok().map(|v| Parts::of(&v, &bytes));
        ReceivedShare {
            header: share.header,
            info: share.info.clone(),
            hash: share.hash(),
            parts,
            bytes,
        }
    }
}

impl From<Share> for ReceivedShare {
    fn from(share: Share) -> ReceivedShare {
        ReceivedShare::from(&share)
    }
}

impl Encodable for ReceivedShare {
    /// The bytes as received: relaying forwards them unchanged.
    fn consensus_encode<W: bitcoin::io::Write + ?Sized>(
        &self,
        w: &mut W,
    ) -> Result<usize, bitcoin::io::Error> {
        w.write_all(&self.bytes)?;
        Ok(self.bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_received_share_reads_what_the_decoder_reads() {
        let shares = crate::miner::regtest_shares(3, |i| vec![[i as u8 + 2; 32]]).expect("shares");
        for s in &shares {
            let r = ReceivedShare::from_bytes(s.to_bytes()).expect("parses");
            assert_eq!(r.hash(), s.hash());
            assert_eq!(r.header(), &s.header);
            assert_eq!(r.info(), &s.info);
            assert_eq!(r.bytes(), &s.to_bytes()[..]);
            assert_eq!(r.decode().as_ref(), Ok(s));
            let bytes = s.to_bytes();
            assert_eq!(
                r.view(),
                ShareView::parse(&bytes),
                "view put back as parsed"
            );
            assert_eq!(ReceivedShare::from(s), r);
            let mut enc = Vec::new();
            let _ = r.consensus_encode(&mut enc);
            assert_eq!(enc, s.to_bytes());
        }
        let mut long = shares[0].to_bytes();
        long.push(0);
        assert!(ReceivedShare::from_bytes(long).is_err());
    }
}
