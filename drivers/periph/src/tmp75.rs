//! TI TMP75, the LM75 family, and TI TMP1075 digital thermometers.
//!
//! All share the LM75 register map at addresses 0x48..=0x4F (set by the
//! A2..A0 pins; the TMP1075 sits at 0x4A on Bitaxe boards):
//!
//! * 0x00 temperature: 16 bits, most significant byte first, two's
//!   complement, left-justified: the top 12 bits are the reading at
//!   0.0625 °C per LSB (i.e. the 16-bit word / 256 = °C). Parts at a
//!   lower resolution pad with zeros (TMP75) or leave the low bits
//!   undefined (original LM75: 9 bits), so the driver masks the bits the
//!   variant does not deliver.
//! * 0x01 configuration. TMP75: one byte; bits 6..5 (R1 R0) select 9, 10,
//!   11 or 12 bits. TMP1075: always 12 bits; its configuration register is
//!   16 bits wide and R1 R0 select the conversion *rate* instead
//!   (unverified from memory of the datasheet), so this driver does not
//!   write it. LM75: fixed 9 bits.
//!
//! Range: -55..=125 °C for all three (datasheet operating range); codes
//! outside it are errors.

use crate::plausibility::{Plausibility, PlausibilityError};
use embedded_hal::i2c::I2c;
use hearth_core::peripherals::{DeviceError, Thermometer};
use hearth_core::time::Timestamp;
use hearth_core::units::Celsius;

/// Lowest address of the family (A2..A0 = 000).
pub const ADDRESS_MIN: u8 = 0x48;
/// Highest address of the family (A2..A0 = 111).
pub const ADDRESS_MAX: u8 = 0x4F;
/// Where the TMP1075 sits on Bitaxe boards.
pub const TMP1075_BITAXE_ADDRESS: u8 = 0x4A;

/// Register pointers.
pub mod reg {
    pub const TEMPERATURE: u8 = 0x00;
    pub const CONFIG: u8 = 0x01;
}

/// The measurable range, °C.
pub const RANGE_C: (f64, f64) = (-55.0, 125.0);

const RESOLUTION_MASK: u8 = 0b0110_0000;

/// Which member of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Original LM75 and clones: 9 bits (0.5 °C).
    Lm75,
    /// TI TMP75: 9..=12 bits, selectable.
    Tmp75,
    /// TI TMP1075: 12 bits fixed.
    Tmp1075,
}

impl Variant {
    /// Mask of the temperature word bits this variant delivers at most.
    fn temperature_mask(self) -> u16 {
        match self {
            Variant::Lm75 => 0xFF80,
            Variant::Tmp75 | Variant::Tmp1075 => 0xFFF0,
        }
    }
}

/// TMP75 conversion resolution (config bits 6..5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// 0.5 °C, ~27.5 ms conversion (power-on default).
    Bits9,
    /// 0.25 °C, ~55 ms.
    Bits10,
    /// 0.125 °C, ~110 ms.
    Bits11,
    /// 0.0625 °C, ~220 ms.
    Bits12,
}

impl Resolution {
    fn bits(self) -> u8 {
        match self {
            Resolution::Bits9 => 0b00 << 5,
            Resolution::Bits10 => 0b01 << 5,
            Resolution::Bits11 => 0b10 << 5,
            Resolution::Bits12 => 0b11 << 5,
        }
    }

    fn from_config(config: u8) -> Resolution {
        match (config & RESOLUTION_MASK) >> 5 {
            0b00 => Resolution::Bits9,
            0b01 => Resolution::Bits10,
            0b10 => Resolution::Bits11,
            _ => Resolution::Bits12,
        }
    }
}

/// TMP75-family errors.
#[derive(Debug, thiserror::Error)]
pub enum Error<E> {
    #[error("I2C error: {0:?}")]
    I2c(E),
    #[error(transparent)]
    Implausible(#[from] PlausibilityError),
    #[error("operation not supported by {0:?}")]
    Unsupported(Variant),
}

impl<E: embedded_hal::i2c::Error> From<Error<E>> for DeviceError {
    fn from(e: Error<E>) -> DeviceError {
        match e {
            Error::I2c(bus) => crate::bus_error(&bus),
            Error::Implausible(p) => p.into(),
            Error::Unsupported(_) => DeviceError::Fault(e.to_string()),
        }
    }
}

/// A TMP75 / LM75 / TMP1075 on an I2C bus.
#[derive(Debug)]
pub struct Tmp75<I2C> {
    i2c: I2C,
    address: u8,
    variant: Variant,
    name: String,
    plausibility: Plausibility,
}

impl<I2C, E> Tmp75<I2C>
where
    I2C: I2c<Error = E>,
{
    /// A TMP75 at `address` (0x48..=0x4F). No bus traffic.
    pub fn new(i2c: I2C, address: u8) -> Self {
        Self::new_variant(i2c, address, Variant::Tmp75)
    }

    /// A TMP1075 at `address` (0x4A on Bitaxe boards).
    pub fn new_tmp1075(i2c: I2C, address: u8) -> Self {
        Self::new_variant(i2c, address, Variant::Tmp1075)
    }

    /// An LM75 (9-bit) at `address`.
    pub fn new_lm75(i2c: I2C, address: u8) -> Self {
        Self::new_variant(i2c, address, Variant::Lm75)
    }

    pub fn new_variant(i2c: I2C, address: u8, variant: Variant) -> Self {
        Tmp75 {
            i2c,
            address,
            variant,
            name: format!("{variant:?}@{address:#04x}").to_lowercase(),
            plausibility: Plausibility::for_range(RANGE_C.0, RANGE_C.1),
        }
    }

    /// Give the bus back.
    pub fn destroy(self) -> I2C {
        self.i2c
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Set the name the `Thermometer` seam reports.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Replace the plausibility filter used by the `Thermometer` seam
    /// (e.g. a narrower range for room air).
    pub fn with_plausibility(mut self, plausibility: Plausibility) -> Self {
        self.plausibility = plausibility;
        self
    }

    /// The raw temperature word (register 0x00, MSB first).
    pub fn read_temperature_raw(&mut self) -> Result<u16, Error<E>> {
        let mut buf = [0u8; 2];
        self.i2c
            .write_read(self.address, &[reg::TEMPERATURE], &mut buf)
            .map_err(Error::I2c)?;
        Ok(u16::from_be_bytes(buf))
    }

    /// The temperature in °C; codes outside -55..=125 °C are errors.
    pub fn read_temperature_celsius(&mut self) -> Result<Celsius, Error<E>> {
        let raw = self.read_temperature_raw()?;
        decode(raw, self.variant)
    }

    /// The configuration register (0x01, first byte).
    pub fn read_config(&mut self) -> Result<u8, Error<E>> {
        let mut buf = [0u8; 1];
        self.i2c
            .write_read(self.address, &[reg::CONFIG], &mut buf)
            .map_err(Error::I2c)?;
        Ok(buf[0])
    }

    /// TMP75 only: read the resolution from the configuration register.
    pub fn read_resolution(&mut self) -> Result<Resolution, Error<E>> {
        self.require_tmp75()?;
        Ok(Resolution::from_config(self.read_config()?))
    }

    /// TMP75 only: set the resolution (read-modify-write of bits 6..5 of
    /// the configuration register; other bits are kept).
    pub fn set_resolution(&mut self, resolution: Resolution) -> Result<(), Error<E>> {
        self.require_tmp75()?;
        let config = self.read_config()?;
        let new = (config & !RESOLUTION_MASK) | resolution.bits();
        self.i2c
            .write(self.address, &[reg::CONFIG, new])
            .map_err(Error::I2c)
    }

    fn require_tmp75(&self) -> Result<(), Error<E>> {
        match self.variant {
            Variant::Tmp75 => Ok(()),
            other => Err(Error::Unsupported(other)),
        }
    }
}

/// Decode a temperature word for a variant.
pub fn decode<E>(raw: u16, variant: Variant) -> Result<Celsius, Error<E>> {
    let masked = raw & variant.temperature_mask();
    let value = f64::from(i16::from_ne_bytes(masked.to_ne_bytes())) / 256.0;
    if value < RANGE_C.0 || value > RANGE_C.1 {
        return Err(Error::Implausible(PlausibilityError::OutOfRange {
            value,
            min: RANGE_C.0,
            max: RANGE_C.1,
        }));
    }
    Ok(Celsius(value))
}

impl<I2C> Thermometer for Tmp75<I2C>
where
    I2C: I2c + Send,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn read_temp(&mut self, now: Timestamp) -> Result<Celsius, DeviceError> {
        let t = self.read_temperature_celsius().map_err(DeviceError::from)?;
        Ok(self.plausibility.check(t, now)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const A: u8 = 0x48;

    fn temp(bytes: [u8; 2]) -> T {
        T::write_read(A, vec![0x00], bytes.to_vec())
    }

    #[test]
    fn reads_register_0_msb_first() {
        let mut d = Tmp75::new(
            Mock::new(&[
                temp([0x19, 0x00]), // 25.0
                temp([0x19, 0x90]), // 25.5625
                temp([0x00, 0x10]), // 0.0625
                temp([0x7D, 0x00]), // 125.0
            ]),
            A,
        );
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(25.0));
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(25.5625));
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(0.0625));
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(125.0));
        d.destroy().done();
    }

    #[test]
    fn negative_temperatures() {
        let mut d = Tmp75::new(
            Mock::new(&[
                temp([0xFF, 0xF0]), // -0.0625
                temp([0xE7, 0x00]), // -25.0
                temp([0xC9, 0x00]), // -55.0
                temp([0xFC, 0x90]), // -3.4375
            ]),
            A,
        );
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(-0.0625));
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(-25.0));
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(-55.0));
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(-3.4375));
        d.destroy().done();
    }

    #[test]
    fn out_of_range_codes_are_errors() {
        let mut d = Tmp75::new_tmp1075(
            Mock::new(&[
                T::write_read(0x4A, vec![0x00], vec![0x7F, 0xF0]), // 127.9375
                T::write_read(0x4A, vec![0x00], vec![0x80, 0x00]), // -128
            ]),
            TMP1075_BITAXE_ADDRESS,
        );
        assert!(matches!(
            d.read_temperature_celsius(),
            Err(Error::Implausible(_))
        ));
        assert!(matches!(
            d.read_temperature_celsius(),
            Err(Error::Implausible(_))
        ));
        d.destroy().done();
    }

    #[test]
    fn low_nibble_ignored_and_lm75_masks_to_9_bits() {
        let mut d = Tmp75::new(Mock::new(&[temp([0x19, 0x9F])]), A);
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(25.5625));
        d.destroy().done();

        let mut d = Tmp75::new_lm75(Mock::new(&[temp([0x19, 0xFF]), temp([0xFF, 0x80])]), A);
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(25.5));
        assert_eq!(d.read_temperature_celsius().unwrap(), Celsius(-0.5));
        d.destroy().done();
    }

    #[test]
    fn raw_read_and_bus_errors() {
        let mut d = Tmp75::new(
            Mock::new(&[
                temp([0x12, 0x34]),
                T::write_read(A, vec![0x00], vec![0, 0])
                    .with_error(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)),
            ]),
            A,
        );
        assert_eq!(d.read_temperature_raw().unwrap(), 0x1234);
        assert!(matches!(
            d.read_temperature_celsius(),
            Err(Error::I2c(ErrorKind::NoAcknowledge(_)))
        ));
        d.destroy().done();
    }

    #[test]
    fn set_resolution_read_modify_write() {
        let mut d = Tmp75::new(
            Mock::new(&[
                T::write_read(A, vec![0x01], vec![0b1000_0101]), // OS, POL, SD set, 9-bit
                T::write(A, vec![0x01, 0b1110_0101]),
                T::write_read(A, vec![0x01], vec![0b0110_0000]),
                T::write_read(A, vec![0x01], vec![0b0111_1111]),
                T::write(A, vec![0x01, 0b0001_1111]),
            ]),
            A,
        );
        d.set_resolution(Resolution::Bits12).unwrap();
        assert_eq!(d.read_resolution().unwrap(), Resolution::Bits12);
        d.set_resolution(Resolution::Bits9).unwrap();
        d.destroy().done();
    }

    #[test]
    fn set_resolution_config_read_error_means_no_write() {
        let mut d = Tmp75::new(
            Mock::new(&[T::write_read(A, vec![0x01], vec![0]).with_error(ErrorKind::Bus)]),
            A,
        );
        assert!(matches!(
            d.set_resolution(Resolution::Bits11),
            Err(Error::I2c(ErrorKind::Bus))
        ));
        d.destroy().done();
    }

    #[test]
    fn resolution_unsupported_on_tmp1075_and_lm75() {
        let mut d = Tmp75::new_tmp1075(Mock::new(&[]), 0x4A);
        assert!(matches!(
            d.set_resolution(Resolution::Bits12),
            Err(Error::Unsupported(Variant::Tmp1075))
        ));
        assert!(matches!(
            d.read_resolution(),
            Err(Error::Unsupported(Variant::Tmp1075))
        ));
        d.destroy().done();
        let mut d = Tmp75::new_lm75(Mock::new(&[]), A);
        assert!(matches!(
            d.set_resolution(Resolution::Bits9),
            Err(Error::Unsupported(Variant::Lm75))
        ));
        d.destroy().done();
    }

    #[test]
    fn read_config_byte() {
        let mut d = Tmp75::new_tmp1075(
            Mock::new(&[T::write_read(0x4A, vec![0x01], vec![0x00])]),
            0x4A,
        );
        assert_eq!(d.read_config().unwrap(), 0x00);
        d.destroy().done();
    }

    #[test]
    fn thermometer_seam() {
        let mut d = Tmp75::new_tmp1075(
            Mock::new(&[
                T::write_read(0x4A, vec![0x00], vec![0x15, 0x00]), // 21.0
                T::write_read(0x4A, vec![0x00], vec![0x50, 0x00]), // 80.0 one second later
                T::write_read(0x4A, vec![0x00], vec![0x7F, 0xF0]), // out of range
                T::write_read(0x4A, vec![0x00], vec![0, 0])
                    .with_error(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)),
                T::write_read(0x4A, vec![0x00], vec![0x15, 0x80]), // 21.5
            ]),
            0x4A,
        )
        .with_name("living-room air");
        assert_eq!(Thermometer::name(&d), "living-room air");
        assert_eq!(d.read_temp(Timestamp::from_secs(0)).unwrap(), Celsius(21.0));
        assert!(matches!(
            d.read_temp(Timestamp::from_secs(1)),
            Err(DeviceError::Implausible(_))
        ));
        assert!(matches!(
            d.read_temp(Timestamp::from_secs(2)),
            Err(DeviceError::Implausible(_))
        ));
        assert_eq!(
            d.read_temp(Timestamp::from_secs(3)),
            Err(DeviceError::Absent)
        );
        assert_eq!(d.read_temp(Timestamp::from_secs(4)).unwrap(), Celsius(21.5));
        d.destroy().done();
    }

    #[test]
    fn custom_plausibility_narrows_the_seam_range() {
        // Room air: 5..=35 °C. 40 °C is a valid TMP75 code but not room air.
        let p = Plausibility::new(Celsius(5.0), Celsius(35.0), 1.0, 0.5).unwrap();
        let mut d = Tmp75::new(Mock::new(&[temp([0x28, 0x00]), temp([0x14, 0x00])]), A)
            .with_plausibility(p);
        assert_eq!(d.variant(), Variant::Tmp75);
        assert!(matches!(
            d.read_temp(Timestamp(0)),
            Err(DeviceError::Implausible(_))
        ));
        assert_eq!(d.read_temp(Timestamp(0)).unwrap(), Celsius(20.0));
        d.destroy().done();
    }

    #[test]
    fn error_type_is_std_error() {
        fn is_error<T: std::error::Error>() {}
        is_error::<Error<ErrorKind>>();
        let e: Error<ErrorKind> = Error::Unsupported(Variant::Lm75);
        assert_eq!(
            DeviceError::from(e),
            DeviceError::Fault("operation not supported by Lm75".into())
        );
    }

    #[test]
    fn default_names() {
        let d = Tmp75::new_tmp1075(Mock::new(&[]), 0x4A);
        assert_eq!(Thermometer::name(&d), "tmp1075@0x4a");
        d.destroy().done();
    }
}
