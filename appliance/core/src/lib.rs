//! Hearth's vocabulary: units, identifiers, time, and the traits that every
//! piece of hardware (real or simulated) sits behind.
//!
//! This crate does no IO and depends on no runtime. Everything below the
//! daemon speaks these types; see `docs/ARCHITECTURE.md` for the seams.

pub mod board;
pub mod ids;
pub mod lease;
pub mod opoint;
pub mod peripherals;
pub mod secret;
pub mod time;
pub mod units;
pub mod work;

pub use board::{BoardEvent, BoardInfo, BoardState, BoardTelemetry, Hashboard, HashboardError};
pub use ids::{BoardId, IdError, ZoneId};
pub use lease::CommandLease;
pub use opoint::{OperatingPoint, PowerModel, VfPoint, VfTable, VfTableError};
pub use peripherals::{DeviceError, Fan, Regulator, RegulatorReading, Thermometer};
pub use secret::Secret;
pub use time::{Clock, Timestamp};
pub use units::{Celsius, FreqMhz, GhPerSec, Millivolts, Percent, Rpm, WattHours, Watts};
pub use work::{Job, NonceFound, WorkSource};
