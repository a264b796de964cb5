//! A share read from its bytes for validation, with the coinbase borrowed
//! ([`TxView`]) instead of decoded: the header, branch and share info are
//! small and decoded by rust-bitcoin as in [`crate::Share`]; the coinbase, 3.4 KB
//! and ~100 outputs with 100 payees, stays in the bytes it arrived in, so
//! checking it allocates nothing per output and its txid is hashed from
//! those bytes, not from a re-encoding.
//!
//! Accepts exactly what [`crate::Share::from_bytes`] accepts (tested against it on
//! mutated shares): same size limit, same branch limit, no trailing bytes.

use crate::share::{DecodeError, ShareInfo, MAX_MERKLE_BRANCH, MAX_SHARE_BYTES};
use crate::txview::{TxLayout, TxView};
use bitcoin::block::Header;
use bitcoin::consensus::Decodable;
use bitcoin::TxMerkleNode;

/// A share whose coinbase is borrowed from its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareView<'a> {
    /// The 80-byte Bitcoin header.
    pub header: Header,
    /// The coinbase, borrowed.
    pub coinbase: TxView<'a>,
    /// Hashes from the coinbase's txid up to the merkle root.
    pub merkle_branch: Vec<TxMerkleNode>,
    /// The committed share data.
    pub info: ShareInfo,
    /// `info`'s encoding as received (the ref hash's message after the
    /// consensus id).
    info_bytes: &'a [u8],
}

fn malformed(e: impl std::fmt::Display) -> DecodeError {
    DecodeError::Malformed(e.to_string())
}

impl<'a> ShareView<'a> {
    /// Reads one share, refusing what [`crate::Share::from_bytes`] refuses.
    pub fn parse(bytes: &'a [u8]) -> Result<ShareView<'a>, DecodeError> {
        if bytes.len() > MAX_SHARE_BYTES {
            return Err(DecodeError::TooLong { len: bytes.len() });
        }
        let (view, used) = ShareView::parse_prefix(bytes)?;
        if used != bytes.len() {
            return Err(malformed("trailing bytes after the share"));
        }
        Ok(view)
    }

    /// Reads one share from the start of `bytes` and says how many bytes it
    /// took; what follows is the caller's (a share inside a p2p message).
    /// No size limit: the caller applies [`MAX_SHARE_BYTES`] to the length
    /// returned.
    pub fn parse_prefix(bytes: &'a [u8]) -> Result<(ShareView<'a>, usize), DecodeError> {
        let mut r = bytes;
        let header = Header::consensus_decode(&mut r).map_err(malformed)?;
        let coinbase = TxView::parse(r).map_err(malformed)?;
        let mut r = r.get(coinbase.len()..).unwrap_or_default();
        let merkle_branch = Vec::<TxMerkleNode>::consensus_decode(&mut r).map_err(malformed)?;
        if merkle_branch.len() > MAX_MERKLE_BRANCH {
            return Err(malformed("merkle branch too long"));
        }
        let info_start = r;
        let info = ShareInfo::consensus_decode(&mut r).map_err(malformed)?;
        let info_bytes = &info_start[..info_start.len() - r.len()];
        let used = bytes.len() - r.len();
        Ok((
            ShareView {
                header,
                coinbase,
                merkle_branch,
                info,
                info_bytes,
            },
            used,
        ))
    }

    /// The view of a share already parsed ([`crate::ReceivedShare`]), put
    /// back together on its bytes from what the parse found, without
    /// reading them again; `None` if the parts do not fit the bytes.
    pub(crate) fn from_parts(
        bytes: &'a [u8],
        header: Header,
        coinbase: &TxLayout,
        merkle_branch: Vec<TxMerkleNode>,
        info: ShareInfo,
        info_at: usize,
    ) -> Option<ShareView<'a>> {
        Some(ShareView {
            header,
            coinbase: TxView::with_layout(bytes.get(80..)?, coinbase)?,
            merkle_branch,
            info,
            info_bytes: bytes.get(info_at..)?,
        })
    }

    /// Where the coinbase lies in the share's bytes (they start 80 bytes
    /// in, after the header), and where the info starts.
    pub(crate) fn layout(&self, share_bytes: &[u8]) -> (TxLayout, usize) {
        let info_at = share_bytes.len() - self.info_bytes.len();
        (self.coinbase.layout(), info_at)
    }

    /// The encoded share info, exactly as received.
    pub fn info_bytes(&self) -> &'a [u8] {
        self.info_bytes
    }

    /// The 80 header bytes (as [`crate::Share::header_bytes`]).
    pub fn header_bytes(&self) -> [u8; 80] {
        header_bytes(&self.header)
    }
}

/// A header's 80 consensus bytes, written in place.
pub(crate) fn header_bytes(h: &Header) -> [u8; 80] {
    use bitcoin::hashes::Hash;
    let mut out = [0u8; 80];
    out[..4].copy_from_slice(&h.version.to_consensus().to_le_bytes());
    out[4..36].copy_from_slice(h.prev_blockhash.as_byte_array());
    out[36..68].copy_from_slice(h.merkle_root.as_byte_array());
    out[68..72].copy_from_slice(&h.time.to_le_bytes());
    out[72..76].copy_from_slice(&h.bits.to_consensus().to_le_bytes());
    out[76..].copy_from_slice(&h.nonce.to_le_bytes());
    out
}

/// Whether a view and a decoded share say the same (for tests).
#[cfg(test)]
pub(crate) fn same_share(view: &ShareView<'_>, share: &crate::Share) -> bool {
    view.header == share.header
        && view.merkle_branch == share.merkle_branch
        && view.info == share.info
        && view.coinbase.is_coinbase() == share.coinbase.is_coinbase()
        && view.coinbase.output_count() == share.coinbase.output.len()
        && view
            .coinbase
            .outputs()
            .zip(&share.coinbase.output)
            .all(|(v, o)| v.value_sat == o.value.to_sat() && v.script == o.script_pubkey.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::Share;
    use proptest::prelude::*;

    /// Six mined shares (branches of 0..=2 levels), made once.
    fn shares() -> &'static [Share] {
        static SHARES: std::sync::OnceLock<Vec<Share>> = std::sync::OnceLock::new();
        SHARES.get_or_init(mine_shares)
    }

    fn mine_shares() -> Vec<Share> {
        crate::miner::regtest_shares(6, |i| (0..i % 3).map(|k| [k as u8 + 2; 32]).collect())
            .expect("regtest shares")
    }

    #[test]
    fn view_reads_what_share_from_bytes_decodes() {
        for share in shares() {
            let bytes = share.to_bytes();
            let view = ShareView::parse(&bytes).expect("parses");
            assert!(same_share(&view, share));
            assert_eq!(view.header_bytes(), share.header_bytes());
            let mut info = Vec::new();
            let _ = bitcoin::consensus::Encodable::consensus_encode(&share.info, &mut info);
            assert_eq!(view.info_bytes(), &info[..]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Mutated, truncated or extended shares: the view refuses exactly
        /// what `Share::from_bytes` refuses and reads the same otherwise.
        #[test]
        fn view_refuses_what_share_from_bytes_refuses(
            which in 0usize..6,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            cut in any::<prop::sample::Index>(),
            mode in 0u8..3,
        ) {
            let all = shares();
            let mut bytes = all[which].to_bytes();
            for (at, b) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *b;
            }
            match mode {
                0 => bytes.truncate(cut.index(bytes.len() + 1)),
                1 => bytes.push(0),
                _ => {}
            }
            match (Share::from_bytes(&bytes), ShareView::parse(&bytes)) {
                (Ok(share), Ok(view)) => prop_assert!(same_share(&view, &share)),
                (Err(_), Err(_)) => {}
                (s, v) => prop_assert!(false, "from_bytes {:?}, view {:?}", s.is_ok(), v.is_ok()),
            }
        }
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let big = vec![0u8; MAX_SHARE_BYTES + 1];
        assert_eq!(
            ShareView::parse(&big),
            Err(DecodeError::TooLong { len: big.len() })
        );
    }
}
