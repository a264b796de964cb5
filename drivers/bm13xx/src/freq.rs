//! Hash-clock frequencies and frequency ramps.
//!
//! Frequencies are integer kilohertz ([`FreqKhz`]): exact for every value the
//! firmware asks for (6.25 MHz ramp steps, 56.25 MHz start, 525 MHz targets)
//! and comparable without float rounding. A PLL output that is not a whole
//! number of kHz (25 MHz x fb / 42, say) is rounded *down*, so an achieved
//! frequency never reads as higher than it is.

/// A frequency in kilohertz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FreqKhz(pub u32);

impl FreqKhz {
    /// Whole megahertz (saturating at `u32::MAX` kHz).
    #[must_use]
    pub const fn from_mhz(mhz: u32) -> FreqKhz {
        FreqKhz(mhz.saturating_mul(1000))
    }

    /// The value in kHz.
    #[must_use]
    pub const fn khz(self) -> u32 {
        self.0
    }

    /// The value in MHz as a float, for display and power models.
    #[must_use]
    pub fn as_mhz_f32(self) -> f32 {
        // Exact for every realistic value (< 2^24 kHz = 16.7 GHz).
        self.0 as f32 / 1000.0
    }
}

impl core::fmt::Display for FreqKhz {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:03} MHz", self.0 / 1000, self.0 % 1000)
    }
}

/// Step between ramp points: 6.25 MHz, as ESP-Miner and factory firmware ramp.
pub const RAMP_STEP: FreqKhz = FreqKhz(6_250);

/// The frequencies to program, in order, to move the hash clock from `from` to
/// `to`: `from`, then every multiple of [`RAMP_STEP`] strictly between the two,
/// then `to`. No two consecutive points are more than one step apart. Going
/// down works the same way. `from == to` yields the single point.
///
/// Aligning the inner points to the 6.25 MHz grid matches what the captured
/// firmware writes (56.25, 62.5, ... MHz) and keeps each point exactly
/// reachable by the PLL on common dividers.
#[must_use]
pub const fn frequency_ramp(from: FreqKhz, to: FreqKhz) -> FrequencyRamp {
    FrequencyRamp {
        next: Some(from.0),
        target: to.0,
    }
}

/// Iterator returned by [`frequency_ramp`].
#[derive(Debug, Clone)]
pub struct FrequencyRamp {
    next: Option<u32>,
    target: u32,
}

impl FrequencyRamp {
    /// The point after `current` on the way to the target.
    fn after(&self, current: u32) -> Option<u32> {
        let step = u64::from(RAMP_STEP.0);
        let current_wide = u64::from(current);
        let target = u64::from(self.target);
        let following = if target > current_wide {
            // Next grid point strictly above `current`, capped at the target.
            ((current_wide / step + 1) * step).min(target)
        } else if target < current_wide {
            // Next grid point strictly below `current`, floored at the target.
            (((current_wide - 1) / step) * step).max(target)
        } else {
            return None;
        };
        // `following` lies between current and target, both u32.
        u32::try_from(following).ok()
    }
}

impl Iterator for FrequencyRamp {
    type Item = FreqKhz;

    fn next(&mut self) -> Option<FreqKhz> {
        let current = self.next?;
        self.next = self.after(current);
        Some(FreqKhz(current))
    }
}

impl core::iter::FusedIterator for FrequencyRamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_up_from_the_firmware_start_point() {
        let ramp: Vec<u32> = frequency_ramp(FreqKhz(56_250), FreqKhz::from_mhz(525))
            .map(FreqKhz::khz)
            .collect();
        assert_eq!(ramp.first(), Some(&56_250));
        assert_eq!(ramp.get(1), Some(&62_500));
        assert_eq!(ramp.last(), Some(&525_000));
        // 56.25 -> 525 is exactly 75 steps of 6.25 MHz.
        assert_eq!(ramp.len(), 76);
        assert!(ramp.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 6_250));
    }

    #[test]
    fn ramp_down_and_unaligned_ends() {
        let ramp: Vec<u32> = frequency_ramp(FreqKhz(500_001), FreqKhz(480_000))
            .map(FreqKhz::khz)
            .collect();
        assert_eq!(
            ramp,
            vec![500_001, 500_000, 493_750, 487_500, 481_250, 480_000]
        );
        let ramp: Vec<u32> = frequency_ramp(FreqKhz(100), FreqKhz(3_000))
            .map(FreqKhz::khz)
            .collect();
        assert_eq!(ramp, vec![100, 3_000]);
    }

    #[test]
    fn ramp_to_itself_is_one_point_and_extremes_do_not_overflow() {
        assert_eq!(frequency_ramp(FreqKhz(5), FreqKhz(5)).count(), 1);
        let top = frequency_ramp(FreqKhz(u32::MAX - 10), FreqKhz(u32::MAX)).count();
        assert_eq!(top, 2);
        let bottom: Vec<u32> = frequency_ramp(FreqKhz(7_000), FreqKhz(0))
            .map(FreqKhz::khz)
            .collect();
        assert_eq!(bottom, vec![7_000, 6_250, 0]);
    }

    #[test]
    fn display() {
        assert_eq!(FreqKhz(56_250).to_string(), "56.250 MHz");
        assert!((FreqKhz(525_000).as_mhz_f32() - 525.0).abs() < f32::EPSILON);
    }
}
