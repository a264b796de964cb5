//! The control loop's clock on real hardware: the wall clock's date, the
//! monotonic clock's steadiness.
//!
//! A Raspberry Pi has no real-time clock. The image keeps systemd's saved
//! time in RAM, so every boot starts at a date baked into the image and
//! NTP steps the clock, often by months, a few seconds after Hearth has
//! started (it must not wait for the network to heat). A clock aligned to
//! the wall once at start and monotonic after that never saw the step: the
//! weekly schedules ran on the wrong day until the next restart.
//!
//! [`WallClock`] runs on the monotonic clock and re-aligns to the wall
//! clock when the two differ by more than [`STEP_TOLERANCE`], in either
//! direction. Between steps it never goes back, and NTP's slewing (which
//! moves both clocks at the same rate) makes no steps. Everything that
//! takes this clock's `now` must tolerate a step; the control core does
//! (`hearth_control::house::known_age` and the appliance's drop of values
//! stamped before a step back, checked by the fault campaign's clock
//! jumps). Timing that must never jump (board tasks, the work pipeline,
//! the heartbeat) uses a monotonic clock instead.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hearth_core::{Clock, Timestamp};

/// A difference between the wall clock and ours larger than this is a step
/// (an NTP step, `date -s`, a restored RTC), followed at once. Smaller
/// ones are the rounding of the two reads and are kept out of the control
/// loop's time. Under the control core's 5 s skew tolerance, so a step it
/// does not see as one stays inside what it accepts.
pub const STEP_TOLERANCE: Duration = Duration::from_secs(2);

type WallSource = Box<dyn Fn() -> Timestamp + Send + Sync>;
type SteadySource = Box<dyn Fn() -> Duration + Send + Sync>;

pub struct WallClock {
    wall: WallSource,
    steady: SteadySource,
    anchor: Mutex<Anchor>,
    steps: AtomicU64,
    last_step_ms: AtomicI64,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    wall: Timestamp,
    steady: Duration,
}

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WallClock")
            .field("steps", &self.steps())
            .finish()
    }
}

impl WallClock {
    /// The system's wall clock over `std::time::Instant`.
    pub fn system() -> WallClock {
        let origin = std::time::Instant::now();
        WallClock::with_sources(
            Box::new(|| crate::backends::SystemClock.now()),
            Box::new(move || origin.elapsed()),
        )
    }

    /// Over any wall and steady sources (tests).
    pub fn with_sources(wall: WallSource, steady: SteadySource) -> WallClock {
        let anchor = Anchor {
            wall: wall(),
            steady: steady(),
        };
        WallClock {
            wall,
            steady,
            anchor: Mutex::new(anchor),
            steps: AtomicU64::new(0),
            last_step_ms: AtomicI64::new(0),
        }
    }

    /// How many steps were followed since start.
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }

    /// The last step followed, in ms (negative: back); 0 before any.
    pub fn last_step_ms(&self) -> i64 {
        self.last_step_ms.load(Ordering::Relaxed)
    }
}

impl Clock for WallClock {
    fn now(&self) -> Timestamp {
        let steady = (self.steady)();
        let wall = (self.wall)();
        let mut anchor = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        // A steady source never goes back; if one did, no time passed.
        let ran = steady.saturating_sub(anchor.steady);
        let ours = anchor
            .wall
            .as_millis()
            .saturating_add(u64::try_from(ran.as_millis()).unwrap_or(u64::MAX));
        let diff_ms = i128::from(wall.as_millis()) - i128::from(ours);
        let tolerance_ms = i128::from(STEP_TOLERANCE.as_millis() as u64);
        if diff_ms.abs() > tolerance_ms {
            *anchor = Anchor { wall, steady };
            drop(anchor);
            self.steps.fetch_add(1, Ordering::Relaxed);
            let step =
                i64::try_from(diff_ms).unwrap_or(if diff_ms < 0 { i64::MIN } else { i64::MAX });
            self.last_step_ms.store(step, Ordering::Relaxed);
            tracing::warn!(
                step_s = step as f64 / 1000.0,
                "the system clock stepped; the control loop follows it"
            );
            return wall;
        }
        Timestamp::from_millis(ours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A wall and a steady clock the test moves by hand.
    struct Hands {
        wall_ms: Arc<AtomicU64>,
        steady_ms: Arc<AtomicU64>,
        clock: WallClock,
    }

    fn hands(wall_ms: u64) -> Hands {
        let w = Arc::new(AtomicU64::new(wall_ms));
        let s = Arc::new(AtomicU64::new(1_000));
        let (w2, s2) = (w.clone(), s.clone());
        let clock = WallClock::with_sources(
            Box::new(move || Timestamp::from_millis(w2.load(Ordering::SeqCst))),
            Box::new(move || Duration::from_millis(s2.load(Ordering::SeqCst))),
        );
        Hands {
            wall_ms: w,
            steady_ms: s,
            clock,
        }
    }

    impl Hands {
        /// Both clocks run `ms` (time passes).
        fn run(&self, ms: u64) {
            self.wall_ms.fetch_add(ms, Ordering::SeqCst);
            self.steady_ms.fetch_add(ms, Ordering::SeqCst);
        }
        fn set_wall(&self, ms: u64) {
            self.wall_ms.store(ms, Ordering::SeqCst);
        }
    }

    // 2025-06-01 00:00 UTC, a date an image could boot at, and a year later.
    const BOOT: u64 = 1_748_736_000_000;
    const YEAR_MS: u64 = 365 * 86_400_000;

    #[test]
    fn it_follows_an_ntp_step_forward_and_runs_on_from_there() {
        let h = hands(BOOT);
        assert_eq!(h.clock.now().as_millis(), BOOT);
        h.run(10_000);
        assert_eq!(h.clock.now().as_millis(), BOOT + 10_000);
        // NTP syncs: the date jumps a year ahead.
        h.set_wall(BOOT + YEAR_MS + 10_000);
        assert_eq!(h.clock.now().as_millis(), BOOT + YEAR_MS + 10_000);
        assert_eq!(h.clock.steps(), 1);
        assert_eq!(h.clock.last_step_ms(), YEAR_MS as i64);
        h.run(500);
        assert_eq!(h.clock.now().as_millis(), BOOT + YEAR_MS + 10_500);
        assert_eq!(h.clock.steps(), 1);
    }

    #[test]
    fn it_follows_a_step_back() {
        let h = hands(BOOT + 3_600_000);
        h.run(1_000);
        h.set_wall(BOOT);
        assert_eq!(h.clock.now().as_millis(), BOOT);
        assert_eq!(h.clock.last_step_ms(), -3_601_000);
        h.run(250);
        assert_eq!(h.clock.now().as_millis(), BOOT + 250);
    }

    #[test]
    fn differences_within_the_tolerance_do_not_move_it() {
        let h = hands(BOOT);
        h.run(60_000);
        // The wall clock read 1.9 s behind (or ahead): ours runs on steadily.
        h.set_wall(BOOT + 60_000 - 1_900);
        assert_eq!(h.clock.now().as_millis(), BOOT + 60_000);
        h.set_wall(BOOT + 60_000 + 1_900);
        assert_eq!(h.clock.now().as_millis(), BOOT + 60_000);
        assert_eq!(h.clock.steps(), 0);
        // 2.1 s is a step.
        h.set_wall(BOOT + 60_000 + 2_100);
        assert_eq!(h.clock.now().as_millis(), BOOT + 62_100);
        assert_eq!(h.clock.steps(), 1);
    }

    #[test]
    fn a_wall_clock_that_stands_still_is_not_followed_within_the_tolerance() {
        // Between steps our time is the steady clock's: a wall clock that
        // stalls for a second does not stall the control loop.
        let h = hands(BOOT);
        h.steady_ms.fetch_add(1_000, Ordering::SeqCst);
        let a = h.clock.now();
        h.steady_ms.fetch_add(500, Ordering::SeqCst);
        let b = h.clock.now();
        assert_eq!(b.as_millis() - a.as_millis(), 500);
    }

    #[test]
    fn the_system_clock_is_today() {
        let c = WallClock::system();
        let t = c.now().as_millis();
        let sys = crate::backends::SystemClock.now().as_millis();
        assert!(t.abs_diff(sys) < 1_000, "{t} vs {sys}");
        assert_eq!(c.steps(), 0);
    }
}
