//! Control: from temperatures to watts.
//!
//! * [`zone`]: what a zone is (room, pool, greenhouse), its mode and setpoint,
//!   and the limits that validate every change from any front end.
//! * [`controller`]: zone controllers behind one trait: ours ([`Hearth`]:
//!   feed-forward + PI + pre-heat) and the baselines it is benchmarked
//!   against ([`Hysteresis`], [`Tpi`]); [`pi`] is the PI they build on.
//! * [`schedule`]: weekly setpoint schedules.
//! * [`appliance`]: one control tick over trait objects — read thermometers,
//!   decide power per zone, split it across the zone's boards, poll them. The
//!   daemon and the simulator both drive this same tick.
//!
//! This crate never sees a bus, a socket or a runtime: only the seam traits
//! from `hearth-core` and `now` as an argument.

pub mod appliance;
pub mod controller;
pub mod pi;
pub mod schedule;
pub mod stuck;
pub mod zone;

pub use appliance::{Appliance, BoardStatus, TickReport, ZoneHardware, ZoneStatus};
pub use controller::{ControllerKind, Hearth, Hysteresis, Tpi, ZoneController, ZoneInputs};
pub use pi::{PiController, PiGains};
pub use schedule::{Schedule, ScheduleEntry, ALL_DAYS};
pub use zone::{SettingError, ZoneConfig, ZoneKind, ZoneLimits, ZoneMode, ZoneSettings};
