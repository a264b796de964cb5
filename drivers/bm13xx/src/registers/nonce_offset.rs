//! CHIP_NONCE_OFFSET (0x0C): where each chip of a BM1370 chain starts its
//! nonce sweep, so the chips of a chain hash disjoint slices.
//!
//! ```text
//!  31       30                   16 15              0
//! +--------+-----------------------+-----------------+
//! | enable |         zero          |      offset     |
//! +--------+-----------------------+-----------------+
//! ```
//!
//! The 16-bit offset seeds bits 24-9 of every core's nonce counter (in the
//! nonce's most-significant-byte-first reading, see
//! [`crate::response::NonceResponse::nonce_fields`]). The S21 Pro's firmware
//! divides the 16-bit space evenly: chip `i` of `n` gets
//! `ceil(i x 65536 / n)` (0x0000, 0x03F1, ..., 0xFC10 for 65 chips).

use crate::error::RegisterError;
use crate::registers::hcn::MAX_CHAIN_LEN;

/// The enable bit.
pub const CHIP_NONCE_OFFSET_ENABLE: u32 = 1 << 31;

fn check_chain_len(chain_len: u16) -> Result<u64, RegisterError> {
    if chain_len == 0 || chain_len > MAX_CHAIN_LEN {
        Err(RegisterError::InvalidChainLength(chain_len))
    } else {
        Ok(u64::from(chain_len))
    }
}

/// The register value for chip `index` (0-based, in address order) of a chain
/// of `chain_len` chips.
///
/// # Errors
/// [`RegisterError::InvalidChainLength`] outside 1..=256,
/// [`RegisterError::ChipIndexOutOfRange`] if `index >= chain_len`.
pub fn chip_nonce_offset(index: u16, chain_len: u16) -> Result<u32, RegisterError> {
    let chips = check_chain_len(chain_len)?;
    if index >= chain_len {
        return Err(RegisterError::ChipIndexOutOfRange { index, chain_len });
    }
    let offset = (u64::from(index) << 16).div_ceil(chips);
    // index < chain_len keeps the offset below 65536.
    Ok(CHIP_NONCE_OFFSET_ENABLE | u32::try_from(offset & 0xFFFF).unwrap_or(0))
}

/// The offset a register value sets, or `None` if its enable bit is clear.
#[must_use]
pub const fn nonce_offset_from_register(value: u32) -> Option<u16> {
    if value & CHIP_NONCE_OFFSET_ENABLE == 0 {
        None
    } else {
        Some(value as u16)
    }
}

/// Which chip (0-based index) of an evenly offset chain a nonce came from:
/// the chip whose offset range holds the nonce's counter bits 24-9.
/// `nonce` is the header value ([`crate::response::NonceResponse::nonce`]).
///
/// Exact for nonces found before a core's counter wraps past its slice;
/// a wrapped counter attributes to the wrong chip (the chips stamp no id).
///
/// # Errors
/// [`RegisterError::InvalidChainLength`] outside 1..=256.
pub fn chip_index_for_nonce(nonce: u32, chain_len: u16) -> Result<u16, RegisterError> {
    let chips = check_chain_len(chain_len)?;
    let counter_high = u64::from((nonce.swap_bytes() >> 9) & 0xFFFF);
    // floor(v * n / 65536) < n <= 256.
    Ok(u16::try_from((counter_high * chips) >> 16).unwrap_or(u16::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s21_pro_offsets() {
        assert_eq!(chip_nonce_offset(0, 65), Ok(0x8000_0000));
        assert_eq!(chip_nonce_offset(1, 65), Ok(0x8000_03F1));
        assert_eq!(chip_nonce_offset(64, 65), Ok(0x8000_FC10));
        assert_eq!(nonce_offset_from_register(0x8000_FC10), Some(0xFC10));
        assert_eq!(nonce_offset_from_register(0x0000_FC10), None);
    }

    #[test]
    fn attribution_inverts_the_offsets() {
        for chain_len in 1..=MAX_CHAIN_LEN {
            for index in 0..chain_len {
                let offset = u32::from(
                    nonce_offset_from_register(chip_nonce_offset(index, chain_len).unwrap())
                        .unwrap(),
                );
                let next = if index + 1 == chain_len {
                    0x1_0000
                } else {
                    u32::from(
                        nonce_offset_from_register(
                            chip_nonce_offset(index + 1, chain_len).unwrap(),
                        )
                        .unwrap(),
                    )
                };
                // First and last counter value inside this chip's slice, placed
                // in bits 24-9 of the fields reading, converted to header order.
                for counter in [offset, next - 1] {
                    let fields = counter << 9 | 0x1FF;
                    let nonce = fields.swap_bytes();
                    assert_eq!(
                        chip_index_for_nonce(nonce, chain_len),
                        Ok(index),
                        "{index}/{chain_len}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_inputs() {
        assert_eq!(
            chip_nonce_offset(0, 0),
            Err(RegisterError::InvalidChainLength(0))
        );
        assert_eq!(
            chip_nonce_offset(5, 5),
            Err(RegisterError::ChipIndexOutOfRange {
                index: 5,
                chain_len: 5
            })
        );
        assert_eq!(
            chip_index_for_nonce(0, 300),
            Err(RegisterError::InvalidChainLength(300))
        );
    }
}
