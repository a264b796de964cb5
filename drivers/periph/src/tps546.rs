//! TI TPS546 (TPS546D24A class) synchronous buck regulator over PMBus.
//!
//! The core-voltage regulator of a Bitaxe-style board, default address
//! 0x24. Word commands travel as the command byte followed by the data
//! least significant byte first; reads are a write of the command byte and
//! a repeated-start read. PEC (packet error checking) is not used.
//!
//! * VOUT_MODE (0x20) tells the ULINEAR16 exponent; it is read once and
//!   cached (see [`Tps546::read_vout_mode`]).
//! * VOUT_COMMAND (0x21) and READ_VOUT (0x8B) are ULINEAR16.
//! * READ_VIN (0x88), READ_IOUT (0x8C), READ_TEMPERATURE_1 (0x8D) are
//!   LINEAR11.
//! * OPERATION (0x01): 0x80 on, 0x00 immediate off. Whether the part obeys
//!   OPERATION at all depends on ON_OFF_CONFIG (0x02), which board bring-up
//!   must set (unverified: not configured by this driver).
//! * STATUS_WORD (0x79) decodes into [`StatusWord`]; CLEAR_FAULTS (0x03).
//!
//! Safety: [`Tps546::set_vout_millivolts`] refuses any voltage outside the
//! [`VoutRange`] given at construction, before touching the bus.

use crate::pmbus::{self, EncodeError, VoutMode};
use embedded_hal::i2c::I2c;
use hearth_core::peripherals::{DeviceError, Regulator, RegulatorReading};
use hearth_core::time::Timestamp;
use hearth_core::units::{Celsius, Millivolts, Watts};
use std::fmt;

/// Default 7-bit address on Bitaxe boards.
pub const DEFAULT_ADDRESS: u8 = 0x24;

/// PMBus command codes used by this driver.
pub mod command {
    pub const OPERATION: u8 = 0x01;
    pub const CLEAR_FAULTS: u8 = 0x03;
    pub const VOUT_MODE: u8 = 0x20;
    pub const VOUT_COMMAND: u8 = 0x21;
    pub const STATUS_WORD: u8 = 0x79;
    pub const READ_VIN: u8 = 0x88;
    pub const READ_VOUT: u8 = 0x8B;
    pub const READ_IOUT: u8 = 0x8C;
    pub const READ_TEMPERATURE_1: u8 = 0x8D;
}

/// OPERATION value: output on, no margining.
pub const OPERATION_ON: u8 = 0x80;
/// OPERATION value: immediate off (no soft-stop sequencing).
pub const OPERATION_OFF: u8 = 0x00;

/// Plausible input voltage, mV. The TPS546D24A is a 4..16 V input part
/// (unverified from memory of the datasheet); 0..=20 V leaves margin.
pub const VIN_PLAUSIBLE_MV: (f64, f64) = (0.0, 20_000.0);
/// Plausible output voltage, mV (the part's output is at most ~5.5 V).
pub const VOUT_PLAUSIBLE_MV: (f64, f64) = (0.0, 6_000.0);
/// Plausible output current, A: a 40 A part, with room for a small
/// negative offset at no load and for stacked phases.
pub const IOUT_PLAUSIBLE_A: (f64, f64) = (-10.0, 100.0);
/// Plausible die temperature, °C (over-temperature fault is ~145 °C).
pub const TEMP_PLAUSIBLE_C: (f64, f64) = (-55.0, 200.0);

/// The output voltages this regulator may be commanded to, inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoutRange {
    min: Millivolts,
    max: Millivolts,
}

/// A [`VoutRange`] that is empty, inverted, non-finite or non-positive.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("invalid VOUT range {min}..={max}")]
pub struct InvalidVoutRange {
    pub min: Millivolts,
    pub max: Millivolts,
}

impl VoutRange {
    pub fn new(min: Millivolts, max: Millivolts) -> Result<VoutRange, InvalidVoutRange> {
        let ok = min.is_finite() && max.is_finite() && min.get() > 0.0 && min.get() <= max.get();
        if ok {
            Ok(VoutRange { min, max })
        } else {
            Err(InvalidVoutRange { min, max })
        }
    }

    /// 1000..=2000 mV, the Bitaxe core-voltage range in the reference notes.
    pub fn bitaxe() -> VoutRange {
        VoutRange {
            min: Millivolts(1000.0),
            max: Millivolts(2000.0),
        }
    }

    pub fn min(&self) -> Millivolts {
        self.min
    }

    pub fn max(&self) -> Millivolts {
        self.max
    }

    /// Inclusive; NaN is never contained.
    pub fn contains(&self, v: Millivolts) -> bool {
        v.get() >= self.min.get() && v.get() <= self.max.get()
    }
}

/// One bit of the PMBus STATUS_WORD (0x79), standard layout (PMBus spec
/// part II, 17.1/17.2). Low byte = STATUS_BYTE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusBit {
    /// bit 0: NONE_OF_THE_ABOVE - a fault/warning not listed in the low byte
    /// (set together with any high-byte bit, including POWER_GOOD#).
    NoneOfTheAbove,
    /// bit 1: communication, memory or logic fault.
    Cml,
    /// bit 2: temperature fault or warning.
    Temperature,
    /// bit 3: VIN undervoltage fault.
    VinUvFault,
    /// bit 4: IOUT overcurrent fault.
    IoutOcFault,
    /// bit 5: VOUT overvoltage fault.
    VoutOvFault,
    /// bit 6: the unit is not providing power (disabled or shut down).
    Off,
    /// bit 7: the device was busy and could not respond.
    Busy,
    /// bit 8: UNKNOWN - a fault type not given in bits 15..1.
    Unknown,
    /// bit 9: OTHER - see STATUS_OTHER.
    Other,
    /// bit 10: fan fault or warning.
    Fans,
    /// bit 11: POWER_GOOD# - the power-good signal is negated.
    PowerGoodNegated,
    /// bit 12: manufacturer-specific fault or warning.
    MfrSpecific,
    /// bit 13: input voltage/current/power fault or warning.
    Input,
    /// bit 14: output current or power fault or warning.
    IoutPout,
    /// bit 15: output voltage fault or warning.
    Vout,
}

impl StatusBit {
    pub const ALL: [StatusBit; 16] = [
        StatusBit::NoneOfTheAbove,
        StatusBit::Cml,
        StatusBit::Temperature,
        StatusBit::VinUvFault,
        StatusBit::IoutOcFault,
        StatusBit::VoutOvFault,
        StatusBit::Off,
        StatusBit::Busy,
        StatusBit::Unknown,
        StatusBit::Other,
        StatusBit::Fans,
        StatusBit::PowerGoodNegated,
        StatusBit::MfrSpecific,
        StatusBit::Input,
        StatusBit::IoutPout,
        StatusBit::Vout,
    ];

    /// Bit position in STATUS_WORD.
    pub fn bit(self) -> u8 {
        match self {
            StatusBit::NoneOfTheAbove => 0,
            StatusBit::Cml => 1,
            StatusBit::Temperature => 2,
            StatusBit::VinUvFault => 3,
            StatusBit::IoutOcFault => 4,
            StatusBit::VoutOvFault => 5,
            StatusBit::Off => 6,
            StatusBit::Busy => 7,
            StatusBit::Unknown => 8,
            StatusBit::Other => 9,
            StatusBit::Fans => 10,
            StatusBit::PowerGoodNegated => 11,
            StatusBit::MfrSpecific => 12,
            StatusBit::Input => 13,
            StatusBit::IoutPout => 14,
            StatusBit::Vout => 15,
        }
    }

    pub fn mask(self) -> u16 {
        1 << self.bit()
    }

    /// Whether this bit reports a fault or warning (as opposed to state:
    /// BUSY, OFF, POWER_GOOD# and the NONE_OF_THE_ABOVE summary).
    pub fn is_fault(self) -> bool {
        !matches!(
            self,
            StatusBit::Busy
                | StatusBit::Off
                | StatusBit::PowerGoodNegated
                | StatusBit::NoneOfTheAbove
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            StatusBit::NoneOfTheAbove => "NONE_OF_THE_ABOVE",
            StatusBit::Cml => "CML",
            StatusBit::Temperature => "TEMPERATURE",
            StatusBit::VinUvFault => "VIN_UV_FAULT",
            StatusBit::IoutOcFault => "IOUT_OC_FAULT",
            StatusBit::VoutOvFault => "VOUT_OV_FAULT",
            StatusBit::Off => "OFF",
            StatusBit::Busy => "BUSY",
            StatusBit::Unknown => "UNKNOWN",
            StatusBit::Other => "OTHER",
            StatusBit::Fans => "FANS",
            StatusBit::PowerGoodNegated => "POWER_GOOD#",
            StatusBit::MfrSpecific => "MFR_SPECIFIC",
            StatusBit::Input => "INPUT",
            StatusBit::IoutPout => "IOUT_POUT",
            StatusBit::Vout => "VOUT",
        }
    }
}

/// The raw STATUS_WORD with decoding helpers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// Mask of the bits that count as faults or warnings.
    pub const FAULT_MASK: u16 = 0xF7FF & !0x00C1;

    pub fn contains(self, bit: StatusBit) -> bool {
        self.0 & bit.mask() != 0
    }

    /// Every set bit, lowest first.
    pub fn flags(self) -> Vec<StatusBit> {
        StatusBit::ALL
            .into_iter()
            .filter(|b| self.contains(*b))
            .collect()
    }

    /// The set bits that are faults or warnings (see [`StatusBit::is_fault`]).
    pub fn faults(self) -> Vec<StatusBit> {
        StatusBit::ALL
            .into_iter()
            .filter(|b| b.is_fault() && self.contains(*b))
            .collect()
    }

    pub fn has_fault(self) -> bool {
        self.0 & Self::FAULT_MASK != 0
    }

    /// The output is off (OFF bit).
    pub fn is_off(self) -> bool {
        self.contains(StatusBit::Off)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)?;
        let flags = self.flags();
        if !flags.is_empty() {
            let names: Vec<&str> = flags.iter().map(|b| b.name()).collect();
            write!(f, " [{}]", names.join("|"))?;
        }
        Ok(())
    }
}

/// TPS546 driver errors.
#[derive(Debug, thiserror::Error)]
pub enum Error<E> {
    /// The I2C bus reported an error (NACK, arbitration loss, ...).
    #[error("I2C error: {0:?}")]
    I2c(E),
    /// A VOUT outside the configured safe range was requested; nothing was
    /// written.
    #[error("VOUT {requested} outside the safe range {min}..={max}; not written")]
    VoutOutOfRange {
        requested: Millivolts,
        min: Millivolts,
        max: Millivolts,
    },
    /// VOUT_MODE announced something other than linear mode.
    #[error(transparent)]
    UnsupportedVoutMode(#[from] pmbus::UnsupportedVoutMode),
    /// A value could not be represented in the PMBus format.
    #[error("cannot encode: {0}")]
    Encode(#[from] EncodeError),
    /// The device returned a value outside physical plausibility.
    #[error("implausible {quantity}: {value}")]
    Implausible { quantity: &'static str, value: f64 },
    /// STATUS_WORD reports faults or warnings.
    #[error("regulator status reports faults: {0}")]
    Fault(StatusWord),
}

impl<E: embedded_hal::i2c::Error> From<Error<E>> for DeviceError {
    fn from(e: Error<E>) -> DeviceError {
        match e {
            Error::I2c(bus) => crate::bus_error(&bus),
            Error::Fault(status) => DeviceError::Fault(status.to_string()),
            Error::Implausible { .. } | Error::UnsupportedVoutMode(_) => {
                DeviceError::Implausible(e.to_string())
            }
            Error::VoutOutOfRange { .. } | Error::Encode(_) => DeviceError::Fault(e.to_string()),
        }
    }
}

/// TPS546 regulator on an I2C bus.
#[derive(Debug)]
pub struct Tps546<I2C> {
    i2c: I2C,
    address: u8,
    vout_range: VoutRange,
    vout_mode: Option<VoutMode>,
}

impl<I2C, E> Tps546<I2C>
where
    I2C: I2c<Error = E>,
{
    /// A driver for the part at `address` that will only ever command
    /// output voltages inside `vout_range`. No bus traffic.
    pub fn new(i2c: I2C, address: u8, vout_range: VoutRange) -> Self {
        Tps546 {
            i2c,
            address,
            vout_range,
            vout_mode: None,
        }
    }

    /// Give the bus back.
    pub fn destroy(self) -> I2C {
        self.i2c
    }

    pub fn address(&self) -> u8 {
        self.address
    }

    pub fn vout_range(&self) -> VoutRange {
        self.vout_range
    }

    /// The cached VOUT_MODE, if it has been read.
    pub fn cached_vout_mode(&self) -> Option<VoutMode> {
        self.vout_mode
    }

    fn read_byte(&mut self, cmd: u8) -> Result<u8, Error<E>> {
        let mut buf = [0u8; 1];
        self.i2c
            .write_read(self.address, &[cmd], &mut buf)
            .map_err(Error::I2c)?;
        Ok(buf[0])
    }

    fn read_word(&mut self, cmd: u8) -> Result<u16, Error<E>> {
        let mut buf = [0u8; 2];
        self.i2c
            .write_read(self.address, &[cmd], &mut buf)
            .map_err(Error::I2c)?;
        Ok(u16::from_le_bytes(buf))
    }

    fn write_byte(&mut self, cmd: u8, value: u8) -> Result<(), Error<E>> {
        self.i2c
            .write(self.address, &[cmd, value])
            .map_err(Error::I2c)
    }

    fn write_word(&mut self, cmd: u8, value: u16) -> Result<(), Error<E>> {
        let [lo, hi] = value.to_le_bytes();
        self.i2c
            .write(self.address, &[cmd, lo, hi])
            .map_err(Error::I2c)
    }

    fn send_byte(&mut self, cmd: u8) -> Result<(), Error<E>> {
        self.i2c.write(self.address, &[cmd]).map_err(Error::I2c)
    }

    /// Read VOUT_MODE (0x20) from the device and cache it.
    pub fn read_vout_mode(&mut self) -> Result<VoutMode, Error<E>> {
        let byte = self.read_byte(command::VOUT_MODE)?;
        let mode = VoutMode::from_byte(byte)?;
        self.vout_mode = Some(mode);
        Ok(mode)
    }

    fn vout_exponent(&mut self) -> Result<i8, Error<E>> {
        match self.vout_mode {
            Some(mode) => Ok(mode.exponent()),
            None => Ok(self.read_vout_mode()?.exponent()),
        }
    }

    fn out_of_range(&self, requested: Millivolts) -> Error<E> {
        Error::VoutOutOfRange {
            requested,
            min: self.vout_range.min,
            max: self.vout_range.max,
        }
    }

    /// Command the output voltage (VOUT_COMMAND, 0x21, ULINEAR16).
    ///
    /// A request outside the safe range (or NaN) is refused before any bus
    /// traffic. The value is rounded to the nearest code; if rounding would
    /// step outside the range, the code is moved one step inwards.
    /// Reads VOUT_MODE first if it is not cached.
    pub fn set_vout_millivolts(&mut self, vout: Millivolts) -> Result<(), Error<E>> {
        if !self.vout_range.contains(vout) {
            return Err(self.out_of_range(vout));
        }
        let exponent = self.vout_exponent()?;
        let mut code = pmbus::f64_to_ulinear16(vout.get() / 1000.0, exponent)?;
        let as_mv = |c: u16| Millivolts(pmbus::ulinear16_to_f64(c, exponent) * 1000.0);
        if as_mv(code).get() > self.vout_range.max.get() {
            code = code.saturating_sub(1);
        } else if as_mv(code).get() < self.vout_range.min.get() {
            code = code.saturating_add(1);
        }
        if !self.vout_range.contains(as_mv(code)) {
            // The range is narrower than one step of this exponent.
            return Err(self.out_of_range(vout));
        }
        self.write_word(command::VOUT_COMMAND, code)
    }

    /// Read back VOUT_COMMAND (0x21): the commanded output voltage.
    pub fn read_vout_command_millivolts(&mut self) -> Result<Millivolts, Error<E>> {
        let exponent = self.vout_exponent()?;
        let raw = self.read_word(command::VOUT_COMMAND)?;
        Ok(Millivolts(pmbus::ulinear16_to_f64(raw, exponent) * 1000.0))
    }

    /// OPERATION (0x01): 0x80 (on) or 0x00 (immediate off).
    pub fn set_enabled(&mut self, on: bool) -> Result<(), Error<E>> {
        let value = if on { OPERATION_ON } else { OPERATION_OFF };
        self.write_byte(command::OPERATION, value)
    }

    /// Turn the output on (OPERATION = 0x80).
    pub fn enable(&mut self) -> Result<(), Error<E>> {
        self.set_enabled(true)
    }

    /// Turn the output off immediately (OPERATION = 0x00).
    pub fn disable(&mut self) -> Result<(), Error<E>> {
        self.set_enabled(false)
    }

    /// Read the raw OPERATION byte.
    pub fn read_operation(&mut self) -> Result<u8, Error<E>> {
        self.read_byte(command::OPERATION)
    }

    fn plausible(
        quantity: &'static str,
        value: f64,
        (lo, hi): (f64, f64),
    ) -> Result<f64, Error<E>> {
        if value.is_finite() && value >= lo && value <= hi {
            Ok(value)
        } else {
            Err(Error::Implausible { quantity, value })
        }
    }

    /// READ_VIN (0x88, LINEAR11).
    pub fn read_vin_millivolts(&mut self) -> Result<Millivolts, Error<E>> {
        let raw = self.read_word(command::READ_VIN)?;
        let mv = pmbus::linear11_to_f64(raw) * 1000.0;
        Self::plausible("VIN (mV)", mv, VIN_PLAUSIBLE_MV).map(Millivolts)
    }

    /// READ_VOUT (0x8B, ULINEAR16 with the VOUT_MODE exponent).
    pub fn read_vout_millivolts(&mut self) -> Result<Millivolts, Error<E>> {
        let exponent = self.vout_exponent()?;
        let raw = self.read_word(command::READ_VOUT)?;
        let mv = pmbus::ulinear16_to_f64(raw, exponent) * 1000.0;
        Self::plausible("VOUT (mV)", mv, VOUT_PLAUSIBLE_MV).map(Millivolts)
    }

    /// READ_IOUT (0x8C, LINEAR11), amperes.
    pub fn read_iout_amps(&mut self) -> Result<f64, Error<E>> {
        let raw = self.read_word(command::READ_IOUT)?;
        Self::plausible("IOUT (A)", pmbus::linear11_to_f64(raw), IOUT_PLAUSIBLE_A)
    }

    /// READ_TEMPERATURE_1 (0x8D, LINEAR11), the regulator's temperature.
    pub fn read_temperature_celsius(&mut self) -> Result<Celsius, Error<E>> {
        let raw = self.read_word(command::READ_TEMPERATURE_1)?;
        Self::plausible(
            "temperature (°C)",
            pmbus::linear11_to_f64(raw),
            TEMP_PLAUSIBLE_C,
        )
        .map(Celsius)
    }

    /// STATUS_WORD (0x79).
    pub fn read_status_word(&mut self) -> Result<StatusWord, Error<E>> {
        self.read_word(command::STATUS_WORD).map(StatusWord)
    }

    /// CLEAR_FAULTS (0x03, send byte): clear all latched status bits. A
    /// condition that persists sets its bit again.
    pub fn clear_faults(&mut self) -> Result<(), Error<E>> {
        self.send_byte(command::CLEAR_FAULTS)
    }

    /// Read VIN, VOUT, IOUT and temperature, in that order (after VOUT_MODE
    /// if it is not cached), plus power = VOUT * IOUT. Does not look at the
    /// status; see the `Regulator` impl for the checked variant.
    pub fn read_measurements(&mut self) -> Result<RegulatorReading, Error<E>> {
        self.vout_exponent()?;
        let vin = self.read_vin_millivolts()?;
        let vout = self.read_vout_millivolts()?;
        let iout = self.read_iout_amps()?;
        let temp = self.read_temperature_celsius()?;
        Ok(RegulatorReading {
            vin_mv: Some(vin),
            vout_mv: Some(vout),
            iout_a: Some(iout),
            power_w: Some(Watts(vout.get() / 1000.0 * iout)),
            temp_c: Some(temp),
        })
    }

    /// STATUS_WORD first: if it reports a fault or warning, send
    /// CLEAR_FAULTS and return [`Error::Fault`] with the status as read.
    /// Otherwise read all measurements.
    ///
    /// PMBus status bits latch, so each fault is reported once; a condition
    /// that persists re-latches and is reported again on the next call.
    /// That lets a controller that has tripped keep reading the regulator's
    /// temperature once the condition is gone, without a clear-faults seam.
    pub fn read_checked(&mut self) -> Result<RegulatorReading, Error<E>> {
        let status = self.read_status_word()?;
        if status.has_fault() {
            self.clear_faults()?;
            return Err(Error::Fault(status));
        }
        self.read_measurements()
    }
}

impl<I2C> Regulator for Tps546<I2C>
where
    I2C: I2c + Send,
{
    fn set_vout(&mut self, vout: Millivolts, _now: Timestamp) -> Result<(), DeviceError> {
        self.set_vout_millivolts(vout).map_err(DeviceError::from)
    }

    fn set_enabled(&mut self, on: bool, _now: Timestamp) -> Result<(), DeviceError> {
        Tps546::set_enabled(self, on).map_err(DeviceError::from)
    }

    fn read(&mut self, _now: Timestamp) -> Result<RegulatorReading, DeviceError> {
        self.read_checked().map_err(DeviceError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const A: u8 = DEFAULT_ADDRESS;

    fn dev(expect: &[T]) -> Tps546<Mock> {
        Tps546::new(Mock::new(expect), A, VoutRange::bitaxe())
    }

    fn finish(d: Tps546<Mock>) {
        d.destroy().done();
    }

    fn nack() -> ErrorKind {
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
    }

    /// LINEAR11 word for `value` and the little-endian bytes on the wire.
    fn l11(value: f64) -> Vec<u8> {
        pmbus::f64_to_linear11(value)
            .unwrap()
            .to_le_bytes()
            .to_vec()
    }

    #[test]
    fn vout_range_validation() {
        assert!(VoutRange::new(Millivolts(1000.0), Millivolts(2000.0)).is_ok());
        assert!(VoutRange::new(Millivolts(1200.0), Millivolts(1200.0)).is_ok());
        assert!(VoutRange::new(Millivolts(2000.0), Millivolts(1000.0)).is_err());
        assert!(VoutRange::new(Millivolts(0.0), Millivolts(1000.0)).is_err());
        assert!(VoutRange::new(Millivolts(f64::NAN), Millivolts(1000.0)).is_err());
        assert!(!VoutRange::bitaxe().contains(Millivolts(f64::NAN)));
        assert!(VoutRange::bitaxe().contains(Millivolts(1000.0)));
        assert!(VoutRange::bitaxe().contains(Millivolts(2000.0)));
    }

    #[test]
    fn error_type_is_std_error() {
        fn is_error<T: std::error::Error>() {}
        is_error::<Error<ErrorKind>>();
    }

    #[test]
    fn accessors_and_measurements_without_status() {
        let mut d = dev(&[
            T::write_read(A, vec![0x20], vec![0x17]),
            T::write_read(A, vec![0x88], l11(5.0)),
            T::write_read(A, vec![0x8B], vec![0x66, 0x02]),
            T::write_read(A, vec![0x8C], l11(-0.25)),
            T::write_read(A, vec![0x8D], l11(25.0)),
        ]);
        assert_eq!(d.address(), 0x24);
        assert_eq!(d.vout_range(), VoutRange::bitaxe());
        let r = d.read_measurements().unwrap();
        assert_eq!(r.vin_mv, Some(Millivolts(5000.0)));
        assert_eq!(r.iout_a, Some(-0.25));
        assert_eq!(r.power_w, Some(Watts(614.0 / 512.0 * -0.25)));
        finish(d);
    }

    #[test]
    fn read_vout_mode_reads_0x20_and_caches() {
        let mut d = dev(&[T::write_read(A, vec![0x20], vec![0x17])]);
        assert_eq!(d.read_vout_mode().unwrap().exponent(), -9);
        assert_eq!(d.cached_vout_mode().map(VoutMode::exponent), Some(-9));
        finish(d);
    }

    #[test]
    fn unsupported_vout_mode_is_an_error() {
        let mut d = dev(&[T::write_read(A, vec![0x20], vec![0x40])]);
        assert!(matches!(
            d.read_vout_mode(),
            Err(Error::UnsupportedVoutMode(_))
        ));
        assert_eq!(d.cached_vout_mode(), None);
        finish(d);
    }

    #[test]
    fn set_vout_reads_mode_then_writes_word_lsb_first() {
        // 1200 mV at exponent -9: 1.2 * 512 = 614.4 -> 614 = 0x0266
        let mut d = dev(&[
            T::write_read(A, vec![0x20], vec![0x17]),
            T::write(A, vec![0x21, 0x66, 0x02]),
            // Second call uses the cached exponent: no VOUT_MODE read.
            T::write(A, vec![0x21, 0x00, 0x04]),
        ]);
        d.set_vout_millivolts(Millivolts(1200.0)).unwrap();
        d.set_vout_millivolts(Millivolts(2000.0)).unwrap();
        finish(d);
    }

    #[test]
    fn set_vout_outside_range_writes_nothing() {
        let mut d = dev(&[]);
        for mv in [999.9, 2000.1, 0.0, -5.0, f64::NAN, f64::INFINITY] {
            let err = d.set_vout_millivolts(Millivolts(mv)).unwrap_err();
            assert!(matches!(err, Error::VoutOutOfRange { .. }), "{mv}: {err}");
        }
        finish(d);
    }

    #[test]
    fn set_vout_rounding_never_leaves_the_range() {
        // Exponent -2: steps of 250 mV. Range 1100..=1300 contains only 1250.
        let range = VoutRange::new(Millivolts(1100.0), Millivolts(1300.0)).unwrap();
        let mut d = Tps546::new(
            Mock::new(&[
                T::write_read(A, vec![0x20], vec![0x1E]), // exponent -2
                T::write(A, vec![0x21, 5, 0]),            // 1110 -> 4.44 -> 4 (1000) -> 5 (1250)
                T::write(A, vec![0x21, 5, 0]),            // 1290 -> 5.16 -> 5 (1250)
            ]),
            A,
            range,
        );
        d.set_vout_millivolts(Millivolts(1110.0)).unwrap();
        d.set_vout_millivolts(Millivolts(1290.0)).unwrap();
        finish(d);

        // Range narrower than a step: refused, nothing written.
        let narrow = VoutRange::new(Millivolts(1100.0), Millivolts(1200.0)).unwrap();
        let mut d = Tps546::new(
            Mock::new(&[T::write_read(A, vec![0x20], vec![0x1E])]),
            A,
            narrow,
        );
        assert!(matches!(
            d.set_vout_millivolts(Millivolts(1150.0)),
            Err(Error::VoutOutOfRange { .. })
        ));
        finish(d);
    }

    #[test]
    fn set_vout_bus_nack_is_an_error() {
        let mut d = dev(&[
            T::write_read(A, vec![0x20], vec![0x17]),
            T::write(A, vec![0x21, 0x66, 0x02]).with_error(nack()),
        ]);
        let err = d.set_vout_millivolts(Millivolts(1200.0)).unwrap_err();
        assert!(matches!(err, Error::I2c(ErrorKind::NoAcknowledge(_))));
        finish(d);
    }

    #[test]
    fn set_vout_with_bad_vout_mode_writes_nothing() {
        let mut d = dev(&[T::write_read(A, vec![0x20], vec![0x20])]);
        assert!(matches!(
            d.set_vout_millivolts(Millivolts(1200.0)),
            Err(Error::UnsupportedVoutMode(_))
        ));
        finish(d);
    }

    #[test]
    fn read_vout_command_back() {
        let mut d = dev(&[
            T::write_read(A, vec![0x20], vec![0x17]),
            T::write_read(A, vec![0x21], vec![0x66, 0x02]),
        ]);
        assert_eq!(
            d.read_vout_command_millivolts().unwrap(),
            Millivolts(614.0 / 512.0 * 1000.0)
        );
        finish(d);
    }

    #[test]
    fn operation_on_off() {
        let mut d = dev(&[
            T::write(A, vec![0x01, 0x80]),
            T::write(A, vec![0x01, 0x00]),
            T::write(A, vec![0x01, 0x80]),
            T::write(A, vec![0x01, 0x00]),
            T::write_read(A, vec![0x01], vec![0x80]),
        ]);
        d.enable().unwrap();
        d.disable().unwrap();
        Tps546::set_enabled(&mut d, true).unwrap();
        Tps546::set_enabled(&mut d, false).unwrap();
        assert_eq!(d.read_operation().unwrap(), 0x80);
        finish(d);
    }

    #[test]
    fn read_vin_iout_temp_linear11() {
        let mut d = dev(&[
            // 12.0 V as 0xE0C0 -> bytes C0 E0
            T::write_read(A, vec![0x88], vec![0xC0, 0xE0]),
            T::write_read(A, vec![0x8C], l11(10.5)),
            T::write_read(A, vec![0x8D], l11(-12.0)),
        ]);
        assert_eq!(d.read_vin_millivolts().unwrap(), Millivolts(12_000.0));
        assert_eq!(d.read_iout_amps().unwrap(), 10.5);
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(-12.0));
        finish(d);
    }

    #[test]
    fn read_vout_ulinear16() {
        let mut d = dev(&[
            T::write_read(A, vec![0x20], vec![0x17]),
            T::write_read(A, vec![0x8B], vec![0x66, 0x02]),
        ]);
        let mv = d.read_vout_millivolts().unwrap();
        assert!((mv.get() - 1199.21875).abs() < 1e-9);
        finish(d);
    }

    #[test]
    fn implausible_readings_are_errors() {
        let mut d = dev(&[
            T::write_read(A, vec![0x88], l11(60.0)),  // 60 V input
            T::write_read(A, vec![0x8C], l11(-50.0)), // -50 A
            T::write_read(A, vec![0x8D], l11(500.0)), // 500 °C
            T::write_read(A, vec![0x88], l11(-1.0)),  // negative VIN
            T::write_read(A, vec![0x20], vec![0x0F]), // exponent +15
            T::write_read(A, vec![0x8B], vec![1, 0]), // 32768 V
        ]);
        assert!(matches!(
            d.read_vin_millivolts(),
            Err(Error::Implausible { .. })
        ));
        assert!(matches!(d.read_iout_amps(), Err(Error::Implausible { .. })));
        assert!(matches!(
            d.read_temperature_celsius(),
            Err(Error::Implausible { .. })
        ));
        assert!(matches!(
            d.read_vin_millivolts(),
            Err(Error::Implausible { .. })
        ));
        assert!(matches!(
            d.read_vout_millivolts(),
            Err(Error::Implausible { .. })
        ));
        finish(d);
    }

    #[test]
    fn read_bus_error() {
        let mut d = dev(&[T::write_read(A, vec![0x88], vec![0, 0]).with_error(ErrorKind::Bus)]);
        assert!(matches!(
            d.read_vin_millivolts(),
            Err(Error::I2c(ErrorKind::Bus))
        ));
        finish(d);
    }

    #[test]
    fn status_word_decoding() {
        let s = StatusWord(0x0000);
        assert!(!s.has_fault());
        assert!(s.flags().is_empty());

        // Output off and power-good negated: state, not a fault.
        let off = StatusWord(0x0841);
        assert!(off.is_off());
        assert!(!off.has_fault());
        assert_eq!(
            off.flags(),
            vec![
                StatusBit::NoneOfTheAbove,
                StatusBit::Off,
                StatusBit::PowerGoodNegated
            ]
        );
        assert!(StatusWord(0x0080).flags() == vec![StatusBit::Busy]);
        assert!(!StatusWord(0x0080).has_fault());

        // Each fault-class bit alone is a fault.
        for bit in StatusBit::ALL {
            assert_eq!(
                StatusWord(bit.mask()).has_fault(),
                bit.is_fault(),
                "{bit:?}"
            );
            assert_eq!(StatusWord(bit.mask()).flags(), vec![bit]);
        }
        let t = StatusWord(0x0004 | 0x0040);
        assert_eq!(t.faults(), vec![StatusBit::Temperature]);
        let many = StatusWord(0x8000 | 0x2000 | 0x0020 | 0x0010 | 0x0008 | 0x0002);
        assert_eq!(
            many.faults(),
            vec![
                StatusBit::Cml,
                StatusBit::VinUvFault,
                StatusBit::IoutOcFault,
                StatusBit::VoutOvFault,
                StatusBit::Input,
                StatusBit::Vout
            ]
        );
        assert_eq!(StatusWord(0x0006).to_string(), "0x0006 [CML|TEMPERATURE]");
        assert_eq!(StatusWord::FAULT_MASK, 0xF73E);
    }

    #[test]
    fn read_status_word_and_clear_faults() {
        let mut d = dev(&[
            T::write_read(A, vec![0x79], vec![0x04, 0x80]),
            T::write(A, vec![0x03]),
        ]);
        let s = d.read_status_word().unwrap();
        assert_eq!(s, StatusWord(0x8004));
        assert!(s.contains(StatusBit::Vout) && s.contains(StatusBit::Temperature));
        d.clear_faults().unwrap();
        finish(d);
    }

    #[test]
    fn regulator_read_all_measurements_with_power() {
        let mut d = dev(&[
            T::write_read(A, vec![0x79], vec![0x00, 0x00]),
            T::write_read(A, vec![0x20], vec![0x17]),
            T::write_read(A, vec![0x88], l11(12.0)),
            T::write_read(A, vec![0x8B], vec![0x00, 0x02]), // 512 * 2^-9 = 1.0 V
            T::write_read(A, vec![0x8C], l11(10.5)),
            T::write_read(A, vec![0x8D], l11(45.25)),
        ]);
        let r = Regulator::read(&mut d, Timestamp(0)).unwrap();
        assert_eq!(r.vin_mv, Some(Millivolts(12_000.0)));
        assert_eq!(r.vout_mv, Some(Millivolts(1000.0)));
        assert_eq!(r.iout_a, Some(10.5));
        assert_eq!(r.power_w, Some(Watts(10.5)));
        assert_eq!(r.temp_c, Some(Celsius(45.25)));
        finish(d);
    }

    #[test]
    fn regulator_read_with_output_off_is_not_a_fault() {
        let mut d = dev(&[
            T::write_read(A, vec![0x79], vec![0x41, 0x08]),
            T::write_read(A, vec![0x20], vec![0x17]),
            T::write_read(A, vec![0x88], l11(12.0)),
            T::write_read(A, vec![0x8B], vec![0x00, 0x00]),
            T::write_read(A, vec![0x8C], l11(0.0)),
            T::write_read(A, vec![0x8D], l11(30.0)),
        ]);
        let r = Regulator::read(&mut d, Timestamp(0)).unwrap();
        assert_eq!(r.vout_mv, Some(Millivolts(0.0)));
        assert_eq!(r.power_w, Some(Watts(0.0)));
        finish(d);
    }

    #[test]
    fn regulator_read_fault_clears_and_reports_without_measuring() {
        let mut d = dev(&[
            T::write_read(A, vec![0x79], vec![0x14, 0x40]), // IOUT_OC + TEMPERATURE + IOUT_POUT
            T::write(A, vec![0x03]),
        ]);
        let err = Regulator::read(&mut d, Timestamp(0)).unwrap_err();
        match err {
            DeviceError::Fault(msg) => {
                assert!(msg.contains("IOUT_OC_FAULT"), "{msg}");
                assert!(msg.contains("TEMPERATURE"), "{msg}");
            }
            other => panic!("expected Fault, got {other:?}"),
        }
        finish(d);
    }

    #[test]
    fn regulator_read_implausible_value_maps_to_implausible() {
        let mut d = dev(&[
            T::write_read(A, vec![0x79], vec![0x00, 0x00]),
            T::write_read(A, vec![0x20], vec![0x17]),
            T::write_read(A, vec![0x88], l11(100.0)),
        ]);
        assert!(matches!(
            Regulator::read(&mut d, Timestamp(0)),
            Err(DeviceError::Implausible(_))
        ));
        finish(d);
    }

    #[test]
    fn regulator_seam_errors() {
        let mut d = dev(&[
            T::write_read(A, vec![0x79], vec![0, 0]).with_error(nack()),
            T::write(A, vec![0x01, 0x80]).with_error(ErrorKind::Other),
        ]);
        assert_eq!(
            Regulator::read(&mut d, Timestamp(0)),
            Err(DeviceError::Absent)
        );
        assert!(matches!(
            Regulator::set_enabled(&mut d, true, Timestamp(0)),
            Err(DeviceError::Bus(_))
        ));
        // Out-of-range VOUT through the seam: a refusal, no traffic.
        assert!(matches!(
            Regulator::set_vout(&mut d, Millivolts(2500.0), Timestamp(0)),
            Err(DeviceError::Fault(_))
        ));
        finish(d);
    }

    #[test]
    fn regulator_seam_set_vout_and_enable() {
        let mut d = dev(&[
            T::write_read(A, vec![0x20], vec![0x17]),
            T::write(A, vec![0x21, 0x4D, 0x02]), // 1150 mV -> 588.8 -> 589 = 0x024D
            T::write(A, vec![0x01, 0x80]),
        ]);
        Regulator::set_vout(&mut d, Millivolts(1150.0), Timestamp(0)).unwrap();
        Regulator::set_enabled(&mut d, true, Timestamp(0)).unwrap();
        finish(d);
    }
}
