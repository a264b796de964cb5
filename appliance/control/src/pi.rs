//! A PI controller with anti-windup: the foundation's first controller. It
//! turns a temperature error into a heat demand between 0 and 1 (a fraction of
//! the zone's maximum power); the thermostat issue replaces it with the full
//! controller (feed-forward, pre-heat, windows, presets).

use hearth_core::Celsius;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PiGains {
    /// Demand per kelvin of error.
    pub kp_per_k: f64,
    /// Demand per kelvin-hour of accumulated error.
    pub ki_per_kh: f64,
}

impl Default for PiGains {
    fn default() -> PiGains {
        // Tuned on the default simulated room (time constant about an hour):
        // full power at 1.25 K below setpoint, integral closes the last tenth.
        PiGains {
            kp_per_k: 0.8,
            ki_per_kh: 0.6,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PiController {
    gains: PiGains,
    /// Integral term, already in demand units, kept within 0..=1.
    integral: f64,
}

impl PiController {
    pub fn new(gains: PiGains) -> PiController {
        PiController {
            gains,
            integral: 0.0,
        }
    }

    pub fn reset(&mut self) {
        self.integral = 0.0;
    }

    /// Moves the integral by `delta` (bumpless transfer when a feed-forward
    /// term takes over part of what the integral held).
    pub fn shift_integral(&mut self, delta: f64) {
        if delta.is_finite() {
            self.integral = (self.integral + delta).clamp(-1.0, 1.0);
        }
    }

    /// One step: `dt_s` seconds since the last one. Returns demand in 0..=1.
    pub fn step(&mut self, setpoint: Celsius, measured: Celsius, dt_s: f64) -> f64 {
        self.step_with_bias(setpoint, measured, dt_s, 0.0)
    }

    /// One step around a feed-forward `bias` (demand units): the output is
    /// `bias + P + I`, clamped to 0..=1, and the integral only corrects what
    /// the bias misses (it may go negative when the bias is too high).
    pub fn step_with_bias(
        &mut self,
        setpoint: Celsius,
        measured: Celsius,
        dt_s: f64,
        bias: f64,
    ) -> f64 {
        let error = setpoint.get() - measured.get();
        if !error.is_finite() || !dt_s.is_finite() || !bias.is_finite() {
            return 0.0;
        }
        let dt_h = dt_s.clamp(0.0, 600.0) / 3600.0;
        let p = self.gains.kp_per_k * error;
        let lo = if bias > 0.0 { -1.0 } else { 0.0 };
        let candidate = (self.integral + self.gains.ki_per_kh * error * dt_h).clamp(lo, 1.0);
        // Conditional integration: only let the integral grow while the output
        // is not saturated in the same direction, so it cannot wind up during a
        // long warm-up and overshoot afterwards.
        let unsaturated = bias + p + self.integral;
        let winding_up = (unsaturated >= 1.0 && error > 0.0) || (unsaturated <= 0.0 && error < 0.0);
        if !winding_up {
            self.integral = candidate;
        }
        (bias + p + self.integral).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_means_full_power_hot_means_none() {
        let mut pi = PiController::new(PiGains::default());
        assert_eq!(pi.step(Celsius(21.0), Celsius(15.0), 10.0), 1.0);
        let mut pi = PiController::new(PiGains::default());
        assert_eq!(pi.step(Celsius(21.0), Celsius(25.0), 10.0), 0.0);
    }

    #[test]
    fn integral_does_not_wind_up_while_saturated() {
        let mut pi = PiController::new(PiGains::default());
        for _ in 0..1000 {
            pi.step(Celsius(21.0), Celsius(10.0), 60.0);
        }
        // Having been far below for 16 h, the demand at setpoint is only what
        // the integral earned while unsaturated: none.
        assert_eq!(pi.step(Celsius(21.0), Celsius(21.0), 1.0), 0.0);
    }

    #[test]
    fn integral_removes_steady_error() {
        let mut pi = PiController::new(PiGains::default());
        let first = pi.step(Celsius(21.0), Celsius(20.9), 60.0);
        let mut last = first;
        for _ in 0..60 {
            last = pi.step(Celsius(21.0), Celsius(20.9), 60.0);
        }
        assert!(
            last > first,
            "demand grows with persistent error: {first} -> {last}"
        );
    }

    #[test]
    fn garbage_in_means_no_heat() {
        let mut pi = PiController::new(PiGains::default());
        assert_eq!(pi.step(Celsius(21.0), Celsius(f64::NAN), 1.0), 0.0);
    }
}
