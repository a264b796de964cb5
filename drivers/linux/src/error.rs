//! Errors from opening Linux devices. Every variant names the device path
//! (or channel / line) and, where there is a usual cause, says how to fix it.
//! Errors *after* opening are the seam's `DeviceError`.

use hearth_core::peripherals::DeviceError;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    /// `/dev/i2c-N` could not be opened.
    #[error("cannot open I2C bus {path}: {reason}{hint}")]
    I2cOpen {
        path: PathBuf,
        reason: String,
        /// Empty, or "; " followed by what to do.
        hint: String,
    },
    /// A part the profile requires did not answer when the board was opened.
    #[error("{part} at {address:#04x} on {bus}: {source}{hint}")]
    Device {
        part: &'static str,
        address: u8,
        bus: String,
        #[source]
        source: DeviceError,
        hint: String,
    },
    /// `/dev/gpiochipN` could not be opened.
    #[error("cannot open GPIO chip {path}: {reason}{hint}")]
    GpioChip {
        path: PathBuf,
        reason: String,
        hint: String,
    },
    /// A line on an opened GPIO chip could not be requested.
    #[error("cannot request GPIO line {offset} on {path} as {consumer}: {reason}{hint}")]
    GpioLine {
        path: PathBuf,
        offset: u32,
        consumer: String,
        reason: String,
        hint: String,
    },
    /// The hardware PWM channel could not be opened or set up.
    #[error("cannot open hardware PWM for GPIO{gpio} ({target}): {reason}{hint}")]
    Pwm {
        gpio: u32,
        /// "pwmchip0/pwm0" or "rppal channel Pwm0".
        target: String,
        reason: String,
        hint: String,
    },
    /// The fan tachometer input could not be set up.
    #[error("cannot watch fan tachometer on GPIO{gpio}: {reason}{hint}")]
    Tach {
        gpio: u32,
        reason: String,
        hint: String,
    },
    /// A 1-wire (DS18B20) probe or the w1 bus directory is missing or
    /// unreadable.
    #[error("1-wire: {path}: {reason}{hint}")]
    W1 {
        path: PathBuf,
        reason: String,
        hint: String,
    },
    /// A value handed to this crate is unusable (a line spec that does not
    /// parse, a profile whose voltage limits make no regulator range).
    #[error("{0}")]
    Config(String),
}

/// "; <text>" or "" — so messages read `...: <reason>; <hint>`.
pub(crate) fn hint(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("; {text}")
    }
}

pub(crate) const I2C_ENABLE_HINT: &str =
    "enable the bus with `dtparam=i2c_arm=on` in /boot/firmware/config.txt (then reboot); \
     `ls /dev/i2c-*` lists the buses that exist";
pub(crate) const I2C_PERMISSION_HINT: &str =
    "the user running hearth needs the `i2c` group (`sudo usermod -aG i2c $USER`)";
pub(crate) const GPIO_MISSING_HINT: &str =
    "list GPIO chips with `gpiodetect`; the 40-pin header is /dev/gpiochip0 on the Pi 4 and \
     current Pi 5 kernels (/dev/gpiochip4 on early Pi 5 kernels)";
pub(crate) const GPIO_PERMISSION_HINT: &str =
    "the user running hearth needs the `gpio` group (`sudo usermod -aG gpio $USER`)";
pub(crate) const W1_HINT: &str =
    "enable 1-wire with `dtoverlay=w1-gpio,gpiopin=4` in /boot/firmware/config.txt (then \
     reboot) and check the probe's 4.7 kOhm pull-up; `ls /sys/bus/w1/devices/` lists probes";
pub(crate) const PWM_HINT: &str =
    "enable hardware PWM with `dtoverlay=pwm-2chan` in /boot/firmware/config.txt (then reboot); \
     `ls /sys/class/pwm/` lists the PWM chips";

/// The hint for an `open()` that failed with `kind`.
pub(crate) fn open_hint(kind: io::ErrorKind, missing: &str, permission: &str) -> String {
    match kind {
        io::ErrorKind::NotFound => hint(missing),
        io::ErrorKind::PermissionDenied => hint(permission),
        _ => String::new(),
    }
}
