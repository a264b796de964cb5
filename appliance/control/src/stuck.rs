//! A thermometer stuck at one value while its zone heats hard.
//!
//! A sensor that stops updating but keeps answering (a frozen 1-wire
//! driver, an I2C sensor returning its last conversion, a probe reporting a
//! cached value) looks healthy to every other check, and a reading stuck
//! below the setpoint makes the controller heat at full power forever. The
//! fault campaign found exactly that: a room driven past its hard limit by
//! two boards behind a stuck sensor (docs/reliability.md).
//!
//! A room heated at (nearly) full power does not stay inside one
//! quantisation step (1/16 K for TMP75 and DS18B20) for ten minutes. So a
//! reading bit-identical for [`STUCK_AFTER`] while demand stays at or above
//! [`HARD_DEMAND`] is declared stuck, and stays so until the reading
//! changes. The price of a false alarm (a room at full power that really is
//! not warming, in a cold snap beyond the boards' capacity) is a short
//! pause of the heat until the reading moves: safe, and counted.

use hearth_core::{Celsius, Timestamp};
use std::time::Duration;

pub const STUCK_AFTER: Duration = Duration::from_secs(600);
pub const HARD_DEMAND: f64 = 0.9;

#[derive(Debug, Clone, Default)]
pub struct StuckWatch {
    last_bits: Option<u64>,
    /// Since when the reading has been the same with demand hard.
    same_since: Option<Timestamp>,
    latched: bool,
}

impl StuckWatch {
    /// Observes a reading taken while the zone's last demand was `demand`.
    /// Returns true while the sensor counts as stuck.
    pub fn observe(&mut self, reading: Celsius, demand: f64, now: Timestamp) -> bool {
        let bits = reading.get().to_bits();
        if self.last_bits != Some(bits) {
            self.last_bits = Some(bits);
            self.same_since = None;
            self.latched = false;
            return false;
        }
        if self.latched {
            return true;
        }
        if demand < HARD_DEMAND {
            self.same_since = None;
            return false;
        }
        let since = *self.same_since.get_or_insert(now);
        if now.since(since) >= STUCK_AFTER {
            self.latched = true;
        }
        self.latched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn a_frozen_reading_under_full_demand_is_stuck_until_it_moves() {
        let mut w = StuckWatch::default();
        let c = Celsius(18.0625);
        assert!(!w.observe(c, 1.0, at(0)));
        assert!(!w.observe(c, 1.0, at(10)));
        assert!(!w.observe(c, 1.0, at(609)));
        assert!(w.observe(c, 1.0, at(610)));
        // Latched: the heat stopping (demand falls) does not clear it.
        assert!(w.observe(c, 0.0, at(620)));
        assert!(w.observe(c, 0.0, at(5000)));
        // A changed reading does.
        assert!(!w.observe(Celsius(18.125), 0.0, at(5010)));
    }

    #[test]
    fn a_steady_room_at_partial_demand_is_not_stuck() {
        let mut w = StuckWatch::default();
        let c = Celsius(21.0);
        for s in 0..10_000 {
            assert!(!w.observe(c, 0.6, at(s * 10)));
        }
        // Hard demand interrupted restarts the count.
        assert!(!w.observe(c, 1.0, at(200_000)));
        assert!(!w.observe(c, 0.5, at(200_500)));
        assert!(!w.observe(c, 1.0, at(200_510)));
        assert!(!w.observe(c, 1.0, at(201_000)));
        assert!(w.observe(c, 1.0, at(201_110)));
    }
}
