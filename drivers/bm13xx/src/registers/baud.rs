//! UART_BAUD (0x28, BM1366 and later): the serial link's baud rate,
//! `25 MHz / (8 x (divider + 1))`.
//!
//! ```text
//!  31  29 28  27           16 15       8 7        0
//! +------+---+---------------+----------+----------+
//! | zero | ? |     0x130     | divider  |   zero   |
//! +------+---+---------------+----------+----------+
//! ```
//!
//! - Bit 28: set by BM1362-generation firmware, clear in BM1370-generation
//!   firmware for the same rate; function unknown (*unverified*). Left clear.
//! - Bits 27-16: 0x130 in the reset value and every observed write;
//!   unexplained (bm13xx-rs reads bits 27-26 as a clock-source select, 0 =
//!   the 25 MHz crystal, and bits 23-20 as a PLL1 divider; *unverified*).
//! - Bits 15-8: the divider.
//!
//! Observed: reset `0x01301A00` (divider 26, 115,740 baud), Bitaxe
//! `0x11300200` (divider 2, 1,041,666 baud), S21 Pro `0x01300000`
//! (divider 0, 3,125,000 baud).
//!
//! The BM1397 keeps a 5-bit divider in MISC_CONTROL (0x18) bits 12-8 instead
//! (reset `0x00003A01`, divider 26, *unverified*), same formula. ESP-Miner
//! writes `0x00007A31` (divider 26) and `0x00006031` (divider 0, 3.125 Mbaud):
//! [`bm1397_misc_baud_register`] keeps those other bits (14-13, 5-4, 0;
//! meaning unknown, *unverified*) and sets the divider.

use crate::error::RegisterError;

/// The baud generator's input clock.
pub const BAUD_CLOCK_HZ: u32 = 25_000_000;
/// Register value out of reset.
pub const UART_BAUD_RESET: u32 = 0x0130_1A00;
/// The bits this codec keeps as observed (bits 27-16 = 0x130).
const OBSERVED_UPPER_BITS: u32 = 0x0130_0000;
/// Divider field position.
const DIVIDER_SHIFT: u32 = 8;

/// Fastest rate (divider 0): 3,125,000 baud.
pub const MAX_BAUD: u32 = baud_for_divider(0);
/// Slowest rate (divider 255): 12,207 baud.
pub const MIN_BAUD: u32 = baud_for_divider(u8::MAX);

/// The baud rate a divider gives, rounded down.
#[must_use]
pub const fn baud_for_divider(divider: u8) -> u32 {
    BAUD_CLOCK_HZ / (8 * (divider as u32 + 1))
}

/// The divider whose rate is nearest `baud` (the chip's rate is then
/// [`baud_for_divider`]; set the host UART to that, not to the request).
///
/// # Errors
/// [`RegisterError::BaudOutOfRange`] outside [`MIN_BAUD`]..=[`MAX_BAUD`].
pub const fn divider_for_baud(baud: u32) -> Result<u8, RegisterError> {
    if baud < MIN_BAUD || baud > MAX_BAUD {
        return Err(RegisterError::BaudOutOfRange {
            requested: baud,
            min: MIN_BAUD,
            max: MAX_BAUD,
        });
    }
    // Nearest in *rate*, not in period: rounding `clock / (8 * baud)` picks
    // the divider nearest in 1/baud, which between two dividers' rates
    // switches at their harmonic mean instead of their arithmetic mean
    // (1,250,001 baud got divider 1 = 1,562,500, though divider 2 =
    // 1,041,666 is nearer). So take the two dividers around the request
    // and compare the rates they really give, in integers.
    let eight_baud = 8 * baud as u64;
    // floor(clock / (8 * baud)) is in 1..=256 for an in-range baud; the
    // faster neighbour is that many steps, the slower one a step more.
    let fast_steps = BAUD_CLOCK_HZ as u64 / eight_baud;
    if fast_steps == 0 || fast_steps > u8::MAX as u64 + 1 {
        return Err(RegisterError::BaudOutOfRange {
            requested: baud,
            min: MIN_BAUD,
            max: MAX_BAUD,
        });
    }
    let fast = (fast_steps - 1) as u8;
    if fast == u8::MAX {
        return Ok(fast);
    }
    let slow = fast + 1;
    let fast_error = baud_for_divider(fast).abs_diff(baud);
    let slow_error = baud.abs_diff(baud_for_divider(slow));
    // A tie goes to the faster rate (the smaller divider).
    if slow_error < fast_error {
        Ok(slow)
    } else {
        Ok(fast)
    }
}

/// The register value selecting `divider` (bit 28 clear, observed upper bits).
#[must_use]
pub const fn uart_baud_register(divider: u8) -> u32 {
    OBSERVED_UPPER_BITS | ((divider as u32) << DIVIDER_SHIFT)
}

/// Largest BM1397 divider (5 bits): 97,656 baud.
pub const BM1397_MAX_DIVIDER: u8 = 31;
/// The MISC_CONTROL bits ESP-Miner writes around the BM1397's divider.
const BM1397_MISC_BAUD_BASE: u32 = 0x0000_6031;

/// The BM1397 MISC_CONTROL value selecting `divider` (ESP-Miner's other bits).
///
/// # Errors
/// [`RegisterError::BaudOutOfRange`] for a divider above 31 (the rate the
/// 5-bit field cannot reach is reported).
pub const fn bm1397_misc_baud_register(divider: u8) -> Result<u32, RegisterError> {
    if divider > BM1397_MAX_DIVIDER {
        return Err(RegisterError::BaudOutOfRange {
            requested: baud_for_divider(divider),
            min: baud_for_divider(BM1397_MAX_DIVIDER),
            max: MAX_BAUD,
        });
    }
    Ok(BM1397_MISC_BAUD_BASE | ((divider as u32) << DIVIDER_SHIFT))
}

/// The divider a BM1397 MISC_CONTROL value selects (bits 12-8).
#[must_use]
pub const fn bm1397_divider_from_misc(value: u32) -> u8 {
    ((value >> DIVIDER_SHIFT) & 0x1F) as u8
}

/// The divider field of a register value.
#[must_use]
pub const fn divider_from_register(value: u32) -> u8 {
    ((value >> DIVIDER_SHIFT) & 0xFF) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_values() {
        assert_eq!(divider_from_register(UART_BAUD_RESET), 26);
        assert_eq!(baud_for_divider(26), 115_740);
        assert_eq!(divider_from_register(0x1130_0200), 2);
        assert_eq!(baud_for_divider(2), 1_041_666);
        assert_eq!(uart_baud_register(0), 0x0130_0000);
        assert_eq!(uart_baud_register(26), UART_BAUD_RESET);
        assert_eq!(MAX_BAUD, 3_125_000);
        assert_eq!(MIN_BAUD, 12_207);
    }

    #[test]
    fn nearest_divider() {
        assert_eq!(divider_for_baud(115_740), Ok(26));
        assert_eq!(divider_for_baud(115_200), Ok(26));
        assert_eq!(divider_for_baud(1_000_000), Ok(2));
        assert_eq!(divider_for_baud(3_125_000), Ok(0));
        assert_eq!(divider_for_baud(MIN_BAUD), Ok(255));
    }

    /// The request proptest found under qemu aarch64 (the bug was not the
    /// platform: the old code rounded in the period domain and failed for
    /// ~355,000 of the 3.1 million in-range rates on any machine).
    #[test]
    fn regression_1250001_goes_to_the_nearer_rate() {
        // Divider 1 = 1,562,500 (312,499 away), divider 2 = 1,041,666 (208,335 away).
        assert_eq!(divider_for_baud(1_250_001), Ok(2));
        // Between the harmonic mean (1,250,000) and the arithmetic mean
        // (1,302,083) of those two rates the slower one is nearer.
        assert_eq!(divider_for_baud(1_302_082), Ok(2));
        assert_eq!(divider_for_baud(1_302_084), Ok(1));
        // Exactly halfway (1,302,083: 260,417 either way) ties to the faster rate.
        assert_eq!(divider_for_baud(1_302_083), Ok(1));
    }

    /// Every in-range rate is no farther from its divider's rate than from
    /// either neighbour's (rates fall monotonically with the divider, so
    /// that makes it the nearest of all).
    #[test]
    fn every_rate_gets_the_nearest_divider() {
        for baud in MIN_BAUD..=MAX_BAUD {
            let divider = divider_for_baud(baud).unwrap();
            let error = baud_for_divider(divider).abs_diff(baud);
            for other in [divider.checked_sub(1), divider.checked_add(1)]
                .into_iter()
                .flatten()
            {
                assert!(
                    error <= baud_for_divider(other).abs_diff(baud),
                    "baud {baud}: divider {divider}, {other} is nearer"
                );
            }
        }
        // And against a brute force over all 256 dividers, on a stride.
        for baud in (MIN_BAUD..=MAX_BAUD).step_by(997) {
            let divider = divider_for_baud(baud).unwrap();
            let best = (0..=u8::MAX)
                .map(|d| baud_for_divider(d).abs_diff(baud))
                .min()
                .unwrap();
            assert_eq!(
                baud_for_divider(divider).abs_diff(baud),
                best,
                "baud {baud}"
            );
        }
    }

    #[test]
    fn every_divider_round_trips() {
        for divider in 0..=u8::MAX {
            assert_eq!(divider_for_baud(baud_for_divider(divider)), Ok(divider));
            assert_eq!(divider_from_register(uart_baud_register(divider)), divider);
        }
    }

    #[test]
    fn bm1397_misc_values_match_esp_miner() {
        assert_eq!(bm1397_misc_baud_register(26), Ok(0x0000_7A31));
        assert_eq!(bm1397_misc_baud_register(0), Ok(0x0000_6031));
        assert_eq!(bm1397_divider_from_misc(0x0000_3A01), 26);
        for divider in 0..=BM1397_MAX_DIVIDER {
            let value = bm1397_misc_baud_register(divider).unwrap();
            assert_eq!(bm1397_divider_from_misc(value), divider);
        }
        assert!(bm1397_misc_baud_register(32).is_err());
    }

    #[test]
    fn out_of_range() {
        for bad in [0, 1, MIN_BAUD - 1, MAX_BAUD + 1, u32::MAX] {
            assert_eq!(
                divider_for_baud(bad),
                Err(RegisterError::BaudOutOfRange {
                    requested: bad,
                    min: MIN_BAUD,
                    max: MAX_BAUD
                })
            );
        }
    }
}
