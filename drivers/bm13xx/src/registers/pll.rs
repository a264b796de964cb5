//! PLL_DIVIDER (0x08): the hash clock.
//!
//! `f = 25 MHz x fb_div / (ref_div x post_div1 x post_div2)`, with the VCO
//! running at `25 MHz x fb_div / ref_div`.
//!
//! ```text
//!  31 30 29 28 27          16 15 14 13      8 7   4 3   0
//! +--+--+--+--+--------------+-----+---------+-----+-----+
//! |LK|EN|BY|VS|    FB_DIV    |  0  | REF_DIV |PD1-1|PD2-1|
//! +--+--+--+--+--------------+-----+---------+-----+-----+
//! ```
//!
//! - LK (31): lock status, reads 1 once locked; written 0.
//! - EN (30): PLL enable, 1 in every captured write.
//! - BY (29): bypass, 0 in every captured write.
//! - VS (28): VCO range select, 1 when the VCO runs at or above 2400 MHz
//!   (capture-verified on BM1362/BM1370: 600 MHz = fb 0xC0 / ref 2 carries
//!   0x50). ESP-Miner always writes 0 here for the BM1397 (*unverified*).
//! - FB_DIV 12 bits, REF_DIV 6 bits, post dividers stored minus one.
//!
//! Known values: 56.25 MHz = `0x40A20255`, 525 MHz = `0x40A80230`, 600 MHz =
//! `0x50C00230` (BM1370 captures).
//!
//! ESP-Miner writes the BM1397's post dividers *without* the minus one; this
//! codec uses the minus-one encoding for every model (*unverified* for the
//! BM1397).

use crate::chip::ChipKind;
use crate::error::RegisterError;
use crate::freq::FreqKhz;

/// The reference crystal every BM13xx board clocks from.
pub const CRYSTAL_KHZ: u32 = 25_000;
/// VCO frequency from which the VCO-select bit must be set.
const VCO_HIGH_KHZ: u64 = 2_400_000;
/// Highest hash clock this codec will program on any model. Not a chip limit:
/// a guard against unit mistakes (Hz for kHz) turning into a 2.9 GHz write.
/// Shipping Bitaxe defaults are 485-525 MHz.
pub const MAX_HASH_FREQUENCY: FreqKhz = FreqKhz(1_000_000);

const LOCKED: u32 = 1 << 31;
const PLL_ENABLE: u32 = 1 << 30;
const VCO_SELECT: u32 = 1 << 28;

/// The divider ranges a model's PLL may be programmed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PllLimits {
    /// Smallest feedback divider.
    pub fb_div_min: u16,
    /// Largest feedback divider.
    pub fb_div_max: u16,
    /// Largest reference divider searched (captures always use 2).
    pub ref_div_max: u8,
    /// Largest post divider (3-bit fields, minus one: 1..=7).
    pub post_div_max: u8,
    /// Lowest VCO frequency, kHz.
    pub vco_min_khz: u32,
    /// Highest VCO frequency, kHz.
    pub vco_max_khz: u32,
}

impl PllLimits {
    /// Limits per model.
    ///
    /// - BM1370: fb 0xA0-0xEF (ESP-Miner), VCO 1600-3200 MHz (BM1370 factory
    ///   solver, via mujina).
    /// - BM1366/BM1368: fb 0x90-0xEB (ESP-Miner); no source gives a VCO range,
    ///   the BM1370's is assumed (*unverified*).
    /// - BM1397: fb 60-200 (ESP-Miner); VCO range assumed as above
    ///   (*unverified*).
    #[must_use]
    pub const fn for_chip(chip: ChipKind) -> PllLimits {
        let (fb_div_min, fb_div_max) = match chip {
            ChipKind::Bm1370 => (0xA0, 0xEF),
            ChipKind::Bm1366 | ChipKind::Bm1368 => (0x90, 0xEB),
            ChipKind::Bm1397 => (60, 200),
        };
        PllLimits {
            fb_div_min,
            fb_div_max,
            ref_div_max: 2,
            post_div_max: 7,
            vco_min_khz: 1_600_000,
            vco_max_khz: 3_200_000,
        }
    }

    /// Every (ref_div, post_div1, post_div2) the search tries, with
    /// post_div1 >= post_div2 (the factory solver's convention; 6 x 6 is
    /// captured at 56.25 MHz).
    fn divider_triples(self) -> impl Iterator<Item = (u8, u8, u8)> {
        let post_max = self.post_div_max;
        (1..=self.ref_div_max).flat_map(move |ref_div| {
            (1..=post_max).flat_map(move |pd1| (1..=pd1).map(move |pd2| (ref_div, pd1, pd2)))
        })
    }

    /// Feedback dividers allowed with this reference divider: the fb range
    /// intersected with the VCO range.
    fn fb_range(self, ref_div: u8) -> Option<(u64, u64)> {
        let ref_div = u64::from(ref_div);
        let crystal = u64::from(CRYSTAL_KHZ);
        let low = u64::from(self.fb_div_min)
            .max((u64::from(self.vco_min_khz) * ref_div).div_ceil(crystal));
        let high = u64::from(self.fb_div_max).min(u64::from(self.vco_max_khz) * ref_div / crystal);
        (low <= high).then_some((low, high))
    }

    /// The smallest target [`pll_for_frequency`] accepts: the lowest frequency
    /// these limits reach, rounded *up* to a kHz.
    #[must_use]
    pub fn min_frequency(self) -> FreqKhz {
        let lowest = self
            .divider_triples()
            .filter_map(|(ref_div, pd1, pd2)| {
                let (fb_low, _) = self.fb_range(ref_div)?;
                let divisor = u64::from(ref_div) * u64::from(pd1) * u64::from(pd2);
                Some((u64::from(CRYSTAL_KHZ) * fb_low).div_ceil(divisor))
            })
            .min()
            .unwrap_or(0);
        FreqKhz(u32::try_from(lowest).unwrap_or(u32::MAX))
    }
}

/// One set of PLL dividers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PllConfig {
    /// Feedback divider (12-bit field).
    pub fb_div: u16,
    /// Reference divider (6-bit field).
    pub ref_div: u8,
    /// First post divider, 1..=8 (3-bit field, stored minus one).
    pub post_div1: u8,
    /// Second post divider, 1..=8.
    pub post_div2: u8,
}

impl PllConfig {
    /// `ref_div x post_div1 x post_div2`.
    #[must_use]
    pub const fn divisor(&self) -> u32 {
        self.ref_div as u32 * self.post_div1 as u32 * self.post_div2 as u32
    }

    /// The output frequency, rounded down to a kHz.
    #[must_use]
    pub const fn frequency(&self) -> FreqKhz {
        let divisor = self.divisor();
        if divisor == 0 {
            return FreqKhz(0);
        }
        // fb_div <= 4095, so 25_000 * fb_div < 2^27: no overflow.
        FreqKhz(CRYSTAL_KHZ * self.fb_div as u32 / divisor)
    }

    /// The VCO frequency, rounded down to a kHz.
    #[must_use]
    pub const fn vco_khz(&self) -> u32 {
        if self.ref_div == 0 {
            return 0;
        }
        CRYSTAL_KHZ * self.fb_div as u32 / self.ref_div as u32
    }

    /// Whether the VCO runs at or above 2400 MHz (exact comparison).
    const fn vco_is_high(&self) -> bool {
        CRYSTAL_KHZ as u64 * self.fb_div as u64 >= VCO_HIGH_KHZ * self.ref_div as u64
    }

    /// The register word, PLL enabled, lock bit clear.
    #[must_use]
    pub const fn to_register(&self, chip: ChipKind) -> u32 {
        let vco_select = match chip {
            // ESP-Miner never sets it on the BM1397 (unverified).
            ChipKind::Bm1397 => 0,
            _ => {
                if self.vco_is_high() {
                    VCO_SELECT
                } else {
                    0
                }
            }
        };
        PLL_ENABLE
            | vco_select
            | ((self.fb_div as u32 & 0xFFF) << 16)
            | ((self.ref_div as u32 & 0x3F) << 8)
            | ((self.post_div1.saturating_sub(1) as u32 & 0x7) << 4)
            | (self.post_div2.saturating_sub(1) as u32 & 0x7)
    }

    /// Read the dividers back from a register word (lock, enable, bypass and
    /// VCO-select bits are ignored).
    ///
    /// # Errors
    /// [`RegisterError::InvalidPllRegister`] if the feedback or reference
    /// divider is zero.
    pub const fn from_register(value: u32) -> Result<PllConfig, RegisterError> {
        let fb_div = ((value >> 16) & 0xFFF) as u16;
        let ref_div = ((value >> 8) & 0x3F) as u8;
        if fb_div == 0 || ref_div == 0 {
            return Err(RegisterError::InvalidPllRegister(value));
        }
        Ok(PllConfig {
            fb_div,
            ref_div,
            post_div1: ((value >> 4) & 0x7) as u8 + 1,
            post_div2: (value & 0x7) as u8 + 1,
        })
    }
}

/// Whether a PLL register word reports lock (bit 31, read back from a chip).
#[must_use]
pub const fn pll_locked(value: u32) -> bool {
    value & LOCKED != 0
}

/// The frequency a PLL register word programs.
///
/// # Errors
/// As [`PllConfig::from_register`].
pub const fn frequency_from_register(value: u32) -> Result<FreqKhz, RegisterError> {
    match PllConfig::from_register(value) {
        Ok(config) => Ok(config.frequency()),
        Err(error) => Err(error),
    }
}

/// The dividers giving the highest frequency not above `target` within the
/// model's limits. Ties go to the lowest VCO frequency, then the smallest post
/// divider product, then the larger `post_div1` (so 525 MHz is 4 x 1, as the
/// captured firmware writes, not 2 x 2).
///
/// # Errors
/// [`RegisterError::FrequencyOutOfRange`] if `target` is above
/// [`MAX_HASH_FREQUENCY`] or below the lowest frequency the limits reach.
pub fn pll_for_frequency(chip: ChipKind, target: FreqKhz) -> Result<PllConfig, RegisterError> {
    let limits = PllLimits::for_chip(chip);
    let out_of_range = || RegisterError::FrequencyOutOfRange {
        target_khz: target.0,
        min_khz: limits.min_frequency().0,
        max_khz: MAX_HASH_FREQUENCY.0,
    };
    if target > MAX_HASH_FREQUENCY {
        return Err(out_of_range());
    }
    let crystal = u64::from(CRYSTAL_KHZ);
    let target_khz = u64::from(target.0);

    let mut best: Option<PllConfig> = None;
    for (ref_div, pd1, pd2) in limits.divider_triples() {
        let Some((fb_low, fb_high)) = limits.fb_range(ref_div) else {
            continue;
        };
        let divisor = u64::from(ref_div) * u64::from(pd1) * u64::from(pd2);
        // Largest fb with crystal * fb / divisor <= target.
        let fb = (target_khz * divisor / crystal).min(fb_high);
        if fb < fb_low {
            continue;
        }
        let candidate = PllConfig {
            // fb <= fb_div_max (a u16).
            fb_div: u16::try_from(fb).unwrap_or(u16::MAX),
            ref_div,
            post_div1: pd1,
            post_div2: pd2,
        };
        best = Some(match best {
            Some(current) if !better(&candidate, &current) => current,
            _ => candidate,
        });
    }
    best.ok_or_else(out_of_range)
}

/// Whether `a` beats `b` under the search's ordering (exact rational
/// comparisons by cross-multiplication).
fn better(a: &PllConfig, b: &PllConfig) -> bool {
    // Frequency: fb / divisor.
    let freq_a = u64::from(a.fb_div) * u64::from(b.divisor());
    let freq_b = u64::from(b.fb_div) * u64::from(a.divisor());
    if freq_a != freq_b {
        return freq_a > freq_b;
    }
    // VCO: fb / ref.
    let vco_a = u64::from(a.fb_div) * u64::from(b.ref_div);
    let vco_b = u64::from(b.fb_div) * u64::from(a.ref_div);
    if vco_a != vco_b {
        return vco_a < vco_b;
    }
    let post_a = u16::from(a.post_div1) * u16::from(a.post_div2);
    let post_b = u16::from(b.post_div1) * u16::from(b.post_div2);
    if post_a != post_b {
        return post_a < post_b;
    }
    a.post_div1 > b.post_div1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_bm1370_ramp_endpoints() {
        for (mhz_khz, register) in [
            (56_250, 0x40A2_0255),
            (525_000, 0x40A8_0230),
            (600_000, 0x50C0_0230),
        ] {
            let config = pll_for_frequency(ChipKind::Bm1370, FreqKhz(mhz_khz)).unwrap();
            assert_eq!(
                config.to_register(ChipKind::Bm1370),
                register,
                "{mhz_khz} kHz"
            );
            assert_eq!(config.frequency(), FreqKhz(mhz_khz));
            assert_eq!(frequency_from_register(register), Ok(FreqKhz(mhz_khz)));
        }
    }

    #[test]
    fn reset_value_decodes_to_50_mhz() {
        // BM1366/BM1370 power-on PLL0 (lock bit set): fb 84, ref 1, 7 x 6.
        assert_eq!(frequency_from_register(0xC054_0165), Ok(FreqKhz(50_000)));
        assert!(pll_locked(0xC054_0165));
        assert!(!pll_locked(0x40A8_0230));
    }

    #[test]
    fn out_of_range_targets_are_errors() {
        let limits = PllLimits::for_chip(ChipKind::Bm1370);
        // 12.5 MHz x 160 / 49.
        assert_eq!(limits.min_frequency(), FreqKhz(40_817));
        assert_eq!(
            pll_for_frequency(ChipKind::Bm1370, limits.min_frequency()).map(|c| c.frequency()),
            Ok(FreqKhz(40_816))
        );
        assert!(pll_for_frequency(ChipKind::Bm1370, FreqKhz(40_816)).is_err());
        assert!(matches!(
            pll_for_frequency(ChipKind::Bm1370, FreqKhz(40_000)),
            Err(RegisterError::FrequencyOutOfRange { .. })
        ));
        assert!(matches!(
            pll_for_frequency(ChipKind::Bm1370, FreqKhz(0)),
            Err(RegisterError::FrequencyOutOfRange { .. })
        ));
        assert!(matches!(
            pll_for_frequency(ChipKind::Bm1370, FreqKhz(1_000_001)),
            Err(RegisterError::FrequencyOutOfRange { .. })
        ));
        assert!(pll_for_frequency(ChipKind::Bm1370, MAX_HASH_FREQUENCY).is_ok());
        assert_eq!(
            PllConfig::from_register(0x4000_0230),
            Err(RegisterError::InvalidPllRegister(0x4000_0230))
        );
    }

    #[test]
    fn vco_select_follows_the_2400_mhz_threshold() {
        let just_below = PllConfig {
            fb_div: 191,
            ref_div: 2,
            post_div1: 4,
            post_div2: 1,
        };
        let at = PllConfig {
            fb_div: 192,
            ..just_below
        };
        assert_eq!(just_below.to_register(ChipKind::Bm1368) >> 24, 0x40);
        assert_eq!(at.to_register(ChipKind::Bm1368) >> 24, 0x50);
        assert_eq!(at.to_register(ChipKind::Bm1397) >> 24, 0x40);
    }
}
