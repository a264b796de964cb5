//! A 4-pin fan on the Pi's hardware PWM (rppal, through the kernel's PWM
//! sysfs), with its tachometer on a GPIO input counted by an edge
//! interrupt. Implements the `Fan` seam.
//!
//! * **Duty.** 25 kHz by default (the 4-pin fan standard's 21-28 kHz
//!   band). `docs/hardware.md` wires the fan's PWM input through an
//!   open-drain N-MOSFET stage, which inverts: with
//!   [`PwmFanConfig::inverted`] the Pi drives `1 - duty`. The inversion is
//!   done in the duty value, not with the PWM polarity setting, so it works
//!   the same on every PWM driver.
//! * **Safe levels.** The fan is at 100 % from the moment it is opened,
//!   and dropping the `PwmFan` sets 100 % again and leaves the channel
//!   running (it is not unexported), so a daemon that stops or unwinds
//!   leaves the fan at full speed rather than stopped. With the inverting
//!   stage a disabled PWM output (low) also means full speed.
//! * **Channels.** The profile names channel 0 (GPIO18) or 1 (GPIO19) as
//!   `dtoverlay=pwm-2chan` maps them on the Pi 4. rppal numbers the Pi 5's
//!   RP1 channels differently (GPIO18/19 are its channels 2/3), so the
//!   channel is chosen from the GPIO and the detected model
//!   ([`rppal_channel_for_gpio`]); [`PwmFanConfig::sysfs`] overrides it
//!   with an explicit `pwmchipN/pwmM` for anything else. The Pi 5 mapping
//!   is rppal's and *unverified* here.
//! * **Tach.** Falling edges are counted by rppal's interrupt thread into
//!   an atomic counter; [`crate::tach::TachWindow`] turns the count into
//!   rpm over windows of at least one second of the caller's `now`.
//!   `read_rpm` only loads the counter, so it never blocks. If the
//!   interrupt thread ever stopped, the count would freeze and the fan
//!   would read 0 rpm: protection's fan-stall trip, the safe direction.
//!   The GPIO gets the SoC's pull-up in addition to the external 10 kOhm
//!   to 3.3 V, so an unconnected tach reads as a stopped fan rather than
//!   as noise.
//! * **Bounds.** PWM changes are writes to sysfs attributes of a
//!   memory-mapped controller; they do not wait on anything external.

use crate::error::{hint, LinuxError, PWM_HINT};
use crate::tach::{TachWindow, DEFAULT_MIN_WINDOW, DEFAULT_PULSES_PER_REV};
use hearth_core::peripherals::{DeviceError, Fan};
use hearth_core::time::Timestamp;
use hearth_core::units::{Percent, Rpm};
use rppal::gpio::{Gpio, InputPin, Trigger};
use rppal::pwm::{Channel, Polarity, Pwm};
use rppal::system::{DeviceInfo, Model};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The 4-pin fan PWM standard's nominal frequency.
pub const DEFAULT_PWM_FREQUENCY_HZ: f64 = 25_000.0;

/// Frequencies [`PwmFan::open`] accepts (3-pin fans on a PWM'd supply run
/// at tens of Hz; 4-pin fans at 21-28 kHz).
pub const MIN_PWM_FREQUENCY_HZ: f64 = 10.0;
pub const MAX_PWM_FREQUENCY_HZ: f64 = 100_000.0;

/// Tachometer wiring.
#[derive(Debug, Clone, PartialEq)]
pub struct TachConfig {
    /// BCM GPIO the tach is wired to.
    pub gpio: u32,
    /// Pulses per revolution (2 for standard PC fans).
    pub pulses_per_rev: u32,
    /// Shortest measurement window.
    pub min_window: Duration,
    /// Kernel edge debounce, if wanted (`None`: every edge counts).
    pub debounce: Option<Duration>,
}

impl TachConfig {
    pub fn new(gpio: u32) -> TachConfig {
        TachConfig {
            gpio,
            pulses_per_rev: DEFAULT_PULSES_PER_REV,
            min_window: DEFAULT_MIN_WINDOW,
            debounce: None,
        }
    }
}

/// How a PWM fan is wired.
#[derive(Debug, Clone, PartialEq)]
pub struct PwmFanConfig {
    /// Header GPIO the PWM drives (18 or 19 with `pwm-2chan`).
    pub gpio: u32,
    /// Explicit `(pwmchip, channel index)` in `/sys/class/pwm`, instead of
    /// rppal's per-model mapping.
    pub sysfs: Option<(u8, u8)>,
    pub frequency_hz: f64,
    /// An inverting stage (the documented open-drain MOSFET) sits between
    /// the GPIO and the fan.
    pub inverted: bool,
    pub tach: Option<TachConfig>,
}

impl PwmFanConfig {
    /// The profile's fan with the documented (inverting) stage or not.
    pub fn from_profile(fan: &hearth_board::PwmFan, inverted: bool) -> PwmFanConfig {
        PwmFanConfig {
            gpio: fan.gpio(),
            sysfs: None,
            frequency_hz: DEFAULT_PWM_FREQUENCY_HZ,
            inverted,
            tach: fan.tach_gpio.map(TachConfig::new),
        }
    }
}

/// rppal's channel number for a header GPIO: on the Pi 4 and earlier
/// PWM0 = GPIO12/18 and PWM1 = GPIO13/19; on the Pi 5 (rppal's RP1 mapping)
/// PWM0..3 = GPIO12, 13, 18, 19. `None` for a GPIO without hardware PWM.
pub fn rppal_channel_for_gpio(gpio: u32, pi5: bool) -> Option<u8> {
    match (gpio, pi5) {
        (12 | 18, false) => Some(0),
        (13 | 19, false) => Some(1),
        (12, true) => Some(0),
        (13, true) => Some(1),
        (18, true) => Some(2),
        (19, true) => Some(3),
        _ => None,
    }
}

/// The PWM output's duty fraction (0..=1) for a fan duty.
pub fn output_fraction(duty: Percent, inverted: bool) -> f64 {
    let d = (duty.get() / 100.0).clamp(0.0, 1.0);
    if inverted {
        1.0 - d
    } else {
        d
    }
}

fn is_pi5(model: Model) -> bool {
    matches!(
        model,
        Model::RaspberryPi5
            | Model::RaspberryPi500
            | Model::RaspberryPiComputeModule5
            | Model::RaspberryPiComputeModule5Lite
    )
}

struct Tach {
    // Held for its interrupt: dropping it stops the counting.
    _pin: InputPin,
    count: Arc<AtomicU64>,
    window: TachWindow,
}

/// A PWM-driven fan, optionally with a tachometer.
pub struct PwmFan {
    pwm: Pwm,
    config: PwmFanConfig,
    target: String,
    tach: Option<Tach>,
}

impl fmt::Debug for PwmFan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PwmFan")
            .field("config", &self.config)
            .field("target", &self.target)
            .field("tach", &self.tach.as_ref().map(|t| t.window.clone()))
            .finish_non_exhaustive()
    }
}

impl PwmFan {
    /// Open the PWM channel (fan at 100 %) and, if configured, the tach.
    pub fn open(config: &PwmFanConfig) -> Result<PwmFan, LinuxError> {
        let gpio = config.gpio;
        if !(config.frequency_hz.is_finite()
            && (MIN_PWM_FREQUENCY_HZ..=MAX_PWM_FREQUENCY_HZ).contains(&config.frequency_hz))
        {
            return Err(LinuxError::Config(format!(
                "PWM fan on GPIO{gpio}: frequency {} Hz is outside \
                 {MIN_PWM_FREQUENCY_HZ}..={MAX_PWM_FREQUENCY_HZ} Hz",
                config.frequency_hz
            )));
        }
        let pwm_error = |target: &str, reason: String, extra: &str| LinuxError::Pwm {
            gpio,
            target: target.to_string(),
            reason,
            hint: hint(extra),
        };
        let (mut pwm, target) = match config.sysfs {
            Some((chip, index)) => {
                let target = format!("/sys/class/pwm/pwmchip{chip}/pwm{index}");
                let pwm = Pwm::with_pwmchip(chip, index)
                    .map_err(|e| pwm_error(&target, e.to_string(), PWM_HINT))?;
                (pwm, target)
            }
            None => {
                let model = DeviceInfo::new()
                    .map_err(|e| {
                        pwm_error(
                            "rppal",
                            format!("{e} (not a Raspberry Pi?)"),
                            "set an explicit pwmchip/channel on other boards",
                        )
                    })?
                    .model();
                let channel = rppal_channel_for_gpio(gpio, is_pi5(model))
                    .and_then(|c| Channel::try_from(c).ok())
                    .ok_or_else(|| {
                        pwm_error(
                            "rppal",
                            format!("GPIO{gpio} has no hardware PWM on a {model}"),
                            "use GPIO18 (channel 0) or GPIO19 (channel 1)",
                        )
                    })?;
                let target = format!("rppal {channel} on a {model}");
                let pwm =
                    Pwm::new(channel).map_err(|e| pwm_error(&target, e.to_string(), PWM_HINT))?;
                (pwm, target)
            }
        };
        // Keep the channel running when this value is dropped (see Drop).
        pwm.set_reset_on_drop(false);
        // Some PWM drivers do not implement polarity; normal is the default
        // and the inversion is done in the duty value anyway.
        let _ = pwm.set_polarity(Polarity::Normal);
        pwm.set_frequency(
            config.frequency_hz,
            output_fraction(Percent::FULL, config.inverted),
        )
        .map_err(|e| pwm_error(&target, e.to_string(), ""))?;
        pwm.enable()
            .map_err(|e| pwm_error(&target, e.to_string(), ""))?;
        let tach = match &config.tach {
            Some(tc) => Some(open_tach(tc)?),
            None => None,
        };
        Ok(PwmFan {
            pwm,
            config: config.clone(),
            target,
            tach,
        })
    }

    pub fn config(&self) -> &PwmFanConfig {
        &self.config
    }

    /// Tach edges counted since open (`None` without a tach).
    pub fn pulse_count(&self) -> Option<u64> {
        self.tach.as_ref().map(|t| t.count.load(Ordering::Relaxed))
    }

    fn bus_error(&self, e: &dyn fmt::Display) -> DeviceError {
        DeviceError::Bus(format!(
            "PWM GPIO{} ({}): {e}",
            self.config.gpio, self.target
        ))
    }
}

fn open_tach(tc: &TachConfig) -> Result<Tach, LinuxError> {
    let err = |reason: String, extra: &str| LinuxError::Tach {
        gpio: tc.gpio,
        reason,
        hint: hint(extra),
    };
    let bcm = u8::try_from(tc.gpio).map_err(|_| err("not a GPIO number".into(), ""))?;
    let gpio = Gpio::new().map_err(|e| err(format!("{e} (not a Raspberry Pi?)"), ""))?;
    let mut pin = gpio
        .get(bcm)
        .map_err(|e| {
            err(
                e.to_string(),
                "is the pin used by another program or overlay?",
            )
        })?
        .into_input_pullup();
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    pin.set_async_interrupt(Trigger::FallingEdge, tc.debounce, move |_event| {
        counter.fetch_add(1, Ordering::Relaxed);
    })
    .map_err(|e| err(e.to_string(), ""))?;
    Ok(Tach {
        _pin: pin,
        count,
        window: TachWindow::new(tc.pulses_per_rev, tc.min_window),
    })
}

impl Fan for PwmFan {
    fn set_duty(&mut self, duty: Percent, _now: Timestamp) -> Result<(), DeviceError> {
        self.pwm
            .set_duty_cycle(output_fraction(duty, self.config.inverted))
            .map_err(|e| self.bus_error(&e))
    }

    /// Never blocks. `DeviceError::Absent` without a tach; `Timeout` until
    /// the first window has completed.
    fn read_rpm(&mut self, now: Timestamp) -> Result<Rpm, DeviceError> {
        let Some(tach) = self.tach.as_mut() else {
            return Err(DeviceError::Absent);
        };
        tach.window.update(tach.count.load(Ordering::Relaxed), now)
    }
}

impl Drop for PwmFan {
    fn drop(&mut self) {
        // Full speed whoever takes over (or nobody); see the module docs.
        let _ = self
            .pwm
            .set_duty_cycle(output_fraction(Percent::FULL, self.config.inverted));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_by_model() {
        assert_eq!(rppal_channel_for_gpio(18, false), Some(0));
        assert_eq!(rppal_channel_for_gpio(19, false), Some(1));
        assert_eq!(rppal_channel_for_gpio(12, false), Some(0));
        assert_eq!(rppal_channel_for_gpio(18, true), Some(2));
        assert_eq!(rppal_channel_for_gpio(19, true), Some(3));
        assert_eq!(rppal_channel_for_gpio(17, false), None);
        assert_eq!(rppal_channel_for_gpio(17, true), None);
    }

    #[test]
    fn inverted_stage_flips_the_duty() {
        assert_eq!(output_fraction(Percent::new(30.0), false), 0.3);
        assert!((output_fraction(Percent::new(30.0), true) - 0.7).abs() < 1e-12);
        assert_eq!(output_fraction(Percent::FULL, true), 0.0);
        assert_eq!(output_fraction(Percent::ZERO, true), 1.0);
    }

    #[test]
    fn config_from_profile() {
        let fan = hearth_board::PwmFan {
            channel: 1,
            tach_gpio: Some(24),
        };
        let c = PwmFanConfig::from_profile(&fan, true);
        assert_eq!(c.gpio, 19);
        assert!(c.inverted);
        assert_eq!(c.frequency_hz, DEFAULT_PWM_FREQUENCY_HZ);
        let tach = c.tach.unwrap();
        assert_eq!((tach.gpio, tach.pulses_per_rev), (24, 2));
    }

    #[test]
    fn fan_is_send() {
        fn is_send<T: Send + 'static>() {}
        is_send::<PwmFan>();
    }

    #[test]
    fn explicit_missing_pwmchip_names_the_path_and_overlay() {
        let cfg = PwmFanConfig {
            sysfs: Some((97, 0)),
            ..PwmFanConfig::from_profile(
                &hearth_board::PwmFan {
                    channel: 0,
                    tach_gpio: None,
                },
                true,
            )
        };
        let err = PwmFan::open(&cfg).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("pwmchip97"), "{msg}");
        assert!(msg.contains("GPIO18"), "{msg}");
        assert!(msg.contains("pwm-2chan"), "{msg}");
    }

    #[test]
    fn silly_frequencies_are_refused_before_touching_hardware() {
        for f in [0.0, -1.0, f64::NAN, 1e9] {
            let cfg = PwmFanConfig {
                frequency_hz: f,
                ..PwmFanConfig::from_profile(
                    &hearth_board::PwmFan {
                        channel: 0,
                        tach_gpio: None,
                    },
                    true,
                )
            };
            let err = PwmFan::open(&cfg).unwrap_err();
            assert!(matches!(err, LinuxError::Config(_)), "{err}");
        }
    }

    /// Needs a Raspberry Pi 4 with `dtoverlay=pwm-2chan`, a 4-pin fan whose
    /// PWM input is driven from GPIO18 through the documented N-MOSFET
    /// stage (set HEARTH_TEST_PWM_DIRECT=1 if it is wired directly through
    /// a level shifter instead), its tach pulled up to 3.3 V with 10 kOhm on
    /// GPIO23 (HEARTH_TEST_TACH_GPIO to change), fan powered from 12 V.
    /// Runs the fan at 100 % and 30 % and checks the tach follows.
    #[test]
    #[ignore = "needs hardware"]
    fn hw_pwm_fan_spins_and_tach_counts() {
        let tach = std::env::var("HEARTH_TEST_TACH_GPIO")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(23);
        let inverted = std::env::var("HEARTH_TEST_PWM_DIRECT").is_err();
        let cfg = PwmFanConfig::from_profile(
            &hearth_board::PwmFan {
                channel: 0,
                tach_gpio: Some(tach),
            },
            inverted,
        );
        let mut fan = PwmFan::open(&cfg).unwrap();
        let t0 = std::time::Instant::now();
        let now = || Timestamp::from_millis(t0.elapsed().as_millis() as u64);
        std::thread::sleep(Duration::from_secs(3));
        let _ = fan.read_rpm(now());
        std::thread::sleep(Duration::from_millis(1500));
        let full = fan.read_rpm(now()).unwrap();
        assert!(full.get() > 1000.0, "fan at 100 % reads {full:?}");
        fan.set_duty(Percent::new(30.0), now()).unwrap();
        std::thread::sleep(Duration::from_secs(5));
        let _ = fan.read_rpm(now());
        std::thread::sleep(Duration::from_millis(1500));
        let low = fan.read_rpm(now()).unwrap();
        assert!(low.get() < full.get(), "30 %: {low:?}, 100 %: {full:?}");
    }
}
