//! The real Linux / Raspberry Pi backends for Hearth's peripheral seams.
//!
//! | module | job |
//! |---|---|
//! | [`i2c`] | `/dev/i2c-N` through `linux-embedded-hal`, shared by several drivers ([`I2cBus`], [`SharedI2c`]) |
//! | [`board`] | a board's regulator, fan, thermometers and lines from its profile ([`open_board_devices`]) |
//! | [`gpio`] | output and input lines on `/dev/gpiochipN` ([`GpioOutput`], [`ResetOutput`], [`PowerEnableOutput`], [`GpioInput`]) |
//! | [`pwm_fan`] | a fan on the Pi's hardware PWM with a GPIO tachometer ([`PwmFan`]) |
//! | [`tach`] | the tachometer arithmetic, hardware-free |
//! | [`w1`] | DS18B20 room / water probes ([`open_ds18b20`]) |
//! | [`deadline`] | a worker thread with a deadline for reads the kernel does not bound |
//! | [`regulator_worker`] | a regulator whose commands (and their settle waits) run on a worker thread ([`RegulatorWorker`]) |
//!
//! Blocking std IO throughout: the daemon calls these off its control
//! thread. No async runtime here (only the `hearth` binary knows tokio), and
//! no serial port: the daemon opens the chain's UART itself.
//!
//! **How long a call can take.**
//! * I2C: one ioctl per transaction, bounded by the kernel adapter timeout
//!   (1 s unless the bus driver sets another) plus waiting for the bus lock;
//!   see [`i2c`].
//! * GPIO lines and PWM: ioctls / sysfs writes to on-chip controllers that
//!   do not wait on anything external. Opening a PWM channel as a non-root
//!   user waits up to 1 s for udev to fix the permissions (rppal).
//! * Tach: `read_rpm` loads a counter and never blocks.
//! * DS18B20: the sysfs read sleeps for the conversion with no kernel
//!   timeout, so it runs on a worker thread and `read_temp` returns
//!   `DeviceError::Timeout` after its deadline (2 s by default).
//!
//! None of this reads the system clock: time comes in as `now`.
//!
//! Tests that need a Pi are `#[ignore = "needs hardware"]`; see
//! "Running the hardware tests" in `docs/hardware.md`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod board;
pub mod deadline;
pub mod error;
pub mod gpio;
pub mod i2c;
pub mod pwm_fan;
pub mod regulator_worker;
pub mod tach;
pub mod w1;

pub use board::{
    open_board_devices, open_i2c_devices, vout_range, BoardOpenOptions, FanGroup, I2cDevices,
    LinuxBoardDevices,
};
pub use deadline::DeadlineThermometer;
pub use error::LinuxError;
pub use gpio::{GpioInput, GpioOutput, LineConfig, PowerEnableOutput, ResetOutput};
pub use i2c::{I2cBus, SharedI2c};
pub use pwm_fan::{PwmFan, PwmFanConfig, TachConfig};
pub use regulator_worker::RegulatorWorker;
pub use tach::{rpm_from_pulses, TachWindow};
pub use w1::{discover_probes, open_ds18b20, ProbeSelector, DEFAULT_W1_DEADLINE, W1_DEVICES};
