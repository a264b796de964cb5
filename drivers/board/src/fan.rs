//! Fan control: a reverse-acting PI(D) loop on the hottest chip temperature.
//!
//! Reverse-acting because a hotter chip must raise the output (a heater loop
//! is direct-acting: colder room, more output). The measurement is smoothed
//! with an exponential moving average first, so one noisy diode reading does
//! not slam the fan; the derivative (off by default) acts on the smoothed
//! measurement, never on the error, so a target change does not kick.
//!
//! Pure: [`FanController::step`] takes the temperature and the time since
//! the previous step. With no valid temperature it returns 100 %: a fan
//! should fail loud, not off. Thermal protection (see [`crate::protection`])
//! may override the output with 100 % as well; the controller is not the
//! safety layer.

use hearth_core::{Celsius, Percent};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Gains and limits of the fan loop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FanTuning {
    /// Chip temperature the loop holds.
    pub target_c: f64,
    /// Proportional gain, % duty per K above target.
    pub kp_percent_per_k: f64,
    /// Integral gain, % duty per K·s.
    pub ki_percent_per_k_s: f64,
    /// Derivative gain on the smoothed measurement, % duty per K/s.
    pub kd_percent_per_k_per_s: f64,
    /// EMA time constant of the measurement filter; 0 disables smoothing.
    pub smoothing_tau_s: f64,
    /// The fan never runs slower than this while the loop is active (keeps
    /// air moving over the regulator and the heatsink).
    pub min_duty: Percent,
    /// A raw (unsmoothed) reading at or above this gives 100 % at once,
    /// whatever the filter says.
    pub full_duty_above_c: f64,
}

impl FanTuning {
    /// Bitaxe-class boards: hold 60 °C (ESP-Miner's auto-fan default target).
    pub fn bitaxe() -> FanTuning {
        FanTuning {
            target_c: 60.0,
            kp_percent_per_k: 5.0,
            ki_percent_per_k_s: 0.2,
            kd_percent_per_k_per_s: 0.0,
            smoothing_tau_s: 5.0,
            min_duty: Percent::new(20.0),
            full_duty_above_c: 72.0,
        }
    }

    /// Multi-chip hashboards: hold 65 °C.
    pub fn hashboard() -> FanTuning {
        FanTuning {
            target_c: 65.0,
            kp_percent_per_k: 4.0,
            ki_percent_per_k_s: 0.1,
            kd_percent_per_k_per_s: 0.0,
            smoothing_tau_s: 5.0,
            min_duty: Percent::new(20.0),
            full_duty_above_c: 77.0,
        }
    }

    /// Finite, non-negative gains; a target below the full-duty threshold.
    pub fn check(&self) -> Result<(), String> {
        let fields = [
            ("target_c", self.target_c),
            ("kp_percent_per_k", self.kp_percent_per_k),
            ("ki_percent_per_k_s", self.ki_percent_per_k_s),
            ("kd_percent_per_k_per_s", self.kd_percent_per_k_per_s),
            ("smoothing_tau_s", self.smoothing_tau_s),
            ("full_duty_above_c", self.full_duty_above_c),
        ];
        for (name, v) in fields {
            if !v.is_finite() {
                return Err(format!("fan {name} must be a finite number"));
            }
        }
        if self.kp_percent_per_k < 0.0
            || self.ki_percent_per_k_s < 0.0
            || self.kd_percent_per_k_per_s < 0.0
            || self.smoothing_tau_s < 0.0
        {
            return Err("fan gains and smoothing_tau_s must not be negative".into());
        }
        if self.full_duty_above_c <= self.target_c {
            return Err("fan full_duty_above_c must be above target_c".into());
        }
        Ok(())
    }
}

/// The fan loop's state.
#[derive(Debug, Clone, PartialEq)]
pub struct FanController {
    tuning: FanTuning,
    smoothed: Option<f64>,
    /// Integral term in % duty, kept within `0..=100 - min_duty`.
    integral: f64,
    last: Percent,
}

impl FanController {
    pub fn new(tuning: FanTuning) -> FanController {
        FanController {
            tuning,
            smoothed: None,
            integral: 0.0,
            last: Percent::FULL,
        }
    }

    pub fn tuning(&self) -> &FanTuning {
        &self.tuning
    }

    /// The filtered temperature the loop acts on, once it has seen one.
    pub fn smoothed(&self) -> Option<Celsius> {
        self.smoothed.map(Celsius)
    }

    /// The last output.
    pub fn last(&self) -> Percent {
        self.last
    }

    /// Forget the filter and the integral (after the board was off a while).
    pub fn reset(&mut self) {
        self.smoothed = None;
        self.integral = 0.0;
    }

    /// One loop step. `temp` is the hottest valid chip temperature (`None`
    /// or non-finite: no valid reading); `dt` the time since the previous
    /// step (zero is fine: the filter and the integral then stand still).
    pub fn step(&mut self, temp: Option<Celsius>, dt: Duration) -> Percent {
        let out = self.compute(temp, dt);
        self.last = out;
        out
    }

    fn compute(&mut self, temp: Option<Celsius>, dt: Duration) -> Percent {
        let t = &self.tuning;
        let Some(raw) = temp.map(Celsius::get).filter(|v| v.is_finite()) else {
            return Percent::FULL;
        };
        let dt_s = dt.as_secs_f64();
        let previous = self.smoothed;
        let smoothed = match previous {
            None => raw,
            Some(_) if t.smoothing_tau_s <= 0.0 => raw,
            Some(s) => s + (1.0 - (-dt_s / t.smoothing_tau_s).exp()) * (raw - s),
        };
        self.smoothed = Some(smoothed);
        let error = smoothed - t.target_c;
        let derivative = match previous {
            Some(p) if dt_s > 0.0 => (smoothed - p) / dt_s,
            _ => 0.0,
        };
        let min = t.min_duty.get();
        let unsaturated = |integral: f64| {
            min + t.kp_percent_per_k * error + integral + t.kd_percent_per_k_per_s * derivative
        };
        // Conditional integration: do not wind further into a saturated side.
        let u = unsaturated(self.integral);
        let pushing_up_at_top = u >= 100.0 && error > 0.0;
        let pushing_down_at_bottom = u <= min && error < 0.0;
        if dt_s > 0.0 && !pushing_up_at_top && !pushing_down_at_bottom {
            self.integral =
                (self.integral + t.ki_percent_per_k_s * error * dt_s).clamp(0.0, 100.0 - min);
        }
        if raw >= t.full_duty_above_c {
            return Percent::FULL;
        }
        Percent::new(unsaturated(self.integral).clamp(min, 100.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn c(v: f64) -> Option<Celsius> {
        Some(Celsius(v))
    }

    #[test]
    fn no_valid_temperature_means_full_fan() {
        let mut f = FanController::new(FanTuning::bitaxe());
        assert_eq!(f.step(None, SEC), Percent::FULL);
        assert_eq!(f.step(c(f64::NAN), SEC), Percent::FULL);
        assert_eq!(f.step(c(f64::INFINITY), SEC), Percent::FULL);
        assert_eq!(f.last(), Percent::FULL);
    }

    #[test]
    fn cold_chip_runs_at_minimum_duty() {
        let mut f = FanController::new(FanTuning::bitaxe());
        for _ in 0..100 {
            assert_eq!(f.step(c(30.0), SEC), Percent::new(20.0));
        }
    }

    #[test]
    fn hot_chip_runs_flat_out() {
        let mut f = FanController::new(FanTuning::bitaxe());
        assert_eq!(f.step(c(85.0), SEC), Percent::FULL);
        // Above target but below the full-duty threshold: P alone is 20 + 5*10.
        let mut f = FanController::new(FanTuning::bitaxe());
        assert_eq!(f.step(c(70.0), Duration::ZERO), Percent::new(70.0));
    }

    #[test]
    fn output_rises_with_temperature() {
        let mut last = 0.0;
        for t in [55.0, 60.0, 62.0, 65.0, 68.0, 71.0] {
            let mut f = FanController::new(FanTuning::bitaxe());
            let d = f.step(c(t), SEC).get();
            assert!(d >= last, "{t}: {d} < {last}");
            last = d;
        }
    }

    #[test]
    fn ema_damps_a_single_spike() {
        let mut f = FanController::new(FanTuning::bitaxe());
        for _ in 0..30 {
            f.step(c(58.0), SEC);
        }
        let before = f.step(c(58.0), SEC);
        let spiked = f.step(c(68.0), SEC);
        let s = f.smoothed().unwrap().get();
        assert!(s > 58.0 && s < 61.0, "smoothed {s}");
        // Raw 68 would give 20 + 5*8 = 60 %; the filtered value gives far less.
        assert!(spiked.get() < 40.0, "{before} -> {spiked}");
    }

    #[test]
    fn dt_zero_changes_nothing_and_does_not_divide_by_zero() {
        let mut f = FanController::new(FanTuning::bitaxe());
        let a = f.step(c(63.0), SEC);
        let b = f.step(c(63.0), Duration::ZERO);
        assert!(b.get().is_finite());
        assert!((a.get() - b.get()).abs() < 1e-9);
    }

    /// A crude board: chip temperature relaxes toward ambient + P * R(duty),
    /// where more airflow lowers the thermal resistance.
    fn settle(tuning: FanTuning, power_w: f64, seconds: u32) -> (f64, f64) {
        let mut f = FanController::new(tuning);
        let (ambient, tau) = (25.0, 20.0);
        let mut temp = ambient;
        let mut duty = Percent::FULL;
        for _ in 0..seconds {
            let r = 3.0 / (0.3 + duty.fraction());
            temp += (ambient + power_w * r / 10.0 - temp) / tau;
            duty = f.step(c(temp), SEC);
        }
        (temp, duty.get())
    }

    #[test]
    fn closed_loop_holds_the_target() {
        let (temp, duty) = settle(FanTuning::bitaxe(), 100.0, 3600);
        assert!((temp - 60.0).abs() < 1.0, "settled at {temp} °C, {duty} %");
        assert!(duty > 20.0 && duty < 100.0);
    }

    #[test]
    fn integral_does_not_wind_up_while_saturated() {
        let mut f = FanController::new(FanTuning::bitaxe());
        for _ in 0..600 {
            f.step(c(71.0), SEC);
        }
        assert_eq!(f.last(), Percent::FULL);
        // Back under target: the output leaves 100 % within a few steps.
        let mut steps = 0;
        while f.step(c(50.0), SEC) == Percent::FULL {
            steps += 1;
            assert!(steps < 30, "still saturated after {steps} s");
        }
    }

    #[test]
    fn tuning_check_refuses_nonsense() {
        assert!(FanTuning::bitaxe().check().is_ok());
        assert!(FanTuning::hashboard().check().is_ok());
        assert!(FanTuning {
            kp_percent_per_k: -1.0,
            ..FanTuning::bitaxe()
        }
        .check()
        .is_err());
        assert!(FanTuning {
            target_c: f64::NAN,
            ..FanTuning::bitaxe()
        }
        .check()
        .is_err());
        assert!(FanTuning {
            full_duty_above_c: 50.0,
            ..FanTuning::bitaxe()
        }
        .check()
        .is_err());
    }
}
