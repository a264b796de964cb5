//! Time enters every pure core as an argument. A [`Timestamp`] is milliseconds
//! since the Unix epoch: the daemon fills it from the wall clock, the simulator
//! from a virtual clock that runs as fast as the CPU allows.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms)
    }

    pub const fn from_secs(s: u64) -> Timestamp {
        Timestamp(s.saturating_mul(1000))
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// `self + d`, saturating rather than wrapping: a far-future timestamp is
    /// harmless, a wrapped one would look like the distant past.
    pub fn plus(self, d: Duration) -> Timestamp {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// Time elapsed since `earlier`; zero when the clock went backwards.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// Seconds into the (UTC) day, for daily weather and schedules.
    pub fn second_of_day(self) -> u64 {
        (self.0 / 1000) % 86_400
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// Where "now" comes from. Real: the system clock. Simulated: a virtual clock
/// advanced by the scenario runner, or a scaled clock in `hearth run --sim`.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_never_goes_negative() {
        let a = Timestamp::from_secs(10);
        let b = Timestamp::from_secs(12);
        assert_eq!(b.since(a), Duration::from_secs(2));
        assert_eq!(a.since(b), Duration::ZERO);
    }

    #[test]
    fn plus_saturates() {
        assert_eq!(
            Timestamp(u64::MAX - 1).plus(Duration::from_secs(5)),
            Timestamp(u64::MAX)
        );
        assert_eq!(
            Timestamp(1000).plus(Duration::from_millis(250)),
            Timestamp(1250)
        );
    }

    #[test]
    fn second_of_day_wraps_daily() {
        assert_eq!(Timestamp::from_secs(86_400 + 61).second_of_day(), 61);
    }
}
