//! TICKET_MASK (0x14): which nonces the chip reports.
//!
//! The chip always requires the first 32 bits of the hash to be zero (share
//! difficulty 1) and the mask adds `log2(d)` more, so at ticket difficulty `d`
//! a chip reports about `hashrate / (d x 2^32)` nonces per second. Only powers
//! of two are representable: the chip tests `hash & mask == 0`, one bit per
//! halving.
//!
//! Encoding: take the mask `d - 1` as a 32-bit word and reverse the bit order
//! *inside each byte* (byte positions stay). Difficulty 256 gives
//! `0x000000FF`, 512 gives `0x000080FF`, 1024 gives `0x0000C0FF` (mujina's
//! table and ESP-Miner's `_reverse_bits` per byte agree).

use crate::error::RegisterError;

/// The largest ticket difficulty: all 32 mask bits set.
pub const MAX_TICKET_DIFFICULTY: u64 = 1 << 32;

/// Reverse the bits of each byte of `word`, keeping byte positions.
const fn reverse_bits_in_bytes(word: u32) -> u32 {
    word.reverse_bits().swap_bytes()
}

/// The register value for ticket difficulty `difficulty`.
///
/// # Errors
/// [`RegisterError::InvalidDifficulty`] unless `difficulty` is a power of two
/// in `1..=2^32`.
pub const fn ticket_mask_for_difficulty(difficulty: u64) -> Result<u32, RegisterError> {
    if !difficulty.is_power_of_two() || difficulty > MAX_TICKET_DIFFICULTY {
        return Err(RegisterError::InvalidDifficulty(difficulty));
    }
    // difficulty - 1 < 2^32 here.
    Ok(reverse_bits_in_bytes((difficulty - 1) as u32))
}

/// The ticket difficulty a register value selects.
///
/// # Errors
/// [`RegisterError::InvalidTicketMask`] if the un-reversed mask is not of the
/// form `2^n - 1`.
pub const fn difficulty_from_ticket_mask(value: u32) -> Result<u64, RegisterError> {
    let mask = reverse_bits_in_bytes(value) as u64;
    if mask & (mask + 1) != 0 {
        return Err(RegisterError::InvalidTicketMask(value));
    }
    Ok(mask + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(ticket_mask_for_difficulty(256), Ok(0x0000_00FF));
        assert_eq!(ticket_mask_for_difficulty(512), Ok(0x0000_80FF));
        assert_eq!(ticket_mask_for_difficulty(1024), Ok(0x0000_C0FF));
        assert_eq!(ticket_mask_for_difficulty(1), Ok(0));
        assert_eq!(ticket_mask_for_difficulty(1 << 32), Ok(0xFFFF_FFFF));
        assert_eq!(difficulty_from_ticket_mask(0x0000_C0FF), Ok(1024));
    }

    #[test]
    fn every_power_of_two_round_trips() {
        for shift in 0..=32 {
            let difficulty = 1u64 << shift;
            let value = ticket_mask_for_difficulty(difficulty).unwrap();
            assert_eq!(difficulty_from_ticket_mask(value), Ok(difficulty));
        }
    }

    #[test]
    fn invalid_inputs_are_errors() {
        for bad in [0, 3, 255, 257, 1000, (1 << 33), u64::MAX] {
            assert_eq!(
                ticket_mask_for_difficulty(bad),
                Err(RegisterError::InvalidDifficulty(bad))
            );
        }
        // 0x00000001 un-reverses to 0x80 and 0x0000FF00 to 0xFF00: both have
        // clear bits below set ones, so neither is a 2^n - 1 mask.
        assert_eq!(
            difficulty_from_ticket_mask(0x0000_0001),
            Err(RegisterError::InvalidTicketMask(1))
        );
        assert_eq!(
            difficulty_from_ticket_mask(0x0000_FF00),
            Err(RegisterError::InvalidTicketMask(0xFF00))
        );
    }
}
