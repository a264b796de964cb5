//! Outdoor conditions: a daily temperature cycle (coldest before dawn,
//! warmest mid-afternoon) plus slow seeded noise, and a clear-sky solar curve.

use crate::rng::SimRng;
use hearth_core::{Celsius, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeatherParams {
    pub mean_c: f64,
    /// Half the day-night swing.
    pub daily_amplitude_c: f64,
    /// Standard deviation of the slow random deviation from the cycle.
    pub noise_sd_c: f64,
    /// Peak solar irradiance at noon on the windows, W/m².
    pub solar_peak_w_per_m2: f64,
}

impl Default for WeatherParams {
    /// An overcast winter day in central Europe.
    fn default() -> WeatherParams {
        WeatherParams {
            mean_c: 2.0,
            daily_amplitude_c: 3.0,
            noise_sd_c: 0.8,
            solar_peak_w_per_m2: 150.0,
        }
    }
}

impl WeatherParams {
    pub fn check(&self) -> Result<(), String> {
        let finite = [
            self.mean_c,
            self.daily_amplitude_c,
            self.noise_sd_c,
            self.solar_peak_w_per_m2,
        ];
        if finite.iter().any(|v| !v.is_finite()) {
            return Err("weather values must be finite numbers".into());
        }
        if !(-60.0..=60.0).contains(&self.mean_c) {
            return Err(format!("mean_c {} is outside -60..60 °C", self.mean_c));
        }
        if self.daily_amplitude_c < 0.0 || self.noise_sd_c < 0.0 || self.solar_peak_w_per_m2 < 0.0 {
            return Err(
                "daily_amplitude_c, noise_sd_c and solar_peak_w_per_m2 must not be negative".into(),
            );
        }
        Ok(())
    }
}

/// Noise correlation time: weather drifts over hours, not seconds.
const NOISE_TAU_S: f64 = 3.0 * 3600.0;

/// Values at hourly steps from a start time, linearly interpolated, the
/// last value held after the end.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlySeries {
    pub start: Timestamp,
    pub values: Vec<f64>,
}

impl HourlySeries {
    pub fn at(&self, now: Timestamp) -> Option<f64> {
        let first = *self.values.first()?;
        if now <= self.start {
            return Some(first);
        }
        let h = now.since(self.start).as_secs_f64() / 3600.0;
        let i = h.floor() as usize;
        let frac = h - h.floor();
        match (self.values.get(i), self.values.get(i + 1)) {
            (Some(a), Some(b)) => Some(a + (b - a) * frac),
            (Some(a), None) => Some(*a),
            _ => self.values.last().copied(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Weather {
    params: WeatherParams,
    noise_c: f64,
    rng: SimRng,
    /// Explicit series replacing the daily cycle / clear-sky curve.
    outdoor_series: Option<HourlySeries>,
    solar_series: Option<HourlySeries>,
}

impl Weather {
    pub fn new(params: WeatherParams, rng: SimRng) -> Weather {
        Weather {
            params,
            noise_c: 0.0,
            rng,
            outdoor_series: None,
            solar_series: None,
        }
    }

    /// Replaces the daily cycle (noise still applies) and the solar curve.
    pub fn set_series(&mut self, outdoor: Option<HourlySeries>, solar: Option<HourlySeries>) {
        self.outdoor_series = outdoor;
        self.solar_series = solar;
    }

    /// Advances the noise process by `dt_s` (an Ornstein-Uhlenbeck step).
    pub fn step(&mut self, dt_s: f64) {
        let a = (-dt_s / NOISE_TAU_S).exp();
        let sd = self.params.noise_sd_c * (1.0 - a * a).sqrt();
        self.noise_c = a * self.noise_c + sd * self.rng.normal();
    }

    pub fn outdoor(&self, now: Timestamp) -> Celsius {
        if let Some(v) = self.outdoor_series.as_ref().and_then(|s| s.at(now)) {
            return Celsius(v + self.noise_c);
        }
        // Warmest at 15:00, coldest at 03:00.
        let hours = now.second_of_day() as f64 / 3600.0;
        let phase = (hours - 15.0) / 24.0 * std::f64::consts::TAU;
        Celsius(self.params.mean_c + self.params.daily_amplitude_c * phase.cos() + self.noise_c)
    }

    /// Irradiance on the windows: a half-sine between 08:00 and 16:00.
    pub fn solar_w_per_m2(&self, now: Timestamp) -> f64 {
        if let Some(v) = self.solar_series.as_ref().and_then(|s| s.at(now)) {
            return v.max(0.0);
        }
        let hours = now.second_of_day() as f64 / 3600.0;
        if !(8.0..16.0).contains(&hours) {
            return 0.0;
        }
        self.params.solar_peak_w_per_m2 * ((hours - 8.0) / 8.0 * std::f64::consts::PI).sin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn afternoon_is_warmer_than_night_without_noise() {
        let p = WeatherParams {
            noise_sd_c: 0.0,
            ..WeatherParams::default()
        };
        let w = Weather::new(p, SimRng::new(1));
        let t3 = w.outdoor(Timestamp::from_secs(3 * 3600));
        let t15 = w.outdoor(Timestamp::from_secs(15 * 3600));
        assert_eq!(t15, Celsius(5.0));
        assert_eq!(t3, Celsius(-1.0));
    }

    #[test]
    fn no_sun_at_night() {
        let w = Weather::new(WeatherParams::default(), SimRng::new(1));
        assert_eq!(w.solar_w_per_m2(Timestamp::from_secs(22 * 3600)), 0.0);
        assert!(w.solar_w_per_m2(Timestamp::from_secs(12 * 3600)) > 100.0);
    }

    #[test]
    fn hourly_series_interpolates_and_holds() {
        let s = HourlySeries {
            start: Timestamp::from_secs(3600),
            values: vec![0.0, 10.0, 4.0],
        };
        assert_eq!(s.at(Timestamp::from_secs(0)), Some(0.0));
        assert_eq!(s.at(Timestamp::from_secs(3600 + 1800)), Some(5.0));
        assert_eq!(s.at(Timestamp::from_secs(3 * 3600)), Some(4.0));
        assert_eq!(s.at(Timestamp::from_secs(99 * 3600)), Some(4.0));
    }

    #[test]
    fn noise_stays_near_its_spread() {
        let mut w = Weather::new(WeatherParams::default(), SimRng::new(3));
        let mut max_dev: f64 = 0.0;
        for _ in 0..(7 * 24 * 60) {
            w.step(60.0);
            max_dev = max_dev.max(w.noise_c.abs());
        }
        assert!(max_dev > 0.1 && max_dev < 5.0, "{max_dev}");
    }
}
