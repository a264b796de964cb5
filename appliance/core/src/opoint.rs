//! Operating points: which frequency and voltage a board runs at, and how the
//! board picks one for a power target.
//!
//! Why this lives in core: the control layer thinks in watts of heat, the
//! chips think in megahertz and millivolts. The translation (a V/f table plus a
//! CMOS power model) is shared by the real board driver and the simulator, so
//! both answer "what will 600 W look like" the same way.

use crate::units::{FreqMhz, GhPerSec, Millivolts, Watts};
use serde::{Deserialize, Serialize};

/// PLL frequencies move in steps of this size (BM13xx ramp granularity).
pub const FREQ_STEP_MHZ: f64 = 6.25;

/// A frequency and the core voltage to run it at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub freq_mhz: FreqMhz,
    pub voltage_mv: Millivolts,
}

/// One row of a V/f table: the lowest voltage at which `freq_mhz` is stable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VfPoint {
    pub freq_mhz: f64,
    pub min_voltage_mv: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VfTableError {
    #[error("a V/f table needs at least two points")]
    TooFewPoints,
    #[error("V/f table frequencies must strictly increase (row {0})")]
    NotIncreasing(usize),
    #[error("V/f table voltages must not decrease as frequency rises (row {0})")]
    VoltageDecreases(usize),
    #[error("V/f table row {0} has a non-positive or non-finite value")]
    BadValue(usize),
}

/// Minimum stable voltage as a function of frequency, linear between rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<VfPoint>", into = "Vec<VfPoint>")]
pub struct VfTable {
    points: Vec<VfPoint>,
}

impl TryFrom<Vec<VfPoint>> for VfTable {
    type Error = VfTableError;
    fn try_from(points: Vec<VfPoint>) -> Result<VfTable, VfTableError> {
        VfTable::new(points)
    }
}

impl From<VfTable> for Vec<VfPoint> {
    fn from(t: VfTable) -> Vec<VfPoint> {
        t.points
    }
}

impl VfTable {
    pub fn new(points: Vec<VfPoint>) -> Result<VfTable, VfTableError> {
        if points.len() < 2 {
            return Err(VfTableError::TooFewPoints);
        }
        for (i, p) in points.iter().enumerate() {
            let ok = |v: f64| v.is_finite() && v > 0.0;
            if !ok(p.freq_mhz) || !ok(p.min_voltage_mv) {
                return Err(VfTableError::BadValue(i));
            }
            if i > 0 {
                let prev = points[i - 1];
                if p.freq_mhz <= prev.freq_mhz {
                    return Err(VfTableError::NotIncreasing(i));
                }
                if p.min_voltage_mv < prev.min_voltage_mv {
                    return Err(VfTableError::VoltageDecreases(i));
                }
            }
        }
        Ok(VfTable { points })
    }

    pub fn points(&self) -> &[VfPoint] {
        &self.points
    }

    pub fn min_freq(&self) -> FreqMhz {
        FreqMhz(self.points.first().map_or(0.0, |p| p.freq_mhz))
    }

    pub fn max_freq(&self) -> FreqMhz {
        FreqMhz(self.points.last().map_or(0.0, |p| p.freq_mhz))
    }

    /// The lowest stable voltage for `freq`, interpolated; clamped to the
    /// table's ends (below the first row the first row's voltage is the floor).
    pub fn min_voltage(&self, freq: FreqMhz) -> Millivolts {
        let f = freq.get();
        let pts = &self.points;
        let (Some(first), Some(last)) = (pts.first(), pts.last()) else {
            return Millivolts(0.0);
        };
        if f <= first.freq_mhz {
            return Millivolts(first.min_voltage_mv);
        }
        if f >= last.freq_mhz {
            return Millivolts(last.min_voltage_mv);
        }
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            if f <= b.freq_mhz {
                let t = (f - a.freq_mhz) / (b.freq_mhz - a.freq_mhz);
                return Millivolts(a.min_voltage_mv + t * (b.min_voltage_mv - a.min_voltage_mv));
            }
        }
        Millivolts(last.min_voltage_mv)
    }

    /// The operating point for `freq` at its lowest stable voltage.
    pub fn point_at(&self, freq: FreqMhz) -> OperatingPoint {
        let freq = freq.clamp(self.min_freq(), self.max_freq());
        OperatingPoint {
            freq_mhz: freq,
            voltage_mv: self.min_voltage(freq),
        }
    }
}

/// CMOS power model of a board: per chip, dynamic power `c_dyn * f * V^2`
/// plus leakage `leak * V^2`; the chain's total divided by the regulator's
/// efficiency, plus a fixed overhead (fans, control) while running.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerModel {
    pub chips: u32,
    /// Small cores per chip: hashrate is `f * cores * chips`.
    pub cores_per_chip: u32,
    /// Watts per (MHz * V^2) per chip.
    pub c_dyn_w_per_mhz_v2: f64,
    /// Watts per V^2 per chip.
    pub leak_w_per_v2: f64,
    /// Regulator efficiency, 0 < e <= 1.
    pub regulator_efficiency: f64,
    /// Fans and controller, drawn whenever the board runs.
    pub overhead_w: f64,
}

impl PowerModel {
    /// Wall power drawn at `op`.
    pub fn power(&self, op: OperatingPoint) -> Watts {
        let v = op.voltage_mv.get() / 1000.0;
        let per_chip =
            self.c_dyn_w_per_mhz_v2 * op.freq_mhz.get() * v * v + self.leak_w_per_v2 * v * v;
        let eff = self.regulator_efficiency.clamp(0.05, 1.0);
        Watts(per_chip * f64::from(self.chips) / eff + self.overhead_w)
    }

    /// Expected hashrate at `freq`: one hash per core per clock.
    pub fn hashrate(&self, freq: FreqMhz) -> GhPerSec {
        GhPerSec(freq.get() * f64::from(self.cores_per_chip) * f64::from(self.chips) / 1000.0)
    }

    /// The most efficient point that draws at most `target`, found along the
    /// table's lowest-voltage curve (power rises monotonically with frequency
    /// there). `None` when even the lowest point draws more than `target`:
    /// the caller must then idle or duty-cycle.
    pub fn point_for_power(&self, table: &VfTable, target: Watts) -> Option<OperatingPoint> {
        let lowest = table.point_at(table.min_freq());
        if !target.is_finite() || self.power(lowest) > target {
            return None;
        }
        let highest = table.point_at(table.max_freq());
        if self.power(highest) <= target {
            return Some(highest);
        }
        // Bisection on frequency; 40 rounds is far below a 6.25 MHz step.
        let (mut lo, mut hi) = (table.min_freq().get(), table.max_freq().get());
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if self.power(table.point_at(FreqMhz(mid))) <= target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        // Snap down to the PLL step grid so we never exceed the target, but
        // never below the table's floor.
        let snapped = (lo / FREQ_STEP_MHZ).floor() * FREQ_STEP_MHZ;
        Some(table.point_at(FreqMhz(snapped.max(table.min_freq().get()))))
    }

    /// Power range the board can modulate over: (lowest point, highest point).
    pub fn power_range(&self, table: &VfTable) -> (Watts, Watts) {
        (
            self.power(table.point_at(table.min_freq())),
            self.power(table.point_at(table.max_freq())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table() -> VfTable {
        VfTable::new(vec![
            VfPoint {
                freq_mhz: 200.0,
                min_voltage_mv: 1000.0,
            },
            VfPoint {
                freq_mhz: 400.0,
                min_voltage_mv: 1080.0,
            },
            VfPoint {
                freq_mhz: 600.0,
                min_voltage_mv: 1200.0,
            },
        ])
        .expect("valid table")
    }

    fn model() -> PowerModel {
        PowerModel {
            chips: 1,
            cores_per_chip: 2040,
            c_dyn_w_per_mhz_v2: 0.023,
            leak_w_per_v2: 0.8,
            regulator_efficiency: 0.9,
            overhead_w: 1.0,
        }
    }

    #[test]
    fn table_validation_names_the_row() {
        let p = |f, v| VfPoint {
            freq_mhz: f,
            min_voltage_mv: v,
        };
        assert_eq!(
            VfTable::new(vec![p(1.0, 1.0)]),
            Err(VfTableError::TooFewPoints)
        );
        assert_eq!(
            VfTable::new(vec![p(2.0, 1.0), p(1.0, 1.0)]),
            Err(VfTableError::NotIncreasing(1))
        );
        assert_eq!(
            VfTable::new(vec![p(1.0, 2.0), p(2.0, 1.0)]),
            Err(VfTableError::VoltageDecreases(1))
        );
        assert_eq!(
            VfTable::new(vec![p(1.0, f64::NAN), p(2.0, 1.0)]),
            Err(VfTableError::BadValue(0))
        );
    }

    #[test]
    fn voltage_interpolates_and_clamps() {
        let t = table();
        assert_eq!(t.min_voltage(FreqMhz(300.0)), Millivolts(1040.0));
        assert_eq!(t.min_voltage(FreqMhz(100.0)), Millivolts(1000.0));
        assert_eq!(t.min_voltage(FreqMhz(900.0)), Millivolts(1200.0));
    }

    #[test]
    fn hashrate_follows_frequency() {
        assert_eq!(model().hashrate(FreqMhz(500.0)), GhPerSec(1020.0));
    }

    #[test]
    fn below_the_lowest_point_there_is_no_point() {
        let (lo, _) = model().power_range(&table());
        assert!(model().point_for_power(&table(), lo * 0.9).is_none());
        assert!(model().point_for_power(&table(), Watts(f64::NAN)).is_none());
    }

    #[test]
    fn above_the_highest_point_runs_flat_out() {
        let (_, hi) = model().power_range(&table());
        let op = model().point_for_power(&table(), hi * 2.0).expect("point");
        assert_eq!(op.freq_mhz, FreqMhz(600.0));
    }

    proptest! {
        #[test]
        fn chosen_point_never_exceeds_target_and_is_close(frac in 0.0f64..1.0) {
            let (lo, hi) = model().power_range(&table());
            let target = lo + (hi - lo) * frac;
            let op = model().point_for_power(&table(), target).expect("in range");
            let p = model().power(op);
            prop_assert!(p <= target + Watts(1e-9));
            // One PLL step up would exceed the target (or we are at the top).
            let next = table().point_at(FreqMhz(op.freq_mhz.get() + FREQ_STEP_MHZ));
            prop_assert!(op.freq_mhz == table().max_freq() || model().power(next) > target
                || op.freq_mhz.get() + FREQ_STEP_MHZ > table().max_freq().get());
            prop_assert_eq!(op.voltage_mv, table().min_voltage(op.freq_mhz));
        }
    }
}
