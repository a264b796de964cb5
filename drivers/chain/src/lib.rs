//! The BM13xx chain driver as a sans-IO state machine (LDK style): bytes in,
//! bytes out, the time passed in, deadlines instead of sleeps. The daemon
//! pumps it over a serial port; tests and the simulator pump it in memory.
//!
//! ```text
//! start(now) ─► poll_transmit() ─► UART ─► chips ─► UART ─► handle_rx(bytes, now)
//!                    ▲                                           │
//!   handle_timeout(now) at next_deadline()        poll_event() ◄─┘
//! ```
//!
//! What it does, on top of the `hearth-bm13xx` codec:
//!
//! - **bring-up**: counts chips with a broadcast chip-id read (retried, with
//!   a timeout), chain inactive, addresses them (`step = 256 / chips`), writes
//!   the configuration in the reference's order (MISC_CONTROL, PLL, ticket
//!   mask, version rolling, HCN, nonce offsets, baud), hands the host its baud
//!   switch on the [`TxChunk`] that carries the chips', and checks that every
//!   chip answers at its address at the new rate;
//! - **frequency**: ramps in 6.25 MHz steps, one per 100 ms, rewriting HCN;
//! - **jobs**: 4-bit chip job ids cycling over a bounded history, the rolled
//!   version bits cleared in the base version;
//! - **nonces**: mapped back to the host job, rolled version and chip (BM1370
//!   by nonce-offset range, BM1366/BM1368 by the address in the nonce),
//!   verified by double SHA-256 against the ticket target (or a simulation
//!   target), de-duplicated; anything else is a counted error, never a share;
//! - **health**: a chip-id read every second; a chip not heard from for
//!   [`ChainConfig::chip_silence_timeout`] is [`ChainEvent::ChipSilent`]
//!   until it answers again ([`ChainEvent::ChipBack`]); per-chip hashrate,
//!   hardware errors and missed polls in [`ChainStats`];
//! - **bad input** is counted per [`WarningKind`] and reported once as a
//!   [`ChainEvent::Warning`]; nothing panics.
//!
//! Protocol assumptions beyond the codec's are listed in `README.md` next to
//! this crate.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod driver;
pub mod event;
mod jobs;
pub mod stats;
pub mod verify;

pub use config::{ChainConfig, ConfigError, HcnMode, NonceCheck, RegisterWrite, MAX_JOB_HISTORY};
pub use driver::{
    ChainDriver, ChainState, FrequencyError, JobError, TxChunk, MAX_QUEUED_EVENTS, MAX_QUEUED_JOBS,
};
pub use event::{ChainEvent, ChipInfo, FailReason, FoundNonce, WarningKind};
pub use stats::{ChainStats, ChipStats, ErrorCounts};
