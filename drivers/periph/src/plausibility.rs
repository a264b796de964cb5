//! Plausibility filter shared by every thermometer.
//!
//! A thermometer that returns garbage is worse than one that returns nothing:
//! the controller can fall back to "fan 100 %, heat off" on an error, but it
//! will happily act on a bogus 21 °C. So each reading passes three checks:
//!
//! 1. it is a finite number (no NaN, no infinities);
//! 2. it lies inside the sensor's range (`min..=max`, inclusive);
//! 3. it did not move further from the last *accepted* reading than
//!    `max_rate_k_per_s * elapsed + noise_k` allows.
//!
//! A rejected reading does not replace the reference value, so one glitch
//! does not poison the next comparison. Because the allowance grows with the
//! time since the last accepted reading, a genuine step (a probe moved from
//! air into water) is accepted once enough time has passed, and a reference
//! that has gone stale (a long gap between readings) constrains nothing.

use hearth_core::peripherals::DeviceError;
use hearth_core::time::Timestamp;
use hearth_core::units::Celsius;

/// Why a reading was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlausibilityError {
    #[error("reading is not a finite number ({0})")]
    NotFinite(f64),
    #[error("reading {value} °C outside the plausible range {min}..={max} °C")]
    OutOfRange { value: f64, min: f64, max: f64 },
    #[error(
        "reading jumped from {from} °C to {to} °C in {elapsed_s} s (allowed {allowed_k} K at {max_rate_k_per_s} K/s)"
    )]
    Jump {
        from: f64,
        to: f64,
        elapsed_s: f64,
        allowed_k: f64,
        max_rate_k_per_s: f64,
    },
}

impl From<PlausibilityError> for DeviceError {
    fn from(e: PlausibilityError) -> DeviceError {
        DeviceError::Implausible(e.to_string())
    }
}

/// Invalid parameters for a [`Plausibility`] filter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid plausibility limits: {0}")]
pub struct InvalidLimits(&'static str);

/// A stateful plausibility filter for one sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Plausibility {
    min: Celsius,
    max: Celsius,
    max_rate_k_per_s: f64,
    noise_k: f64,
    last: Option<(Timestamp, Celsius)>,
}

impl Plausibility {
    /// Default allowed slew rate in K/s. Generous on purpose: an ASIC diode at
    /// power-up can rise several kelvin per second; air and water cannot.
    pub const DEFAULT_MAX_RATE_K_PER_S: f64 = 10.0;
    /// Default fixed allowance on top of the rate term (quantisation, noise).
    pub const DEFAULT_NOISE_K: f64 = 1.0;

    /// A filter for a sensor whose readings must lie in `min..=max`, and
    /// move at most `max_rate_k_per_s` kelvin per second (plus `noise_k`).
    pub fn new(
        min: Celsius,
        max: Celsius,
        max_rate_k_per_s: f64,
        noise_k: f64,
    ) -> Result<Plausibility, InvalidLimits> {
        if !min.is_finite() || !max.is_finite() {
            return Err(InvalidLimits("range bounds must be finite"));
        }
        if min.get() > max.get() {
            return Err(InvalidLimits("min must not exceed max"));
        }
        // `is_finite` also refuses NaN.
        if !max_rate_k_per_s.is_finite() || max_rate_k_per_s < 0.0 {
            return Err(InvalidLimits("max rate must be finite and >= 0"));
        }
        if !noise_k.is_finite() || noise_k < 0.0 {
            return Err(InvalidLimits("noise allowance must be finite and >= 0"));
        }
        Ok(Plausibility {
            min,
            max,
            max_rate_k_per_s,
            noise_k,
            last: None,
        })
    }

    /// The drivers' default filter: the sensor's datasheet range with the
    /// default rate and noise allowances. Only called with constant ranges.
    pub(crate) fn for_range(min: f64, max: f64) -> Plausibility {
        Plausibility {
            min: Celsius(min),
            max: Celsius(max),
            max_rate_k_per_s: Self::DEFAULT_MAX_RATE_K_PER_S,
            noise_k: Self::DEFAULT_NOISE_K,
            last: None,
        }
    }

    pub fn min(&self) -> Celsius {
        self.min
    }

    pub fn max(&self) -> Celsius {
        self.max
    }

    pub fn max_rate_k_per_s(&self) -> f64 {
        self.max_rate_k_per_s
    }

    /// The last accepted reading and when it was taken.
    pub fn last_accepted(&self) -> Option<(Timestamp, Celsius)> {
        self.last
    }

    /// Forget the reference reading (e.g. after the sensor was re-plugged).
    pub fn reset(&mut self) {
        self.last = None;
    }

    /// Check a reading taken at `now`; on success it becomes the new
    /// reference. A timestamp earlier than the reference counts as zero
    /// elapsed time, so only the noise allowance applies.
    pub fn check(&mut self, value: Celsius, now: Timestamp) -> Result<Celsius, PlausibilityError> {
        let v = value.get();
        if !v.is_finite() {
            return Err(PlausibilityError::NotFinite(v));
        }
        if v < self.min.get() || v > self.max.get() {
            return Err(PlausibilityError::OutOfRange {
                value: v,
                min: self.min.get(),
                max: self.max.get(),
            });
        }
        if let Some((t0, prev)) = self.last {
            let elapsed_s = now.since(t0).as_secs_f64();
            let allowed_k = self.max_rate_k_per_s * elapsed_s + self.noise_k;
            if (v - prev.get()).abs() > allowed_k {
                return Err(PlausibilityError::Jump {
                    from: prev.get(),
                    to: v,
                    elapsed_s,
                    allowed_k,
                    max_rate_k_per_s: self.max_rate_k_per_s,
                });
            }
        }
        self.last = Some((now, value));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> Plausibility {
        Plausibility::new(Celsius(-20.0), Celsius(100.0), 2.0, 0.5).unwrap()
    }

    #[test]
    fn rejects_nan_and_infinity() {
        let mut p = filter();
        assert!(matches!(
            p.check(Celsius(f64::NAN), Timestamp(0)),
            Err(PlausibilityError::NotFinite(_))
        ));
        assert!(matches!(
            p.check(Celsius(f64::INFINITY), Timestamp(0)),
            Err(PlausibilityError::NotFinite(_))
        ));
        assert_eq!(p.last_accepted(), None);
    }

    #[test]
    fn range_is_inclusive() {
        let mut p = filter();
        assert_eq!(p.check(Celsius(100.0), Timestamp(0)), Ok(Celsius(100.0)));
        p.reset();
        assert_eq!(p.check(Celsius(-20.0), Timestamp(0)), Ok(Celsius(-20.0)));
        p.reset();
        assert_eq!(
            p.check(Celsius(100.01), Timestamp(0)),
            Err(PlausibilityError::OutOfRange {
                value: 100.01,
                min: -20.0,
                max: 100.0
            })
        );
        assert!(p.check(Celsius(-20.5), Timestamp(0)).is_err());
    }

    #[test]
    fn first_reading_only_range_checked() {
        let mut p = filter();
        assert_eq!(p.check(Celsius(90.0), Timestamp(0)), Ok(Celsius(90.0)));
        assert_eq!(p.last_accepted(), Some((Timestamp(0), Celsius(90.0))));
    }

    #[test]
    fn jump_faster_than_rate_is_rejected_and_does_not_move_reference() {
        let mut p = filter();
        p.check(Celsius(20.0), Timestamp::from_secs(0)).unwrap();
        // 1 s later: allowed 2*1 + 0.5 = 2.5 K. 5 K is too much.
        let err = p.check(Celsius(25.0), Timestamp::from_secs(1)).unwrap_err();
        assert!(
            matches!(err, PlausibilityError::Jump { from, to, .. } if from == 20.0 && to == 25.0)
        );
        assert_eq!(
            p.last_accepted(),
            Some((Timestamp::from_secs(0), Celsius(20.0)))
        );
        // 2.4 K in 1 s is inside the allowance.
        assert_eq!(
            p.check(Celsius(22.4), Timestamp::from_secs(1)),
            Ok(Celsius(22.4))
        );
    }

    #[test]
    fn genuine_step_is_accepted_once_enough_time_passed() {
        let mut p = filter();
        p.check(Celsius(20.0), Timestamp::from_secs(0)).unwrap();
        assert!(p.check(Celsius(40.0), Timestamp::from_secs(5)).is_err());
        // 10 s: allowance 20.5 K >= 20 K.
        assert_eq!(
            p.check(Celsius(40.0), Timestamp::from_secs(10)),
            Ok(Celsius(40.0))
        );
    }

    #[test]
    fn same_timestamp_or_clock_backwards_only_noise_allowed() {
        let mut p = filter();
        p.check(Celsius(20.0), Timestamp::from_secs(10)).unwrap();
        assert!(p.check(Celsius(20.4), Timestamp::from_secs(10)).is_ok());
        assert!(p.check(Celsius(21.5), Timestamp::from_secs(5)).is_err());
    }

    #[test]
    fn converts_into_device_error_implausible() {
        let e: DeviceError = PlausibilityError::NotFinite(f64::NAN).into();
        assert!(matches!(e, DeviceError::Implausible(_)));
    }

    #[test]
    fn invalid_limits_refused() {
        assert!(Plausibility::new(Celsius(10.0), Celsius(0.0), 1.0, 0.0).is_err());
        assert!(Plausibility::new(Celsius(f64::NAN), Celsius(0.0), 1.0, 0.0).is_err());
        assert!(Plausibility::new(Celsius(0.0), Celsius(10.0), f64::NAN, 0.0).is_err());
        assert!(Plausibility::new(Celsius(0.0), Celsius(10.0), -1.0, 0.0).is_err());
        assert!(Plausibility::new(Celsius(0.0), Celsius(10.0), 1.0, f64::INFINITY).is_err());
        assert!(Plausibility::new(Celsius(0.0), Celsius(0.0), 0.0, 0.0).is_ok());
    }
}
