//! A board's devices, built from its profile's [`Peripherals`].
//!
//! [`open_board_devices`] opens, in this order, so the board reaches its
//! safe state first:
//! 1. GPIO lines: reset requested *held*, power enable requested *off*;
//! 2. the I2C bus and its parts: the TPS546 is switched **off** (which also
//!    proves it answers), the EMC2101's identity is checked, it is
//!    configured and its fan set to 100 %, an optional TMP1075 is probed;
//! 3. a PWM fan, at 100 %.
//!
//! A part the profile marks as required that does not answer is an error
//! naming part, address and bus; an optional part that does not answer
//! (the TMP1075 some Bitaxe revisions omit) is left out with a note. What
//! the profile does not have at all (no regulator on a hashboard, no reset
//! line configured) is listed in [`LinuxBoardDevices::notes`], so the
//! daemon can log it.
//!
//! Chip and board thermometers are kept apart on purpose: protection needs
//! *chip* temperatures, and a board sensor (TMP1075) counted as one would
//! keep a board running on a plausible but cooler reading after its chip
//! diode failed. The exception is a `generic-*` hashboard's TMP75 next to
//! the chips and any `heatsink_probes` (DS18B20 on the heatsink): they are
//! the board's chip-side readings, and validation has already lowered its
//! trip limit by `hearth_board::config::HEATSINK_MARGIN_K` for them.

use crate::error::{hint, LinuxError};
use crate::gpio::{LineConfig, PowerEnableOutput, ResetOutput};
use crate::i2c::{I2cBus, SharedI2c};
use crate::pwm_fan::{PwmFan, PwmFanConfig, DEFAULT_PWM_FREQUENCY_HZ};
use crate::tach::{DEFAULT_MIN_WINDOW, DEFAULT_PULSES_PER_REV};
use embedded_hal::i2c::I2c;
use hearth_board::{BoardProfile, I2cDevice, I2cPart, OperatingLimits, Peripherals};
use hearth_core::peripherals::{DeviceError, Fan, Regulator, Thermometer};
use hearth_core::time::Timestamp;
use hearth_core::units::{Percent, Rpm};
use hearth_periph::bitmain_pic::{self, BitmainPic};
use hearth_periph::emc2101::{self, Emc2101};
use hearth_periph::tmp75::Tmp75;
use hearth_periph::tps546::{Tps546, VoutRange};
use std::fmt;
use std::time::Duration;

/// Wiring facts the profile does not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardOpenOptions {
    /// Used in thermometer names and GPIO consumer labels (the board id).
    pub label: String,
    /// RST_N is low = reset (the BM13xx pin); `false` only behind an
    /// inverting stage.
    pub reset_active_low: bool,
    /// The enable line is high = on; `true` for an inverting stage.
    pub enable_active_low: bool,
    /// The PWM fan is driven through the documented inverting open-drain
    /// stage (`docs/hardware.md`). Default `true`; a mismatch shows up as a
    /// fan that slows down when asked for more, which the tach reveals.
    pub pwm_inverted: bool,
    pub pwm_frequency_hz: f64,
    /// Explicit `(pwmchip, channel)` for the PWM fan; see [`PwmFanConfig::sysfs`].
    pub pwm_sysfs: Option<(u8, u8)>,
    pub tach_pulses_per_rev: u32,
    pub tach_min_window: Duration,
    /// Where the heatsink probes are looked up (normally [`crate::W1_DEVICES`]).
    pub w1_devices: std::path::PathBuf,
    /// The deadline of each heatsink probe read.
    pub w1_deadline: Duration,
}

impl BoardOpenOptions {
    pub fn new(label: impl Into<String>) -> BoardOpenOptions {
        BoardOpenOptions {
            label: label.into(),
            reset_active_low: true,
            enable_active_low: false,
            pwm_inverted: true,
            pwm_frequency_hz: DEFAULT_PWM_FREQUENCY_HZ,
            pwm_sysfs: None,
            tach_pulses_per_rev: DEFAULT_PULSES_PER_REV,
            tach_min_window: DEFAULT_MIN_WINDOW,
            w1_devices: std::path::PathBuf::from(crate::W1_DEVICES),
            w1_deadline: crate::DEFAULT_W1_DEADLINE,
        }
    }
}

impl Default for BoardOpenOptions {
    fn default() -> BoardOpenOptions {
        BoardOpenOptions::new("board")
    }
}

/// Everything a real board driver needs around the chain.
#[derive(Default)]
pub struct LinuxBoardDevices {
    /// Core-voltage regulator (TPS546), switched off at open.
    pub regulator: Option<Box<dyn Regulator>>,
    /// The fan: the EMC2101, the PWM fan, or both as one [`FanGroup`]; at
    /// 100 % after open.
    pub fan: Option<Box<dyn Fan>>,
    /// Chip temperature sources on the Pi side (the EMC2101's ASIC diode).
    pub chip_thermometers: Vec<Box<dyn Thermometer>>,
    /// Board temperature sensors (TMP1075/TMP75).
    pub board_thermometers: Vec<Box<dyn Thermometer>>,
    /// Chip reset line, held at open.
    pub reset: Option<ResetOutput>,
    /// Board power enable, off at open.
    pub power_enable: Option<PowerEnableOutput>,
    /// What is missing and what that means, one line each.
    pub notes: Vec<String>,
}

impl fmt::Debug for LinuxBoardDevices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: &[Box<dyn Thermometer>]| -> Vec<String> {
            v.iter().map(|t| t.name().to_string()).collect()
        };
        f.debug_struct("LinuxBoardDevices")
            .field("regulator", &self.regulator.is_some())
            .field("fan", &self.fan.is_some())
            .field("chip_thermometers", &names(&self.chip_thermometers))
            .field("board_thermometers", &names(&self.board_thermometers))
            .field("reset", &self.reset)
            .field("power_enable", &self.power_enable)
            .field("notes", &self.notes)
            .finish()
    }
}

/// The regulator range a profile's voltage limits allow.
pub fn vout_range(limits: &OperatingLimits) -> Result<VoutRange, LinuxError> {
    VoutRange::new(limits.min_voltage_mv, limits.max_voltage_mv)
        .map_err(|e| LinuxError::Config(format!("regulator range from the profile: {e}")))
}

/// Open everything `profile` describes. Blocking; call it off the control
/// thread.
pub fn open_board_devices(
    profile: &BoardProfile,
    options: &BoardOpenOptions,
) -> Result<LinuxBoardDevices, LinuxError> {
    let per = profile.peripherals();
    let label = &options.label;
    let mut devices = LinuxBoardDevices::default();

    match &per.reset {
        Some(line) => {
            let cfg = LineConfig::from_profile(line, options.reset_active_low);
            devices.reset = Some(ResetOutput::open(&cfg, &format!("hearth-{label}-reset"))?);
        }
        None => devices
            .notes
            .push("no reset line (reset_gpio): protection cannot hold the chips in reset".into()),
    }
    match &per.power_enable {
        Some(line) => {
            let cfg = LineConfig::from_profile(line, options.enable_active_low);
            devices.power_enable = Some(PowerEnableOutput::open(
                &cfg,
                &format!("hearth-{label}-enable"),
            )?);
        }
        None => devices
            .notes
            .push("no power enable line (enable_gpio)".into()),
    }

    let mut i2c_fan = None;
    let i2c_devices = per.i2c_devices();
    match (&per.i2c_bus, i2c_devices.is_empty()) {
        (Some(path), false) => match I2cBus::open(path) {
            Ok(bus) => {
                let parts = open_i2c_devices(per, profile.limits(), &bus, options)?;
                devices.regulator = parts.regulator;
                i2c_fan = parts.fan;
                devices.chip_thermometers = parts.chip_thermometers;
                devices.board_thermometers = parts.board_thermometers;
                devices.notes.extend(parts.notes);
            }
            Err(e) if i2c_devices.iter().any(|d| d.required) => return Err(e),
            Err(e) => devices
                .notes
                .push(format!("optional I2C parts left out: {e}")),
        },
        (None, false) => {
            return Err(LinuxError::Config(
                "the profile has I2C parts but no I2C bus".into(),
            ))
        }
        (_, true) => {}
    }
    if per.regulator.is_none() {
        devices.notes.push(
            "no core-voltage regulator on the Pi's I2C: the core voltage cannot be switched \
             off from here"
                .into(),
        );
    }

    let pwm_fan = match &per.pwm_fan {
        Some(fan) => {
            let mut cfg = PwmFanConfig::from_profile(fan, options.pwm_inverted);
            cfg.frequency_hz = options.pwm_frequency_hz;
            cfg.sysfs = options.pwm_sysfs;
            if let Some(tach) = cfg.tach.as_mut() {
                tach.pulses_per_rev = options.tach_pulses_per_rev;
                tach.min_window = options.tach_min_window;
            } else {
                devices.notes.push(
                    "PWM fan without a tachometer (fan_tach_gpio): a stalled fan cannot be seen"
                        .into(),
                );
            }
            Some(Box::new(PwmFan::open(&cfg)?) as Box<dyn Fan>)
        }
        None => None,
    };
    devices.fan = match (i2c_fan, pwm_fan) {
        (Some(a), Some(b)) => Some(Box::new(FanGroup::new(vec![a, b]))),
        (Some(f), None) | (None, Some(f)) => Some(f),
        (None, None) => {
            devices
                .notes
                .push("no fan the Pi can drive: keep the board's own cooling running".into());
            None
        }
    };
    for (i, id) in per.heatsink_probes.iter().enumerate() {
        let probe = crate::w1::open_ds18b20(
            &options.w1_devices,
            &crate::ProbeSelector::Id(id.clone()),
            &format!("{label} heatsink {}", i + 1),
            options.w1_deadline,
        )?;
        devices.chip_thermometers.push(Box::new(probe));
    }
    if devices.chip_thermometers.is_empty() {
        devices.notes.push(
            "no chip thermometer on the Pi side: chip temperatures must come from the chain".into(),
        );
    }
    Ok(devices)
}

/// The I2C part of a board, from any shared bus (a mock in tests).
#[derive(Default)]
pub struct I2cDevices {
    pub regulator: Option<Box<dyn Regulator>>,
    pub fan: Option<Box<dyn Fan>>,
    pub chip_thermometers: Vec<Box<dyn Thermometer>>,
    pub board_thermometers: Vec<Box<dyn Thermometer>>,
    pub notes: Vec<String>,
}

impl fmt::Debug for I2cDevices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("I2cDevices")
            .field("regulator", &self.regulator.is_some())
            .field("fan", &self.fan.is_some())
            .field("chip_thermometers", &self.chip_thermometers.len())
            .field("board_thermometers", &self.board_thermometers.len())
            .field("notes", &self.notes)
            .finish()
    }
}

fn part_name(part: I2cPart) -> &'static str {
    match part {
        I2cPart::Tps546 => "TPS546",
        I2cPart::Emc2101 => "EMC2101",
        I2cPart::Tmp1075 => "TMP1075",
        I2cPart::BitmainPic { .. } => "Bitmain PIC",
    }
}

/// Open the profile's I2C parts on `bus` (see the module docs for what is
/// written at open).
pub fn open_i2c_devices<B>(
    per: &Peripherals,
    limits: &OperatingLimits,
    bus: &I2cBus<B>,
    options: &BoardOpenOptions,
) -> Result<I2cDevices, LinuxError>
where
    B: I2c + Send + 'static,
{
    let mut out = I2cDevices::default();
    let bus_name = bus.path().display().to_string();
    // A required part that fails is an error; an optional one that does not
    // answer is left out with a note.
    let check = |dev: &I2cDevice,
                 result: Result<(), DeviceError>,
                 notes: &mut Vec<String>|
     -> Result<bool, LinuxError> {
        match result {
            Ok(()) => Ok(true),
            Err(e) if dev.required => Err(LinuxError::Device {
                part: part_name(dev.part),
                address: dev.address,
                bus: bus_name.clone(),
                hint: hint(&format!(
                    "check the wiring and power, and that `i2cdetect -y {}` shows {:02x}",
                    bus_name.trim_start_matches("/dev/i2c-"),
                    dev.address
                )),
                source: e,
            }),
            Err(e) => {
                notes.push(format!(
                    "optional {} at {:#04x} on {bus_name} left out: {e}",
                    part_name(dev.part),
                    dev.address
                ));
                Ok(false)
            }
        }
    };

    match per.regulator {
        Some(
            dev @ I2cDevice {
                part: I2cPart::BitmainPic { series_domains },
                ..
            },
        ) => {
            let mut pic = BitmainPic::new(
                bus.device(),
                linux_embedded_hal::Delay,
                dev.address,
                series_domains,
                vout_range(limits)?,
            )
            .map_err(|e| LinuxError::Config(format!("PIC regulator: {e}")))?;
            // Reset, application started, rail off (blocks ~600 ms).
            let r = pic
                .start(hearth_core::Timestamp(0))
                .map(|version| {
                    if version != bitmain_pic::EXPECTED_VERSION {
                        out.notes.push(format!(
                            "PIC at {:#04x} runs firmware version {version:#04x}, not the {:#04x} this driver was written for",
                            dev.address,
                            bitmain_pic::EXPECTED_VERSION
                        ));
                    }
                })
                .map_err(DeviceError::from);
            if check(&dev, r, &mut out.notes)? {
                // Its 100 ms wait after SET_VOLTAGE runs on a worker thread,
                // not in the board task (see regulator_worker).
                let range = vout_range(limits)?;
                let domains = series_domains;
                let vout_check: crate::regulator_worker::VoutCheck = Box::new(move |v| {
                    let rail_ok =
                        bitmain_pic::code_for_rail_mv(v.get() * f64::from(domains)).is_some();
                    if range.contains(v) && rail_ok {
                        Ok(())
                    } else {
                        Err(DeviceError::Fault(format!(
                            "{v} is outside the PIC's range {}..={} per chip at {domains} domains",
                            range.min(),
                            range.max()
                        )))
                    }
                });
                let worker = crate::regulator_worker::RegulatorWorker::spawn(
                    pic,
                    &format!("{} PIC", options.label),
                    vout_check,
                )?;
                out.regulator = Some(Box::new(worker));
            }
        }
        Some(dev) => {
            let mut tps = Tps546::new(bus.device(), dev.address, vout_range(limits)?);
            // Off until the board driver decides otherwise.
            let r = tps.set_enabled(false).map_err(DeviceError::from);
            if check(&dev, r, &mut out.notes)? {
                out.regulator = Some(Box::new(tps));
            }
        }
        None => {}
    }

    if let Some(dev) = per.fan_controller {
        let mut fan = Emc2101::new(bus.device(), dev.address);
        let r = fan
            .verify_identity()
            .and_then(|()| fan.configure(emc2101::Config::default()))
            .and_then(|()| fan.set_duty_percent(Percent::FULL))
            .map_err(DeviceError::from);
        if check(&dev, r, &mut out.notes)? {
            out.fan = Some(Box::new(fan));
            let diode: Emc2101<SharedI2c<B>> = Emc2101::new(bus.device(), dev.address)
                .with_name(format!("{} chip diode", options.label));
            out.chip_thermometers.push(Box::new(diode));
        }
    }

    if let Some(dev) = per.board_thermometer {
        let near_chips = per.board_thermometer_near_chips;
        let what = if near_chips {
            "next to the chips"
        } else {
            "board"
        };
        let mut tmp = Tmp75::new_tmp1075(bus.device(), dev.address)
            .with_name(format!("{} {what}", options.label));
        let r = tmp
            .read_temperature_raw()
            .map(drop)
            .map_err(DeviceError::from);
        if check(&dev, r, &mut out.notes)? {
            if near_chips {
                out.chip_thermometers.push(Box::new(tmp));
            } else {
                out.board_thermometers.push(Box::new(tmp));
            }
        }
    }
    Ok(out)
}

/// Several fans driven as one: every fan gets the same duty; the reading
/// is the slowest fan that has a tachometer, so a stall of any one shows.
pub struct FanGroup {
    fans: Vec<Box<dyn Fan>>,
}

impl fmt::Debug for FanGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanGroup")
            .field("fans", &self.fans.len())
            .finish()
    }
}

impl FanGroup {
    pub fn new(fans: Vec<Box<dyn Fan>>) -> FanGroup {
        FanGroup { fans }
    }
}

impl Fan for FanGroup {
    /// Sets every fan even if an earlier one fails; returns the first error.
    fn set_duty(&mut self, duty: Percent, now: Timestamp) -> Result<(), DeviceError> {
        let mut first_err = None;
        for fan in &mut self.fans {
            if let Err(e) = fan.set_duty(duty, now) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The minimum over the fans that have a tach (`Absent` ones are
    /// skipped); any other error is returned, since the fan that failed to
    /// read may be the stalled one.
    fn read_rpm(&mut self, now: Timestamp) -> Result<Rpm, DeviceError> {
        let mut slowest: Option<Rpm> = None;
        let mut first_err = None;
        for fan in &mut self.fans {
            match fan.read_rpm(now) {
                Ok(rpm) => {
                    if slowest.is_none_or(|s| rpm.get() < s.get()) {
                        slowest = Some(rpm);
                    }
                }
                Err(DeviceError::Absent) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match (first_err, slowest) {
            (Some(e), _) => Err(e),
            (None, Some(rpm)) => Ok(rpm),
            (None, None) => Err(DeviceError::Absent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use hearth_board::{validate_hashboard, HashboardConfig, ProfileKind};
    use hearth_core::units::Celsius;
    use std::sync::{Arc, Mutex};

    fn nack() -> ErrorKind {
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
    }

    fn gamma() -> BoardProfile {
        BoardProfile::builtin(ProfileKind::BitaxeGamma).unwrap()
    }

    /// What opening a Bitaxe writes: TPS546 off, EMC2101 id + config +
    /// 100 %, TMP1075 probe.
    fn bitaxe_open(tmp1075: T) -> Vec<T> {
        vec![
            T::write(0x24, vec![0x01, 0x00]),
            T::write_read(0x4C, vec![0xFE], vec![0x5D]),
            T::write_read(0x4C, vec![0xFD], vec![0x16]),
            T::write(0x4C, vec![0x03, 0x04]),
            T::write(0x4C, vec![0x4A, 0x23]),
            T::write(0x4C, vec![0x4D, 0x1F]),
            T::write(0x4C, vec![0x4C, 0x3E]),
            tmp1075,
        ]
    }

    fn open_mock(profile: &BoardProfile, expect: &[T]) -> (I2cDevices, I2cBus<Mock>) {
        let bus = I2cBus::from_bus("/dev/i2c-1", Mock::new(expect));
        let devs = open_i2c_devices(
            profile.peripherals(),
            profile.limits(),
            &bus,
            &BoardOpenOptions::new("desk"),
        )
        .unwrap();
        (devs, bus)
    }

    fn done(bus: I2cBus<Mock>) {
        bus.device().lock().done();
    }

    #[test]
    fn bitaxe_opens_all_three_parts_in_their_safe_state() {
        let tmp = T::write_read(0x4A, vec![0x00], vec![0x19, 0x00]);
        let (mut devs, bus) = open_mock(&gamma(), &bitaxe_open(tmp));
        assert!(devs.regulator.is_some());
        assert!(devs.fan.is_some());
        assert_eq!(devs.chip_thermometers.len(), 1);
        assert_eq!(devs.chip_thermometers[0].name(), "desk chip diode");
        assert_eq!(devs.board_thermometers.len(), 1);
        assert_eq!(devs.board_thermometers[0].name(), "desk board");
        assert!(devs.notes.is_empty(), "{:?}", devs.notes);
        // The regulator refuses what the profile does not allow (max
        // 1300 mV for the Gamma) without touching the bus.
        let r = devs.regulator.as_mut().unwrap();
        assert!(matches!(
            r.set_vout(hearth_core::units::Millivolts(1400.0), Timestamp(0)),
            Err(DeviceError::Fault(_))
        ));
        done(bus);
    }

    #[test]
    fn a_missing_optional_tmp1075_is_a_note() {
        let tmp = T::write_read(0x4A, vec![0x00], vec![0, 0]).with_error(nack());
        let (devs, bus) = open_mock(&gamma(), &bitaxe_open(tmp));
        assert!(devs.board_thermometers.is_empty());
        assert_eq!(devs.notes.len(), 1);
        assert!(
            devs.notes[0].contains("TMP1075 at 0x4a"),
            "{:?}",
            devs.notes
        );
        done(bus);
    }

    #[test]
    fn a_missing_required_regulator_is_an_error_naming_it() {
        let bus = I2cBus::from_bus(
            "/dev/i2c-1",
            Mock::new(&[T::write(0x24, vec![0x01, 0x00]).with_error(nack())]),
        );
        let p = gamma();
        let err = open_i2c_devices(
            p.peripherals(),
            p.limits(),
            &bus,
            &BoardOpenOptions::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("TPS546 at 0x24 on /dev/i2c-1"), "{msg}");
        assert!(msg.contains("i2cdetect -y 1"), "{msg}");
        done(bus);
    }

    #[test]
    fn a_wrong_chip_at_the_fan_address_is_refused() {
        let bus = I2cBus::from_bus(
            "/dev/i2c-1",
            Mock::new(&[
                T::write(0x24, vec![0x01, 0x00]),
                T::write_read(0x4C, vec![0xFE], vec![0x12]),
                T::write_read(0x4C, vec![0xFD], vec![0x34]),
            ]),
        );
        let p = gamma();
        let err = open_i2c_devices(
            p.peripherals(),
            p.limits(),
            &bus,
            &BoardOpenOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("EMC2101 at 0x4c"), "{err}");
        done(bus);
    }

    #[test]
    fn handles_go_to_different_owners_and_threads() {
        let tmp = T::write_read(0x4A, vec![0x00], vec![0x19, 0x00]);
        let mut expect = bitaxe_open(tmp);
        // diode read on another thread: high byte then low byte.
        expect.push(T::write_read(0x4C, vec![0x01], vec![40]));
        expect.push(T::write_read(0x4C, vec![0x10], vec![0x80]));
        let (mut devs, bus) = open_mock(&gamma(), &expect);
        let mut diode = devs.chip_thermometers.pop().unwrap();
        let t = std::thread::spawn(move || diode.read_temp(Timestamp::from_secs(1)));
        assert_eq!(t.join().unwrap(), Ok(Celsius(40.5)));
        done(bus);
    }

    #[test]
    fn chain_profile_with_only_a_thermometer_opens_only_that() {
        let cfg = HashboardConfig {
            id: "chain".into(),
            zone: "z".into(),
            profile: "bm13xx-uart".into(),
            serial: Some("/dev/ttyUSB0".into()),
            chip: Some("BM1370".into()),
            chips: Some(4),
            thermometer_address: Some(0x48),
            ..HashboardConfig::default()
        };
        let p = validate_hashboard(0, &cfg).unwrap().profile;
        let tmp = T::write_read(0x48, vec![0x00], vec![0x19, 0x00]);
        let (devs, bus) = open_mock(&p, &[tmp]);
        assert!(devs.regulator.is_none() && devs.fan.is_none());
        assert_eq!(devs.board_thermometers.len(), 1);
        done(bus);
    }

    #[test]
    fn vout_range_is_the_profiles_voltage_limits() {
        let p = gamma();
        let r = vout_range(p.limits()).unwrap();
        assert_eq!(r.min(), p.limits().min_voltage_mv);
        assert_eq!(r.max(), p.limits().max_voltage_mv);
    }

    /// A fan that records duties and answers a fixed reading.
    struct FakeFan {
        rpm: Result<Rpm, DeviceError>,
        set_err: bool,
        duties: Arc<Mutex<Vec<f64>>>,
    }

    impl Fan for FakeFan {
        fn set_duty(&mut self, duty: Percent, _now: Timestamp) -> Result<(), DeviceError> {
            self.duties.lock().unwrap().push(duty.get());
            if self.set_err {
                Err(DeviceError::Bus("x".into()))
            } else {
                Ok(())
            }
        }
        fn read_rpm(&mut self, _now: Timestamp) -> Result<Rpm, DeviceError> {
            self.rpm.clone()
        }
    }

    fn fake(rpm: Result<Rpm, DeviceError>, set_err: bool) -> (Box<dyn Fan>, Arc<Mutex<Vec<f64>>>) {
        let duties = Arc::new(Mutex::new(vec![]));
        (
            Box::new(FakeFan {
                rpm,
                set_err,
                duties: duties.clone(),
            }),
            duties,
        )
    }

    #[test]
    fn fan_group_sets_all_and_reports_the_slowest() {
        let (a, da) = fake(Ok(Rpm(3000.0)), true);
        let (b, db) = fake(Ok(Rpm(1200.0)), false);
        let (c, _) = fake(Err(DeviceError::Absent), false);
        let mut g = FanGroup::new(vec![a, b, c]);
        assert!(g.set_duty(Percent::new(40.0), Timestamp(0)).is_err());
        assert_eq!(*da.lock().unwrap(), vec![40.0]);
        assert_eq!(*db.lock().unwrap(), vec![40.0], "set despite a's error");
        assert_eq!(g.read_rpm(Timestamp(0)), Ok(Rpm(1200.0)));
    }

    #[test]
    fn fan_group_errors_are_not_hidden_by_a_spinning_fan() {
        let (a, _) = fake(Ok(Rpm(3000.0)), false);
        let (b, _) = fake(Err(DeviceError::Timeout), false);
        let mut g = FanGroup::new(vec![a, b]);
        assert_eq!(g.read_rpm(Timestamp(0)), Err(DeviceError::Timeout));
        let (c, _) = fake(Err(DeviceError::Absent), false);
        let mut g = FanGroup::new(vec![c]);
        assert_eq!(g.read_rpm(Timestamp(0)), Err(DeviceError::Absent));
    }

    fn hashboard_with(gpiochip: &str) -> BoardProfile {
        let cfg = HashboardConfig {
            id: "big".into(),
            zone: "z".into(),
            profile: "generic-bm1370-65".into(),
            gpiochip: Some(gpiochip.into()),
            reset_gpio: Some(22),
            enable_gpio: Some(27),
            fan_tach_gpio: Some(23),
            ..HashboardConfig::default()
        };
        validate_hashboard(0, &cfg).unwrap().profile
    }

    #[test]
    fn opening_a_board_on_a_missing_gpiochip_names_it() {
        let p = hashboard_with("/dev/gpiochip97");
        let err = open_board_devices(&p, &BoardOpenOptions::new("big")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/dev/gpiochip97"), "{msg}");
    }

    #[test]
    fn opening_a_bitaxe_without_its_bus_names_the_bus_and_the_overlay() {
        let cfg = HashboardConfig {
            id: "desk".into(),
            zone: "z".into(),
            profile: "bitaxe-gamma".into(),
            i2c_bus: Some("/dev/i2c-97".into()),
            ..HashboardConfig::default()
        };
        let p = validate_hashboard(0, &cfg).unwrap().profile;
        let err = open_board_devices(&p, &BoardOpenOptions::new("desk")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/dev/i2c-97"), "{msg}");
        assert!(msg.contains("dtparam=i2c_arm=on"), "{msg}");
    }

    fn pic_board() -> BoardProfile {
        let cfg = HashboardConfig {
            id: "big".into(),
            zone: "z".into(),
            profile: "generic-bm1370-65".into(),
            regulator: Some("bitmain-pic".into()),
            voltage_domains: Some(8),
            regulator_address: Some(0x51),
            ..HashboardConfig::default()
        };
        validate_hashboard(0, &cfg).unwrap().profile
    }

    /// The PIC's start-up frames, a byte per write: reset, start the
    /// application, read the version, rail off, heartbeat.
    fn pic_start(version: u8) -> Vec<T> {
        let frame = |cmd: u8, data: &[u8]| -> Vec<T> {
            [0x55, 0xAA, cmd]
                .iter()
                .chain(data)
                .map(|b| T::write(0x51, vec![*b]))
                .collect()
        };
        let mut v = frame(0x07, &[]);
        v.extend(frame(0x06, &[]));
        v.extend(frame(0x17, &[]));
        v.push(T::read(0x51, vec![version]));
        v.extend(frame(0x15, &[0]));
        v.extend(frame(0x16, &[]));
        v
    }

    #[test]
    fn a_pic_hashboard_opens_its_pic_with_the_rail_off() {
        let p = pic_board();
        let (mut devs, bus) = open_mock(&p, &pic_start(0x03));
        assert!(devs.notes.is_empty(), "{:?}", devs.notes);
        // The profile's clipped ceiling (1,179 mV at 8 domains) is the
        // driver's: above it is refused without bus traffic.
        let r = devs.regulator.as_mut().unwrap();
        assert!(matches!(
            r.set_vout(hearth_core::units::Millivolts(1200.0), Timestamp(0)),
            Err(DeviceError::Fault(_))
        ));
        done(bus);
        // Another firmware version opens, with a note.
        let (devs, bus) = open_mock(&p, &pic_start(0x05));
        assert!(devs.regulator.is_some());
        assert!(devs.notes[0].contains("version 0x05"), "{:?}", devs.notes);
        done(bus);
    }

    #[test]
    fn a_hashboards_tmp75_is_a_chip_side_reading_and_required() {
        let cfg = HashboardConfig {
            id: "big".into(),
            zone: "z".into(),
            profile: "generic-bm1370-65".into(),
            regulator: Some("bitmain-pic".into()),
            voltage_domains: Some(8),
            regulator_address: Some(0x51),
            thermometer_address: Some(0x48),
            ..HashboardConfig::default()
        };
        let p = validate_hashboard(0, &cfg).unwrap().profile;
        let mut script = pic_start(0x03);
        // Probed at open, then read: 0x3200 = 50 °C.
        script.push(T::write_read(0x48, vec![0x00], vec![0x19, 0x00]));
        script.push(T::write_read(0x48, vec![0x00], vec![0x32, 0x00]));
        let (mut devs, bus) = open_mock(&p, &script);
        assert!(devs.board_thermometers.is_empty());
        assert_eq!(devs.chip_thermometers.len(), 1);
        assert_eq!(devs.chip_thermometers[0].name(), "desk next to the chips");
        assert_eq!(
            devs.chip_thermometers[0].read_temp(Timestamp(0)),
            Ok(Celsius(50.0))
        );
        drop(devs);
        done(bus);
        // Silent: an error naming it, not a board left without its sensor.
        let mut script = pic_start(0x03);
        script.push(T::write_read(0x48, vec![0x00], vec![0, 0]).with_error(nack()));
        let bus = I2cBus::from_bus("/dev/i2c-1", Mock::new(&script));
        let err = open_i2c_devices(
            p.peripherals(),
            p.limits(),
            &bus,
            &BoardOpenOptions::new("desk"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("TMP1075 at 0x48"), "{err}");
        done(bus);
    }

    #[test]
    fn heatsink_probes_are_chip_side_readings_from_the_w1_bus() {
        let dir = tempfile::tempdir().unwrap();
        let id = "28-0000075a1b2c";
        std::fs::create_dir(dir.path().join(id)).unwrap();
        std::fs::write(
            dir.path().join(id).join("w1_slave"),
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
        )
        .unwrap();
        let mut cfg = HashboardConfig {
            id: "c".into(),
            zone: "z".into(),
            profile: "bm13xx-uart".into(),
            serial: Some("/dev/ttyUSB0".into()),
            chip: Some("BM1370".into()),
            chips: Some(4),
            heatsink_probes: Some(vec![id.into()]),
            ..HashboardConfig::default()
        };
        let p = validate_hashboard(0, &cfg).unwrap().profile;
        let mut options = BoardOpenOptions::new("c");
        options.w1_devices = dir.path().to_path_buf();
        let mut devs = open_board_devices(&p, &options).unwrap();
        assert_eq!(devs.chip_thermometers.len(), 1);
        assert_eq!(devs.chip_thermometers[0].name(), "c heatsink 1");
        assert_eq!(
            devs.chip_thermometers[0].read_temp(Timestamp(0)),
            Ok(Celsius(23.125))
        );
        // A probe that is not on the bus stops the open, naming the id.
        cfg.heatsink_probes = Some(vec!["28-00000b0b0b0b".into()]);
        let p = validate_hashboard(0, &cfg).unwrap().profile;
        let err = open_board_devices(&p, &options).unwrap_err().to_string();
        assert!(err.contains("28-00000b0b0b0b"), "{err}");
    }

    #[test]
    fn a_missing_pic_is_an_error_naming_it() {
        let bus = I2cBus::from_bus(
            "/dev/i2c-1",
            Mock::new(&[T::write(0x51, vec![0x55]).with_error(nack())]),
        );
        let p = pic_board();
        let err = open_i2c_devices(
            p.peripherals(),
            p.limits(),
            &bus,
            &BoardOpenOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("Bitmain PIC at 0x51"), "{err}");
        done(bus);
    }

    /// Needs an S9-generation hashboard whose PIC is on the Pi's I2C
    /// (HEARTH_TEST_PIC_BUS, default /dev/i2c-1; HEARTH_TEST_PIC_ADDRESS,
    /// default 0x50) and its supply on with current limiting. Starts the
    /// PIC, which switches the rail **off**, and reads the version and the
    /// voltage code; it never switches the rail on.
    #[test]
    #[ignore = "needs hardware"]
    fn hw_pic_starts_with_the_rail_off() {
        let address = std::env::var("HEARTH_TEST_PIC_ADDRESS")
            .ok()
            .and_then(|s| u8::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .unwrap_or(bitmain_pic::BASE_ADDRESS);
        let cfg = HashboardConfig {
            id: "hw".into(),
            zone: "z".into(),
            profile: "generic-bm1370-65".into(),
            regulator: Some("bitmain-pic".into()),
            voltage_domains: Some(8),
            regulator_address: Some(address),
            i2c_bus: Some(
                std::env::var("HEARTH_TEST_PIC_BUS").unwrap_or_else(|_| "/dev/i2c-1".into()),
            ),
            ..HashboardConfig::default()
        };
        let p = validate_hashboard(0, &cfg).unwrap().profile;
        let mut devs = open_board_devices(&p, &BoardOpenOptions::new("hw")).unwrap();
        eprintln!("{devs:?}");
        // The PIC runs behind its worker thread: a read answers within
        // READ_WAIT or returns the last answer, so ask a few times.
        let regulator = devs.regulator.as_mut().unwrap();
        let mut reading = regulator.read(Timestamp(0));
        for i in 1..10 {
            if reading.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            reading = regulator.read(Timestamp(i));
        }
        eprintln!("PIC reading: {reading:?}");
        assert!(reading.is_ok(), "{reading:?}");
    }

    /// Needs a Raspberry Pi wired to a Bitaxe as in docs/hardware.md (I2C
    /// on GPIO2/3, ESP32 held in EN=low, board powered) and, optionally,
    /// RST_N on GPIO17 (HEARTH_TEST_RESET_GPIO=17). Opens the board, checks
    /// the regulator is off and reads the diode and fan once.
    #[test]
    #[ignore = "needs hardware"]
    fn hw_bitaxe_opens_and_reads() {
        let mut cfg = HashboardConfig {
            id: "hw".into(),
            zone: "z".into(),
            profile: "bitaxe-gamma".into(),
            ..HashboardConfig::default()
        };
        cfg.reset_gpio = std::env::var("HEARTH_TEST_RESET_GPIO")
            .ok()
            .and_then(|s| s.parse().ok());
        let p = validate_hashboard(0, &cfg).unwrap().profile;
        let mut devs = open_board_devices(&p, &BoardOpenOptions::new("hw")).unwrap();
        eprintln!("{devs:?}");
        let reading = devs.regulator.as_mut().unwrap().read(Timestamp(0));
        eprintln!("regulator: {reading:?}");
        let t = devs.chip_thermometers[0].read_temp(Timestamp(0)).unwrap();
        assert!((0.0..=80.0).contains(&t.get()), "{t:?}");
        std::thread::sleep(Duration::from_secs(3));
        let rpm = devs.fan.as_mut().unwrap().read_rpm(Timestamp(0)).unwrap();
        assert!(rpm.get() > 500.0, "fan at 100 % reads {rpm:?}");
    }
}
