//! Hashboard-level decisions for Hearth, all pure: time and readings come in
//! as arguments, nothing here touches a bus, a file or a clock (devices sit
//! behind `hearth-core`'s seam traits, the chain behind bytes).
//!
//! | module | job |
//! |---|---|
//! | [`profile`] | board profiles (Bitaxe Gamma/Supra/Ultra, generic BM13xx chain, 65 x BM1370 and 108 x BM1368 hashboards): chips, V/f table, power model, limits, peripheral addresses; [`operating_point_for`] |
//! | [`config`] | the `[[hashboard]]` TOML table and its validation (errors name the key) |
//! | [`protection`] | driver-level thermal protection: trip, cool down with hysteresis, step down, recover, latch |
//! | [`fan`] | reverse-acting PI(D) fan loop on the hottest chip, EMA-smoothed |
//! | [`runtime`] | [`BoardRuntime`]: one board's brain, sans-IO: the `hearth-chain` driver (bytes), the profile, protection, the fan loop and the board's devices (regulator, fan, chip sensors, reset line) behind `hearth-core`'s seams; power sequencing, work (given or heat-only), faults and retries |
//!
//! [`BoardRuntime`] does, every tick (the daemon owns only the serial port
//! and the clock, and pumps bytes and ticks through it):
//! 1. read chip, regulator and fan sensors;
//! 2. `Protection::step` with those readings and the point the control
//!    layer asked for (from [`operating_point_for`]);
//! 3. `FanController::step` on `hottest_chip_c`, unless protection overrides
//!    the fan;
//! 4. apply `allowed` (voltage up before the clock ramps up, the clock
//!    down before the voltage) or, when protection says so, switch the core
//!    voltage off and hold the chips in reset.
//!
//! Hardware wiring and the status of each profile: `docs/hardware.md`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod config;
pub mod fan;
pub mod profile;
pub mod protection;
pub mod quiet_fan;
pub mod runtime;

pub use config::{
    validate_hashboard, validate_hashboards, ConfiguredBoard, HashboardConfig, ProfileError,
};
pub use fan::{FanController, FanTuning};
pub use profile::{
    chip_name, operating_point_for, parse_chip, profile_names, BoardClass, BoardProfile, GpioLine,
    I2cDevice, I2cPart, OperatingLimits, Peripherals, ProfileKind, PwmFan, ThermalLimits,
};
pub use protection::{Protection, ProtectionInputs, ProtectionOutput, ProtectionState, TripReason};
pub use quiet_fan::{QuietFan, QuietTuning};
pub use runtime::{
    BoardDevices, BoardRuntime, ResetLine, RuntimeCounters, RuntimeError, RuntimeOptions, TICK,
};
