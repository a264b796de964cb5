//! Microchip (SMSC) EMC2101 fan controller with one external diode channel
//! (on hashboards: the ASIC's thermal diode) and an internal sensor.
//! Fixed address 0x4C.
//!
//! Register facts used (cross-checked against public drivers: Linux hwmon
//! `emc2101.c`, Adafruit's CircuitPython driver and ESP-Miner; the
//! datasheet itself was not at hand, so details marked *unverified* rest
//! on those drivers only):
//!
//! * 0x00 internal temperature, signed 8-bit °C.
//! * 0x01 external diode high byte (signed °C), 0x10 low byte with the
//!   fraction in bits 7..5 (0.5, 0.25, 0.125 °C). Read the high byte first:
//!   reading it latches the low byte (datasheet "data read interlock", as
//!   quoted by Adafruit; unverified). Diode fault markers: high byte 0x7F
//!   with low bits 7..5 = 000 (open circuit, reads as 127.000 °C) or 111
//!   (short, 127.875 °C).
//! * 0x02 status: bit 2 external diode fault, bit 0 tach below limit, ...
//! * 0x03 configuration: bit 2 (ALT_TCH) turns pin 6 into the TACH input,
//!   bit 4 selects DAC (1) or PWM (0) output.
//! * 0x46 / 0x47 tach count low / high. Read the low byte first: that
//!   latches the high byte (unverified, per Adafruit). RPM = 5 400 000 /
//!   count; 0xFFFF (no edges within the measurement window) and 0 mean no
//!   rotation.
//! * 0x4A fan configuration: bit 5 (PROG) disables the look-up table so
//!   the fan setting register drives the output directly, bit 4 inverts
//!   the PWM polarity, bits 1..0 tach mode (ESP-Miner writes 0b11;
//!   meaning unverified).
//! * 0x4C fan setting, 6 bits (0..=63).
//! * 0x4D PWM frequency PWM_F (5 bits, default 0x17 per Adafruit;
//!   unverified). In PWM mode the duty is `setting / (2 * PWM_F)`,
//!   saturating at 100 % (Adafruit's reading of the datasheet;
//!   unverified). With the default PWM_F, 46 already means 100 %, so the
//!   common "0..=63 is 0..100 %" mapping is wrong unless PWM_F is raised.
//!   [`Emc2101::configure`] therefore writes PWM_F (default 0x1F, the
//!   finest resolution: 62 steps) and duty is scaled to `2 * PWM_F`,
//!   capped at 63.

use crate::plausibility::{Plausibility, PlausibilityError};
use embedded_hal::i2c::I2c;
use hearth_core::peripherals::{DeviceError, Fan, Thermometer};
use hearth_core::time::Timestamp;
use hearth_core::units::{Celsius, Percent, Rpm};

/// The EMC2101's only address (the EMC2101-R variant uses the same).
pub const DEFAULT_ADDRESS: u8 = 0x4C;

/// Register addresses.
pub mod reg {
    pub const INTERNAL_TEMP: u8 = 0x00;
    pub const EXTERNAL_TEMP_HIGH: u8 = 0x01;
    pub const STATUS: u8 = 0x02;
    pub const CONFIG: u8 = 0x03;
    pub const EXTERNAL_TEMP_LOW: u8 = 0x10;
    pub const TACH_LOW: u8 = 0x46;
    pub const TACH_HIGH: u8 = 0x47;
    pub const FAN_CONFIG: u8 = 0x4A;
    pub const FAN_SETTING: u8 = 0x4C;
    pub const PWM_FREQ: u8 = 0x4D;
    pub const PRODUCT_ID: u8 = 0xFD;
    pub const MANUFACTURER_ID: u8 = 0xFE;
}

/// CONFIG (0x03) bit 2: pin 6 is the TACH input (not ALERT#).
pub const CONFIG_ALT_TACH: u8 = 1 << 2;
/// CONFIG (0x03) bit 4: DAC output instead of PWM.
pub const CONFIG_DAC: u8 = 1 << 4;
/// FAN_CONFIG (0x4A) bit 5: look-up table disabled, fan setting drives.
pub const FAN_CONFIG_PROG: u8 = 1 << 5;
/// FAN_CONFIG (0x4A) bit 4: PWM output inverted.
pub const FAN_CONFIG_POLARITY_INVERT: u8 = 1 << 4;
/// FAN_CONFIG (0x4A) bits 1..0: tach mode as written by ESP-Miner
/// (unverified meaning).
pub const FAN_CONFIG_TACH_MODE: u8 = 0b11;
/// Maximum fan setting (6 bits).
pub const FAN_SETTING_MAX: u8 = 0x3F;
/// Maximum PWM_F (5 bits).
pub const PWM_FREQ_MAX: u8 = 0x1F;
/// RPM = this / tach count.
pub const TACH_RPM_NUMERATOR: u32 = 5_400_000;
/// Tach counts below this mean more than 30 000 rpm: not a real fan.
pub const TACH_MIN_PLAUSIBLE: u16 = 180;
/// Status (0x02) bit 2: external diode fault.
pub const STATUS_EXT_FAULT: u8 = 1 << 2;
/// Status (0x02) bit 0: tach count above the limit (fan too slow).
pub const STATUS_TACH_LOW: u8 = 1 << 0;
/// Manufacturer id of SMSC/Microchip.
pub const MANUFACTURER_SMSC: u8 = 0x5D;
/// Product ids: EMC2101 and EMC2101-R.
pub const PRODUCT_IDS: [u8; 2] = [0x16, 0x28];

/// External diode range: -64..=127.875 °C (127.0 and 127.875 are fault
/// markers and never reach the plausibility check).
const EXT_RANGE_C: (f64, f64) = (-64.0, 127.875);

/// The diode fault the external channel reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiodeFault {
    /// 0x7F / 0b000: no diode (open circuit).
    Open,
    /// 0x7F / 0b111: diode shorted.
    Short,
}

/// EMC2101 errors.
#[derive(Debug, thiserror::Error)]
pub enum Error<E> {
    #[error("I2C error: {0:?}")]
    I2c(E),
    #[error("external diode fault: {0:?}")]
    DiodeFault(DiodeFault),
    #[error("implausible tach count {0} (more than 30 000 rpm)")]
    ImplausibleTach(u16),
    #[error("fan setting {0} above the 6-bit maximum 63")]
    FanSettingOutOfRange(u8),
    #[error("PWM_F {0} outside 1..=31")]
    PwmFreqOutOfRange(u8),
    #[error("not an EMC2101: manufacturer {manufacturer:#04x}, product {product:#04x}")]
    WrongDevice { manufacturer: u8, product: u8 },
    #[error(transparent)]
    Implausible(#[from] PlausibilityError),
}

impl<E: embedded_hal::i2c::Error> From<Error<E>> for DeviceError {
    fn from(e: Error<E>) -> DeviceError {
        match e {
            Error::I2c(bus) => crate::bus_error(&bus),
            Error::DiodeFault(_) => DeviceError::Fault(e.to_string()),
            Error::WrongDevice { .. } => DeviceError::Absent,
            Error::FanSettingOutOfRange(_) | Error::PwmFreqOutOfRange(_) => {
                DeviceError::Fault(e.to_string())
            }
            Error::ImplausibleTach(_) | Error::Implausible(_) => {
                DeviceError::Implausible(e.to_string())
            }
        }
    }
}

/// What [`Emc2101::configure`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// PWM_F (1..=31). Duty resolution is `2 * pwm_freq` steps.
    pub pwm_freq: u8,
    /// Invert the PWM output (for fans driven through an inverting stage).
    pub invert_polarity: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            pwm_freq: PWM_FREQ_MAX,
            invert_polarity: false,
        }
    }
}

/// EMC2101 on an I2C bus. Implements `Fan` (the PWM output and tach) and
/// `Thermometer` (the external diode, with a plausibility filter).
#[derive(Debug)]
pub struct Emc2101<I2C> {
    i2c: I2C,
    address: u8,
    /// Fan setting that means 100 % duty: `min(63, 2 * PWM_F)`.
    full_scale: u8,
    name: String,
    plausibility: Plausibility,
}

impl<I2C, E> Emc2101<I2C>
where
    I2C: I2c<Error = E>,
{
    /// A driver for the part at `address` (normally [`DEFAULT_ADDRESS`]).
    /// No bus traffic; call [`Emc2101::configure`] once at start-up.
    /// Until then duty is scaled for PWM_F = 0x1F (the value `configure`
    /// writes by default).
    pub fn new(i2c: I2C, address: u8) -> Self {
        Emc2101 {
            i2c,
            address,
            full_scale: full_scale(PWM_FREQ_MAX),
            name: format!("emc2101@{address:#04x} diode"),
            plausibility: Plausibility::for_range(EXT_RANGE_C.0, EXT_RANGE_C.1),
        }
    }

    /// Give the bus back.
    pub fn destroy(self) -> I2C {
        self.i2c
    }

    /// Set the name the `Thermometer` seam reports.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Replace the diode's plausibility filter.
    pub fn with_plausibility(mut self, plausibility: Plausibility) -> Self {
        self.plausibility = plausibility;
        self
    }

    /// Fan setting that corresponds to 100 % duty.
    pub fn full_scale_setting(&self) -> u8 {
        self.full_scale
    }

    fn read_reg(&mut self, reg: u8) -> Result<u8, Error<E>> {
        let mut buf = [0u8; 1];
        self.i2c
            .write_read(self.address, &[reg], &mut buf)
            .map_err(Error::I2c)?;
        Ok(buf[0])
    }

    fn write_reg(&mut self, reg: u8, value: u8) -> Result<(), Error<E>> {
        self.i2c
            .write(self.address, &[reg, value])
            .map_err(Error::I2c)
    }

    /// Check the manufacturer (0xFE = 0x5D) and product (0xFD = 0x16 or
    /// 0x28) ids.
    pub fn verify_identity(&mut self) -> Result<(), Error<E>> {
        let manufacturer = self.read_reg(reg::MANUFACTURER_ID)?;
        let product = self.read_reg(reg::PRODUCT_ID)?;
        if manufacturer == MANUFACTURER_SMSC && PRODUCT_IDS.contains(&product) {
            Ok(())
        } else {
            Err(Error::WrongDevice {
                manufacturer,
                product,
            })
        }
    }

    /// Write the start-up configuration, in this order:
    /// CONFIG (0x03) = ALT_TCH (tach input on, PWM mode, everything else
    /// default-off); FAN_CONFIG (0x4A) = PROG | tach mode 0b11, plus
    /// POLARITY if inverted; PWM_F (0x4D) = `config.pwm_freq`.
    /// A PWM_F outside 1..=31 is refused before any write.
    pub fn configure(&mut self, config: Config) -> Result<(), Error<E>> {
        if config.pwm_freq == 0 || config.pwm_freq > PWM_FREQ_MAX {
            return Err(Error::PwmFreqOutOfRange(config.pwm_freq));
        }
        self.write_reg(reg::CONFIG, CONFIG_ALT_TACH)?;
        let mut fan_config = FAN_CONFIG_PROG | FAN_CONFIG_TACH_MODE;
        if config.invert_polarity {
            fan_config |= FAN_CONFIG_POLARITY_INVERT;
        }
        self.write_reg(reg::FAN_CONFIG, fan_config)?;
        self.write_reg(reg::PWM_FREQ, config.pwm_freq)?;
        self.full_scale = full_scale(config.pwm_freq);
        Ok(())
    }

    /// Write the raw fan setting (0x4C), 0..=63; larger values are refused
    /// without a write.
    pub fn set_fan_setting(&mut self, setting: u8) -> Result<(), Error<E>> {
        if setting > FAN_SETTING_MAX {
            return Err(Error::FanSettingOutOfRange(setting));
        }
        self.write_reg(reg::FAN_SETTING, setting)
    }

    /// Read the raw fan setting (0x4C, low 6 bits).
    pub fn read_fan_setting(&mut self) -> Result<u8, Error<E>> {
        Ok(self.read_reg(reg::FAN_SETTING)? & FAN_SETTING_MAX)
    }

    /// Set the PWM duty: `round(duty * full_scale)`.
    pub fn set_duty_percent(&mut self, duty: Percent) -> Result<(), Error<E>> {
        let setting = duty_to_setting(duty, self.full_scale);
        self.set_fan_setting(setting)
    }

    /// Read back the duty from the fan setting register.
    pub fn read_duty_percent(&mut self) -> Result<Percent, Error<E>> {
        let setting = self.read_fan_setting()?;
        Ok(setting_to_duty(setting, self.full_scale))
    }

    /// Raw tach count: low byte (0x46) then high byte (0x47).
    pub fn read_tach_count(&mut self) -> Result<u16, Error<E>> {
        let low = self.read_reg(reg::TACH_LOW)?;
        let high = self.read_reg(reg::TACH_HIGH)?;
        Ok(u16::from_le_bytes([low, high]))
    }

    /// Fan speed: 5 400 000 / count; 0 rpm when stalled or no fan
    /// (count 0xFFFF or 0). Counts implying more than 30 000 rpm are errors.
    pub fn read_fan_rpm(&mut self) -> Result<Rpm, Error<E>> {
        let count = self.read_tach_count()?;
        tach_to_rpm(count)
    }

    /// Internal temperature (0x00), whole °C.
    pub fn read_internal_temperature_celsius(&mut self) -> Result<Celsius, Error<E>> {
        let raw = self.read_reg(reg::INTERNAL_TEMP)?;
        Ok(Celsius(f64::from(i8::from_ne_bytes([raw]))))
    }

    /// External diode temperature: high byte (0x01) then low byte (0x10),
    /// 0.125 °C resolution. Diode faults are errors. No plausibility filter
    /// (the `Thermometer` impl adds it).
    pub fn read_external_temperature_celsius(&mut self) -> Result<Celsius, Error<E>> {
        let high = self.read_reg(reg::EXTERNAL_TEMP_HIGH)?;
        let low = self.read_reg(reg::EXTERNAL_TEMP_LOW)?;
        decode_external(high, low)
    }

    /// Status register (0x02). Reading it may clear latched bits.
    pub fn read_status(&mut self) -> Result<u8, Error<E>> {
        self.read_reg(reg::STATUS)
    }
}

fn full_scale(pwm_freq: u8) -> u8 {
    pwm_freq.saturating_mul(2).clamp(1, FAN_SETTING_MAX)
}

/// Percent → fan setting for a given full scale.
pub fn duty_to_setting(duty: Percent, full_scale: u8) -> u8 {
    let fs = full_scale.min(FAN_SETTING_MAX);
    let code = (duty.fraction() * f64::from(fs)).round();
    // `Percent` is clamped to 0..=100, so code is in 0..=fs; clamp anyway.
    code.clamp(0.0, f64::from(fs)) as u8
}

/// Fan setting → percent for a given full scale (saturates at 100 %).
pub fn setting_to_duty(setting: u8, full_scale: u8) -> Percent {
    if full_scale == 0 {
        return Percent::FULL;
    }
    Percent::new(f64::from(setting) / f64::from(full_scale) * 100.0)
}

/// Tach count → rpm, with 0xFFFF and 0 meaning no rotation.
pub fn tach_to_rpm<E>(count: u16) -> Result<Rpm, Error<E>> {
    match count {
        0 | 0xFFFF => Ok(Rpm(0.0)),
        c if c < TACH_MIN_PLAUSIBLE => Err(Error::ImplausibleTach(c)),
        c => Ok(Rpm(f64::from(TACH_RPM_NUMERATOR) / f64::from(c))),
    }
}

/// Decode the external diode registers.
pub fn decode_external<E>(high: u8, low: u8) -> Result<Celsius, Error<E>> {
    let frac_bits = (low >> 5) & 0b111;
    if high == 0x7F {
        match frac_bits {
            0b000 => return Err(Error::DiodeFault(DiodeFault::Open)),
            0b111 => return Err(Error::DiodeFault(DiodeFault::Short)),
            _ => {}
        }
    }
    let whole = f64::from(i8::from_ne_bytes([high]));
    let value = whole + f64::from(frac_bits) * 0.125;
    if value < EXT_RANGE_C.0 {
        // The channel cannot measure below -64 °C: such a code is garbage.
        return Err(Error::Implausible(PlausibilityError::OutOfRange {
            value,
            min: EXT_RANGE_C.0,
            max: EXT_RANGE_C.1,
        }));
    }
    Ok(Celsius(value))
}

impl<I2C> Fan for Emc2101<I2C>
where
    I2C: I2c + Send,
{
    fn set_duty(&mut self, duty: Percent, _now: Timestamp) -> Result<(), DeviceError> {
        self.set_duty_percent(duty).map_err(DeviceError::from)
    }

    fn read_rpm(&mut self, _now: Timestamp) -> Result<Rpm, DeviceError> {
        self.read_fan_rpm().map_err(DeviceError::from)
    }
}

impl<I2C> Thermometer for Emc2101<I2C>
where
    I2C: I2c + Send,
{
    fn name(&self) -> &str {
        &self.name
    }

    /// The external diode, through the plausibility filter.
    fn read_temp(&mut self, now: Timestamp) -> Result<Celsius, DeviceError> {
        let t = self
            .read_external_temperature_celsius()
            .map_err(DeviceError::from)?;
        Ok(self.plausibility.check(t, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const A: u8 = DEFAULT_ADDRESS;

    fn dev(expect: &[T]) -> Emc2101<Mock> {
        Emc2101::new(Mock::new(expect), A)
    }

    fn finish(d: Emc2101<Mock>) {
        d.destroy().done();
    }

    fn rd(reg: u8, val: u8) -> T {
        T::write_read(A, vec![reg], vec![val])
    }

    #[test]
    fn configure_writes_config_fan_config_pwm_freq() {
        let mut d = dev(&[
            T::write(A, vec![0x03, 0x04]),
            T::write(A, vec![0x4A, 0x23]),
            T::write(A, vec![0x4D, 0x1F]),
            T::write(A, vec![0x03, 0x04]),
            T::write(A, vec![0x4A, 0x33]),
            T::write(A, vec![0x4D, 0x17]),
        ]);
        d.configure(Config::default()).unwrap();
        assert_eq!(d.full_scale_setting(), 62);
        d.configure(Config {
            pwm_freq: 0x17,
            invert_polarity: true,
        })
        .unwrap();
        assert_eq!(d.full_scale_setting(), 46);
        finish(d);
    }

    #[test]
    fn configure_refuses_bad_pwm_freq_without_writing() {
        let mut d = dev(&[]);
        for f in [0, 32, 0xFF] {
            let cfg = Config {
                pwm_freq: f,
                invert_polarity: false,
            };
            assert!(matches!(d.configure(cfg), Err(Error::PwmFreqOutOfRange(x)) if x == f));
        }
        finish(d);
    }

    #[test]
    fn configure_stops_at_first_bus_error() {
        let mut d = dev(&[T::write(A, vec![0x03, 0x04]).with_error(ErrorKind::Other)]);
        assert!(matches!(
            d.configure(Config::default()),
            Err(Error::I2c(ErrorKind::Other))
        ));
        finish(d);
    }

    #[test]
    fn verify_identity() {
        let mut d = dev(&[
            rd(0xFE, 0x5D),
            rd(0xFD, 0x16),
            rd(0xFE, 0x5D),
            rd(0xFD, 0x28),
            rd(0xFE, 0x5D),
            rd(0xFD, 0x14),
        ]);
        d.verify_identity().unwrap();
        d.verify_identity().unwrap();
        assert!(matches!(
            d.verify_identity(),
            Err(Error::WrongDevice {
                manufacturer: 0x5D,
                product: 0x14
            })
        ));
        finish(d);
    }

    #[test]
    fn duty_scaling_with_default_pwm_freq() {
        // Full scale 62 (PWM_F = 0x1F).
        let mut d = dev(&[
            T::write(A, vec![0x4C, 0]),
            T::write(A, vec![0x4C, 31]),
            T::write(A, vec![0x4C, 62]),
            T::write(A, vec![0x4C, 16]), // 25 % of 62 = 15.5 -> 16
        ]);
        d.set_duty_percent(Percent::ZERO).unwrap();
        d.set_duty_percent(Percent::new(50.0)).unwrap();
        d.set_duty_percent(Percent::FULL).unwrap();
        d.set_duty_percent(Percent::new(25.0)).unwrap();
        finish(d);
    }

    #[test]
    fn set_fan_setting_refuses_above_63() {
        let mut d = dev(&[T::write(A, vec![0x4C, 63])]);
        d.set_fan_setting(63).unwrap();
        assert!(matches!(
            d.set_fan_setting(64),
            Err(Error::FanSettingOutOfRange(64))
        ));
        finish(d);
    }

    #[test]
    fn read_duty_back() {
        let mut d = dev(&[rd(0x4C, 31), rd(0x4C, 0xFF)]);
        assert_eq!(d.read_duty_percent().unwrap(), Percent::new(50.0));
        // Upper bits masked; 63 of 62 saturates at 100 %.
        assert_eq!(d.read_fan_setting().unwrap(), 63);
        finish(d);
    }

    #[test]
    fn tach_reads_low_then_high_and_converts() {
        let mut d = dev(&[
            rd(0x46, 0x10),
            rd(0x47, 0x0E), // 0x0E10 = 3600 -> 1500 rpm
            rd(0x46, 0xFF),
            rd(0x47, 0xFF), // stalled
            rd(0x46, 0x00),
            rd(0x47, 0x00), // no fan
            rd(0x46, 0x10),
            rd(0x47, 0x00), // 16 -> 337 500 rpm: implausible
        ]);
        assert_eq!(d.read_fan_rpm().unwrap(), Rpm(1500.0));
        assert_eq!(d.read_fan_rpm().unwrap(), Rpm(0.0));
        assert_eq!(d.read_fan_rpm().unwrap(), Rpm(0.0));
        assert!(matches!(d.read_fan_rpm(), Err(Error::ImplausibleTach(16))));
        finish(d);
    }

    #[test]
    fn tach_bus_error_stops_before_high_byte() {
        let mut d = dev(&[T::write_read(A, vec![0x46], vec![0]).with_error(ErrorKind::Bus)]);
        assert!(matches!(
            d.read_tach_count(),
            Err(Error::I2c(ErrorKind::Bus))
        ));
        finish(d);
    }

    #[test]
    fn tach_to_rpm_edges() {
        assert_eq!(tach_to_rpm::<()>(180).unwrap(), Rpm(30_000.0));
        assert!(tach_to_rpm::<()>(179).is_err());
        assert_eq!(
            tach_to_rpm::<()>(0xFFFE).unwrap(),
            Rpm(5_400_000.0 / 65534.0)
        );
    }

    #[test]
    fn internal_temperature_signed() {
        let mut d = dev(&[rd(0x00, 0x2A), rd(0x00, 0xF6)]);
        assert_eq!(
            d.read_internal_temperature_celsius().unwrap(),
            Celsius(42.0)
        );
        assert_eq!(
            d.read_internal_temperature_celsius().unwrap(),
            Celsius(-10.0)
        );
        finish(d);
    }

    #[test]
    fn external_temperature_high_then_low_with_fraction() {
        let mut d = dev(&[
            rd(0x01, 0x41),
            rd(0x10, 0xA0), // 65 + 0b101 * 0.125 = 65.625
            rd(0x01, 0xF6),
            rd(0x10, 0x60), // -10 + 0.375 = -9.625 (two's complement 11-bit)
            rd(0x01, 0x7F),
            rd(0x10, 0x80), // 127.5: real reading, not a fault marker
        ]);
        assert_eq!(
            d.read_external_temperature_celsius().unwrap(),
            Celsius(65.625)
        );
        assert_eq!(
            d.read_external_temperature_celsius().unwrap(),
            Celsius(-9.625)
        );
        assert_eq!(
            d.read_external_temperature_celsius().unwrap(),
            Celsius(127.5)
        );
        finish(d);
    }

    #[test]
    fn external_diode_faults() {
        let mut d = dev(&[
            rd(0x01, 0x7F),
            rd(0x10, 0x00),
            rd(0x01, 0x7F),
            rd(0x10, 0xE0),
        ]);
        assert!(matches!(
            d.read_external_temperature_celsius(),
            Err(Error::DiodeFault(DiodeFault::Open))
        ));
        assert!(matches!(
            d.read_external_temperature_celsius(),
            Err(Error::DiodeFault(DiodeFault::Short))
        ));
        finish(d);
    }

    #[test]
    fn decode_external_ignores_low_5_bits() {
        assert_eq!(decode_external::<()>(0x19, 0x3F).unwrap(), Celsius(25.125));
    }

    #[test]
    fn decode_external_below_channel_range_is_implausible() {
        assert_eq!(decode_external::<()>(0xC0, 0x00).unwrap(), Celsius(-64.0));
        assert!(matches!(
            decode_external::<()>(0xBF, 0xE0),
            Err(Error::Implausible(_))
        ));
        assert!(matches!(
            decode_external::<()>(0x80, 0x00),
            Err(Error::Implausible(_))
        ));
    }

    #[test]
    fn status_register() {
        let mut d = dev(&[rd(0x02, STATUS_EXT_FAULT | STATUS_TACH_LOW)]);
        assert_eq!(d.read_status().unwrap(), 0x05);
        finish(d);
    }

    #[test]
    fn fan_seam() {
        let mut d = dev(&[
            T::write(A, vec![0x4C, 62]),
            rd(0x46, 0x10),
            rd(0x47, 0x0E),
            T::write(A, vec![0x4C, 0])
                .with_error(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)),
            rd(0x46, 0x05),
            rd(0x47, 0x00),
        ]);
        Fan::set_duty(&mut d, Percent::FULL, Timestamp(0)).unwrap();
        assert_eq!(Fan::read_rpm(&mut d, Timestamp(0)).unwrap(), Rpm(1500.0));
        assert_eq!(
            Fan::set_duty(&mut d, Percent::ZERO, Timestamp(0)),
            Err(DeviceError::Absent)
        );
        assert!(matches!(
            Fan::read_rpm(&mut d, Timestamp(0)),
            Err(DeviceError::Implausible(_))
        ));
        finish(d);
    }

    #[test]
    fn thermometer_seam_with_plausibility() {
        let mut d = dev(&[
            rd(0x01, 60),
            rd(0x10, 0x00), // 60.0 at t=0
            rd(0x01, 100),
            rd(0x10, 0x00), // 100 at t=1s: jump of 40 K > 11 K allowed
            rd(0x01, 0x7F),
            rd(0x10, 0x00), // open diode
            rd(0x01, 65),
            rd(0x10, 0x00), // 65 at t=2s: fine
        ])
        .with_name("board-0 diode");
        assert_eq!(Thermometer::name(&d), "board-0 diode");
        assert_eq!(d.read_temp(Timestamp::from_secs(0)).unwrap(), Celsius(60.0));
        assert!(matches!(
            d.read_temp(Timestamp::from_secs(1)),
            Err(DeviceError::Implausible(_))
        ));
        assert!(matches!(
            d.read_temp(Timestamp::from_secs(2)),
            Err(DeviceError::Fault(_))
        ));
        assert_eq!(d.read_temp(Timestamp::from_secs(2)).unwrap(), Celsius(65.0));
        finish(d);
    }

    #[test]
    fn custom_plausibility_on_the_diode() {
        let p = Plausibility::new(Celsius(0.0), Celsius(90.0), 5.0, 0.5).unwrap();
        let mut d = dev(&[rd(0x01, 95), rd(0x10, 0x00)]).with_plausibility(p);
        assert!(matches!(
            d.read_temp(Timestamp(0)),
            Err(DeviceError::Implausible(_))
        ));
        finish(d);
    }

    #[test]
    fn error_type_is_std_error_and_maps_to_device_error() {
        fn is_error<T: std::error::Error>() {}
        is_error::<Error<ErrorKind>>();
        let open: Error<ErrorKind> = Error::DiodeFault(DiodeFault::Open);
        assert!(matches!(DeviceError::from(open), DeviceError::Fault(_)));
        let wrong: Error<ErrorKind> = Error::WrongDevice {
            manufacturer: 0,
            product: 0,
        };
        assert_eq!(DeviceError::from(wrong), DeviceError::Absent);
    }

    #[test]
    fn duty_helpers() {
        assert_eq!(duty_to_setting(Percent::FULL, 63), 63);
        assert_eq!(duty_to_setting(Percent::FULL, 200), 63);
        assert_eq!(duty_to_setting(Percent::new(f64::NAN), 46), 46);
        assert_eq!(setting_to_duty(46, 46), Percent::FULL);
        assert_eq!(setting_to_duty(63, 46), Percent::FULL);
        assert_eq!(setting_to_duty(0, 0), Percent::FULL);
        assert_eq!(full_scale(0x17), 46);
        assert_eq!(full_scale(0x1F), 62);
    }
}
