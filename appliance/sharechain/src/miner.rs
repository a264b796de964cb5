//! A CPU share miner for regtest-difficulty chains: builds the coinbase for
//! a [`ShareJob`] and grinds the nonce. Used by the simulator, the
//! benchmark and tests; real shares come from hashboards through the work
//! pipeline.

use crate::chain::ShareJob;
use crate::share::{coinbase_merkle_branch, merkle_root_from_branch, Share};
use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version as TxVersion;
use bitcoin::{
    BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, Witness,
};

/// The block header fields a share is mined on (from a block template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockBase {
    /// Bitcoin tip the block builds on.
    pub prev_blockhash: BlockHash,
    /// Bitcoin height of the block (BIP34).
    pub height: u32,
    /// Block target.
    pub bits: CompactTarget,
    /// Header time.
    pub time: u32,
}

/// A coinbase paying `job`'s outputs, with `extra_nonce` in its scriptSig.
pub fn coinbase_for(job: &ShareJob, base: &BlockBase, extra_nonce: u64) -> Transaction {
    let script_sig = bitcoin::script::Builder::new()
        .push_int(i64::from(base.height))
        .push_slice(extra_nonce.to_le_bytes())
        .into_script();
    let mut output = job.payout_outputs.clone();
    output.push(job.commitment_output.clone());
    Transaction {
        version: TxVersion::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output,
    }
}

/// Mines a share for `job` on `base`, with `other_txids` after the coinbase
/// in the block. Gives up (None) after `max_tries` nonces.
pub fn mine(
    job: &ShareJob,
    base: &BlockBase,
    other_txids: &[[u8; 32]],
    extra_nonce: u64,
    max_tries: u32,
) -> Option<Share> {
    let coinbase = coinbase_for(job, base, extra_nonce);
    let mut txids = vec![coinbase.compute_txid().to_byte_array()];
    txids.extend_from_slice(other_txids);
    let merkle_branch = coinbase_merkle_branch(&txids);
    let merkle_root = merkle_root_from_branch(txids[0], &merkle_branch);
    let mut header = Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: base.prev_blockhash,
        merkle_root,
        time: base.time,
        bits: base.bits,
        nonce: 0,
    };
    for nonce in 0..max_tries {
        header.nonce = nonce;
        if job.share_target.is_met_by(header.block_hash()) {
            return Some(Share {
                header,
                coinbase,
                merkle_branch,
                info: job.info.clone(),
            });
        }
    }
    None
}

/// A regtest chain of `count` shares mined in order, ten seconds apart from
/// 1,700,000,000 on one block base: share `i` pays [`test_payout_script`]`(i)`
/// and sits in a block with `other_txids(i)` after its coinbase. The shares
/// tests and benchmarks need; `None` if one fails to mine or is refused.
pub fn regtest_shares(
    count: u32,
    other_txids: impl Fn(u32) -> Vec<[u8; 32]>,
) -> Option<Vec<Share>> {
    let params = crate::ChainParams::for_network(crate::Network::Regtest);
    let mut chain = crate::Chain::new(params, hearth_shacheck::Checker::detect());
    let mut shares = Vec::new();
    for i in 0..count {
        let t = 1_700_000_000 + 10 * u64::from(i);
        let base = BlockBase {
            prev_blockhash: BlockHash::from_byte_array([1; 32]),
            height: 1000,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            time: t as u32,
        };
        let job = chain.job(test_payout_script(i), 3_125_000_000, base.bits, t);
        let share = mine(&job, &base, &other_txids(i), u64::from(i), 10_000)?;
        chain.accept(share.clone(), t).ok()?;
        shares.push(share);
    }
    Some(shares)
}

/// A P2WPKH-shaped payout script for test miner `i`.
pub fn test_payout_script(i: u32) -> ScriptBuf {
    let mut b = vec![0x00, 0x14];
    b.extend_from_slice(&i.to_le_bytes());
    b.extend_from_slice(&[0x5a; 16]);
    ScriptBuf::from_bytes(b)
}
