//! A block template and the coinbase built from it.
//!
//! [`BlockTemplate`] is the part of `getblocktemplate` the pipeline needs,
//! as rust-bitcoin types; the sharechain node (or a test) fills it.
//! [`CoinbaseSpec`] is the caller's say over the coinbase: payout outputs,
//! an optional commitment output (the sharechain's `OP_RETURN`), a tag, and
//! the extranonce space. [`TemplateWork::new`] builds the coinbase once,
//! splits it around the extranonce (`coinb1 || extranonce || coinb2`, the
//! Stratum layout), computes the merkle branch once, and can later assemble
//! the full block for a share that meets the block target.

use bitcoin::blockdata::block::{Header, Version as BlockVersion};
use bitcoin::blockdata::locktime::absolute::LockTime;
use bitcoin::blockdata::script::{Builder, PushBytesBuf, ScriptBuf};
use bitcoin::blockdata::transaction::{OutPoint, Transaction, TxIn, TxOut, Version as TxVersion};
use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::Hash as _;
use bitcoin::{Amount, Block, BlockHash, CompactTarget, Sequence, TxMerkleNode, Witness};
use hearth_shacheck::Target;
use std::sync::Arc;

use crate::jobs::{Share, WorkUnit};
use crate::merkle::MerkleBranch;

/// Longest coinbase scriptSig consensus allows.
pub const MAX_COINBASE_SCRIPT_SIG: usize = 100;
/// Extranonce space is at most this many bytes (en1 + en2).
pub const MAX_EXTRANONCE: usize = 32;

/// The `getblocktemplate` fields the pipeline needs.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockTemplate {
    pub version: BlockVersion,
    pub prev_blockhash: BlockHash,
    pub bits: CompactTarget,
    /// `curtime`: the header time to start from.
    pub curtime: u32,
    pub height: u32,
    /// Subsidy plus fees: what the coinbase outputs may pay in total.
    pub coinbase_value: Amount,
    /// The block's other transactions, in block order.
    pub transactions: Vec<Transaction>,
    /// `default_witness_commitment` (a segwit block needs it as an output).
    pub witness_commitment: Option<ScriptBuf>,
}

/// What the caller puts in the coinbase.
#[derive(Debug, Clone, PartialEq)]
pub struct CoinbaseSpec {
    /// Payouts; their sum must not exceed the template's coinbase value.
    pub outputs: Vec<TxOut>,
    /// An extra zero-value output (e.g. the sharechain's `OP_RETURN`
    /// commitment), placed after the payouts.
    pub commitment: Option<ScriptBuf>,
    /// Bytes pushed after the extranonce in the scriptSig (a pool tag).
    pub tag: Vec<u8>,
    /// The extranonce bytes fixed for this work source (Stratum's
    /// extranonce1; empty for our own node).
    pub extranonce1: Vec<u8>,
    /// Bytes the pipeline varies per chain and job (Stratum's extranonce2).
    pub extranonce2_len: usize,
}

/// Why a template or coinbase spec was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("coinbase outputs pay {paid} sat, more than the template's {allowed} sat")]
    Overpays { paid: u64, allowed: u64 },
    #[error("the coinbase has no outputs")]
    NoOutputs,
    #[error("coinbase scriptSig would be {0} bytes; at most 100 are allowed")]
    ScriptSigTooLong(usize),
    #[error("extranonce space of {0} bytes is outside 1..=32")]
    ExtranonceSize(usize),
    #[error("tag of {0} bytes cannot be pushed")]
    Tag(usize),
    #[error("share is for another template")]
    WrongTemplate,
    #[error("coinbase bytes do not parse: {0}")]
    Coinbase(String),
}

/// A template made ready for jobs: the split coinbase, the merkle branch,
/// and what it takes to assemble a block.
#[derive(Debug, Clone)]
pub struct TemplateWork {
    template: Arc<BlockTemplate>,
    unit: WorkUnit,
    segwit: bool,
}

fn push_bytes(bytes: &[u8]) -> Result<PushBytesBuf, TemplateError> {
    PushBytesBuf::try_from(bytes.to_vec()).map_err(|_| TemplateError::Tag(bytes.len()))
}

impl TemplateWork {
    /// Builds the coinbase and the branch. `id` names the unit (jobs built
    /// from it report it back); `share_target` is what a share must meet.
    pub fn new(
        id: &str,
        template: BlockTemplate,
        spec: &CoinbaseSpec,
        share_target: Target,
        version_mask: u32,
        clean: bool,
    ) -> Result<TemplateWork, TemplateError> {
        let txids: Vec<_> = template
            .transactions
            .iter()
            .map(|t| t.compute_txid())
            .collect();
        let branch = MerkleBranch::for_coinbase(&txids);
        Self::build(
            id,
            Arc::new(template),
            branch,
            spec,
            (share_target, version_mask, clean),
        )
    }

    /// The same template with another coinbase (a LAN miner's own payout):
    /// the merkle branch is the template's, computed once, and the
    /// template is shared, not copied.
    pub fn with_coinbase(
        &self,
        id: &str,
        spec: &CoinbaseSpec,
        share_target: Target,
        version_mask: u32,
        clean: bool,
    ) -> Result<TemplateWork, TemplateError> {
        Self::build(
            id,
            self.template.clone(),
            self.unit.branch.clone(),
            spec,
            (share_target, version_mask, clean),
        )
    }

    fn build(
        id: &str,
        template: Arc<BlockTemplate>,
        branch: MerkleBranch,
        spec: &CoinbaseSpec,
        (share_target, version_mask, clean): (Target, u32, bool),
    ) -> Result<TemplateWork, TemplateError> {
        let en_len = spec.extranonce1.len() + spec.extranonce2_len;
        if en_len == 0 || en_len > MAX_EXTRANONCE || spec.extranonce2_len == 0 {
            return Err(TemplateError::ExtranonceSize(en_len));
        }
        if spec.outputs.is_empty() {
            return Err(TemplateError::NoOutputs);
        }
        let paid: u64 = spec.outputs.iter().map(|o| o.value.to_sat()).sum();
        if paid > template.coinbase_value.to_sat() {
            return Err(TemplateError::Overpays {
                paid,
                allowed: template.coinbase_value.to_sat(),
            });
        }
        // scriptSig: BIP34 height, then the extranonce push, then the tag.
        let height = Builder::new()
            .push_int(i64::from(template.height))
            .into_script();
        let placeholder = vec![0u8; en_len];
        let mut script_sig = Builder::from(height.to_bytes()).push_slice(push_bytes(&placeholder)?);
        if !spec.tag.is_empty() {
            script_sig = script_sig.push_slice(push_bytes(&spec.tag)?);
        }
        let script_sig = script_sig.into_script();
        if script_sig.len() > MAX_COINBASE_SCRIPT_SIG {
            return Err(TemplateError::ScriptSigTooLong(script_sig.len()));
        }
        let mut output = spec.outputs.clone();
        if let Some(c) = &spec.commitment {
            output.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: c.clone(),
            });
        }
        if let Some(w) = &template.witness_commitment {
            output.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: w.clone(),
            });
        }
        let coinbase = Transaction {
            version: TxVersion::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: script_sig.clone(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output,
        };
        // Without witness data this is the txid serialization.
        let bytes = serialize(&coinbase);
        // version (4) + input count (1) + outpoint (36) + scriptSig length
        // varint (1: at most 100) + height push + extranonce push opcode.
        let start = 4 + 1 + 36 + 1 + height.len() + 1;
        let (coinb1, rest) = bytes.split_at(start);
        let coinb2 = rest.get(en_len..).unwrap_or_default().to_vec();
        let block_target =
            Target::from_le_bytes(bitcoin::Target::from_compact(template.bits).to_le_bytes());
        let unit = WorkUnit {
            source_job_id: id.to_string(),
            prev_block_hash: template.prev_blockhash.to_byte_array(),
            version: u32::from_le_bytes(template.version.to_consensus().to_le_bytes()),
            version_mask,
            nbits: template.bits.to_consensus(),
            ntime: template.curtime,
            coinb1: coinb1.to_vec(),
            coinb2,
            extranonce1: spec.extranonce1.clone(),
            extranonce2_len: spec.extranonce2_len,
            branch,
            clean,
            share_target,
            block_target,
        };
        let segwit = template.witness_commitment.is_some();
        Ok(TemplateWork {
            template,
            unit,
            segwit,
        })
    }

    /// The unit to fan out to the chains.
    pub fn unit(&self) -> &WorkUnit {
        &self.unit
    }

    pub fn template(&self) -> &BlockTemplate {
        &self.template
    }

    /// The full block for `share` (which should meet the block target):
    /// the coinbase with the share's extranonce2, then the template's
    /// transactions.
    pub fn block(&self, share: &Share) -> Result<Block, TemplateError> {
        if share.source_job_id != self.unit.source_job_id {
            return Err(TemplateError::WrongTemplate);
        }
        let raw = self.unit.coinbase(&share.extranonce2);
        let mut coinbase: Transaction =
            deserialize(&raw).map_err(|e| TemplateError::Coinbase(e.to_string()))?;
        if self.segwit {
            // BIP141: the coinbase witness is one 32-byte reserved value.
            coinbase.input[0].witness = Witness::from_slice(&[[0u8; 32]]);
        }
        let header = Header {
            version: BlockVersion::from_consensus(i32::from_le_bytes(share.version.to_le_bytes())),
            prev_blockhash: self.template.prev_blockhash,
            merkle_root: TxMerkleNode::from_byte_array(share.merkle_root),
            time: share.ntime,
            bits: self.template.bits,
            nonce: share.nonce,
        };
        let mut txdata = Vec::with_capacity(self.template.transactions.len() + 1);
        txdata.push(coinbase);
        txdata.extend(self.template.transactions.iter().cloned());
        Ok(Block { header, txdata })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(txs: usize) -> BlockTemplate {
        BlockTemplate {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: BlockHash::from_byte_array([7; 32]),
            bits: CompactTarget::from_consensus(0x207F_FFFF),
            curtime: 1_700_000_000,
            height: 500,
            coinbase_value: Amount::from_sat(50 * 100_000_000),
            transactions: (0..txs)
                .map(|n| Transaction {
                    version: TxVersion::TWO,
                    lock_time: LockTime::ZERO,
                    input: vec![TxIn {
                        previous_output: OutPoint {
                            txid: bitcoin::Txid::from_byte_array([n as u8; 32]),
                            vout: 0,
                        },
                        script_sig: ScriptBuf::new(),
                        sequence: Sequence::MAX,
                        witness: Witness::new(),
                    }],
                    output: vec![TxOut {
                        value: Amount::from_sat(1000),
                        script_pubkey: ScriptBuf::new_op_return([n as u8; 4]),
                    }],
                })
                .collect(),
            witness_commitment: Some(ScriptBuf::new_op_return([9; 36])),
        }
    }

    fn spec(payee: u8) -> CoinbaseSpec {
        CoinbaseSpec {
            outputs: vec![TxOut {
                value: Amount::from_sat(1_000_000),
                script_pubkey: ScriptBuf::new_op_return([payee; 20]),
            }],
            commitment: Some(ScriptBuf::new_op_return([3; 32])),
            tag: b"/t/".to_vec(),
            extranonce1: vec![0x81],
            extranonce2_len: 7,
        }
    }

    #[test]
    fn another_coinbase_on_the_same_template_is_what_new_builds() {
        let t = template(37);
        let base =
            TemplateWork::new("a", t.clone(), &spec(1), Target::MAX, 0x1FFF_E000, true).unwrap();
        let other = base
            .with_coinbase("b", &spec(2), Target::MAX, 0, false)
            .unwrap();
        let fresh = TemplateWork::new("b", t, &spec(2), Target::MAX, 0, false).unwrap();
        assert_eq!(other.unit(), fresh.unit());
        assert_ne!(other.unit().coinb2, base.unit().coinb2);
        assert_eq!(other.unit().branch, base.unit().branch);
        // One template behind both (shared, not copied).
        assert!(std::ptr::eq(base.template(), other.template()));
        // Its checks still apply.
        let mut overpaying = spec(3);
        overpaying.outputs[0].value = Amount::from_sat(51 * 100_000_000);
        assert!(matches!(
            base.with_coinbase("c", &overpaying, Target::MAX, 0, false),
            Err(TemplateError::Overpays { .. })
        ));
    }
}
