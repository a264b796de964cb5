//! Work units, jobs per chain, and nonces back to shares.
//!
//! A [`WorkUnit`] is one piece of upstream work: a template of our own or a
//! pool's `mining.notify`, with the coinbase split around its extranonce
//! and the merkle branch. [`JobBook::fan_out`] turns it into one
//! [`hearth_core::Job`] per chain, each with its own extranonce2 (the chain
//! index in the low bits, a per-book counter above it), so no two chains
//! ever hash the same header space. [`JobBook::classify`] maps a chip's
//! nonce back to its job, rebuilds the header tail and checks it through
//! the share checker's nonce path (one midstate per job and rolled version,
//! cached), against the share target and then the block target.

use hearth_core::{Job, NonceFound};
use hearth_shacheck::{Checker, Hash, Midstate, Target};
use std::collections::{HashMap, VecDeque};

use crate::difficulty::difficulty_of_hash;
use crate::merkle::MerkleBranch;

/// Set in the first extranonce2 byte of the LAN server's miners (their
/// extranonce1 starts there) and never by [`JobBook::fan_out`], so a LAN
/// miner never repeats our chains' work.
pub const LAN_EXTRANONCE_BIT: u8 = 0x80;

/// Jobs remembered for classification; older ones are forgotten (a nonce
/// for them is [`Outcome::UnknownJob`]).
pub const MAX_LIVE_JOBS: usize = 1024;
/// Midstates cached per job (one per rolled version seen).
const MAX_MIDSTATES_PER_JOB: usize = 32;

/// One piece of upstream work.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkUnit {
    /// The upstream's job id (Stratum job id, or our template id).
    pub source_job_id: String,
    /// Header order (internal byte order).
    pub prev_block_hash: [u8; 32],
    pub version: u32,
    /// Bits the chips may roll (BIP310, negotiated with the source).
    pub version_mask: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    pub extranonce1: Vec<u8>,
    pub extranonce2_len: usize,
    pub branch: MerkleBranch,
    /// Older work is void (new block or share tip).
    pub clean: bool,
    /// A share meets this.
    pub share_target: Target,
    /// A block meets this (from nBits).
    pub block_target: Target,
}

impl WorkUnit {
    /// The coinbase transaction bytes (without witness) for `extranonce2`.
    pub fn coinbase(&self, extranonce2: &[u8]) -> Vec<u8> {
        let mut cb = Vec::with_capacity(
            self.coinb1.len() + self.extranonce1.len() + extranonce2.len() + self.coinb2.len(),
        );
        cb.extend_from_slice(&self.coinb1);
        cb.extend_from_slice(&self.extranonce1);
        cb.extend_from_slice(extranonce2);
        cb.extend_from_slice(&self.coinb2);
        cb
    }

    /// The merkle root for `extranonce2` (internal byte order).
    pub fn merkle_root(&self, extranonce2: &[u8]) -> [u8; 32] {
        use bitcoin::hashes::{sha256d, Hash as _};
        let txid = sha256d::Hash::hash(&self.coinbase(extranonce2)).to_byte_array();
        self.branch.root(txid)
    }
}

/// The 80-byte header.
pub fn header_bytes(
    version: u32,
    prev: &[u8; 32],
    merkle_root: &[u8; 32],
    ntime: u32,
    nbits: u32,
    nonce: u32,
) -> [u8; 80] {
    let mut h = [0u8; 80];
    h[0..4].copy_from_slice(&version.to_le_bytes());
    h[4..36].copy_from_slice(prev);
    h[36..68].copy_from_slice(merkle_root);
    h[68..72].copy_from_slice(&ntime.to_le_bytes());
    h[72..76].copy_from_slice(&nbits.to_le_bytes());
    h[76..80].copy_from_slice(&nonce.to_le_bytes());
    h
}

/// A nonce that met the share target: what a Stratum submit or a sharechain
/// share needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// Index of the unit's source in the book's caller (e.g. failover order).
    pub source: usize,
    pub source_job_id: String,
    pub extranonce2: Vec<u8>,
    pub ntime: u32,
    pub nonce: u32,
    /// The full rolled version.
    pub version: u32,
    /// `version ^ unit.version`: the rolled bits, as BIP310's submit wants.
    pub version_bits: u32,
    pub merkle_root: [u8; 32],
    pub header: [u8; 80],
    pub hash: Hash,
    /// What the hash achieves.
    pub difficulty: f64,
    /// The hash meets the block target too.
    pub is_block: bool,
}

/// What a nonce turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Meets the share target (and maybe the block target).
    Share(Box<Share>),
    /// A good chip nonce (it met the chips' ticket) that misses the share
    /// target: counted as work done, not submitted.
    BelowTarget,
    /// Its job was retired by newer clean work.
    Stale,
    /// A job id this book never issued or has forgotten.
    UnknownJob,
    /// Local heat-only work: never submitted.
    HeatOnly,
    /// The rolled version touches bits outside the mask.
    BadVersion { version: u32, mask: u32 },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    #[error("extranonce2 of {len} bytes cannot give {chains} chains distinct values")]
    ExtranonceTooSmall { len: usize, chains: usize },
    #[error("no chains to fan out to")]
    NoChains,
    #[error("share checker: {0}")]
    Check(String),
}

#[derive(Debug, Clone)]
struct LiveJob {
    unit: usize,
    extranonce2: Vec<u8>,
    merkle_root: [u8; 32],
    midstates: Vec<(u32, Midstate)>,
}

#[derive(Debug, Clone)]
struct LiveUnit {
    source: usize,
    unit: WorkUnit,
    stale: bool,
}

/// Jobs issued to the chains, remembered (bounded) to classify their nonces.
#[derive(Debug)]
pub struct JobBook {
    checker: Checker,
    next_job_id: u64,
    /// Per-book extranonce2 counter: each fan-out takes a fresh value per chain.
    en2_counter: u64,
    units: HashMap<usize, LiveUnit>,
    next_unit: usize,
    jobs: HashMap<u64, LiveJob>,
    order: VecDeque<u64>,
}

impl JobBook {
    pub fn new(checker: Checker) -> JobBook {
        JobBook {
            checker,
            next_job_id: 1,
            en2_counter: 0,
            units: HashMap::new(),
            next_unit: 0,
            jobs: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Jobs currently remembered.
    pub fn live_jobs(&self) -> usize {
        self.jobs.len()
    }

    /// One job per chain for `unit` from `source`, extranonce2 distinct per
    /// chain and per call. A clean unit marks every older unit stale.
    pub fn fan_out(
        &mut self,
        source: usize,
        unit: &WorkUnit,
        chains: usize,
    ) -> Result<Vec<Job>, JobError> {
        if chains == 0 {
            return Err(JobError::NoChains);
        }
        let chain_bits = usize::BITS - (chains - 1).leading_zeros();
        let en2_bits = 8 * unit.extranonce2_len.min(8);
        // With two or more bytes the top bit of the extranonce2 is never
        // set by the book: values with it set belong to the LAN server's
        // miners (their extranonce1 starts with it; the server needs more
        // than two bytes), so their work never overlaps our chains'.
        let reserved = usize::from(unit.extranonce2_len >= 2);
        if unit.extranonce2_len == 0 || chain_bits as usize + reserved > en2_bits {
            return Err(JobError::ExtranonceTooSmall {
                len: unit.extranonce2_len,
                chains,
            });
        }
        if unit.clean {
            for u in self.units.values_mut() {
                u.stale = true;
            }
        }
        let unit_key = self.next_unit;
        self.next_unit = self.next_unit.wrapping_add(1);
        self.units.insert(
            unit_key,
            LiveUnit {
                source,
                unit: unit.clone(),
                stale: false,
            },
        );
        let counter_bits = en2_bits - chain_bits as usize - reserved;
        let counter_mask = if counter_bits >= 64 {
            u64::MAX
        } else {
            (1u64 << counter_bits) - 1
        };
        let counter = self.en2_counter & counter_mask;
        self.en2_counter = self.en2_counter.wrapping_add(1);
        let mut jobs = Vec::with_capacity(chains);
        for chain in 0..chains {
            let value = (counter << chain_bits) | chain as u64;
            let extranonce2 = encode_en2(value, unit.extranonce2_len);
            let merkle_root = unit.merkle_root(&extranonce2);
            let id = self.next_job_id;
            self.next_job_id += 1;
            self.remember(
                id,
                LiveJob {
                    unit: unit_key,
                    extranonce2,
                    merkle_root,
                    midstates: Vec::new(),
                },
            );
            jobs.push(Job {
                id,
                version: unit.version,
                version_mask: unit.version_mask,
                prev_block_hash: unit.prev_block_hash,
                merkle_root,
                ntime: unit.ntime,
                nbits: unit.nbits,
                clean: unit.clean,
                heat_only: false,
            });
        }
        self.forget_orphan_units();
        Ok(jobs)
    }

    fn remember(&mut self, id: u64, job: LiveJob) {
        while self.order.len() >= MAX_LIVE_JOBS {
            if let Some(old) = self.order.pop_front() {
                self.jobs.remove(&old);
            }
        }
        self.jobs.insert(id, job);
        self.order.push_back(id);
    }

    fn forget_orphan_units(&mut self) {
        if self.units.len() <= MAX_LIVE_JOBS {
            return;
        }
        let used: std::collections::HashSet<usize> = self.jobs.values().map(|j| j.unit).collect();
        self.units.retain(|k, _| used.contains(k));
    }

    /// A new share target for every live unit of `source` (a pool changed
    /// difficulty mid-job: pools judge shares by the newest difficulty).
    pub fn set_share_target(&mut self, source: usize, target: Target) {
        for u in self.units.values_mut().filter(|u| u.source == source) {
            u.unit.share_target = target;
        }
    }

    /// Marks every unit of `source` stale (the source went away or changed
    /// its extranonce).
    pub fn retire_source(&mut self, source: usize) {
        for u in self.units.values_mut().filter(|u| u.source == source) {
            u.stale = true;
        }
    }

    /// What `found` is worth.
    pub fn classify(&mut self, found: &NonceFound) -> Result<Outcome, JobError> {
        if found.job_id & 0xFFFF_FFFF_0000_0000 == HEAT_ONLY_JOB_ID_BASE {
            return Ok(Outcome::HeatOnly);
        }
        let Some(job) = self.jobs.get_mut(&found.job_id) else {
            return Ok(Outcome::UnknownJob);
        };
        let Some(live) = self.units.get(&job.unit) else {
            return Ok(Outcome::UnknownJob);
        };
        if live.stale {
            return Ok(Outcome::Stale);
        }
        let unit = &live.unit;
        if (found.version ^ unit.version) & !unit.version_mask != 0 {
            return Ok(Outcome::BadVersion {
                version: found.version,
                mask: unit.version_mask,
            });
        }
        let header = header_bytes(
            found.version,
            &unit.prev_block_hash,
            &job.merkle_root,
            found.ntime,
            unit.nbits,
            found.nonce,
        );
        let midstate = match job.midstates.iter().find(|(v, _)| *v == found.version) {
            Some((_, m)) => *m,
            None => {
                let m = Midstate::new(&header[..64]).map_err(|e| JobError::Check(e.to_string()))?;
                if job.midstates.len() >= MAX_MIDSTATES_PER_JOB {
                    job.midstates.remove(0);
                }
                job.midstates.push((found.version, m));
                m
            }
        };
        let verdicts = self
            .checker
            .check_nonces(&midstate, &header, &[found.nonce], &unit.share_target)
            .map_err(|e| JobError::Check(e.to_string()))?;
        if !verdicts.first().copied().unwrap_or(false) {
            return Ok(Outcome::BelowTarget);
        }
        // A share: its hash once, for the block check and the statistics.
        let hash = self
            .checker
            .hash_headers(&[header])
            .first()
            .copied()
            .unwrap_or(Hash([0xFF; 32]));
        Ok(Outcome::Share(Box::new(Share {
            source: live.source,
            source_job_id: unit.source_job_id.clone(),
            extranonce2: job.extranonce2.clone(),
            ntime: found.ntime,
            nonce: found.nonce,
            version: found.version,
            version_bits: found.version ^ unit.version,
            merkle_root: job.merkle_root,
            header,
            hash,
            difficulty: difficulty_of_hash(&hash),
            is_block: unit.block_target.is_met_by(&hash),
        })))
    }
}

/// Ids of the board runtime's local heat-only jobs (see `hearth-board`).
pub const HEAT_ONLY_JOB_ID_BASE: u64 = 0x4845_4154_0000_0000;

/// `value` as `len` bytes, big-endian, keeping the low bytes.
fn encode_en2(value: u64, len: usize) -> Vec<u8> {
    let be = value.to_be_bytes();
    let mut out = vec![0u8; len];
    let take = len.min(8);
    out[len - take..].copy_from_slice(&be[8 - take..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extranonce2_keeps_the_low_bytes() {
        assert_eq!(encode_en2(0x0102, 4), vec![0, 0, 1, 2]);
        assert_eq!(encode_en2(0x0102_0304_0506_0708, 2), vec![7, 8]);
        assert_eq!(encode_en2(5, 10), vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 5]);
    }

    #[test]
    fn fan_out_never_sets_the_lan_bit_even_when_its_counter_wraps() {
        let unit = WorkUnit {
            source_job_id: "u".into(),
            prev_block_hash: [1; 32],
            version: 0x2000_0000,
            version_mask: 0x1FFF_E000,
            nbits: 0x207F_FFFF,
            ntime: 1,
            coinb1: vec![1, 2],
            coinb2: vec![3],
            extranonce1: vec![],
            extranonce2_len: 2,
            branch: MerkleBranch(vec![]),
            clean: false,
            share_target: Target::MAX,
            block_target: Target::MAX,
        };
        let mut book = JobBook::new(Checker::detect());
        let mut seen = std::collections::HashSet::new();
        // 256 chains on two bytes: 8 chain bits, 7 counter bits, 1 reserved.
        for _ in 0..130 {
            for job in book.fan_out(0, &unit, 256).unwrap() {
                let en2 = &book.jobs[&job.id].extranonce2;
                assert_eq!(en2[0] & LAN_EXTRANONCE_BIT, 0, "{en2:?}");
                seen.insert(en2.clone());
            }
        }
        assert_eq!(seen.len(), 128 * 256);
        // 2^15 chains would need the reserved bit: refused.
        assert!(matches!(
            book.fan_out(0, &unit, 1 << 15 | 1),
            Err(JobError::ExtranonceTooSmall { .. })
        ));
    }
}
