//! The hashboard seam: what the control layer may ask of a board, and what a
//! board reports back. Real chains (over UART) and simulated ones implement it.
//!
//! Calls never block on hardware: a real implementation is a handle to a driver
//! task that owns the bus, with bounded queues between them; `poll` returns the
//! latest picture plus whatever happened since the last poll (bounded too).

use crate::ids::BoardId;
use crate::opoint::OperatingPoint;
use crate::time::Timestamp;
use crate::units::{Celsius, GhPerSec, Percent, Rpm, Watts};
use crate::work::{Job, NonceFound};
use serde::{Deserialize, Serialize};

/// At most this many events and nonces come back from one `poll`; the rest
/// are dropped and counted by the board, so a babbling chain cannot grow a
/// queue without bound.
pub const MAX_POLL_ITEMS: usize = 1024;

/// What a board is doing, as the API and the logs show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardState {
    /// Powered down on purpose (no demand, or never started).
    Idle,
    /// Ramping frequency toward an operating point.
    Ramping,
    /// Hashing at an operating point.
    Running,
    /// Thermal protection tripped; cooling down before it may restart.
    Tripped,
    /// Brought to a safe state for shutdown; it will not restart by itself.
    Stopped,
    /// A fault that needs attention (no chips answer, regulator fault).
    Fault,
}

/// Static facts about a board, fixed by its profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardInfo {
    pub id: BoardId,
    /// Profile or model name, e.g. "sim-bm1370-65".
    pub model: String,
    pub chips: u32,
    /// Lowest power it can run at without switching off.
    pub min_power_w: Watts,
    /// Highest power it will draw.
    pub max_power_w: Watts,
}

/// The latest measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardTelemetry {
    pub state: BoardState,
    pub power_w: Watts,
    pub power_target_w: Watts,
    pub hashrate_ghs: GhPerSec,
    /// Hottest chip; `None` when no valid reading (treated as hot by protection).
    pub chip_temp_c: Option<Celsius>,
    pub regulator_temp_c: Option<Celsius>,
    pub fan_duty: Percent,
    pub fan_rpm: Option<Rpm>,
    pub operating_point: Option<OperatingPoint>,
}

/// Something that happened on a board, for the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BoardEvent {
    Tripped { reason: String },
    Recovered,
    Fault { reason: String },
    Stopped,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HashboardError {
    #[error("board is stopped and will not accept commands")]
    Stopped,
    #[error("power target {0} is not a finite, non-negative number")]
    BadPowerTarget(Watts),
    #[error("command queue to the board driver is full")]
    Busy,
    #[error("board driver is gone: {0}")]
    Disconnected(String),
    #[error("hardware error: {0}")]
    Hardware(String),
}

/// Everything `poll` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardPoll {
    pub telemetry: BoardTelemetry,
    pub events: Vec<BoardEvent>,
    pub nonces: Vec<NonceFound>,
}

pub trait Hashboard: Send {
    fn info(&self) -> &BoardInfo;

    /// Run at the most efficient operating point that draws at most `target`
    /// (0 W = idle). The board chooses frequency and voltage itself.
    fn set_power_target(&mut self, target: Watts, now: Timestamp) -> Result<(), HashboardError>;

    /// Give the board new work; `job.clean` drops older jobs.
    fn set_job(&mut self, job: Job, now: Timestamp) -> Result<(), HashboardError>;

    /// Latest telemetry plus events and nonces since the last poll (each at
    /// most [`MAX_POLL_ITEMS`]).
    fn poll(&mut self, now: Timestamp) -> BoardPoll;

    /// Bring the board to a safe idle: frequency down, core voltage off, fans
    /// left running to cool. Idempotent; after it the board accepts no power.
    fn stop_safely(&mut self, now: Timestamp) -> Result<(), HashboardError>;
}
