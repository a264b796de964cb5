//! Work-source statistics: shares accepted, rejected, stale and lost per
//! source, the effective hashrate those shares prove, and what to expect
//! from it (time to a share, to a block, earnings).
//!
//! Effective hashrate: a share at difficulty `d` is worth `d * 2^32`
//! hashes on average, so the accepted difficulty in a sliding window over
//! the window's length estimates the hashrate (noisy with few shares; the
//! count is shown beside it).

use hearth_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// The window the effective hashrate is measured over.
pub const HASHRATE_WINDOW: Duration = Duration::from_secs(600);
/// Shares kept in the window at most.
const MAX_WINDOW_SHARES: usize = 4096;
const TWO_POW_32: f64 = 4_294_967_296.0;
/// Blocks a day the whole network makes (one per ten minutes: difficulty
/// retargets toward it). No miner finds more than the whole network, so
/// the earnings estimate never counts more than this many blocks a day,
/// however small the difficulty (regtest's is ~5e-10, which would otherwise
/// promise ~1e27 sat/day).
pub const MAX_BLOCKS_PER_DAY: f64 = 144.0;

/// Counters that are persisted (they survive a restart).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub accepted: u64,
    pub rejected: u64,
    pub stale: u64,
    /// Submits never answered (timeout, or a session that did not resume).
    pub lost: u64,
    /// Blocks found (a share that met the block target).
    pub blocks: u64,
    /// Sum of the difficulty of accepted shares.
    pub accepted_difficulty: f64,
}

#[derive(Debug, Clone, Default)]
pub struct SourceStats {
    pub counters: Counters,
    window: VecDeque<(Timestamp, f64)>,
    /// The source's share difficulty now.
    pub share_difficulty: f64,
    /// The network's difficulty (from the job's nBits).
    pub network_difficulty: f64,
}

/// What the status API shows for a source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsView {
    #[serde(flatten)]
    pub counters: Counters,
    pub share_difficulty: f64,
    pub network_difficulty: f64,
    /// From accepted shares over [`HASHRATE_WINDOW`].
    pub effective_hashrate_ghs: f64,
    pub shares_in_window: usize,
    /// At `hashrate_ghs` (the boards' own figure).
    pub expected_time_to_share_s: Option<f64>,
    pub expected_time_to_block_s: Option<f64>,
    /// Expected sat per day at `hashrate_ghs` for a block reward of
    /// `block_reward_sat` (solo or proportional pool; before fees).
    pub expected_sat_per_day: Option<f64>,
    /// The estimate hit [`MAX_BLOCKS_PER_DAY`] (a test network's tiny
    /// difficulty): it is a ceiling, not an expectation.
    pub expected_sat_per_day_capped: bool,
}

impl SourceStats {
    pub fn new(counters: Counters) -> SourceStats {
        SourceStats {
            counters,
            ..SourceStats::default()
        }
    }

    fn trim(&mut self, now: Timestamp) {
        while self
            .window
            .front()
            .is_some_and(|(t, _)| now.since(*t) > HASHRATE_WINDOW)
            || self.window.len() > MAX_WINDOW_SHARES
        {
            self.window.pop_front();
        }
    }

    pub fn accepted(&mut self, difficulty: f64, now: Timestamp) {
        self.counters.accepted += 1;
        if difficulty.is_finite() && difficulty > 0.0 {
            self.counters.accepted_difficulty += difficulty;
            self.window.push_back((now, difficulty));
        }
        self.trim(now);
    }

    pub fn rejected(&mut self, stale: bool) {
        if stale {
            self.counters.stale += 1;
        } else {
            self.counters.rejected += 1;
        }
    }

    pub fn lost(&mut self, count: usize) {
        self.counters.lost += count as u64;
    }

    pub fn block(&mut self) {
        self.counters.blocks += 1;
    }

    /// Hashes per second the window's accepted shares prove.
    pub fn effective_hashrate_hs(&mut self, now: Timestamp, started: Timestamp) -> f64 {
        self.trim(now);
        let span = now.since(started).min(HASHRATE_WINDOW).as_secs_f64();
        if span <= 0.0 {
            return 0.0;
        }
        let d = self.window.iter().fold(0.0, |acc, (_, d)| acc + d);
        d * TWO_POW_32 / span
    }

    /// The view at `hashrate_ghs` (the boards' own hashrate), counting the
    /// window from `started` (when the source became active, or the window).
    pub fn view(
        &mut self,
        now: Timestamp,
        started: Timestamp,
        hashrate_ghs: f64,
        block_reward_sat: u64,
    ) -> StatsView {
        let eff = self.effective_hashrate_hs(now, started);
        let hs = hashrate_ghs * 1e9;
        // Zero, negative, NaN or infinite inputs give no estimate, and
        // neither does a result that overflowed.
        let expect = |diff: f64| {
            let usable = hs.is_finite() && hs > 0.0 && diff.is_finite() && diff > 0.0;
            usable
                .then(|| diff * TWO_POW_32 / hs)
                .filter(|s| s.is_finite() && *s > 0.0)
        };
        let to_block = expect(self.network_difficulty);
        let blocks_per_day = to_block.map(|s| 86_400.0 / s);
        let capped = blocks_per_day.is_some_and(|b| b > MAX_BLOCKS_PER_DAY);
        let expected_sat_per_day = blocks_per_day
            .map(|b| b.min(MAX_BLOCKS_PER_DAY) * block_reward_sat as f64)
            .filter(|sat| sat.is_finite());
        StatsView {
            counters: self.counters.clone(),
            share_difficulty: self.share_difficulty,
            network_difficulty: self.network_difficulty,
            effective_hashrate_ghs: eff / 1e9,
            shares_in_window: self.window.len(),
            expected_time_to_share_s: expect(self.share_difficulty),
            expected_time_to_block_s: to_block,
            expected_sat_per_day,
            expected_sat_per_day_capped: capped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_hashrate_from_shares() {
        let mut s = SourceStats::default();
        let t0 = Timestamp::from_secs(1000);
        // 100 shares of difficulty 1000 over 100 s: 1000 * 2^32 H/s.
        for i in 0..100 {
            s.accepted(1000.0, t0.plus(Duration::from_secs(i + 1)));
        }
        let now = t0.plus(Duration::from_secs(100));
        let hs = s.effective_hashrate_hs(now, t0);
        assert!((hs / (1000.0 * TWO_POW_32) - 1.0).abs() < 1e-9, "{hs}");
        // The window forgets shares older than ten minutes.
        let later = now.plus(HASHRATE_WINDOW + Duration::from_secs(1));
        assert_eq!(s.effective_hashrate_hs(later, t0), 0.0);
        assert_eq!(s.counters.accepted, 100);
    }

    #[test]
    fn expectations_scale_with_difficulty() {
        let mut s = SourceStats {
            share_difficulty: 1.0,
            network_difficulty: 1e6,
            ..SourceStats::default()
        };
        let t = Timestamp::from_secs(10);
        // 1 GH/s: a difficulty-1 share every 4.29 s.
        let v = s.view(t, t, 1.0, 312_500_000);
        assert!((v.expected_time_to_share_s.unwrap() - 4.294967296).abs() < 1e-9);
        let blk = v.expected_time_to_block_s.unwrap();
        assert!((blk - 4.294967296e6).abs() < 1e-3);
        let sat = v.expected_sat_per_day.unwrap();
        assert!((sat - 86_400.0 / blk * 312_500_000.0).abs() < 1e-6);
        assert_eq!(s.view(t, t, 0.0, 1).expected_time_to_share_s, None);
        assert!(!v.expected_sat_per_day_capped);
    }

    #[test]
    fn earnings_are_bounded() {
        let t = Timestamp::from_secs(10);
        let reward = 312_500_000u64;
        let ceiling = MAX_BLOCKS_PER_DAY * reward as f64;
        // Regtest: nBits 0x207fffff is difficulty ~4.66e-10; at 1 TH/s a
        // block every ~2 ns, which would promise ~1e26 sat/day.
        let mut regtest = SourceStats {
            share_difficulty: 1e-6,
            network_difficulty: 4.656542373906925e-10,
            ..SourceStats::default()
        };
        let v = regtest.view(t, t, 1000.0, reward);
        assert_eq!(v.expected_sat_per_day, Some(ceiling));
        assert!(v.expected_sat_per_day_capped);
        // The time to a block is still reported as it is (tiny but true).
        assert!(v.expected_time_to_block_s.unwrap() < 1e-9);
        // Exactly at the ceiling: one block every 600 s is 144 a day.
        let mut at = SourceStats {
            network_difficulty: 600.0 / TWO_POW_32,
            ..SourceStats::default()
        };
        let v = at.view(t, t, 1e-9, reward);
        assert!((v.expected_sat_per_day.unwrap() - ceiling).abs() < 1e-3 * ceiling);
        // Zero, negative, NaN and infinite hashrates or difficulties: no
        // estimate rather than a wrong one.
        for (hashrate_ghs, diff) in [
            (0.0, 1e12),
            (-5.0, 1e12),
            (f64::NAN, 1e12),
            (f64::INFINITY, 1e12),
            (1000.0, 0.0),
            (1000.0, f64::NAN),
            (1000.0, f64::INFINITY),
            (1000.0, -1.0),
        ] {
            let mut s = SourceStats {
                share_difficulty: diff,
                network_difficulty: diff,
                ..SourceStats::default()
            };
            let v = s.view(t, t, hashrate_ghs, reward);
            assert_eq!(v.expected_time_to_block_s, None, "{hashrate_ghs} {diff}");
            assert_eq!(v.expected_time_to_share_s, None, "{hashrate_ghs} {diff}");
            assert_eq!(v.expected_sat_per_day, None, "{hashrate_ghs} {diff}");
        }
        // Overflow: a huge difficulty at a tiny hashrate gives an infinite
        // time; no estimate (not "infinity seconds", not NaN sat/day).
        let mut s = SourceStats {
            network_difficulty: 1e300,
            ..SourceStats::default()
        };
        let v = s.view(t, t, 1e-300, reward);
        assert_eq!(v.expected_time_to_block_s, None);
        assert_eq!(v.expected_sat_per_day, None);
        // Mainnet-like: 1 PH/s against difficulty 1e14 is far below the
        // ceiling and not capped.
        let mut main = SourceStats {
            network_difficulty: 1e14,
            ..SourceStats::default()
        };
        let v = main.view(t, t, 1e6, reward);
        let expected = 86_400.0 / (1e14 * TWO_POW_32 / 1e15) * reward as f64;
        assert!((v.expected_sat_per_day.unwrap() - expected).abs() < 1e-6 * expected);
        assert!(!v.expected_sat_per_day_capped);
    }
}
