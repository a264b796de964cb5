//! Share difficulty retargeting toward a fixed share period: relative ASERT
//! (exponential in the last interval's error, half-life from the params),
//! clamped per share, never easier than the chain's minimum difficulty.
//!
//! All integer arithmetic: every node must compute the same target bit for
//! bit, so no floating point.

use crate::params::ChainParams;
use crate::work::{scale_target, Q32};
use bitcoin::{CompactTarget, Target};

/// ln 2 in Q32.
const LN2_Q32: i128 = 2_977_044_472;

/// e^(y / 2^32) in Q32 for |y| <= 2^31, by its Taylor series to the 5th
/// power (error below 3e-4 at the edge; only determinism matters).
fn exp_q32(y: i128) -> i128 {
    let one: i128 = 1 << 32;
    let mut term = one;
    let mut sum = one;
    for k in 1..=5i128 {
        term = term * y / one / k;
        sum += term;
    }
    sum
}

/// The target a child of `parent` must carry. `parent_interval_s` is the
/// parent's timestamp minus the grandparent's (None when the parent is the
/// first share: the target is kept).
pub fn next_share_bits(
    params: &ChainParams,
    parent_bits: CompactTarget,
    parent_interval_s: Option<i64>,
) -> CompactTarget {
    let max = params.max_share_target();
    let parent = Target::from_compact(parent_bits).min(max);
    let Some(dt) = parent_interval_s else {
        return parent.to_compact_lossy();
    };
    let period = i128::from(params.share_period_s);
    let half_life = i128::from(params.retarget_half_life_s.max(1));
    // A share that came late makes the next one easier (bigger target).
    let err = i128::from(dt.clamp(-86_400, 86_400)) - period;
    let y = (err * LN2_Q32 / half_life).clamp(-(1 << 31), 1 << 31);
    let clamp = i128::from(params.retarget_clamp_permille) * (1 << 32) / 1000;
    let factor = exp_q32(y).clamp((1 << 32) - clamp, (1 << 32) + clamp);
    let factor = u64::try_from(factor).unwrap_or(Q32);
    scale_target(parent, factor).min(max).to_compact_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Network;
    use crate::work::target_work;

    fn mainnet() -> ChainParams {
        ChainParams::for_network(Network::Mainnet)
    }

    fn hard_bits() -> CompactTarget {
        CompactTarget::from_consensus(0x1b00_ffff)
    }

    #[test]
    fn on_time_keeps_the_target() {
        let p = mainnet();
        let b = next_share_bits(&p, hard_bits(), Some(i64::from(p.share_period_s)));
        assert_eq!(b, hard_bits());
        assert_eq!(next_share_bits(&p, hard_bits(), None), hard_bits());
    }

    #[test]
    fn late_eases_early_hardens_and_both_are_clamped() {
        let p = mainnet();
        let w0 = target_work(Target::from_compact(hard_bits())) as f64;
        let late = next_share_bits(&p, hard_bits(), Some(70));
        let early = next_share_bits(&p, hard_bits(), Some(1));
        let wl = target_work(Target::from_compact(late)) as f64 / w0;
        let we = target_work(Target::from_compact(early)) as f64 / w0;
        // 60 s late over a 600 s half-life: 2^(60/600) = 1.072 easier.
        assert!((wl - 1.0 / 1.072).abs() < 0.002, "{wl}");
        assert!(we > 1.0 && we < 1.02, "{we}");
        let very_late = next_share_bits(&p, hard_bits(), Some(1_000_000));
        let vl = target_work(Target::from_compact(very_late)) as f64 / w0;
        assert!((vl - 1.0 / 1.1).abs() < 0.001, "{vl}");
        let negative = next_share_bits(&p, hard_bits(), Some(-1_000_000));
        let ng = target_work(Target::from_compact(negative)) as f64 / w0;
        assert!((ng - 1.0 / 0.9).abs() < 0.001, "{ng}");
    }

    #[test]
    fn never_easier_than_the_minimum_difficulty() {
        let p = mainnet();
        let b = next_share_bits(&p, p.max_share_bits, Some(10_000));
        assert_eq!(b, p.max_share_bits);
        let too_easy = CompactTarget::from_consensus(0x207f_ffff);
        assert_eq!(next_share_bits(&p, too_easy, None), p.max_share_bits);
    }

    #[test]
    fn converges_to_the_share_period_in_a_simulated_pool() {
        // A pool whose hashrate gives exactly period-length intervals at
        // work W*; start 50x too easy and see the target settle near W*.
        let p = mainnet();
        let start = CompactTarget::from_consensus(0x1c00_ffff);
        let start_work = target_work(Target::from_compact(start)) as f64;
        let pool_work_per_s = start_work * 50.0 / f64::from(p.share_period_s);
        let mut bits = start;
        let mut prev_dt = None;
        for _ in 0..3000 {
            bits = next_share_bits(&p, bits, prev_dt);
            let w = target_work(Target::from_compact(bits)) as f64;
            prev_dt = Some((w / pool_work_per_s).round() as i64);
        }
        let w = target_work(Target::from_compact(bits)) as f64;
        let interval = w / pool_work_per_s;
        assert!((interval - 10.0).abs() < 1.0, "settled at {interval} s");
    }
}
