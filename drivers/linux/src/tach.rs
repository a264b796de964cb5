//! Fan tachometer arithmetic, kept apart from the GPIO so it is tested
//! without hardware.
//!
//! An interrupt callback counts tach edges into a monotonically increasing
//! counter; [`TachWindow`] turns successive `(count, now)` samples into
//! revolutions per minute: `rpm = pulses / pulses_per_rev * 60 / window_s`.
//! The window is the time between two samples at least
//! [`TachWindow::min_window`] apart, measured on the caller's `now` (time
//! enters as an argument; this crate does not read the clock).

use hearth_core::peripherals::DeviceError;
use hearth_core::time::Timestamp;
use hearth_core::units::Rpm;
use std::time::Duration;

/// Standard PC fans give two tach pulses per revolution.
pub const DEFAULT_PULSES_PER_REV: u32 = 2;
/// Shortest window an RPM is computed over. At 2 pulses/rev a 1 s window
/// resolves 30 rpm, and even a 600 rpm fan gives 20 pulses.
pub const DEFAULT_MIN_WINDOW: Duration = Duration::from_secs(1);
/// Readings above this are noise on the line, not a fan (as the EMC2101
/// driver's limit).
pub const MAX_PLAUSIBLE_RPM: f64 = 30_000.0;

/// `pulses` counted over `window` with `pulses_per_rev` pulses per
/// revolution, in revolutions per minute. `None` for a zero window or zero
/// pulses per revolution.
pub fn rpm_from_pulses(pulses: u64, pulses_per_rev: u32, window: Duration) -> Option<f64> {
    let secs = window.as_secs_f64();
    if secs <= 0.0 || pulses_per_rev == 0 {
        return None;
    }
    // u64 -> f64 is exact below 2^53 pulses; a count that large is noise
    // and fails the plausibility check anyway.
    Some(pulses as f64 / f64::from(pulses_per_rev) * 60.0 / secs)
}

/// Windowed RPM from a running pulse count.
#[derive(Debug, Clone, PartialEq)]
pub struct TachWindow {
    pulses_per_rev: u32,
    min_window: Duration,
    /// Count and time at the start of the current window.
    start: Option<(u64, Timestamp)>,
    /// The last completed window's result.
    last: Option<Result<Rpm, DeviceError>>,
}

impl TachWindow {
    /// `pulses_per_rev` of 0 is treated as the standard 2; a zero window as
    /// [`DEFAULT_MIN_WINDOW`].
    pub fn new(pulses_per_rev: u32, min_window: Duration) -> TachWindow {
        TachWindow {
            pulses_per_rev: if pulses_per_rev == 0 {
                DEFAULT_PULSES_PER_REV
            } else {
                pulses_per_rev
            },
            min_window: if min_window.is_zero() {
                DEFAULT_MIN_WINDOW
            } else {
                min_window
            },
            start: None,
            last: None,
        }
    }

    pub fn pulses_per_rev(&self) -> u32 {
        self.pulses_per_rev
    }

    pub fn min_window(&self) -> Duration {
        self.min_window
    }

    /// Feed the running `count` at `now`. Returns the RPM of the last window
    /// that is complete: a new one once `min_window` has passed since the
    /// window started, otherwise the previous result.
    ///
    /// Before the first window completes there is no reading:
    /// `DeviceError::Timeout`. A clock that went backwards restarts the
    /// window. A fan that stopped gives 0 rpm after one window (no pulses),
    /// which is what stall detection needs; a rate above
    /// [`MAX_PLAUSIBLE_RPM`] is `Implausible`.
    pub fn update(&mut self, count: u64, now: Timestamp) -> Result<Rpm, DeviceError> {
        let Some((start_count, start_at)) = self.start else {
            self.start = Some((count, now));
            return self.current();
        };
        if now < start_at || count < start_count {
            self.start = Some((count, now));
            return self.current();
        }
        let window = now.since(start_at);
        if window < self.min_window {
            return self.current();
        }
        let pulses = count - start_count;
        self.start = Some((count, now));
        self.last = Some(match rpm_from_pulses(pulses, self.pulses_per_rev, window) {
            Some(rpm) if rpm <= MAX_PLAUSIBLE_RPM => Ok(Rpm(rpm)),
            Some(rpm) => Err(DeviceError::Implausible(format!(
                "tach {rpm:.0} rpm ({pulses} pulses in {:.3} s) is above {MAX_PLAUSIBLE_RPM} rpm: \
                 noise on the tach line?",
                window.as_secs_f64()
            ))),
            None => Err(DeviceError::Timeout),
        });
        self.current()
    }

    fn current(&self) -> Result<Rpm, DeviceError> {
        self.last.clone().unwrap_or(Err(DeviceError::Timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn rpm_math() {
        // 100 pulses in 1 s at 2 pulses/rev = 50 rev/s = 3000 rpm.
        assert_eq!(
            rpm_from_pulses(100, 2, Duration::from_secs(1)),
            Some(3000.0)
        );
        // 50 pulses in 2 s at 2/rev = 12.5 rev/s = 750 rpm.
        assert_eq!(rpm_from_pulses(50, 2, Duration::from_secs(2)), Some(750.0));
        // One pulse per rev (some blower fans).
        assert_eq!(
            rpm_from_pulses(10, 1, Duration::from_millis(500)),
            Some(1200.0)
        );
        assert_eq!(rpm_from_pulses(0, 2, Duration::from_secs(1)), Some(0.0));
        assert_eq!(rpm_from_pulses(10, 2, Duration::ZERO), None);
        assert_eq!(rpm_from_pulses(10, 0, Duration::from_secs(1)), None);
    }

    #[test]
    fn no_reading_before_the_first_window_completes() {
        let mut w = TachWindow::new(2, Duration::from_secs(1));
        assert_eq!(w.update(0, t(10_000)), Err(DeviceError::Timeout));
        assert_eq!(w.update(40, t(10_500)), Err(DeviceError::Timeout));
        assert_eq!(w.update(100, t(11_000)), Ok(Rpm(3000.0)));
    }

    #[test]
    fn short_gaps_keep_the_last_reading_and_the_window_open() {
        let mut w = TachWindow::new(2, Duration::from_secs(1));
        w.update(0, t(0)).unwrap_err();
        assert_eq!(w.update(100, t(1000)), Ok(Rpm(3000.0)));
        // 0.4 s later: too short, same answer, window still open from 1000.
        assert_eq!(w.update(130, t(1400)), Ok(Rpm(3000.0)));
        // 1.5 s after 1000: 60 pulses -> 30 rev / 1.5 s = 1200 rpm.
        assert_eq!(w.update(160, t(2500)), Ok(Rpm(1200.0)));
    }

    #[test]
    fn a_stopped_fan_reads_zero_after_one_window() {
        let mut w = TachWindow::new(2, Duration::from_secs(1));
        w.update(500, t(0)).unwrap_err();
        assert_eq!(w.update(600, t(1000)), Ok(Rpm(3000.0)));
        assert_eq!(w.update(600, t(2000)), Ok(Rpm(0.0)));
    }

    #[test]
    fn clock_going_backwards_restarts_the_window() {
        let mut w = TachWindow::new(2, Duration::from_secs(1));
        w.update(0, t(5000)).unwrap_err();
        assert_eq!(w.update(100, t(6000)), Ok(Rpm(3000.0)));
        // Clock stepped back 6 s: keep the last value, restart at (150, 0).
        assert_eq!(w.update(150, t(0)), Ok(Rpm(3000.0)));
        // 50 pulses in the 1 s since the restart = 1500 rpm.
        assert_eq!(w.update(200, t(1000)), Ok(Rpm(1500.0)));
    }

    #[test]
    fn noise_is_implausible() {
        let mut w = TachWindow::new(2, Duration::from_secs(1));
        w.update(0, t(0)).unwrap_err();
        // 2000 pulses/s at 2/rev = 60 000 rpm.
        assert!(matches!(
            w.update(2000, t(1000)),
            Err(DeviceError::Implausible(_))
        ));
        // Next window is fine again.
        assert_eq!(w.update(2100, t(2000)), Ok(Rpm(3000.0)));
    }

    #[test]
    fn degenerate_parameters_fall_back_to_defaults() {
        let w = TachWindow::new(0, Duration::ZERO);
        assert_eq!(w.pulses_per_rev(), DEFAULT_PULSES_PER_REV);
        assert_eq!(w.min_window(), DEFAULT_MIN_WINDOW);
    }
}
