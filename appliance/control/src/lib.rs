//! Control: from temperatures to watts.
//!
//! * [`zone`]: what a zone is (room, pool, greenhouse), its mode and setpoint,
//!   and the limits that validate every change from any front end.
//! * [`controller`]: zone controllers behind one trait: ours ([`Hearth`]:
//!   feed-forward + PI + pre-heat) and the baselines it is benchmarked
//!   against ([`Hysteresis`], [`Tpi`]); [`pi`] is the PI they build on.
//! * [`schedule`]: weekly setpoint schedules.
//! * [`economics`]: heat, cost, revenue, net cost per kWh of heat beside a
//!   resistive heater and the heat pump.
//! * [`preset`]: comfort / eco / away / boost / frost setpoints; frost is the
//!   floor every hold (policy block, open window) still protects.
//! * [`window`]: open-window detection from a contact or a fast drop.
//! * [`house`]: house inputs (outdoor, price, PV, heat pump, SG-Ready, window,
//!   presence, hashprice), each with its time and a staleness limit.
//! * [`policy`]: the heat-source policy: which source heats, the miner's role,
//!   SG-Ready outputs, soaking cheap or free power, with the rule and reason.
//! * [`split`]: a zone's power over its boards (as many as stay above their
//!   lowest point, at equal shares), cycling with minimum on/off times below it.
//! * [`blind`]: heat for a zone without a temperature and without the
//!   outdoor temperature its learned losses need: a falling share of the
//!   power that last held its setpoint.
//! * [`appliance`]: one control tick over trait objects — read thermometers,
//!   decide power per zone, split it across the zone's boards, poll them. The
//!   daemon and the simulator both drive this same tick.
//!
//! This crate never sees a bus, a socket or a runtime: only the seam traits
//! from `hearth-core` and `now` as an argument.

pub mod appliance;
pub mod blind;
pub mod controller;
pub mod economics;
pub mod house;
pub mod pi;
pub mod policy;
pub mod preset;
pub mod schedule;
pub mod sg_output;
pub mod split;
pub mod stuck;
pub mod window;
pub mod zone;

pub use appliance::{Appliance, BoardStatus, TickReport, ZoneHardware, ZoneStatus};
pub use controller::{ControllerKind, Hearth, Hysteresis, Tpi, ZoneController, ZoneInputs};
pub use economics::{Economics, Interval};
pub use house::{HeatPumpState, HouseInputs, HouseNow, Reading, SgReady};
pub use pi::{PiController, PiGains};
pub use policy::{CopCurve, Decision, MinerRole, Policy, PolicySettings, Rule, Strategy, Tariff};
pub use preset::{Preset, PresetTable};
pub use schedule::{Schedule, ScheduleEntry, ALL_DAYS};
pub use sg_output::{SgOutputView, SgReadyOutput};
pub use split::{BoardRange, Dwell, PowerSplitter};
pub use zone::{SettingError, ZoneConfig, ZoneKind, ZoneLimits, ZoneMode, ZoneSettings};
