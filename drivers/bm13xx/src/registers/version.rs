//! VERSION_ROLLING / MIDSTATE_CONFIG (0xA4) and rolled block versions.
//!
//! ```text
//!  31     30    29  28 27             16 15              0
//! +------+-----+------+-----------------+-----------------+
//! | auto | fix | gen  |      zero       |  version mask   |
//! +------+-----+------+-----------------+-----------------+
//! ```
//!
//! - auto (31): the chip generates midstates itself.
//! - fix (30): version fix, zero in every observation.
//! - gen (29-28): midstate generation code; 1 = 8 midstates per job on the
//!   BM1366 and later (field names from reference driver code, *unverified*).
//! - mask (15-0): rollable version bits, applied to header version bits
//!   28-13: a stratum mask shifted right by 13. `0x1FFFE000` -> `0x9000FFFF`,
//!   the value every captured host writes.
//!
//! Writing the enable also switches the chip to 11-byte responses.

use crate::error::RegisterError;

/// Auto midstate generation (bit 31) with generation code 1 (bit 28).
pub const VERSION_ROLLING_ENABLE: u32 = 0x9000_0000;
/// The BIP320 mask: every bit the chips can roll.
pub const FULL_VERSION_MASK: u32 = 0x1FFF_E000;
/// Header version bit of the register's mask bit 0 (and of a nonce
/// response's version bit 0).
pub const VERSION_BITS_SHIFT: u32 = 13;
/// What every captured host writes: enable + full mask.
pub const VERSION_ROLLING_FULL: u32 =
    VERSION_ROLLING_ENABLE | (FULL_VERSION_MASK >> VERSION_BITS_SHIFT);

/// The register value enabling version rolling over `mask` (header version
/// bits; must be non-empty and inside [`FULL_VERSION_MASK`]).
///
/// # Errors
/// [`RegisterError::InvalidVersionMask`] otherwise.
pub const fn version_rolling_register(mask: u32) -> Result<u32, RegisterError> {
    if mask == 0 || mask & !FULL_VERSION_MASK != 0 {
        return Err(RegisterError::InvalidVersionMask(mask));
    }
    Ok(VERSION_ROLLING_ENABLE | (mask >> VERSION_BITS_SHIFT))
}

/// The header-version mask a register value enables, or `None` if the auto
/// midstate bit is clear (rolling off).
#[must_use]
pub const fn version_mask_from_register(value: u32) -> Option<u32> {
    if value & (1 << 31) == 0 {
        None
    } else {
        Some((value & 0xFFFF) << VERSION_BITS_SHIFT)
    }
}

/// The block version a nonce was found with, from the job's version and the
/// 16 bits a nonce response carries: `base_version | (version_bits << 13)`
/// (the reference's and ESP-Miner's formula; the chip rolls from zero, so the
/// job's version should have the rolled bits clear).
#[must_use]
pub const fn rolled_version(base_version: u32, version_bits: u16) -> u32 {
    base_version | ((version_bits as u32) << VERSION_BITS_SHIFT)
}

/// BM1397 (host-side rolling): the version of midstate number `index`, that is
/// `base_version` with the bits under `mask` incremented `index` times,
/// carrying across gaps in the mask. Midstate 0 is the base version.
/// Matches ESP-Miner's versions for its BM1397 jobs (0x20000004 with mask
/// 0x1FFFE000 -> 0x20000004, 0x20002004, 0x20004004, 0x20006004).
#[must_use]
pub const fn midstate_version(base_version: u32, mask: u32, index: u8) -> u32 {
    if mask == 0 {
        return base_version;
    }
    let lowest_bit = mask & mask.wrapping_neg();
    // Setting every bit outside the mask makes carries skip over them.
    let rolled = (base_version | !mask).wrapping_add(lowest_bit.wrapping_mul(index as u32)) & mask;
    (base_version & !mask) | rolled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_mask_is_the_captured_value() {
        assert_eq!(VERSION_ROLLING_FULL, 0x9000_FFFF);
        assert_eq!(version_rolling_register(FULL_VERSION_MASK), Ok(0x9000_FFFF));
        assert_eq!(
            version_mask_from_register(0x9000_FFFF),
            Some(FULL_VERSION_MASK)
        );
        assert_eq!(version_mask_from_register(0x0000_FFFF), None);
    }

    #[test]
    fn partial_masks_round_trip_and_bad_masks_fail() {
        let mask = 0x00FF_E000;
        let value = version_rolling_register(mask).unwrap();
        assert_eq!(value, 0x9000_07FF);
        assert_eq!(version_mask_from_register(value), Some(mask));
        for bad in [0, 0x2000_0000, 0x0000_1000, 0xFFFF_FFFF] {
            assert_eq!(
                version_rolling_register(bad),
                Err(RegisterError::InvalidVersionMask(bad))
            );
        }
    }

    #[test]
    fn rolled_versions() {
        assert_eq!(rolled_version(0x2000_0000, 0x22F9), 0x245F_2000);
        assert_eq!(rolled_version(0x2000_0004, 0xFFFF), 0x3FFF_E004);
        assert_eq!(rolled_version(0x2000_0000, 0), 0x2000_0000);
    }

    #[test]
    fn bm1397_midstate_versions() {
        let expected = [0x2000_0004, 0x2000_2004, 0x2000_4004, 0x2000_6004];
        for (index, version) in expected.into_iter().enumerate() {
            assert_eq!(
                midstate_version(0x2000_0004, FULL_VERSION_MASK, index as u8),
                version
            );
        }
        // Carry skips the hole between the two mask bits.
        assert_eq!(midstate_version(0x0000_2000, 0x0000_A000, 1), 0x0000_8000);
        assert_eq!(midstate_version(0x1234_5678, 0, 3), 0x1234_5678);
    }
}
