//! The share format (version 1): a Bitcoin block header, its coinbase
//! transaction, the merkle branch from the coinbase to the header's merkle
//! root, and the [`ShareInfo`] the coinbase commits to. No other
//! transactions travel with a share. Field by field in docs/sharechain.md.

use crate::params::ConsensusId;
use bitcoin::block::Header;
use bitcoin::consensus::{encode, Decodable, Encodable};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{CompactTarget, ScriptBuf, Transaction, TxMerkleNode, Work};

/// The only share format version this node speaks. A change of the coinbase
/// shape or the payout rule bumps it (with the consensus id's tag). Version
/// 3 draws the small payees' prizes from one pool, `floor(value x small
/// weight / total)`, so a payout costs O(direct payees + prizes x log
/// payees); version 2 summed per-payee roundings (O(payees) per share) and
/// version 1 was pro-rata only. Neither had a public chain to keep; both
/// are refused (docs/sharechain.md).
pub const SHARE_VERSION: u32 = 3;
/// Largest encoded share (header + coinbase + branch + info).
pub const MAX_SHARE_BYTES: usize = 64 * 1024;
/// Largest payout script (P2WSH and P2TR are 34 bytes).
pub const MAX_PAYOUT_SCRIPT_BYTES: usize = 64;
/// Merkle branch length limit: 2^24 transactions is far beyond a block.
pub const MAX_MERKLE_BRANCH: usize = 24;
/// Tag in front of the ref hash in the commitment output.
pub const COMMITMENT_TAG: [u8; 4] = *b"HRTH";
/// `OP_RETURN OP_PUSHBYTES_36 "HRTH" <32-byte ref hash>`.
pub const COMMITMENT_SCRIPT_LEN: usize = 38;

/// A share's id: its header's SHA-256d (internal byte order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ShareHash(pub [u8; 32]);

/// The hasher of the chain's own maps of share ids ([`ShareIdMap`]).
///
/// The chain indexes only shares whose header met its share target, so
/// their ids are SHA-256d outputs that cost proof of work to choose:
/// already uniform, and too dear to grind into one bucket. SipHash's
/// defence against chosen keys buys nothing there and was 4.5 % of
/// validating a window on a Raspberry Pi 4 (docs/sharechain.md, round 7).
/// Maps keyed by ids a peer merely *names* (the node's requests) keep
/// the standard, keyed hasher.
#[derive(Debug, Default, Clone, Copy)]
pub struct ShareIdHasher(u64);

impl std::hash::Hasher for ShareIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Folds every 8 bytes in (an id is 32), then mixes once in
        // `finish`; the low (internal-order first) bytes are the random
        // ones, the last ones are the proof of work's zeros.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(23) ^ u64::from_le_bytes(word);
        }
    }

    fn finish(&self) -> u64 {
        // One multiply spreads the bits to the top, where hashbrown takes
        // its control tags from.
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// A map keyed by ids of shares that passed their proof of work.
pub type ShareIdMap<V> =
    std::collections::HashMap<ShareHash, V, std::hash::BuildHasherDefault<ShareIdHasher>>;

impl ShareHash {
    /// The parent of the first share.
    pub const GENESIS_PARENT: ShareHash = ShareHash([0; 32]);

    /// Display-order hex (byte-reversed, like block hashes).
    pub fn to_hex(&self) -> String {
        self.0.iter().rev().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses display-order hex.
    pub fn from_hex(s: &str) -> Option<ShareHash> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().rev().enumerate() {
            *slot = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(ShareHash(out))
    }
}

/// What the coinbase commits to: the share's place in the sharechain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInfo {
    /// [`SHARE_VERSION`].
    pub version: u32,
    /// The previous share ([`ShareHash::GENESIS_PARENT`] for the first).
    pub prev_share: ShareHash,
    /// Height in the sharechain (0 for the first share).
    pub height: u64,
    /// The share target (must equal the retarget rule's value).
    pub share_bits: CompactTarget,
    /// Share time, Unix seconds (checked against median-time-past and now).
    pub timestamp: u32,
    /// Work of the chain up to and including this share.
    pub cumulative_work: Work,
    /// Where this share's reward goes. (Version 1 also carried a digest of
    /// the payout outputs: the coinbase's txid already commits to them, and
    /// hashing them a second time per share was a large part of the cost.)
    pub payout_script: ScriptBuf,
}

impl Encodable for ShareInfo {
    fn consensus_encode<W: bitcoin::io::Write + ?Sized>(
        &self,
        w: &mut W,
    ) -> Result<usize, bitcoin::io::Error> {
        let mut n = self.version.consensus_encode(w)?;
        n += self.prev_share.0.consensus_encode(w)?;
        n += self.height.consensus_encode(w)?;
        n += self.share_bits.consensus_encode(w)?;
        n += self.timestamp.consensus_encode(w)?;
        n += self.cumulative_work.to_le_bytes().consensus_encode(w)?;
        n += self.payout_script.consensus_encode(w)?;
        Ok(n)
    }
}

impl Decodable for ShareInfo {
    fn consensus_decode<R: bitcoin::io::Read + ?Sized>(r: &mut R) -> Result<Self, encode::Error> {
        let version = u32::consensus_decode(r)?;
        if version != SHARE_VERSION {
            return Err(encode::Error::ParseFailed("unknown share version"));
        }
        let prev_share = ShareHash(<[u8; 32]>::consensus_decode(r)?);
        let height = u64::consensus_decode(r)?;
        let share_bits = CompactTarget::consensus_decode(r)?;
        let timestamp = u32::consensus_decode(r)?;
        let cumulative_work = Work::from_le_bytes(<[u8; 32]>::consensus_decode(r)?);
        let payout_script = ScriptBuf::consensus_decode(r)?;
        if payout_script.len() > MAX_PAYOUT_SCRIPT_BYTES {
            return Err(encode::Error::ParseFailed("payout script too long"));
        }
        Ok(ShareInfo {
            version,
            prev_share,
            height,
            share_bits,
            timestamp,
            cumulative_work,
            payout_script,
        })
    }
}

impl ShareInfo {
    /// sha256d(consensus id || encoded info): the 32 bytes the coinbase's
    /// commitment output carries.
    pub fn ref_hash(&self, id: &ConsensusId) -> [u8; 32] {
        let mut buf = Vec::with_capacity(200);
        buf.extend_from_slice(&id.0);
        let _ = self.consensus_encode(&mut buf);
        sha256d::Hash::hash(&buf).to_byte_array()
    }
}

/// The commitment output's script for `ref_hash`.
pub fn commitment_script(ref_hash: &[u8; 32]) -> ScriptBuf {
    let mut s = Vec::with_capacity(COMMITMENT_SCRIPT_LEN);
    s.push(0x6a); // OP_RETURN
    s.push(36); // push 36 bytes
    s.extend_from_slice(&COMMITMENT_TAG);
    s.extend_from_slice(ref_hash);
    ScriptBuf::from_bytes(s)
}

/// The ref hash a commitment script carries, if it is one.
pub fn parse_commitment(script: &ScriptBuf) -> Option<[u8; 32]> {
    let b = script.as_bytes();
    if b.len() != COMMITMENT_SCRIPT_LEN || b[0] != 0x6a || b[1] != 36 || b[2..6] != COMMITMENT_TAG {
        return None;
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&b[6..]);
    Some(out)
}

/// A share as it travels and is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The 80-byte Bitcoin header the miner found.
    pub header: Header,
    /// Its coinbase transaction.
    pub coinbase: Transaction,
    /// Hashes from the coinbase's txid up to the merkle root (the coinbase
    /// is always the leftmost leaf).
    pub merkle_branch: Vec<TxMerkleNode>,
    /// The committed share data.
    pub info: ShareInfo,
}

impl Encodable for Share {
    fn consensus_encode<W: bitcoin::io::Write + ?Sized>(
        &self,
        w: &mut W,
    ) -> Result<usize, bitcoin::io::Error> {
        let mut n = self.header.consensus_encode(w)?;
        n += self.coinbase.consensus_encode(w)?;
        n += self.merkle_branch.consensus_encode(w)?;
        n += self.info.consensus_encode(w)?;
        Ok(n)
    }
}

impl Decodable for Share {
    fn consensus_decode<R: bitcoin::io::Read + ?Sized>(r: &mut R) -> Result<Self, encode::Error> {
        let header = Header::consensus_decode(r)?;
        let coinbase = Transaction::consensus_decode(r)?;
        let merkle_branch = Vec::<TxMerkleNode>::consensus_decode(r)?;
        if merkle_branch.len() > MAX_MERKLE_BRANCH {
            return Err(encode::Error::ParseFailed("merkle branch too long"));
        }
        let info = ShareInfo::consensus_decode(r)?;
        Ok(Share {
            header,
            coinbase,
            merkle_branch,
            info,
        })
    }
}

/// Why bytes are not a share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Longer than [`MAX_SHARE_BYTES`].
    #[error("share is {len} bytes, limit {MAX_SHARE_BYTES}")]
    TooLong {
        /// The length given.
        len: usize,
    },
    /// Not a valid encoding (or trailing bytes).
    #[error("malformed share: {0}")]
    Malformed(String),
}

impl Share {
    /// The share id (the header's SHA-256d).
    pub fn hash(&self) -> ShareHash {
        ShareHash(self.header.block_hash().to_byte_array())
    }

    /// Consensus bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode::serialize(self)
    }

    /// Decodes one share, refusing oversized input before parsing it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Share, DecodeError> {
        if bytes.len() > MAX_SHARE_BYTES {
            return Err(DecodeError::TooLong { len: bytes.len() });
        }
        encode::deserialize(bytes).map_err(|e| DecodeError::Malformed(e.to_string()))
    }

    /// The 80 header bytes (its consensus encoding, written in place: no
    /// allocation, since every share's header goes to the share checker).
    pub fn header_bytes(&self) -> [u8; 80] {
        crate::share_view::header_bytes(&self.header)
    }
}

/// The merkle root reached from `txid` (leftmost leaf) through `branch`.
pub fn merkle_root_from_branch(txid: [u8; 32], branch: &[TxMerkleNode]) -> TxMerkleNode {
    let mut h = txid;
    let mut buf = [0u8; 64];
    for node in branch {
        buf[..32].copy_from_slice(&h);
        buf[32..].copy_from_slice(node.as_byte_array());
        h = sha256d::Hash::hash(&buf).to_byte_array();
    }
    TxMerkleNode::from_byte_array(h)
}

/// The branch for the first leaf of `txids` (coinbase first), for building
/// a share from a block template.
pub fn coinbase_merkle_branch(txids: &[[u8; 32]]) -> Vec<TxMerkleNode> {
    let mut branch = Vec::new();
    let mut level: Vec<[u8; 32]> = txids.to_vec();
    while level.len() > 1 {
        let sibling = level.get(1).copied().unwrap_or(level[0]);
        branch.push(TxMerkleNode::from_byte_array(sibling));
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            let a = pair[0];
            let b = pair.get(1).copied().unwrap_or(a);
            let mut buf = [0u8; 64];
            buf[..32].copy_from_slice(&a);
            buf[32..].copy_from_slice(&b);
            next.push(sha256d::Hash::hash(&buf).to_byte_array());
        }
        level = next;
    }
    branch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_hasher_tells_every_byte_apart_and_spreads_ids_over_the_top_bits() {
        use std::hash::BuildHasher;
        let build = std::hash::BuildHasherDefault::<ShareIdHasher>::default();
        let base = ShareHash([0x5a; 32]);
        let h0 = build.hash_one(base);
        // A change in any byte of the id changes its hash.
        for i in 0..32 {
            let mut other = base;
            other.0[i] ^= 1;
            assert_ne!(build.hash_one(other), h0, "byte {i}");
        }
        // Ids as proof of work makes them (random low bytes, zero high
        // ones): the top 10 bits, where hashbrown's tags come from, spread
        // evenly over 1024 buckets.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut buckets = vec![0u32; 1024];
        for _ in 0..100_000 {
            let mut id = [0u8; 32];
            for chunk in id[..24].chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes());
            }
            buckets[(build.hash_one(ShareHash(id)) >> 54) as usize] += 1;
        }
        let (lo, hi) = (buckets.iter().min().unwrap(), buckets.iter().max().unwrap());
        // About 98 per bucket; a poor hash would leave buckets empty.
        assert!(*lo > 50 && *hi < 150, "{lo}..{hi}");
        // And a map keyed by it works.
        let mut m: ShareIdMap<u32> = ShareIdMap::default();
        m.insert(base, 1);
        assert_eq!(m.get(&base), Some(&1));
        assert_eq!(m.get(&ShareHash([0; 32])), None);
    }

    #[test]
    fn share_hash_hex_round_trips_in_display_order() {
        let mut b = [0u8; 32];
        b[0] = 0x6f;
        b[31] = 0x01;
        let h = ShareHash(b);
        let s = h.to_hex();
        assert!(s.starts_with("01") && s.ends_with("6f"));
        assert_eq!(ShareHash::from_hex(&s), Some(h));
        assert_eq!(ShareHash::from_hex("zz"), None);
        assert_eq!(ShareHash::from_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn merkle_branch_matches_bitcoins_own_merkle_root() {
        // Block 100000's four transactions (rust-bitcoin computes the root).
        let txids: Vec<[u8; 32]> = (0u8..5)
            .map(|i| sha256d::Hash::hash(&[i]).to_byte_array())
            .collect();
        for n in 1..=txids.len() {
            let leaves = &txids[..n];
            let expected = bitcoin::merkle_tree::calculate_root(
                leaves.iter().map(|t| TxMerkleNode::from_byte_array(*t)),
            );
            let branch = coinbase_merkle_branch(leaves);
            assert_eq!(
                Some(merkle_root_from_branch(leaves[0], &branch)),
                expected,
                "n={n}"
            );
        }
    }

    #[test]
    fn commitment_script_round_trips_and_rejects_lookalikes() {
        let r = [7u8; 32];
        let s = commitment_script(&r);
        assert_eq!(s.len(), COMMITMENT_SCRIPT_LEN);
        assert!(s.is_op_return());
        assert_eq!(parse_commitment(&s), Some(r));
        let mut b = s.to_bytes();
        b[2] = b'X';
        assert_eq!(parse_commitment(&ScriptBuf::from_bytes(b)), None);
        assert_eq!(parse_commitment(&ScriptBuf::new()), None);
    }
}
