//! Quiet fan: the lowest duty that keeps the hottest chip a margin below
//! the fan target, from chip temperature and heat power, rate-limited.
//!
//! A heater lives in a living room, so the fan should be as slow as the
//! chips allow, and should not audibly hunt. Three parts:
//!
//! - **feed-forward from heat power**: the airflow a board needs grows with
//!   the heat it makes, so the duty starts from `ff_full_power_percent`
//!   scaled by the power fraction (power / the board's full power). A power
//!   step moves the fan at once instead of waiting for the chips to warm;
//! - **PI trim on the smoothed hottest chip**, aiming at `target_c −
//!   margin_k` (the [`FanTuning`]'s target and gains): the integral removes
//!   what the feed-forward gets wrong, in both directions, so the duty
//!   settles where the chip sits at the aim, no faster;
//! - **rate limits**: up by at most `rise_percent_per_s`, down by at most
//!   `fall_percent_per_s` (slower: a falling fan is what people notice as
//!   hunting), never below the tuning's `min_duty`.
//!
//! Safety is not rate-limited: no valid reading (`None`, non-finite) or a
//! raw reading at or above `full_duty_above_c` gives 100 % at once, and the
//! driver's [`crate::Protection`] (trips, stale sensors, a stalled fan)
//! overrides this output with 100 % in [`crate::BoardRuntime`] after it,
//! so protection always wins. Pure: time enters as `dt`.

use crate::fan::FanTuning;
use hearth_core::{Celsius, Percent};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What makes the fan quiet, on top of a [`FanTuning`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuietTuning {
    /// The loop aims this far below the tuning's `target_c`.
    pub margin_k: f64,
    /// Duty the feed-forward gives at the board's full power.
    pub ff_full_power_percent: f64,
    /// Fastest rise, % per second (safety cases skip it).
    pub rise_percent_per_s: f64,
    /// Fastest fall, % per second.
    pub fall_percent_per_s: f64,
}

impl Default for QuietTuning {
    fn default() -> QuietTuning {
        QuietTuning {
            margin_k: 3.0,
            ff_full_power_percent: 60.0,
            rise_percent_per_s: 5.0,
            fall_percent_per_s: 1.0,
        }
    }
}

impl QuietTuning {
    pub fn check(&self) -> Result<(), String> {
        let ok = |name: &str, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("fan {name} must be between {lo} and {hi}, got {v}"))
            }
        };
        ok("margin_k", self.margin_k, 0.0, 30.0)?;
        ok(
            "ff_full_power_percent",
            self.ff_full_power_percent,
            0.0,
            100.0,
        )?;
        ok("rise_percent_per_s", self.rise_percent_per_s, 0.1, 100.0)?;
        ok("fall_percent_per_s", self.fall_percent_per_s, 0.01, 100.0)
    }
}

/// The quiet fan loop's state.
#[derive(Debug, Clone, PartialEq)]
pub struct QuietFan {
    tuning: FanTuning,
    quiet: QuietTuning,
    smoothed: Option<f64>,
    /// PI integral in % duty, within `-100..=100`.
    integral: f64,
    last: Percent,
}

impl QuietFan {
    /// Starts at 100 % (until the first reading says otherwise).
    pub fn new(tuning: FanTuning, quiet: QuietTuning) -> QuietFan {
        QuietFan {
            tuning,
            quiet,
            smoothed: None,
            integral: 0.0,
            last: Percent::FULL,
        }
    }

    /// The same loop starting from `duty` (a fan already turning), so the
    /// rate limits count from there.
    pub fn starting_at(mut self, duty: Percent) -> QuietFan {
        self.last = duty;
        self
    }

    pub fn tuning(&self) -> &FanTuning {
        &self.tuning
    }

    /// The chip temperature the loop holds: target − margin.
    pub fn aim_c(&self) -> f64 {
        self.tuning.target_c - self.quiet.margin_k
    }

    pub fn last(&self) -> Percent {
        self.last
    }

    /// One step. `hottest` is the hottest valid chip temperature;
    /// `power_fraction` the heat power over the board's full power (0 when
    /// idle); `dt` the time since the previous step.
    pub fn step(&mut self, hottest: Option<Celsius>, power_fraction: f64, dt: Duration) -> Percent {
        let out = self.compute(hottest, power_fraction, dt);
        self.last = out;
        out
    }

    fn compute(&mut self, hottest: Option<Celsius>, power_fraction: f64, dt: Duration) -> Percent {
        let t = self.tuning;
        let q = self.quiet;
        let Some(raw) = hottest.map(Celsius::get).filter(|v| v.is_finite()) else {
            return Percent::FULL;
        };
        let dt_s = dt.as_secs_f64();
        let smoothed = match self.smoothed {
            Some(s) if t.smoothing_tau_s > 0.0 => {
                s + (1.0 - (-dt_s / t.smoothing_tau_s).exp()) * (raw - s)
            }
            _ => raw,
        };
        self.smoothed = Some(smoothed);
        if raw >= t.full_duty_above_c {
            return Percent::FULL;
        }
        let fraction = if power_fraction.is_finite() {
            power_fraction.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let min = t.min_duty.get();
        let error = smoothed - self.aim_c();
        let base = min + q.ff_full_power_percent * fraction + t.kp_percent_per_k * error;
        // Conditional integration: not further into a saturated side.
        let u = base + self.integral;
        let wind_up = u >= 100.0 && error > 0.0;
        let wind_down = u <= min && error < 0.0;
        if dt_s > 0.0 && !wind_up && !wind_down {
            self.integral =
                (self.integral + t.ki_percent_per_k_s * error * dt_s).clamp(-100.0, 100.0);
        }
        let wanted = (base + self.integral).clamp(min, 100.0);
        let previous = self.last.get();
        let limited = wanted.clamp(
            previous - q.fall_percent_per_s * dt_s,
            previous + q.rise_percent_per_s * dt_s,
        );
        Percent::new(limited.clamp(min, 100.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn fan() -> QuietFan {
        QuietFan::new(FanTuning::hashboard(), QuietTuning::default())
    }

    /// A board like the simulator's: chip = ambient + P·R0 / airflow(duty),
    /// with a 20 s thermal lag; P in W, R0 in K/W at full airflow.
    fn settle(f: &mut QuietFan, power_w: f64, full_w: f64, seconds: u32, chip: &mut f64) -> f64 {
        let (ambient, r0, tau) = (20.0, 0.03, 20.0);
        let mut duty = f.last();
        let mut max_chip: f64 = f64::MIN;
        for _ in 0..seconds {
            let airflow = 0.25 + 0.75 * duty.fraction();
            *chip += (ambient + power_w * r0 / airflow - *chip) / tau;
            max_chip = max_chip.max(*chip);
            duty = f.step(Some(Celsius(*chip)), power_w / full_w, SEC);
        }
        max_chip
    }

    #[test]
    fn safety_cases_are_full_at_once_whatever_the_rate_limit() {
        let mut f = fan();
        let mut chip = 20.0;
        settle(&mut f, 200.0, 1500.0, 600, &mut chip);
        assert!(f.last().get() < 30.0, "{:?}", f.last());
        assert_eq!(f.step(None, 0.1, SEC), Percent::FULL);
        let mut f = fan();
        settle(&mut f, 200.0, 1500.0, 600, &mut chip);
        assert_eq!(f.step(Some(Celsius(f64::NAN)), 0.1, SEC), Percent::FULL);
        let mut f = fan();
        settle(&mut f, 200.0, 1500.0, 600, &mut chip);
        let hot = f.tuning().full_duty_above_c;
        assert_eq!(f.step(Some(Celsius(hot)), 0.1, SEC), Percent::FULL);
    }

    #[test]
    fn it_holds_the_chip_at_the_aim_with_the_lowest_duty_that_does() {
        // 700 W of 1500: chip = 20 + 21 / airflow; the aim is 65 − 3 = 62 °C,
        // so airflow 0.5, duty 33.3 %.
        let mut f = fan();
        let mut chip = 20.0;
        settle(&mut f, 700.0, 1500.0, 3600, &mut chip);
        assert!((chip - 62.0).abs() < 0.3, "chip {chip}");
        assert!((f.last().get() - 33.3).abs() < 1.5, "{:?}", f.last());
        // The firmware-style curve (25 % at 55 °C + 5 %/K) would sit near
        // 45 % here; a fixed 100 % fan is what we avoid.
        assert!(f.last().get() < 40.0);
    }

    #[test]
    fn never_below_the_minimum_and_never_above_the_aim_for_long() {
        let mut f = fan();
        let mut chip = 20.0;
        // Little power: the chip stays cool even at the floor.
        settle(&mut f, 100.0, 1500.0, 1200, &mut chip);
        assert_eq!(f.last(), FanTuning::hashboard().min_duty);
        // Held at the aim, then a step to full power: the feed-forward
        // reacts at once (the rise is rate-limited but not delayed), and the
        // chip never reaches the board's full-duty threshold.
        settle(&mut f, 700.0, 1500.0, 3600, &mut chip);
        let before = f.last().get();
        let after = f.step(Some(Celsius(chip)), 1.0, SEC).get();
        assert!(
            after > before && after <= before + 5.0 + 1e-9,
            "{before} -> {after}"
        );
        let max_chip = settle(&mut f, 1500.0, 1500.0, 1800, &mut chip);
        assert!(
            max_chip < FanTuning::hashboard().full_duty_above_c,
            "{max_chip}"
        );
    }

    #[test]
    fn the_fall_is_rate_limited_so_the_fan_does_not_hunt() {
        let mut f = fan();
        let mut chip = 20.0;
        settle(&mut f, 1500.0, 1500.0, 1200, &mut chip);
        let high = f.last().get();
        assert!(high > 90.0, "{high}");
        // Power drops to a fifth: the duty walks down at 1 %/s at most.
        let mut last = high;
        for _ in 0..30 {
            let d = f.step(Some(Celsius(chip - 15.0)), 0.2, SEC).get();
            assert!(last - d <= 1.0 + 1e-9, "{last} -> {d}");
            last = d;
        }
        assert!(last < high);
    }

    #[test]
    fn quiet_tuning_is_checked() {
        assert_eq!(QuietTuning::default().check(), Ok(()));
        let bad = QuietTuning {
            fall_percent_per_s: 0.0,
            ..QuietTuning::default()
        };
        assert!(bad.check().unwrap_err().contains("fall_percent_per_s"));
        let bad = QuietTuning {
            margin_k: f64::NAN,
            ..QuietTuning::default()
        };
        assert!(bad.check().unwrap_err().contains("margin_k"));
    }
}
