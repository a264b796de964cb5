//! The hashes a share's context-free check needs, computed for a whole
//! batch at once through the share checker's multi-message SHA-256d
//! ([`Checker::sha256d_messages`]: 4 lanes with NEON on a Pi 4).
//!
//! Per share that is the coinbase txid (the whole coinbase without its
//! witness: 3.4 KB with 100 payees, ~55 compressions), the ref hash the
//! commitment must carry (~140 bytes), and one 64-byte node per merkle
//! branch level. These messages are independent from one share to the
//! next, so a batch of shares hashes them side by side: the txids of four
//! shares in one pass, then their ref hashes, then each branch level.
//! Hashed one after another on rust-bitcoin's scalar SHA-256 they were half
//! of a share's validation cost on a Pi 4 (docs/sharechain.md, "Cost").
//!
//! Consensus is unchanged: the same bytes are hashed (the txid's message is
//! the coinbase's non-witness encoding, taken from the received bytes: the
//! whole coinbase when it has no witness, else its version, inputs, outputs
//! and lock time copied without the witness), only elsewhere.

use crate::params::ConsensusId;
use crate::share_view::ShareView;
use bitcoin::hashes::Hash;
use bitcoin::TxMerkleNode;
use hearth_shacheck::Checker;
use std::ops::Range;

/// What [`crate::Chain::check_context_free`] compares against, for one share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareDigests {
    /// `sha256d(consensus id || encoded info)`: what the commitment output
    /// must carry ([`crate::ShareInfo::ref_hash`]).
    pub ref_hash: [u8; 32],
    /// The coinbase txid (internal byte order).
    pub txid: [u8; 32],
    /// The merkle root reached from the txid through the share's branch.
    pub merkle_root: TxMerkleNode,
}

/// Where a share's txid message lies: in the received bytes (a coinbase
/// without witness is its own txid message) or in the batch buffer.
enum TxidMessage<'a> {
    Received(&'a [u8]),
    Copied(Range<usize>),
}

/// The digests of every share in `shares`, in order, hashed in batches.
pub fn share_digests(
    checker: &Checker,
    id: &ConsensusId,
    shares: &[&ShareView<'_>],
) -> Vec<ShareDigests> {
    // One buffer for the messages that are not in the received bytes
    // (the ref hashes' `id || info`, witness coinbases without their
    // witness): no allocation per share, nothing re-encoded.
    let mut buf = Vec::with_capacity(
        shares
            .iter()
            .map(|s| {
                id.0.len()
                    + s.info_bytes().len()
                    + if s.coinbase.has_witness() {
                        s.coinbase.len()
                    } else {
                        0
                    }
            })
            .sum(),
    );
    let ranges: Vec<(TxidMessage<'_>, Range<usize>)> = shares
        .iter()
        .map(|s| {
            let txid = match s.coinbase.txid_message() {
                Some(m) => TxidMessage::Received(m),
                None => {
                    let start = buf.len();
                    s.coinbase.write_txid_message(&mut buf);
                    TxidMessage::Copied(start..buf.len())
                }
            };
            let start = buf.len();
            buf.extend_from_slice(&id.0);
            buf.extend_from_slice(s.info_bytes());
            (txid, start..buf.len())
        })
        .collect();
    let msgs: Vec<&[u8]> = ranges
        .iter()
        .flat_map(|(t, r)| {
            let txid = match t {
                TxidMessage::Received(m) => m,
                TxidMessage::Copied(c) => &buf[c.clone()],
            };
            [txid, &buf[r.clone()]]
        })
        .collect();
    let hashed = checker.sha256d_messages(&msgs);
    let mut out: Vec<ShareDigests> = hashed
        .chunks_exact(2)
        .map(|pair| ShareDigests {
            txid: pair[0].0,
            ref_hash: pair[1].0,
            merkle_root: TxMerkleNode::from_byte_array(pair[0].0),
        })
        .collect();
    // The branch, one level at a time across the batch: node = sha256d(node
    // || sibling), the coinbase always the left leaf.
    let depth = shares
        .iter()
        .map(|s| s.merkle_branch.len())
        .max()
        .unwrap_or(0);
    let mut nodes: Vec<[u8; 64]> = Vec::with_capacity(shares.len());
    let mut which: Vec<usize> = Vec::with_capacity(shares.len());
    for level in 0..depth {
        nodes.clear();
        which.clear();
        for (i, s) in shares.iter().enumerate() {
            if let Some(sibling) = s.merkle_branch.get(level) {
                let mut m = [0u8; 64];
                m[..32].copy_from_slice(out[i].merkle_root.as_byte_array());
                m[32..].copy_from_slice(sibling.as_byte_array());
                nodes.push(m);
                which.push(i);
            }
        }
        let msgs: Vec<&[u8]> = nodes.iter().map(|m| m.as_slice()).collect();
        for (i, h) in which.iter().zip(checker.sha256d_messages(&msgs)) {
            out[*i].merkle_root = TxMerkleNode::from_byte_array(h.0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::{merkle_root_from_branch, Share};
    use crate::{ChainParams, Network};
    use hearth_shacheck::Backend;

    /// Shares with 1..=40 payees and branches of 0..=3 levels, from a real
    /// chain's jobs: every backend's batch digests equal rust-bitcoin's
    /// `compute_txid`, `ShareInfo::ref_hash` and the one-by-one merkle walk,
    /// one share at a time and in batches of every size up to 9.
    #[test]
    fn batch_digests_equal_rust_bitcoins_one_by_one() {
        let id = ChainParams::for_network(Network::Regtest).consensus_id();
        let shares =
            crate::miner::regtest_shares(40, |i| (0..i % 4).map(|k| [k as u8 + 2; 32]).collect())
                .expect("regtest shares");
        let encoded: Vec<Vec<u8>> = shares.iter().map(Share::to_bytes).collect();
        let views: Vec<ShareView<'_>> = encoded
            .iter()
            .map(|b| ShareView::parse(b).expect("parses"))
            .collect();
        let views: Vec<&ShareView<'_>> = views.iter().collect();
        let want: Vec<ShareDigests> = shares
            .iter()
            .map(|s| {
                let txid = s.coinbase.compute_txid().to_byte_array();
                ShareDigests {
                    ref_hash: s.info.ref_hash(&id),
                    txid,
                    merkle_root: merkle_root_from_branch(txid, &s.merkle_branch),
                }
            })
            .collect();
        assert!(want
            .iter()
            .zip(&shares)
            .all(|(d, s)| d.merkle_root == s.header.merkle_root));
        for backend in Backend::available() {
            let c = Checker::new(backend).expect("available");
            assert_eq!(share_digests(&c, &id, &views), want, "{backend}");
            for n in 1..=9 {
                for (chunk, w) in views.chunks(n).zip(want.chunks(n)) {
                    assert_eq!(share_digests(&c, &id, chunk), w, "{backend} batches of {n}");
                }
            }
        }
        assert!(share_digests(&Checker::detect(), &id, &[]).is_empty());
    }
}
