//! Control: from temperatures to watts.
//!
//! * [`zone`]: what a zone is (room, pool, greenhouse), its mode and setpoint,
//!   and the limits that validate every change from any front end.
//! * [`pi`]: the first simple controller (PI with anti-windup), a
//!   placeholder for the full thermostat and policy.
//! * [`appliance`]: one control tick over trait objects — read thermometers,
//!   decide power per zone, split it across the zone's boards, poll them. The
//!   daemon and the simulator both drive this same tick.
//!
//! This crate never sees a bus, a socket or a runtime: only the seam traits
//! from `hearth-core` and `now` as an argument.

pub mod appliance;
pub mod pi;
pub mod zone;

pub use appliance::{Appliance, BoardStatus, TickReport, ZoneHardware, ZoneStatus};
pub use pi::{PiController, PiGains};
pub use zone::{SettingError, ZoneConfig, ZoneKind, ZoneLimits, ZoneMode, ZoneSettings};
