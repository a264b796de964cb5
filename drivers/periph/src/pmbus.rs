//! PMBus number formats (PMBus spec part II, section 7/8).
//!
//! * **LINEAR11** (a.k.a. SLINEAR11): a 16-bit word, bits 15..11 a 5-bit
//!   two's-complement exponent `N`, bits 10..0 an 11-bit two's-complement
//!   mantissa `Y`; value = `Y * 2^N`. Used by READ_VIN, READ_IOUT,
//!   READ_TEMPERATURE_1 and most other non-VOUT quantities.
//! * **ULINEAR16**: an unsigned 16-bit mantissa `V` whose exponent is not in
//!   the word but in the low five bits of VOUT_MODE (0x20); value = `V * 2^N`.
//!   Used by VOUT_COMMAND and READ_VOUT.
//!
//! PMBus words travel on the wire least significant byte first.
//!
//! Every decoder accepts any bit pattern without panicking; encoders return
//! an [`EncodeError`] for values that do not fit instead of saturating.

/// VOUT_MODE command code.
pub const VOUT_MODE: u8 = 0x20;

/// Why a value could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("value {0} is not a finite number")]
    NotFinite(f64),
    #[error("value {0} is outside the representable range")]
    OutOfRange(f64),
}

/// The smallest LINEAR11 exponent.
pub const LINEAR11_EXP_MIN: i32 = -16;
/// The largest LINEAR11 exponent.
pub const LINEAR11_EXP_MAX: i32 = 15;
const MANTISSA_MIN: i32 = -1024;
const MANTISSA_MAX: i32 = 1023;

/// Split a LINEAR11 word into (exponent, mantissa), both sign-extended.
pub fn linear11_parts(word: u16) -> (i32, i32) {
    // Reinterpret as i16 and shift arithmetically to sign-extend each field.
    let signed = i16::from_ne_bytes(word.to_ne_bytes());
    let exponent = i32::from(signed >> 11);
    let mantissa = i32::from(signed.wrapping_shl(5) >> 5);
    (exponent, mantissa)
}

/// Decode a LINEAR11 word. Total: every `u16` gives a finite value.
pub fn linear11_to_f64(word: u16) -> f64 {
    let (exponent, mantissa) = linear11_parts(word);
    f64::from(mantissa) * 2f64.powi(exponent)
}

/// Encode `value` as LINEAR11 with the finest exponent that still fits the
/// mantissa, i.e. the best precision available for that magnitude.
pub fn f64_to_linear11(value: f64) -> Result<u16, EncodeError> {
    if !value.is_finite() {
        return Err(EncodeError::NotFinite(value));
    }
    for exponent in LINEAR11_EXP_MIN..=LINEAR11_EXP_MAX {
        let m = (value / 2f64.powi(exponent)).round();
        if m >= f64::from(MANTISSA_MIN) && m <= f64::from(MANTISSA_MAX) {
            // In range by the check above, so the cast is exact.
            let mantissa = m as i32;
            let e_bits = (exponent & 0x1F) as u16;
            let m_bits = (mantissa & 0x7FF) as u16;
            return Ok((e_bits << 11) | m_bits);
        }
    }
    Err(EncodeError::OutOfRange(value))
}

/// Decode a ULINEAR16 mantissa with the exponent from VOUT_MODE.
pub fn ulinear16_to_f64(raw: u16, exponent: i8) -> f64 {
    f64::from(raw) * 2f64.powi(i32::from(exponent))
}

/// Encode `value` as ULINEAR16 with the given exponent (round to nearest).
pub fn f64_to_ulinear16(value: f64, exponent: i8) -> Result<u16, EncodeError> {
    if !value.is_finite() {
        return Err(EncodeError::NotFinite(value));
    }
    let v = (value / 2f64.powi(i32::from(exponent))).round();
    if !(0.0..=f64::from(u16::MAX)).contains(&v) {
        return Err(EncodeError::OutOfRange(value));
    }
    Ok(v as u16)
}

/// VOUT_MODE (0x20) contents. Only the linear mode is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoutMode {
    exponent: i8,
}

/// VOUT_MODE announced a data format other than ULINEAR16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unsupported VOUT_MODE {0:#04x}: only linear (ULINEAR16) mode is supported")]
pub struct UnsupportedVoutMode(pub u8);

impl VoutMode {
    /// Parse the VOUT_MODE byte: bits 7..5 are the mode (must be `000`,
    /// linear; bit 7 is the PMBus 1.3 "relative" flag, also refused), bits
    /// 4..0 the exponent as 5-bit two's complement.
    pub fn from_byte(byte: u8) -> Result<VoutMode, UnsupportedVoutMode> {
        if byte & 0xE0 != 0 {
            return Err(UnsupportedVoutMode(byte));
        }
        let exponent = i8::from_ne_bytes([byte << 3]) >> 3;
        Ok(VoutMode { exponent })
    }

    /// A linear VOUT_MODE with the given exponent (-16..=15).
    pub fn linear(exponent: i8) -> Option<VoutMode> {
        (-16..=15)
            .contains(&exponent)
            .then_some(VoutMode { exponent })
    }

    pub fn exponent(self) -> i8 {
        self.exponent
    }

    /// The byte as it appears on the bus.
    pub fn to_byte(self) -> u8 {
        u8::from_ne_bytes(self.exponent.to_ne_bytes()) & 0x1F
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn linear11_known_values() {
        // TI examples: 0xD3C0 -> exponent -6 (0b11010), mantissa 0x3C0 = 960 -> 15.0
        assert_eq!(linear11_parts(0xD3C0), (-6, 960));
        assert_eq!(linear11_to_f64(0xD3C0), 15.0);
        // 12 V with exponent -4: mantissa 192 -> (0b11100 << 11) | 192 = 0xE0C0
        assert_eq!(linear11_to_f64(0xE0C0), 12.0);
        // Negative mantissa: -1 * 2^0
        assert_eq!(linear11_to_f64(0x07FF), -1.0);
        // Most negative mantissa, largest exponent
        assert_eq!(linear11_to_f64(0x7C00), -1024.0 * 32768.0);
        assert_eq!(linear11_to_f64(0x0000), 0.0);
    }

    #[test]
    fn linear11_encode_picks_finest_exponent() {
        // 15.0: the finest exponent whose mantissa fits is -6 (960 * 2^-6).
        assert_eq!(f64_to_linear11(15.0), Ok(0xD3C0));
        assert_eq!(linear11_to_f64(f64_to_linear11(15.0).unwrap()), 15.0);
        assert_eq!(f64_to_linear11(0.0), Ok(0x8000)); // exponent -16, mantissa 0
        assert_eq!(f64_to_linear11(-1.0).map(linear11_to_f64), Ok(-1.0));
    }

    #[test]
    fn linear11_encode_errors() {
        assert!(f64_to_linear11(f64::NAN)
            .unwrap_err()
            .to_string()
            .contains("finite"));
        assert!(matches!(
            f64_to_linear11(f64::INFINITY),
            Err(EncodeError::NotFinite(_))
        ));
        assert!(matches!(
            f64_to_linear11(1.0e9),
            Err(EncodeError::OutOfRange(_))
        ));
        assert!(matches!(
            f64_to_linear11(-1.0e9),
            Err(EncodeError::OutOfRange(_))
        ));
    }

    #[test]
    fn ulinear16_known_values() {
        // Exponent -9 (VOUT_MODE 0x17): 1.2 V -> 614.4 -> 614 -> 1.19921875 V
        assert_eq!(f64_to_ulinear16(1.2, -9), Ok(614));
        assert_eq!(ulinear16_to_f64(614, -9), 1.19921875);
        assert_eq!(f64_to_ulinear16(1.0, -9), Ok(512));
        assert_eq!(f64_to_ulinear16(2.0, -9), Ok(1024));
        assert!(matches!(
            f64_to_ulinear16(-0.1, -9),
            Err(EncodeError::OutOfRange(_))
        ));
        assert!(matches!(
            f64_to_ulinear16(200.0, -9),
            Err(EncodeError::OutOfRange(_))
        ));
        assert!(matches!(
            f64_to_ulinear16(f64::NAN, -9),
            Err(EncodeError::NotFinite(_))
        ));
    }

    #[test]
    fn vout_mode_parses_exponent_and_refuses_other_modes() {
        assert_eq!(VoutMode::from_byte(0x17).map(VoutMode::exponent), Ok(-9));
        assert_eq!(VoutMode::from_byte(0x14).map(VoutMode::exponent), Ok(-12));
        assert_eq!(VoutMode::from_byte(0x10).map(VoutMode::exponent), Ok(-16));
        assert_eq!(VoutMode::from_byte(0x0F).map(VoutMode::exponent), Ok(15));
        assert_eq!(VoutMode::from_byte(0x00).map(VoutMode::exponent), Ok(0));
        assert_eq!(VoutMode::from_byte(0x37), Err(UnsupportedVoutMode(0x37))); // VID
        assert_eq!(VoutMode::from_byte(0x40), Err(UnsupportedVoutMode(0x40))); // direct
        assert_eq!(VoutMode::from_byte(0x97), Err(UnsupportedVoutMode(0x97))); // relative
        assert_eq!(VoutMode::linear(-9).map(VoutMode::to_byte), Some(0x17));
        assert_eq!(VoutMode::linear(16), None);
    }

    proptest! {
        #[test]
        fn linear11_decode_total(word in any::<u16>()) {
            let v = linear11_to_f64(word);
            prop_assert!(v.is_finite());
        }

        #[test]
        fn linear11_decode_encode_is_exact(word in any::<u16>()) {
            let v = linear11_to_f64(word);
            let again = f64_to_linear11(v);
            prop_assert!(again.is_ok());
            prop_assert_eq!(linear11_to_f64(again.unwrap_or(0)), v);
        }

        #[test]
        fn linear11_round_trip_within_quantisation(value in -3.3e7f64..3.3e7) {
            let word = f64_to_linear11(value);
            prop_assert!(word.is_ok(), "{} did not encode", value);
            let word = word.unwrap_or(0);
            let (exponent, _) = linear11_parts(word);
            let back = linear11_to_f64(word);
            let half_lsb = 2f64.powi(exponent - 1);
            prop_assert!((back - value).abs() <= half_lsb * (1.0 + 1e-12),
                "{} -> {:#06x} -> {} (half lsb {})", value, word, back, half_lsb);
            // Relative precision: better than 1/1000 or the finest step.
            prop_assert!((back - value).abs() <= value.abs() / 1000.0 + 2f64.powi(-17));
        }

        #[test]
        fn linear11_encode_never_panics(value in any::<f64>()) {
            let _ = f64_to_linear11(value);
        }

        #[test]
        fn ulinear16_decode_encode_is_exact(raw in any::<u16>(), exponent in -16i8..=15) {
            let v = ulinear16_to_f64(raw, exponent);
            prop_assert!(v.is_finite());
            prop_assert_eq!(f64_to_ulinear16(v, exponent), Ok(raw));
        }

        #[test]
        fn ulinear16_round_trip_within_quantisation(exponent in -16i8..=15, frac in 0.0f64..=1.0) {
            let max = f64::from(u16::MAX) * 2f64.powi(i32::from(exponent));
            let value = frac * max;
            let raw = f64_to_ulinear16(value, exponent);
            prop_assert!(raw.is_ok());
            let back = ulinear16_to_f64(raw.unwrap_or(0), exponent);
            prop_assert!((back - value).abs() <= 2f64.powi(i32::from(exponent) - 1) * (1.0 + 1e-12));
        }

        #[test]
        fn ulinear16_encode_never_panics(value in any::<f64>(), exponent in any::<i8>()) {
            let _ = f64_to_ulinear16(value, exponent);
        }

        #[test]
        fn vout_mode_never_panics(byte in any::<u8>()) {
            if let Ok(mode) = VoutMode::from_byte(byte) {
                prop_assert_eq!(mode.to_byte(), byte);
            }
        }
    }
}
