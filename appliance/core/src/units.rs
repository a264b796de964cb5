//! Unit newtypes. A bare `f64` that could be watts or degrees is how a heater
//! ends up commanding 21 kW instead of 21 °C, so every physical quantity that
//! crosses a module boundary gets its own type.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! unit {
    ($(#[$doc:meta])* $name:ident, $suffix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl $name {
            pub const ZERO: $name = $name(0.0);

            /// The bare number, for formulas and serialisation.
            pub const fn get(self) -> f64 {
                self.0
            }

            pub fn max(self, other: $name) -> $name {
                $name(self.0.max(other.0))
            }

            pub fn min(self, other: $name) -> $name {
                $name(self.0.min(other.0))
            }

            pub fn clamp(self, lo: $name, hi: $name) -> $name {
                $name(self.0.max(lo.0).min(hi.0))
            }

            pub fn is_finite(self) -> bool {
                self.0.is_finite()
            }
        }

        impl std::ops::Add for $name {
            type Output = $name;
            fn add(self, rhs: $name) -> $name {
                $name(self.0 + rhs.0)
            }
        }

        impl std::ops::Sub for $name {
            type Output = $name;
            fn sub(self, rhs: $name) -> $name {
                $name(self.0 - rhs.0)
            }
        }

        impl std::ops::Mul<f64> for $name {
            type Output = $name;
            fn mul(self, rhs: f64) -> $name {
                $name(self.0 * rhs)
            }
        }

        impl std::iter::Sum for $name {
            fn sum<I: Iterator<Item = $name>>(iter: I) -> $name {
                $name(iter.map(|v| v.0).sum())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:.2} {}", self.0, $suffix)
            }
        }
    };
}

unit!(
    /// Temperature in degrees Celsius.
    Celsius, "°C"
);
unit!(
    /// Power in watts (electrical or thermal; the name of the field says which).
    Watts, "W"
);
unit!(
    /// Energy in watt-hours.
    WattHours, "Wh"
);
unit!(
    /// Hashrate in gigahashes per second.
    GhPerSec, "GH/s"
);
unit!(
    /// Clock frequency in megahertz.
    FreqMhz, "MHz"
);
unit!(
    /// Voltage in millivolts.
    Millivolts, "mV"
);
unit!(
    /// Fan speed in revolutions per minute.
    Rpm, "rpm"
);

/// A share of something from 0 to 100. Constructed through [`Percent::new`],
/// which clamps, so a fan duty can never be asked to be 140 %.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Percent(f64);

impl Percent {
    pub const ZERO: Percent = Percent(0.0);
    pub const FULL: Percent = Percent(100.0);

    /// Clamps into 0..=100; NaN becomes 100 because the only users of a
    /// garbage percentage are fans, and a fan should fail loud, not off.
    pub fn new(value: f64) -> Percent {
        if value.is_nan() {
            Percent::FULL
        } else {
            Percent(value.clamp(0.0, 100.0))
        }
    }

    pub const fn get(self) -> f64 {
        self.0
    }

    /// As a fraction 0.0..=1.0.
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} %", self.0)
    }
}

impl Watts {
    /// Energy delivered by this power held for `seconds`.
    pub fn over_seconds(self, seconds: f64) -> WattHours {
        WattHours(self.0 * seconds / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_clamps_and_nan_goes_full() {
        assert_eq!(Percent::new(140.0).get(), 100.0);
        assert_eq!(Percent::new(-3.0).get(), 0.0);
        assert_eq!(Percent::new(f64::NAN), Percent::FULL);
        assert_eq!(Percent::new(42.0).fraction(), 0.42);
    }

    #[test]
    fn watts_over_time_is_energy() {
        assert_eq!(Watts(1000.0).over_seconds(3600.0), WattHours(1000.0));
        assert_eq!(Watts(500.0).over_seconds(720.0).get(), 100.0);
    }

    #[test]
    fn arithmetic_keeps_units() {
        let t = Celsius(20.0) + Celsius(1.5) - Celsius(0.5);
        assert_eq!(t, Celsius(21.0));
        assert_eq!(
            Celsius(30.0).clamp(Celsius(5.0), Celsius(25.0)),
            Celsius(25.0)
        );
        let total: Watts = [Watts(1.0), Watts(2.5)].into_iter().sum();
        assert_eq!(total, Watts(3.5));
    }
}
