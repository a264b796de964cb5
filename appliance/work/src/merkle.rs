//! The merkle branch of a block's first transaction (the coinbase): the
//! sibling hashes from the coinbase leaf to the root. The coinbase changes
//! with every extranonce, the other transactions do not, so the branch is
//! computed once per template and each job's root costs one SHA-256d per
//! level.

use bitcoin::hashes::{sha256d, Hash as _};
use bitcoin::Txid;

/// Sibling hashes, leaf level first, in internal (serialized) byte order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MerkleBranch(pub Vec<[u8; 32]>);

fn parent(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(left);
    both[32..].copy_from_slice(right);
    sha256d::Hash::hash(&both).to_byte_array()
}

impl MerkleBranch {
    /// The branch for the coinbase of a block whose other transactions have
    /// `txids` (block order, coinbase excluded).
    pub fn for_coinbase(txids: &[Txid]) -> MerkleBranch {
        // Level entries after index 0 (index 0 is the coinbase's path).
        let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.to_byte_array()).collect();
        let mut branch = Vec::new();
        while !level.is_empty() {
            // With the coinbase path in front, an odd count duplicates the last.
            if (level.len() + 1) % 2 == 1 {
                if let Some(last) = level.last().copied() {
                    level.push(last);
                }
            }
            branch.push(level[0]);
            level = level[1..]
                .chunks_exact(2)
                .map(|pair| parent(&pair[0], &pair[1]))
                .collect();
        }
        MerkleBranch(branch)
    }

    /// The merkle root for a coinbase whose txid is `coinbase_txid`
    /// (internal byte order).
    pub fn root(&self, coinbase_txid: [u8; 32]) -> [u8; 32] {
        self.0
            .iter()
            .fold(coinbase_txid, |acc, sibling| parent(&acc, sibling))
    }

    /// Depth (number of siblings).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::merkle_tree;

    fn txid(n: u8) -> Txid {
        Txid::from_byte_array(sha256d::Hash::hash(&[n]).to_byte_array())
    }

    #[test]
    fn root_from_branch_equals_rust_bitcoin_for_every_size() {
        for others in 0..40u8 {
            let all: Vec<Txid> = (0..=others).map(txid).collect();
            let branch = MerkleBranch::for_coinbase(&all[1..]);
            let expected = merkle_tree::calculate_root(all.iter().copied())
                .map(|t| t.to_byte_array())
                .unwrap();
            assert_eq!(branch.root(all[0].to_byte_array()), expected, "{others}");
        }
    }

    #[test]
    fn depth_is_log2_of_the_padded_count() {
        assert_eq!(MerkleBranch::for_coinbase(&[]).len(), 0);
        let t: Vec<Txid> = (1..=4).map(txid).collect();
        assert_eq!(MerkleBranch::for_coinbase(&t[..1]).len(), 1);
        assert_eq!(MerkleBranch::for_coinbase(&t[..2]).len(), 2);
        assert_eq!(MerkleBranch::for_coinbase(&t[..3]).len(), 2);
        assert_eq!(MerkleBranch::for_coinbase(&t[..4]).len(), 3);
    }
}
