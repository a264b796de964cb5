//! GPIO output lines (board reset, power enable) and input lines (a pool
//! pump's running contact) on the GPIO character
//! device (`/dev/gpiochipN`), through `linux-embedded-hal`'s [`CdevPin`].
//!
//! A line is *asserted* when it does its job (reset held, power on).
//! Polarity is handled here, not with the kernel's `ACTIVE_LOW` request
//! flag, so [`GpioOutput::set_high`] / [`GpioOutput::set_low`] are always
//! physical levels and [`GpioOutput::set_asserted`] is the logical one.
//!
//! **Safe defaults.** A line is requested already at its safe level, so it
//! never glitches: [`ResetOutput`] opens with the chips held in reset,
//! [`PowerEnableOutput`] with the power off. Both return to that level when
//! dropped (daemon exit or a panic that unwinds), before the line is
//! released. After release the kernel decides what the pin does (it may
//! keep driving the level or fall back to an input, depending on the GPIO
//! driver: *unverified* on the Pi 4 and Pi 5), which is why
//! `docs/hardware.md` asks for RST_N on a pin with a pull-down.
//!
//! **Bounds.** Requesting a line and setting its value are single ioctls
//! on a memory-mapped controller; they do not wait on anything external.

use crate::error::{hint, LinuxError, GPIO_MISSING_HINT, GPIO_PERMISSION_HINT};
use embedded_hal::digital::{InputPin, OutputPin};
use hearth_board::profile::DEFAULT_GPIOCHIP;
use hearth_board::{GpioLine, ResetLine};
use hearth_core::peripherals::DeviceError;
use hearth_core::time::Timestamp;
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::CdevPin;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Which line, and which level means "asserted".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineConfig {
    /// GPIO character device, e.g. `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// Line offset on that chip (the BCM GPIO number on the Pi's header chip).
    pub offset: u32,
    /// Asserted = physically low (e.g. RST_N).
    pub active_low: bool,
}

impl LineConfig {
    /// The profile's line with the given polarity.
    pub fn from_profile(line: &GpioLine, active_low: bool) -> LineConfig {
        LineConfig {
            chip: PathBuf::from(&line.chip),
            offset: line.line,
            active_low,
        }
    }

    /// The physical level (true = high) that means `asserted`.
    pub fn level_for(&self, asserted: bool) -> bool {
        asserted != self.active_low
    }
}

impl fmt::Display for LineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.chip.display(),
            self.offset,
            if self.active_low {
                "active-low"
            } else {
                "active-high"
            }
        )
    }
}

/// Parses `[CHIP:]OFFSET[:active-low|:active-high]`, where CHIP is a path
/// (`/dev/gpiochip0`) or a bare chip name (`gpiochip4`, taken under
/// `/dev`). Without CHIP the line is on `/dev/gpiochip0`; without a
/// polarity it is active-high. Examples: `17`, `gpiochip0:17:active-low`,
/// `/dev/gpiochip4:27`.
impl FromStr for LineConfig {
    type Err = LinuxError;

    fn from_str(s: &str) -> Result<LineConfig, LinuxError> {
        let bad = |why: &str| {
            LinuxError::Config(format!(
                "GPIO line {s:?}: {why} (expected [CHIP:]OFFSET[:active-low|:active-high], \
                 e.g. \"gpiochip0:17:active-low\")"
            ))
        };
        let mut parts: Vec<&str> = s.trim().split(':').map(str::trim).collect();
        let mut active_low = false;
        match parts.last().copied() {
            Some("active-low") => {
                active_low = true;
                parts.pop();
            }
            Some("active-high") => {
                parts.pop();
            }
            _ => {}
        }
        let (chip, offset) = match parts.as_slice() {
            [offset] => (PathBuf::from(DEFAULT_GPIOCHIP), *offset),
            [chip, offset] => {
                if chip.is_empty() {
                    return Err(bad("empty chip"));
                }
                let chip = if chip.contains('/') {
                    PathBuf::from(chip)
                } else {
                    Path::new("/dev").join(chip)
                };
                (chip, *offset)
            }
            _ => return Err(bad("too many ':'-separated parts")),
        };
        let offset = offset
            .parse::<u32>()
            .map_err(|_| bad("the line offset is not a number"))?;
        Ok(LineConfig {
            chip,
            offset,
            active_low,
        })
    }
}

/// One output line, held for as long as this value lives.
pub struct GpioOutput {
    pin: CdevPin,
    config: LineConfig,
    consumer: String,
    asserted: bool,
}

impl fmt::Debug for GpioOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpioOutput")
            .field("config", &self.config)
            .field("consumer", &self.consumer)
            .field("asserted", &self.asserted)
            .finish_non_exhaustive()
    }
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
    e.source()
        .and_then(|s| s.downcast_ref::<io::Error>())
        .map(io::Error::kind)
}

/// Opens `config`'s chip and requests its line with `flags` (an output
/// starting at physical level `default`), with errors that name the path,
/// the offset and what to check.
fn request_line(
    config: &LineConfig,
    consumer: &str,
    flags: LineRequestFlags,
    default: u8,
) -> Result<CdevPin, LinuxError> {
    let path = &config.chip;
    let mut chip = Chip::new(path).map_err(|e| {
        let hint_text = match io_kind(&e) {
            Some(io::ErrorKind::PermissionDenied) => hint(GPIO_PERMISSION_HINT),
            _ if !path.exists() => hint(GPIO_MISSING_HINT),
            _ => String::new(),
        };
        LinuxError::GpioChip {
            path: path.clone(),
            reason: if path.exists() {
                e.to_string()
            } else {
                "no such device".into()
            },
            hint: hint_text,
        }
    })?;
    let line_error = |e: &dyn std::error::Error, extra: &str| LinuxError::GpioLine {
        path: path.clone(),
        offset: config.offset,
        consumer: consumer.to_string(),
        reason: e.to_string(),
        hint: hint(extra),
    };
    let line = chip
        .get_line(config.offset)
        .map_err(|e| line_error(&e, "the offset is the BCM GPIO number (0-27 on the header)"))?;
    let handle = line.request(flags, default, consumer).map_err(|e| {
        line_error(
            &e,
            "is the line used by another program or a device-tree overlay? \
             `gpioinfo` shows its consumer",
        )
    })?;
    CdevPin::new(handle).map_err(|e| line_error(&e, ""))
}

impl GpioOutput {
    /// Request `config`'s line as an output driven to `asserted` from the
    /// first moment. `consumer` is the label `gpioinfo` shows.
    pub fn open(
        config: &LineConfig,
        consumer: &str,
        asserted: bool,
    ) -> Result<GpioOutput, LinuxError> {
        let pin = request_line(
            config,
            consumer,
            LineRequestFlags::OUTPUT,
            u8::from(config.level_for(asserted)),
        )?;
        Ok(GpioOutput {
            pin,
            config: config.clone(),
            consumer: consumer.to_string(),
            asserted,
        })
    }

    pub fn config(&self) -> &LineConfig {
        &self.config
    }

    /// The logical state last set.
    pub fn is_asserted(&self) -> bool {
        self.asserted
    }

    /// Drive the physical level high.
    pub fn set_high(&mut self) -> Result<(), DeviceError> {
        self.pin.set_high().map_err(|e| self.error(&e))?;
        self.asserted = !self.config.active_low;
        Ok(())
    }

    /// Drive the physical level low.
    pub fn set_low(&mut self) -> Result<(), DeviceError> {
        self.pin.set_low().map_err(|e| self.error(&e))?;
        self.asserted = self.config.active_low;
        Ok(())
    }

    /// Drive the level that means `asserted`.
    pub fn set_asserted(&mut self, asserted: bool) -> Result<(), DeviceError> {
        if self.config.level_for(asserted) {
            self.set_high()
        } else {
            self.set_low()
        }
    }

    fn error(&self, e: &dyn fmt::Display) -> DeviceError {
        DeviceError::Bus(format!(
            "GPIO {} line {}: {e}",
            self.config.chip.display(),
            self.config.offset
        ))
    }
}

/// One input line (a pump's running contact, say), held for as long as
/// this value lives. Reading it is a single `GPIOHANDLE_GET_LINE_VALUES`
/// ioctl: the kernel returns the latched level at once, it never waits for
/// an edge, so a read is bounded like every other line operation here.
pub struct GpioInput {
    pin: CdevPin,
    config: LineConfig,
}

impl fmt::Debug for GpioInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpioInput")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GpioInput {
    /// Request `config`'s line as an input. `consumer` is the label
    /// `gpioinfo` shows.
    pub fn open(config: &LineConfig, consumer: &str) -> Result<GpioInput, LinuxError> {
        let pin = request_line(config, consumer, LineRequestFlags::INPUT, 0)?;
        Ok(GpioInput {
            pin,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &LineConfig {
        &self.config
    }

    /// The logical state now: physical level mapped through the polarity.
    pub fn is_asserted(&mut self) -> Result<bool, DeviceError> {
        let high = self.pin.is_high().map_err(|e| {
            DeviceError::Bus(format!(
                "GPIO {} line {}: {e}",
                self.config.chip.display(),
                self.config.offset
            ))
        })?;
        Ok(high != self.config.active_low)
    }
}

/// The chips' reset line (RST_N: low = reset, so active-low by default).
/// Opened with the chips held in reset; dropping it holds them in reset
/// again before the line is released. Implements hearth-board's
/// [`ResetLine`], so it goes straight into `BoardDevices::reset`.
#[derive(Debug)]
pub struct ResetOutput(GpioOutput);

impl ResetOutput {
    /// Request the line with reset held.
    pub fn open(config: &LineConfig, consumer: &str) -> Result<ResetOutput, LinuxError> {
        GpioOutput::open(config, consumer, true).map(ResetOutput)
    }

    /// `held`: chips in reset.
    pub fn set_reset(&mut self, held: bool, _now: Timestamp) -> Result<(), DeviceError> {
        self.0.set_asserted(held)
    }

    pub fn is_held(&self) -> bool {
        self.0.is_asserted()
    }

    pub fn line(&mut self) -> &mut GpioOutput {
        &mut self.0
    }
}

impl ResetLine for ResetOutput {
    fn set_reset(&mut self, held: bool, now: Timestamp) -> Result<(), DeviceError> {
        ResetOutput::set_reset(self, held, now)
    }
}

impl Drop for ResetOutput {
    fn drop(&mut self) {
        // Best effort: nothing can be done about a failure while dropping,
        // and the documented pull-down covers a released line.
        let _ = self.0.set_asserted(true);
    }
}

/// The board's power enable (active-high by default). Opened with the
/// power off; dropping it switches the power off again.
#[derive(Debug)]
pub struct PowerEnableOutput(GpioOutput);

impl PowerEnableOutput {
    /// Request the line with the power off.
    pub fn open(config: &LineConfig, consumer: &str) -> Result<PowerEnableOutput, LinuxError> {
        GpioOutput::open(config, consumer, false).map(PowerEnableOutput)
    }

    pub fn set_power(&mut self, on: bool, _now: Timestamp) -> Result<(), DeviceError> {
        self.0.set_asserted(on)
    }

    pub fn is_on(&self) -> bool {
        self.0.is_asserted()
    }

    pub fn line(&mut self) -> &mut GpioOutput {
        &mut self.0
    }
}

impl Drop for PowerEnableOutput {
    fn drop(&mut self) {
        let _ = self.0.set_asserted(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> LineConfig {
        s.parse().unwrap()
    }

    #[test]
    fn parses_offset_only_on_the_default_chip() {
        assert_eq!(
            parse("17"),
            LineConfig {
                chip: PathBuf::from("/dev/gpiochip0"),
                offset: 17,
                active_low: false
            }
        );
    }

    #[test]
    fn parses_chip_names_paths_and_polarity() {
        let c = parse("gpiochip4:27:active-low");
        assert_eq!(c.chip, PathBuf::from("/dev/gpiochip4"));
        assert_eq!(c.offset, 27);
        assert!(c.active_low);
        let c = parse("/dev/gpiochip0:22:active-high");
        assert_eq!(c.chip, PathBuf::from("/dev/gpiochip0"));
        assert!(!c.active_low);
        let c = parse(" 5:active-low ");
        assert_eq!((c.offset, c.active_low), (5, true));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "/dev/gpiochip0:17:active-low",
            "/dev/gpiochip4:27:active-high",
        ] {
            assert_eq!(parse(s).to_string(), s);
            assert_eq!(parse(&parse(s).to_string()), parse(s));
        }
    }

    #[test]
    fn bad_specs_are_refused_with_the_input() {
        for s in [
            "",
            "x",
            "gpiochip0:",
            ":17",
            "a:b:c:d",
            "gpiochip0:-1",
            "17:active-sideways",
        ] {
            let err = s.parse::<LineConfig>().unwrap_err();
            assert!(matches!(err, LinuxError::Config(_)), "{s}");
            assert!(err.to_string().contains(&format!("{s:?}")), "{err}");
        }
    }

    #[test]
    fn polarity_maps_asserted_to_levels() {
        let rst = parse("17:active-low");
        assert!(!rst.level_for(true), "reset held = low");
        assert!(rst.level_for(false));
        let en = parse("27");
        assert!(en.level_for(true), "power on = high");
        assert!(!en.level_for(false));
    }

    #[test]
    fn from_profile_keeps_chip_and_line() {
        let line = GpioLine {
            chip: "/dev/gpiochip0".into(),
            line: 17,
        };
        let c = LineConfig::from_profile(&line, true);
        assert_eq!(c, parse("/dev/gpiochip0:17:active-low"));
    }

    #[test]
    fn reset_output_is_a_board_reset_line() {
        fn boxed(r: ResetOutput) -> Box<dyn ResetLine> {
            Box::new(r)
        }
        let _ = boxed;
    }

    #[test]
    fn missing_gpiochip_names_the_path() {
        let cfg = parse("/dev/gpiochip97:17:active-low");
        let err = ResetOutput::open(&cfg, "hearth-test").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LinuxError::GpioChip { .. }), "{msg}");
        assert!(msg.contains("/dev/gpiochip97"), "{msg}");
        assert!(msg.contains("gpiodetect"), "{msg}");
    }

    #[test]
    fn a_file_that_is_not_a_gpiochip_is_refused_with_its_path() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let cfg = LineConfig {
            chip: file.path().to_path_buf(),
            offset: 17,
            active_low: false,
        };
        let err = PowerEnableOutput::open(&cfg, "hearth-test").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&file.path().display().to_string()), "{msg}");
    }

    #[test]
    fn an_input_on_a_missing_or_bogus_chip_is_refused_with_its_path() {
        let cfg = parse("/dev/gpiochip97:17");
        let err = GpioInput::open(&cfg, "hearth-test").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LinuxError::GpioChip { .. }), "{msg}");
        assert!(msg.contains("/dev/gpiochip97"), "{msg}");
        let file = tempfile::NamedTempFile::new().unwrap();
        let cfg = LineConfig {
            chip: file.path().to_path_buf(),
            offset: 17,
            active_low: false,
        };
        let msg = GpioInput::open(&cfg, "hearth-test")
            .unwrap_err()
            .to_string();
        assert!(msg.contains(&file.path().display().to_string()), "{msg}");
    }

    /// Needs a Pi with a free line wired to a contact (or left floating
    /// with a pull): HEARTH_TEST_INPUT_LINE (default `gpiochip0:17`). Reads
    /// the line and checks the polarity mapping against an active-low view.
    #[test]
    #[ignore = "needs hardware"]
    fn hw_input_line_reads_with_polarity() {
        let spec = std::env::var("HEARTH_TEST_INPUT_LINE").unwrap_or("gpiochip0:17".into());
        let cfg: LineConfig = spec.parse().unwrap();
        let mut input = GpioInput::open(&cfg, "hearth-hw-test").unwrap();
        let asserted = input.is_asserted().unwrap();
        drop(input);
        let inverted = LineConfig {
            active_low: !cfg.active_low,
            ..cfg
        };
        let mut input = GpioInput::open(&inverted, "hearth-hw-test").unwrap();
        assert_eq!(input.is_asserted().unwrap(), !asserted);
    }

    /// Needs a Raspberry Pi (or any board with /dev/gpiochip0) and a free
    /// line: set HEARTH_TEST_RESET_LINE (default `gpiochip0:17:active-low`)
    /// to a line with nothing connected, or with an LED + resistor to
    /// watch it. The test toggles it and checks the value read back.
    #[test]
    #[ignore = "needs hardware"]
    fn hw_reset_line_toggles() {
        let spec =
            std::env::var("HEARTH_TEST_RESET_LINE").unwrap_or("gpiochip0:17:active-low".into());
        let cfg: LineConfig = spec.parse().unwrap();
        let mut reset = ResetOutput::open(&cfg, "hearth-hw-test").unwrap();
        let level = |r: &mut ResetOutput| r.line().pin.0.get_value().unwrap() == 1;
        assert!(reset.is_held());
        assert_eq!(level(&mut reset), cfg.level_for(true));
        reset.set_reset(false, Timestamp(0)).unwrap();
        assert_eq!(level(&mut reset), cfg.level_for(false));
        reset.set_reset(true, Timestamp(0)).unwrap();
        assert_eq!(level(&mut reset), cfg.level_for(true));
    }
}
