//! The work pipeline, sans-IO: from a block template (or a Stratum pool's
//! `mining.notify`) to hashboard jobs, and from the chips' nonces back to
//! shares and blocks.
//!
//! - [`template`]: a block template (the `getblocktemplate` fields we need,
//!   as rust-bitcoin types) and a caller-supplied coinbase (payout outputs,
//!   sharechain commitment) split around its extranonce space.
//! - [`merkle`]: the coinbase's merkle branch, computed once per template.
//! - [`difficulty`]: Stratum difficulty <-> 256-bit targets.
//! - [`jobs`]: a [`jobs::WorkUnit`] fanned out to every chain with distinct
//!   extranonces, BIP310 version rolling, and nonce classification through
//!   `hearth-shacheck`'s midstate nonce path (share, block, or neither).
//! - [`stratum`]: the Stratum V1 line codec, the client state machine
//!   (subscribe, authorize, configure, difficulty, notify, submit, extranonce
//!   changes) and the LAN server's per-connection state machine.
//! - [`failover`]: which source feeds the boards, and heat-only work when
//!   none can.
//! - [`stats`]: accepted, rejected and stale shares per source, effective
//!   hashrate, expected time to a share and to a block, estimated earnings.
//! - [`vardiff`]: a LAN miner's share difficulty, aimed at a steady share rate.
//! - [`lan_split`]: a source's extranonce2 space split between our chains
//!   and LAN miners, adapting to short (2-5 byte) sources.
//!
//! Nothing here reads a clock or owns a socket: `now` comes in as an
//! argument, lines and decisions go out as values.

pub mod difficulty;
pub mod failover;
pub mod jobs;
pub mod lan_split;
pub mod merkle;
pub mod stats;
pub mod stratum;
pub mod template;
pub mod vardiff;

pub use difficulty::{difficulty_of_hash, target_from_difficulty, DifficultyError};
pub use failover::{Failover, SourceHealth, WorkMode};
pub use jobs::{JobBook, JobError, Outcome, Share, WorkUnit, LAN_EXTRANONCE_BIT};
pub use lan_split::LanSplit;
pub use merkle::MerkleBranch;
pub use stats::{SourceStats, StatsView};
pub use template::{BlockTemplate, CoinbaseSpec, TemplateError, TemplateWork};
