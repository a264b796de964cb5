//! Variable difficulty for a LAN miner: aim for one share every
//! `target_interval`, so a Bitaxe and an S9 on the same server both send a
//! steady, small stream of shares (enough to measure their hashrate, few
//! enough not to flood the Pi).
//!
//! Sans-IO: the caller says when a share arrived and when time passed;
//! [`Vardiff`] answers with a new difficulty when one is due. Changes are
//! bounded (at most 4x per retarget) and only made when the rate is off by
//! more than 2x, so the difficulty does not flap.

use hearth_core::Timestamp;
use std::time::Duration;

/// At most this factor per retarget, up or down.
const MAX_STEP: f64 = 4.0;
/// No change while the share rate is within this factor of the aim.
const DEAD_BAND: f64 = 2.0;
/// A retarget as soon as this many shares came in (fast ramp-up from a
/// low start), even before the period is over.
const EARLY_SHARES: u32 = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct VardiffConfig {
    pub start: f64,
    pub min: f64,
    pub max: f64,
    /// The aim: one share this often.
    pub target_interval: Duration,
    /// How often the rate is looked at.
    pub retarget_every: Duration,
}

#[derive(Debug, Clone)]
pub struct Vardiff {
    cfg: VardiffConfig,
    difficulty: f64,
    since: Timestamp,
    shares: u32,
}

impl Vardiff {
    /// `cfg.start` is clamped into `[min, max]`.
    pub fn new(cfg: VardiffConfig, now: Timestamp) -> Vardiff {
        let difficulty = clamp(cfg.start, cfg.min, cfg.max);
        Vardiff {
            cfg,
            difficulty,
            since: now,
            shares: 0,
        }
    }

    pub fn difficulty(&self) -> f64 {
        self.difficulty
    }

    /// A share at the current difficulty arrived. `Some(new difficulty)`
    /// when it is time to change.
    pub fn on_share(&mut self, now: Timestamp) -> Option<f64> {
        self.shares = self.shares.saturating_add(1);
        if self.shares >= EARLY_SHARES {
            return self.retarget(now);
        }
        self.on_tick(now)
    }

    /// Time passed. `Some(new difficulty)` when it is time to change.
    pub fn on_tick(&mut self, now: Timestamp) -> Option<f64> {
        if now.since(self.since) >= self.cfg.retarget_every {
            return self.retarget(now);
        }
        None
    }

    fn retarget(&mut self, now: Timestamp) -> Option<f64> {
        let elapsed_s = now.since(self.since).as_secs_f64();
        let shares = self.shares;
        self.since = now;
        self.shares = 0;
        let aim_s = self.cfg.target_interval.as_secs_f64();
        if elapsed_s <= 0.0 || aim_s <= 0.0 {
            return None;
        }
        // Shares per aim interval; 1.0 is on target.
        let rate = f64::from(shares) * aim_s / elapsed_s;
        let factor = if shares == 0 {
            1.0 / MAX_STEP
        } else {
            rate.clamp(1.0 / MAX_STEP, MAX_STEP)
        };
        if (1.0 / DEAD_BAND..=DEAD_BAND).contains(&rate) {
            return None;
        }
        let next = clamp(self.difficulty * factor, self.cfg.min, self.cfg.max);
        if next == self.difficulty || !next.is_finite() {
            return None;
        }
        self.difficulty = next;
        Some(next)
    }
}

fn clamp(d: f64, min: f64, max: f64) -> f64 {
    if d.is_nan() {
        return min;
    }
    d.max(min).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> VardiffConfig {
        VardiffConfig {
            start: 100.0,
            min: 1.0,
            max: 10_000.0,
            target_interval: Duration::from_secs(10),
            retarget_every: Duration::from_secs(60),
        }
    }

    #[test]
    fn too_many_shares_raise_the_difficulty_at_most_fourfold() {
        let t0 = Timestamp::from_secs(1000);
        let mut v = Vardiff::new(cfg(), t0);
        // 16 shares in 16 s: 10 per aim interval, capped at 4x.
        let mut changed = None;
        for i in 1..=16 {
            changed = v.on_share(t0.plus(Duration::from_secs(i)));
            if i < 16 {
                assert_eq!(changed, None, "share {i}");
            }
        }
        assert_eq!(changed, Some(400.0));
        assert_eq!(v.difficulty(), 400.0);
    }

    #[test]
    fn on_target_rates_change_nothing_and_silence_lowers_it() {
        let t0 = Timestamp::from_secs(0);
        let mut v = Vardiff::new(cfg(), t0);
        // 6 shares in 60 s: on target.
        for i in 1..=6 {
            assert_eq!(v.on_share(t0.plus(Duration::from_secs(i * 10))), None);
        }
        assert_eq!(v.difficulty(), 100.0);
        // Silence for a period: a quarter.
        assert_eq!(v.on_tick(t0.plus(Duration::from_secs(121))), Some(25.0));
        // Down to the floor and no further.
        let mut t = 121;
        for _ in 0..10 {
            t += 61;
            v.on_tick(t0.plus(Duration::from_secs(t)));
        }
        assert_eq!(v.difficulty(), 1.0);
        assert_eq!(v.on_tick(t0.plus(Duration::from_secs(t + 61))), None);
    }

    #[test]
    fn the_start_is_clamped() {
        let t = Timestamp::from_secs(0);
        let v = Vardiff::new(
            VardiffConfig {
                start: 1e9,
                ..cfg()
            },
            t,
        );
        assert_eq!(v.difficulty(), 10_000.0);
        let v = Vardiff::new(
            VardiffConfig {
                start: f64::NAN,
                ..cfg()
            },
            t,
        );
        assert_eq!(v.difficulty(), 1.0);
    }
}
