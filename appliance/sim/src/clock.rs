//! Clocks for simulation: a virtual clock the scenario runner sets, and a
//! scaled clock that lets `hearth run --sim` run faster than the wall.

use hearth_core::{Clock, Timestamp};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Time is whatever the runner last set.
#[derive(Debug, Default)]
pub struct VirtualClock(AtomicU64);

impl VirtualClock {
    pub fn new(start: Timestamp) -> VirtualClock {
        VirtualClock(AtomicU64::new(start.as_millis()))
    }

    pub fn set(&self, now: Timestamp) {
        self.0.fetch_max(now.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// Starts at `start` and runs `speed` times faster than a monotonic wall
/// clock (so the simulation never sees a jump when the system time is set).
#[derive(Debug)]
pub struct ScaledClock {
    start: Timestamp,
    origin: Instant,
    speed: f64,
}

impl ScaledClock {
    pub fn new(start: Timestamp, speed: f64) -> ScaledClock {
        ScaledClock {
            start,
            origin: Instant::now(),
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let elapsed_ms = self.origin.elapsed().as_secs_f64() * 1000.0 * self.speed;
        Timestamp(self.start.as_millis().saturating_add(elapsed_ms as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_only_moves_forward() {
        let c = VirtualClock::new(Timestamp(10));
        c.set(Timestamp(20));
        c.set(Timestamp(15));
        assert_eq!(c.now(), Timestamp(20));
    }

    #[test]
    fn scaled_clock_runs_fast() {
        let c = ScaledClock::new(Timestamp(0), 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(c.now().as_millis() >= 20_000);
    }
}
