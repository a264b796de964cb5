//! Work in and results out: the seam between mining (sharechain node, Stratum
//! pool, or local heat-only work) and the boards.

use crate::ids::BoardId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A header template for the chips. Byte arrays are in the order they appear
/// in the serialized 80-byte Bitcoin header (rust-bitcoin's internal order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Host-side id, unique per work source session; chips get a short alias.
    pub id: u64,
    pub version: u32,
    /// Bits the chips may roll (BIP310), e.g. 0x1FFF_E000.
    pub version_mask: u32,
    pub prev_block_hash: [u8; 32],
    pub merkle_root: [u8; 32],
    pub ntime: u32,
    pub nbits: u32,
    /// Drop all older jobs (a new block or share tip).
    pub clean: bool,
    /// Heat-only work generated locally: nothing found on it is ever submitted.
    pub heat_only: bool,
}

/// A nonce a chip reported for a job, with the version it rolled to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceFound {
    pub board: BoardId,
    pub job_id: u64,
    pub nonce: u32,
    pub version: u32,
    pub ntime: u32,
    pub found_at: Timestamp,
}

/// Where jobs come from and where results go.
pub trait WorkSource: Send {
    /// A short name for the API ("sharechain", "stratum:pool.example", "heat-only").
    fn name(&self) -> &str;
    /// The newest job, if the source has one for `now`.
    fn current_job(&mut self, now: Timestamp) -> Option<Job>;
    /// Hand back a result; the source checks it and decides what to do.
    fn submit(&mut self, found: NonceFound, now: Timestamp);
}
