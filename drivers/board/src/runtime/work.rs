//! Work for the chips: the job the caller gave, or local heat-only work,
//! renewed before the chips could have swept it.

use std::time::Duration;

use hearth_bm13xx::registers::version::FULL_VERSION_MASK;
use hearth_chain::{ChainState, JobError};
use hearth_core::{FreqMhz, Job, Timestamp};

use super::{bump, BoardRuntime, Stage};

/// Ids of local heat-only jobs: this base plus a sequence number (low 32
/// bits), far from any work source's ids.
pub const HEAT_ONLY_JOB_ID_BASE: u64 = 0x4845_4154_0000_0000; // "HEAT"

/// A given job estimated to be this far through its nonce x version space
/// is treated as swept.
const GIVEN_SWEPT_AT: f64 = 0.95;
/// Heat-only work is renewed halfway through its space.
const HEAT_RENEW_AT: f64 = 0.5;

/// Copies `text` into a 32-byte field (zero padded, truncated).
fn field(text: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (slot, byte) in out.iter_mut().zip(text) {
        *slot = *byte;
    }
    out
}

/// Deterministic local heat-only work number `seq`: a fixed dummy header
/// (not a real block; nothing found on it is ever submitted) whose merkle
/// root carries `seq`, so each renewal is fresh work for the chips.
pub fn heat_only_job(seq: u64) -> Job {
    let mut merkle_root = field(b"hearth heat-only work ########");
    merkle_root[24..32].copy_from_slice(&seq.to_le_bytes());
    Job {
        id: HEAT_ONLY_JOB_ID_BASE | (seq & 0xFFFF_FFFF),
        version: 0x2000_0000,
        version_mask: FULL_VERSION_MASK,
        prev_block_hash: field(b"hearth: no block, only heat"),
        merkle_root,
        ntime: 0x6553_F100,
        nbits: 0x1D00_FFFF,
        clean: false,
        heat_only: true,
    }
}

/// What the chips are hashing, with the hashes estimated done on it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum OnChain {
    #[default]
    Nothing,
    Given {
        hashes: f64,
    },
    Heat {
        hashes: f64,
    },
}

#[derive(Debug, Clone, Default)]
pub(super) struct Work {
    /// The newest job the caller gave.
    job: Option<Job>,
    /// That job was estimated swept (or refused): heat-only until a new one.
    spent: bool,
    on_chain: OnChain,
    heat_seq: u64,
    last_account: Option<Timestamp>,
}

impl Work {
    pub(super) fn set_job(&mut self, job: Job) {
        self.job = Some(job);
        self.spent = false;
    }

    /// Forget the given job (the board stopped).
    pub(super) fn clear(&mut self) {
        self.job = None;
        self.spent = false;
        self.on_chain = OnChain::Nothing;
    }

    /// A new bring-up: the chips have no work.
    pub(super) fn chain_restarted(&mut self) {
        self.on_chain = OnChain::Nothing;
        self.last_account = None;
    }
}

/// Hashes in the whole space of a job rolling `mask`'s bits.
fn space(mask: u32) -> f64 {
    let bits = i32::try_from(mask.count_ones()).unwrap_or(0);
    2f64.powi(32 + bits)
}

impl BoardRuntime {
    /// How long the whole chain, at the profile's top frequency, takes to
    /// sweep the nonce x version space of a job rolling `version_mask`'s
    /// bits (within the chain's mask): `2^(32 + bits) / hashrate`. A work
    /// source must send new work at least this often, or the runtime falls
    /// back to heat-only work once it estimates the job swept (about 4 min
    /// for a Bitaxe Gamma with the full 16-bit mask, 3.5 s for a 65-chip
    /// board).
    pub fn work_lifetime(&self, version_mask: u32) -> Duration {
        let hps = self
            .profile
            .hashrate(self.profile.limits().max_freq_mhz)
            .get()
            * 1e9;
        let seconds = space(version_mask & self.chain.config().version_mask) / hps;
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }

    /// Send the given job (unless spent), else fresh heat-only work.
    pub(super) fn send_work(&mut self, now: Timestamp) {
        if let Some(job) = self.work.job.clone().filter(|_| !self.work.spent) {
            match self.chain.send_job(&job, now) {
                Ok(_) => {
                    self.work.on_chain = OnChain::Given { hashes: 0.0 };
                    return;
                }
                Err(JobError::NotRunning(_)) => return,
                Err(e) => {
                    bump(&mut self.counters.job_errors);
                    self.note(format!(
                        "chain refused job {}: {e}; heat-only work instead",
                        job.id
                    ));
                    self.work.spent = true;
                }
            }
        }
        let job = heat_only_job(self.work.heat_seq);
        self.work.heat_seq = self.work.heat_seq.wrapping_add(1);
        match self.chain.send_job(&job, now) {
            Ok(_) => {
                self.work.on_chain = OnChain::Heat { hashes: 0.0 };
                bump(&mut self.counters.heat_jobs_sent);
            }
            Err(JobError::NotRunning(_)) => {}
            Err(_) => bump(&mut self.counters.job_errors),
        }
    }

    /// Estimate the hashes done since the last call and renew work the
    /// chips are about to run out of.
    pub(super) fn account_work(&mut self, now: Timestamp) {
        let dt = self
            .work
            .last_account
            .map_or(0.0, |t| now.since(t).as_secs_f64());
        self.work.last_account = Some(now);
        if self.stage != Stage::On || self.chain.state() != ChainState::Running {
            return;
        }
        let freq = FreqMhz(f64::from(self.chain.frequency().khz()) / 1000.0);
        let done = self.profile.hashrate(freq).get() * 1e9 * dt;
        let chain_mask = self.chain.config().version_mask;
        match &mut self.work.on_chain {
            OnChain::Nothing => self.send_work(now),
            OnChain::Given { hashes } => {
                *hashes += done;
                let mask = self.work.job.as_ref().map_or(0, |j| j.version_mask);
                if *hashes >= GIVEN_SWEPT_AT * space(mask & chain_mask) {
                    self.work.spent = true;
                    bump(&mut self.counters.jobs_swept);
                    self.note(
                        "the given job's nonce space is swept and no new job came: heat-only work until one does",
                    );
                    self.send_work(now);
                }
            }
            OnChain::Heat { hashes } => {
                *hashes += done;
                if *hashes >= HEAT_RENEW_AT * space(FULL_VERSION_MASK & chain_mask) {
                    self.send_work(now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_only_work_is_deterministic_and_fresh_per_sequence() {
        let a = heat_only_job(0);
        assert_eq!(a, heat_only_job(0));
        assert!(a.heat_only);
        let b = heat_only_job(1);
        assert_ne!(a.merkle_root, b.merkle_root);
        assert_ne!(a.id, b.id);
        assert_eq!(a.prev_block_hash, b.prev_block_hash);
        assert_eq!(a.id & 0xFFFF_FFFF_0000_0000, HEAT_ONLY_JOB_ID_BASE);
    }

    #[test]
    fn space_counts_rolled_bits() {
        assert_eq!(space(0), 4_294_967_296.0);
        assert_eq!(space(FULL_VERSION_MASK), 2f64.powi(48));
    }
}
