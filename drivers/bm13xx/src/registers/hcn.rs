//! HASH_COUNTING_NUMBER (0x10): how long each core sweeps nonces for one batch
//! of rolled versions, in ticks of the 25 MHz crystal. Zero halts hashing.
//! Rewrite it after every frequency change: the right value depends on the
//! hash clock.
//!
//! Reference formula (ESP-Miner's full-coverage computation):
//!
//! ```text
//! hcn = (2^32 / pow2(cores) / pow2(chips)) * 25 / f_MHz * 0.5 - 2 * 134
//! ```
//!
//! where `pow2(x)` is the smallest power of two >= x, `cores` the model's big
//! cores per chip and `chips` the chain length. Each core advances two nonces
//! per hash clock, so `slice * 25 / f / 2` ticks sweep one core's slice; the
//! 268-tick guard covers the sweep's measured overrun of its deadline (~130
//! ticks per batch).
//!
//! Because `25 / f_MHz` is exactly `ref x pd1 x pd2 / fb`, this computes
//! `floor(slice x ref x pd1 x pd2 / (2 x fb)) - 268` from the PLL dividers, in
//! integers, instead of from a rounded frequency.
//!
//! Factory firmware writes fixed, shorter values (S21 Pro 0x1EB5, S21 0x15A4,
//! S19 XP 0x151C), and a BM1370 chain split by CHIP_NONCE_OFFSET covers its
//! nonce space with the exact chain length instead of its power of two; both
//! are the driver's choice, outside this formula.

use crate::chip::ChipKind;
use crate::error::RegisterError;
use crate::registers::pll::PllConfig;

/// Ticks subtracted for the sweep's deadline overrun (reference: `2 * 134`).
pub const HCN_GUARD_TICKS: u64 = 2 * 134;

/// The largest chain the 8-bit chip address space can hold.
pub const MAX_CHAIN_LEN: u16 = 256;

/// The hash counting number for `chain_len` chips of `chip` clocked by `pll`.
///
/// # Errors
/// [`RegisterError::InvalidChainLength`] outside 1..=256,
/// [`RegisterError::InvalidPllRegister`] for a zero divider, and
/// [`RegisterError::HashCountingUnderflow`] if the guard eats the whole window
/// (or the value exceeds 32 bits).
pub fn hash_counting_number(
    chip: ChipKind,
    chain_len: u16,
    pll: &PllConfig,
) -> Result<u32, RegisterError> {
    if chain_len == 0 || chain_len > MAX_CHAIN_LEN {
        return Err(RegisterError::InvalidChainLength(chain_len));
    }
    if pll.fb_div == 0 || pll.divisor() == 0 {
        return Err(RegisterError::InvalidPllRegister(pll.to_register(chip)));
    }
    let cores_up = u64::from(chip.core_count().next_power_of_two());
    let chips_up = u64::from(chain_len.next_power_of_two());
    let slice = (1u64 << 32) / cores_up / chips_up;
    let window = slice * u64::from(pll.divisor()) / (2 * u64::from(pll.fb_div));
    window
        .checked_sub(HCN_GUARD_TICKS)
        .filter(|ticks| *ticks > 0)
        .and_then(|ticks| u32::try_from(ticks).ok())
        .ok_or(RegisterError::HashCountingUnderflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freq::FreqKhz;
    use crate::registers::pll::pll_for_frequency;

    #[test]
    fn single_bm1370_at_525_mhz() {
        let pll = pll_for_frequency(ChipKind::Bm1370, FreqKhz::from_mhz(525)).unwrap();
        // 2^32 / 128 * 25 / 525 * 0.5 = 798915.05 -> 798915 - 268.
        assert_eq!(hash_counting_number(ChipKind::Bm1370, 1, &pll), Ok(798_647));
    }

    #[test]
    fn matches_the_float_formula_across_chains_and_frequencies() {
        for chip in ChipKind::ALL {
            for chain_len in [1u16, 2, 3, 4, 65, 77, 110, 126, 128, 256] {
                for mhz in [50u32, 200, 485, 525, 600, 800] {
                    let pll = pll_for_frequency(chip, FreqKhz::from_mhz(mhz)).unwrap();
                    let f_mhz = f64::from(pll.fb_div) * 25.0 / f64::from(pll.divisor());
                    let slice = 4_294_967_296.0
                        / f64::from(chip.core_count().next_power_of_two())
                        / f64::from(chain_len.next_power_of_two());
                    let expected = (slice * 25.0 / f_mhz * 0.5).floor() - 268.0;
                    let got = hash_counting_number(chip, chain_len, &pll).unwrap();
                    assert!(
                        (f64::from(got) - expected).abs() <= 1.0,
                        "{chip:?} {chain_len} chips {mhz} MHz: {got} vs {expected}"
                    );
                }
            }
        }
    }

    #[test]
    fn faster_clocks_and_longer_chains_shorten_the_window() {
        let slow = pll_for_frequency(ChipKind::Bm1368, FreqKhz::from_mhz(400)).unwrap();
        let fast = pll_for_frequency(ChipKind::Bm1368, FreqKhz::from_mhz(600)).unwrap();
        let at = |chain, pll| hash_counting_number(ChipKind::Bm1368, chain, pll).unwrap();
        assert!(at(1, &fast) < at(1, &slow));
        assert!(at(64, &slow) < at(1, &slow));
        // 33 chips round up to 64: same window.
        assert_eq!(at(33, &slow), at(64, &slow));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let pll = pll_for_frequency(ChipKind::Bm1370, FreqKhz::from_mhz(525)).unwrap();
        assert_eq!(
            hash_counting_number(ChipKind::Bm1370, 0, &pll),
            Err(RegisterError::InvalidChainLength(0))
        );
        assert_eq!(
            hash_counting_number(ChipKind::Bm1370, 257, &pll),
            Err(RegisterError::InvalidChainLength(257))
        );
        let zero = PllConfig { fb_div: 0, ..pll };
        assert!(matches!(
            hash_counting_number(ChipKind::Bm1370, 1, &zero),
            Err(RegisterError::InvalidPllRegister(_))
        ));
        // A huge feedback divider leaves no window after the guard.
        let absurd = PllConfig {
            fb_div: 4095,
            ref_div: 1,
            post_div1: 1,
            post_div2: 1,
        };
        assert_eq!(
            hash_counting_number(ChipKind::Bm1397, 256, &absurd),
            Err(RegisterError::HashCountingUnderflow)
        );
    }
}
