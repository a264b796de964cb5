//! From a zone's heat power to each board's power target.
//!
//! Boards modulate between a lowest and a highest operating point, and along
//! that range a lower frequency at a lower voltage gives more hashes per joule
//! (dynamic power goes with `f V²`). So for a requested power the splitter
//! runs as many boards as can each stay at or above their lowest point, all
//! at the same fraction of their range, rather than filling one board to
//! full power before starting the next.
//!
//! Below the lowest point of one board there is no operating point: the
//! board cycles at its lowest point, with a delta-sigma accumulator so the
//! average power is what was asked, and with minimum on and off times so a
//! board (and the relays and fans behind it) is not switched every few
//! seconds. The same minimum times apply whenever a board switches off
//! entirely, except when heat must stop at once ([`PowerSplitter::force_off`]:
//! hard limit, mode off, shutdown), which no dwell time delays.

use hearth_core::{Timestamp, Watts};
use std::time::Duration;

/// Default shortest time a board stays on once started.
pub const DEFAULT_MIN_ON: Duration = Duration::from_secs(5 * 60);
/// Default shortest time a board stays off once stopped.
pub const DEFAULT_MIN_OFF: Duration = Duration::from_secs(5 * 60);
/// A board is added only once the power per board would stay this far above
/// the lowest point, so the count does not flap at a boundary.
const ADD_MARGIN: f64 = 1.08;

/// Minimum dwell times of whole-board switching.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dwell {
    pub min_on: Duration,
    pub min_off: Duration,
}

impl Default for Dwell {
    fn default() -> Dwell {
        Dwell {
            min_on: DEFAULT_MIN_ON,
            min_off: DEFAULT_MIN_OFF,
        }
    }
}

/// A board's power range, as its `BoardInfo` states it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardRange {
    pub min_w: Watts,
    pub max_w: Watts,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Gate {
    on: bool,
    /// When it last switched; `None` before the first switch (no dwell owed).
    since: Option<Timestamp>,
}

impl Gate {
    fn held_for(&self, now: Timestamp) -> Duration {
        self.since.map_or(Duration::MAX, |s| now.since(s))
    }

    fn set(&mut self, on: bool, now: Timestamp) {
        if self.on != on {
            self.on = on;
            self.since = Some(now);
        }
    }
}

/// Splitter state for one zone's boards.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PowerSplitter {
    dwell: Dwell,
    gates: Vec<Gate>,
    /// Energy asked for but not yet delivered while cycling, joules.
    deficit_j: f64,
    last: Option<Timestamp>,
}

impl PowerSplitter {
    pub fn new(dwell: Dwell) -> PowerSplitter {
        PowerSplitter {
            dwell,
            ..PowerSplitter::default()
        }
    }

    pub fn set_dwell(&mut self, dwell: Dwell) {
        self.dwell = dwell;
    }

    /// How many boards are on after the last call.
    pub fn running(&self) -> usize {
        self.gates.iter().filter(|g| g.on).count()
    }

    /// Heat must stop now: every board off, no dwell, cycling forgotten.
    /// No minimum off time is owed afterwards either: dwell times keep the
    /// controller from chattering, and a safety stop is not chatter.
    pub fn force_off(&mut self, boards: usize, now: Timestamp) -> Vec<Watts> {
        self.gates.resize(boards, Gate::default());
        for g in &mut self.gates {
            *g = Gate::default();
        }
        self.deficit_j = 0.0;
        self.last = Some(now);
        vec![Watts::ZERO; boards]
    }

    /// Power per board for `target` (the zone's total) at `now`.
    pub fn split(&mut self, target: Watts, boards: &[BoardRange], now: Timestamp) -> Vec<Watts> {
        self.gates.resize(boards.len(), Gate::default());
        // A clock that went backwards (NTP, an RTC reset) would leave a
        // switch time in the future and hold a board off (or on) until the
        // clock caught up, hours later. Count the dwell again from now
        // instead: at most one dwell's wait, never longer.
        for g in &mut self.gates {
            if g.since.is_some_and(|s| s > now) {
                g.since = Some(now);
            }
        }
        if self.last.is_some_and(|t| t > now) {
            self.last = Some(now);
        }
        let dt_s = self
            .last
            .map_or(0.0, |t| now.since(t).as_secs_f64())
            .min(600.0);
        self.last = Some(now);
        let target_w = if target.is_finite() {
            target.get().max(0.0)
        } else {
            0.0
        };
        if boards.is_empty() {
            return Vec::new();
        }

        // How many boards the power can keep at or above their lowest point.
        let min_sum = |k: usize| boards[..k].iter().map(|b| b.min_w.get()).sum::<f64>();
        let running_now = self.running().min(boards.len());
        let mut want = 0;
        for k in 1..=boards.len() {
            let margin = if k > running_now { ADD_MARGIN } else { 1.0 };
            if target_w >= min_sum(k) * margin {
                want = k;
            }
        }

        // Below one board's lowest point: cycle board 0 at its lowest point
        // so that the average matches.
        let lowest = boards[0].min_w.get();
        let cycling = want == 0 && target_w > 0.0;
        if cycling {
            let delivered = if self.gates[0].on { lowest } else { 0.0 };
            self.deficit_j += (target_w - delivered) * dt_s;
            // Bounded: one minimum dwell's worth either way (a minute's at
            // least, so zero dwell times still average correctly).
            let dwell_s = self.dwell.min_on.max(self.dwell.min_off).as_secs_f64();
            let bound = lowest * dwell_s.max(60.0);
            self.deficit_j = self.deficit_j.clamp(-bound, bound);
            let g = self.gates[0];
            want = if g.on {
                usize::from(self.deficit_j > 0.0 || g.held_for(now) < self.dwell.min_on)
            } else {
                usize::from(self.deficit_j >= 0.0 && g.held_for(now) >= self.dwell.min_off)
            };
        } else {
            self.deficit_j = 0.0;
        }

        // Dwell times: a board on for less than its minimum stays on; one off
        // for less than its minimum stays off. Boards are used in order.
        let mut on: Vec<bool> = (0..boards.len()).map(|i| i < want).collect();
        for (i, g) in self.gates.iter().enumerate() {
            if g.on && !on[i] && g.held_for(now) < self.dwell.min_on {
                on[i] = true;
            }
            if !g.on && on[i] && g.held_for(now) < self.dwell.min_off {
                on[i] = false;
            }
        }
        for (g, &o) in self.gates.iter_mut().zip(&on) {
            g.set(o, now);
        }

        // Share the target at one fraction of each running board's range.
        let running: Vec<&BoardRange> = boards
            .iter()
            .zip(&on)
            .filter(|(_, &o)| o)
            .map(|(b, _)| b)
            .collect();
        let (lo, hi): (f64, f64) = running.iter().fold((0.0, 0.0), |(l, h), b| {
            (l + b.min_w.get(), h + b.max_w.get())
        });
        let fraction = if hi > lo {
            ((target_w - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        boards
            .iter()
            .zip(&on)
            .map(|(b, &o)| {
                if o {
                    Watts(b.min_w.get() + fraction * (b.max_w.get() - b.min_w.get()))
                } else {
                    Watts::ZERO
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boards(n: usize) -> Vec<BoardRange> {
        vec![
            BoardRange {
                min_w: Watts(400.0),
                max_w: Watts(1500.0),
            };
            n
        ]
    }

    fn at(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn runs_as_many_boards_as_stay_above_their_lowest_point_at_equal_share() {
        let mut s = PowerSplitter::new(Dwell::default());
        let p = s.split(Watts(1500.0), &boards(3), at(0));
        // 3 x 400 = 1200 <= 1500 / 1.08: all three, each at 500 W.
        assert_eq!(p.len(), 3);
        for w in &p {
            assert!((w.get() - 500.0).abs() < 1e-9, "{p:?}");
        }
        let mut s = PowerSplitter::new(Dwell::default());
        let p = s.split(Watts(1000.0), &boards(3), at(0));
        assert_eq!(p.iter().filter(|w| w.get() > 0.0).count(), 2, "{p:?}");
        assert!((p[0].get() - 500.0).abs() < 1e-9);
        let total: f64 = s
            .split(Watts(9000.0), &boards(3), at(10))
            .iter()
            .map(|w| w.get())
            .sum();
        assert_eq!(total, 4500.0, "saturates at the sum of maxima");
    }

    #[test]
    fn below_the_lowest_point_it_cycles_with_the_right_average_and_dwell() {
        let dwell = Dwell {
            min_on: Duration::from_secs(300),
            min_off: Duration::from_secs(300),
        };
        let mut s = PowerSplitter::new(dwell);
        let (mut energy, mut starts, mut was_on) = (0.0, 0, false);
        let (mut run_s, mut longest_gap_ok) = (0u64, true);
        let mut last_switch = 0u64;
        for t in (0..4 * 3600).step_by(10) {
            let p = s.split(Watts(100.0), &boards(1), at(t))[0].get();
            let on = p > 0.0;
            assert!(p == 0.0 || p == 400.0, "only off or the lowest point: {p}");
            if on != was_on {
                if t > 0 && t - last_switch < 300 {
                    longest_gap_ok = false;
                }
                last_switch = t;
                if on {
                    starts += 1;
                }
            }
            was_on = on;
            energy += p * 10.0;
            run_s += 10;
        }
        let mean_w = energy / run_s as f64;
        assert!((mean_w - 100.0).abs() < 10.0, "mean {mean_w}");
        assert!(longest_gap_ok, "a switch came sooner than the dwell");
        // 25 % duty with 5-minute minimum on: at most 3 starts per hour.
        assert!((4..=12).contains(&starts), "{starts} starts in 4 h");
    }

    #[test]
    fn minimum_on_time_holds_a_board_but_force_off_does_not_wait() {
        let mut s = PowerSplitter::new(Dwell::default());
        assert!(s.split(Watts(1000.0), &boards(1), at(0))[0].get() > 0.0);
        // Demand gone after one minute: the board stays at its lowest point.
        assert_eq!(s.split(Watts(0.0), &boards(1), at(60))[0], Watts(400.0));
        assert_eq!(s.split(Watts(0.0), &boards(1), at(300))[0], Watts::ZERO);
        // Off for less than the minimum: it does not restart yet.
        assert_eq!(s.split(Watts(1000.0), &boards(1), at(360))[0], Watts::ZERO);
        assert!(s.split(Watts(1000.0), &boards(1), at(600))[0].get() > 0.0);
        assert_eq!(s.force_off(1, at(610)), vec![Watts::ZERO]);
        assert_eq!(s.running(), 0);
        // After a safety stop heat may resume as soon as it is allowed.
        assert!(s.split(Watts(1000.0), &boards(1), at(620))[0].get() > 0.0);
    }

    #[test]
    fn a_clock_that_jumps_back_delays_heat_by_one_dwell_at_most() {
        let dwell = Dwell {
            min_on: Duration::from_secs(300),
            min_off: Duration::from_secs(300),
        };
        let mut s = PowerSplitter::new(dwell);
        let b = boards(1);
        // Running, then switched off at a clock 20 h ahead.
        s.split(Watts(1000.0), &b, at(80_000));
        s.force_off(1, at(80_000));
        // The clock comes back 20 h; heat is asked for again.
        let mut first_on = None;
        for t in (10_000..12_000).step_by(10) {
            if s.split(Watts(1000.0), &b, at(t))[0].get() > 0.0 {
                first_on = Some(t);
                break;
            }
        }
        let first_on = first_on.expect("heat resumes after a backward clock jump");
        assert!(first_on <= 10_000 + 300, "waited {} s", first_on - 10_000);
    }

    #[test]
    fn garbage_targets_mean_no_heat() {
        let mut s = PowerSplitter::new(Dwell::default());
        assert_eq!(
            s.split(Watts(f64::NAN), &boards(2), at(0)),
            vec![Watts::ZERO; 2]
        );
        assert_eq!(
            s.split(Watts(-5.0), &boards(2), at(10)),
            vec![Watts::ZERO; 2]
        );
        assert!(s.split(Watts(100.0), &[], at(20)).is_empty());
    }
}
