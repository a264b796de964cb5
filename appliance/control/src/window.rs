//! Open-window detection: from a contact when there is one, else from the
//! temperature falling faster than heating ever lets it (a window open in
//! winter drops a room by several kelvin per hour). While a window is open
//! the zone does not heat (frost protection aside), for at most
//! [`WindowDetector::hold`] after a slope detection, so a false alarm costs
//! half an hour, not a cold evening; after a hold the slope is ignored for
//! [`REARM_AFTER`], because a room left unheated cools fast by itself and
//! must not hold itself off for ever.
//!
//! The slope rule is off unless a threshold is set
//! ([`WindowDetector::drop_k_per_h`]): how fast a room cools unheated
//! depends on its furniture and walls (the simulator's default room, air
//! only, cools at over 7 K/h the moment heat stops), so the threshold is a
//! per-zone setting, -3 K/h being typical for a furnished room.

use hearth_core::{Celsius, Timestamp};
use std::collections::VecDeque;
use std::time::Duration;

/// A typical threshold for a furnished room.
pub const TYPICAL_DROP_K_PER_H: f64 = 3.0;
/// After a slope hold, the slope is ignored this long.
pub const REARM_AFTER: Duration = Duration::from_secs(60 * 60);
/// Slope over this window (long enough to see through sensor noise).
const SLOPE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Samples kept: a bound whatever the tick rate.
const MAX_SAMPLES: usize = 128;
/// How long a slope detection holds heat off.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone, PartialEq)]
pub struct WindowDetector {
    /// A drop at least this fast means an open window; `None`: slope rule off.
    pub drop_k_per_h: Option<f64>,
    pub hold: Duration,
    samples: VecDeque<(Timestamp, f64)>,
    open_until: Option<Timestamp>,
    rearm_at: Option<Timestamp>,
}

impl Default for WindowDetector {
    fn default() -> WindowDetector {
        WindowDetector {
            drop_k_per_h: None,
            hold: DEFAULT_HOLD,
            samples: VecDeque::new(),
            open_until: None,
            rearm_at: None,
        }
    }
}

/// Why heat is held for a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowState {
    Closed,
    /// The contact says open.
    ContactOpen,
    /// The temperature fell at this rate, K/h (negative).
    FastDrop(f64),
}

impl WindowDetector {
    /// One reading. `contact` is a fresh contact state, if the zone has one:
    /// it decides alone. Without one, the slope over the last ten minutes.
    pub fn observe(
        &mut self,
        temperature: Option<Celsius>,
        contact: Option<bool>,
        now: Timestamp,
    ) -> WindowState {
        if let Some(open) = contact {
            self.open_until = None;
            return if open {
                WindowState::ContactOpen
            } else {
                WindowState::Closed
            };
        }
        if let Some(t) = temperature.filter(|t| t.is_finite()) {
            if self.samples.len() >= MAX_SAMPLES {
                self.samples.pop_front();
            }
            self.samples.push_back((now, t.get()));
        }
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.since(*at) > SLOPE_WINDOW)
        {
            self.samples.pop_front();
        }
        let slope = match (self.samples.front(), self.samples.back()) {
            (Some((t0, v0)), Some((t1, v1))) => {
                let h = t1.since(*t0).as_secs_f64() / 3600.0;
                // Only over most of the window, so two samples a tick apart
                // cannot raise an alarm.
                (h >= 0.8 * SLOPE_WINDOW.as_secs_f64() / 3600.0).then(|| (v1 - v0) / h)
            }
            _ => None,
        };
        let armed = self.rearm_at.is_none_or(|at| now >= at);
        if let (Some(s), Some(limit), true) = (slope, self.drop_k_per_h, armed) {
            if s <= -limit.abs() {
                self.open_until = Some(now.plus(self.hold));
                self.rearm_at = Some(now.plus(self.hold).plus(REARM_AFTER));
                return WindowState::FastDrop(s);
            }
        }
        match self.open_until {
            Some(until) if now < until => WindowState::FastDrop(slope.unwrap_or(0.0)),
            _ => {
                self.open_until = None;
                WindowState::Closed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fast_drop_opens_for_the_hold_time_a_slow_one_does_not() {
        let mut w = WindowDetector {
            drop_k_per_h: Some(TYPICAL_DROP_K_PER_H),
            ..WindowDetector::default()
        };
        // 2 K/h for 20 minutes: no alarm.
        for s in (0..1200).step_by(10) {
            let t = 21.0 - 2.0 * s as f64 / 3600.0;
            assert_eq!(
                w.observe(Some(Celsius(t)), None, Timestamp::from_secs(s)),
                WindowState::Closed
            );
        }
        // Then 6 K/h: an alarm within the slope window.
        let mut opened_at = None;
        for s in (1200..2400).step_by(10) {
            let t = 20.33 - 6.0 * (s - 1200) as f64 / 3600.0;
            if let WindowState::FastDrop(rate) =
                w.observe(Some(Celsius(t)), None, Timestamp::from_secs(s))
            {
                assert!(rate <= -3.0);
                opened_at.get_or_insert(s);
            }
        }
        let opened_at = opened_at.unwrap_or(u64::MAX);
        assert!(opened_at < 1200 + 600, "{opened_at}");
        // Steady afterwards: still held until 30 min after the last fast reading.
        let steady = 18.4;
        assert!(matches!(
            w.observe(
                Some(Celsius(steady)),
                None,
                Timestamp::from_secs(2400 + 600)
            ),
            WindowState::FastDrop(_)
        ));
        assert_eq!(
            w.observe(
                Some(Celsius(steady)),
                None,
                Timestamp::from_secs(2400 + 1900)
            ),
            WindowState::Closed
        );
        // Falling fast again within the re-arm time: ignored; after it, seen.
        let fall = |w: &mut WindowDetector, from: u64| {
            let mut seen = false;
            for s in (from..from + 900).step_by(10) {
                let t = 18.0 - 6.0 * (s - from) as f64 / 3600.0;
                seen |= w.observe(Some(Celsius(t)), None, Timestamp::from_secs(s))
                    != WindowState::Closed;
            }
            seen
        };
        assert!(!fall(&mut w, 4400));
        assert!(fall(&mut w, 2400 + 1800 + 3600 + 600));
        // Without a threshold the slope rule is off.
        assert!(!fall(&mut WindowDetector::default(), 0));
    }

    #[test]
    fn a_contact_decides_alone() {
        let mut w = WindowDetector::default();
        let now = Timestamp::from_secs(0);
        assert_eq!(
            w.observe(Some(Celsius(20.0)), Some(true), now),
            WindowState::ContactOpen
        );
        assert_eq!(w.observe(None, Some(false), now), WindowState::Closed);
        // One noisy pair of readings a tick apart is no slope.
        let mut w = WindowDetector::default();
        w.observe(Some(Celsius(21.0)), None, Timestamp::from_secs(0));
        assert_eq!(
            w.observe(Some(Celsius(20.0)), None, Timestamp::from_secs(10)),
            WindowState::Closed
        );
    }
}
