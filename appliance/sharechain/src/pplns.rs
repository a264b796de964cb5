//! The PPLNS window, kept incrementally, and the coinbase payouts every
//! share must make.
//!
//! The window is the last `window_shares` shares of a chain, trimmed from
//! the old end so its work stays within the work cap. Each share weighs its
//! target's work. Pushing a share (new tip) and popping one (reorg) cost
//! O(log payees) amortised: per-payee sums live in a map and a ranking is
//! kept sorted, so the payout (top [`MAX_PAYOUTS`] payees) is read off
//! without re-walking the window.

use crate::share::ShareHash;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{Amount, ScriptBuf, TxOut};
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Most payout outputs a coinbase carries (block weight stays small).
pub const MAX_PAYOUTS: usize = 200;
/// No output pays less than this (Bitcoin Core's dust limit for P2PKH).
pub const DUST_SAT: u64 = 546;
/// Most lottery prizes per coinbase for the small payees.
pub const MAX_PRIZES: usize = 32;
/// Payees paid their pro-rata amount directly: the output cap less the
/// prizes and the finder.
pub const DIRECT_PAYOUTS: usize = MAX_PAYOUTS - MAX_PRIZES - 1;

/// The small payees' lottery: `small_value` split into `k = min(MAX_PRIZES,
/// small_value / DUST_SAT)` equal prizes (the remainder is left for the
/// finder), prize `j` going to the payee at `r_j mod W` of the cumulative
/// weights in ranking order, `r_j` the first 16 bytes (LE) of
/// `sha256d(parent || j as u32 LE)`. Drawn with replacement, so each prize
/// is an independent draw and the expectation is exact. O(small payees).
fn lottery<'a>(
    small: &[(&'a ScriptBuf, u128)],
    small_value: u64,
    parent: &ShareHash,
) -> Vec<(&'a ScriptBuf, u64)> {
    let prizes = usize::try_from(small_value / DUST_SAT)
        .unwrap_or(MAX_PRIZES)
        .min(MAX_PRIZES);
    if prizes == 0 || small.is_empty() {
        return Vec::new();
    }
    let prize = small_value / prizes as u64;
    let mut cumulative = Vec::with_capacity(small.len());
    let mut sum = 0u128;
    for (_, w) in small {
        sum = sum.saturating_add(*w);
        cumulative.push(sum);
    }
    let mut out = Vec::with_capacity(prizes);
    let mut seed = [0u8; 36];
    seed[..32].copy_from_slice(&parent.0);
    for j in 0..prizes as u32 {
        seed[32..].copy_from_slice(&j.to_le_bytes());
        let h = sha256d::Hash::hash(&seed).to_byte_array();
        let mut r = [0u8; 16];
        r.copy_from_slice(&h[..16]);
        // sum <= 2^64 * payees, so the modulo bias is below 2^-50.
        let pick = u128::from_le_bytes(r) % sum.max(1);
        let i = cumulative.partition_point(|c| *c <= pick);
        if let Some((script, _)) = small.get(i) {
            out.push((*script, prize));
        }
    }
    out
}

/// One share's place in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowEntry {
    /// The share.
    pub hash: ShareHash,
    /// Its payout script.
    pub script: ScriptBuf,
    /// Its weight (the work of its share target).
    pub weight: u128,
}

/// The PPLNS window of one chain tip.
#[derive(Debug, Clone, Default)]
pub struct Window {
    max_shares: usize,
    /// The last `max_shares` shares, oldest first.
    entries: VecDeque<WindowEntry>,
    /// Entries before this index are outside the work cap.
    start: usize,
    active_work: u128,
    sums: HashMap<ScriptBuf, u128>,
    ranking: BTreeSet<(Reverse<u128>, ScriptBuf)>,
}

impl Window {
    /// An empty window of at most `max_shares` shares.
    pub fn new(max_shares: usize) -> Window {
        Window {
            max_shares: max_shares.max(1),
            ..Window::default()
        }
    }

    /// Shares counted.
    pub fn len(&self) -> usize {
        self.entries.len() - self.start
    }

    /// No share counted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total weight counted.
    pub fn total_work(&self) -> u128 {
        self.active_work
    }

    /// The newest share.
    pub fn newest(&self) -> Option<&WindowEntry> {
        self.entries.back()
    }

    /// Weight of one payout script.
    pub fn weight_of(&self, script: &ScriptBuf) -> u128 {
        self.sums.get(script).copied().unwrap_or(0)
    }

    /// Distinct payees counted.
    pub fn payees(&self) -> usize {
        self.sums.len()
    }

    fn add(&mut self, script: &ScriptBuf, w: u128) {
        self.active_work = self.active_work.saturating_add(w);
        let sum = self.sums.entry(script.clone()).or_insert(0);
        if *sum > 0 {
            self.ranking.remove(&(Reverse(*sum), script.clone()));
        }
        *sum = sum.saturating_add(w);
        self.ranking.insert((Reverse(*sum), script.clone()));
    }

    fn sub(&mut self, script: &ScriptBuf, w: u128) {
        self.active_work = self.active_work.saturating_sub(w);
        if let Some(sum) = self.sums.get_mut(script) {
            self.ranking.remove(&(Reverse(*sum), script.clone()));
            *sum = sum.saturating_sub(w);
            if *sum == 0 {
                self.sums.remove(script);
            } else {
                self.ranking.insert((Reverse(*sum), script.clone()));
            }
        }
    }

    /// Moves the work-cap boundary: drop old shares while over the cap, take
    /// back older ones that fit again (when the cap grew).
    fn rebalance(&mut self, cap: Option<u128>) {
        let cap = cap.unwrap_or(u128::MAX);
        while self.active_work > cap && self.start + 1 < self.entries.len() {
            if let Some(e) = self.entries.get(self.start).cloned() {
                self.sub(&e.script, e.weight);
            }
            self.start += 1;
        }
        while self.start > 0 {
            let Some(e) = self.entries.get(self.start - 1).cloned() else {
                break;
            };
            // The newest share always counts, whatever the cap.
            let empty = self.start >= self.entries.len();
            if !empty && self.active_work.saturating_add(e.weight) > cap {
                break;
            }
            self.add(&e.script, e.weight);
            self.start -= 1;
        }
    }

    /// A new tip. `cap` is the work cap at the new tip.
    pub fn push(&mut self, entry: WindowEntry, cap: Option<u128>) {
        self.add(&entry.script, entry.weight);
        self.entries.push_back(entry);
        if self.entries.len() > self.max_shares {
            if let Some(old) = self.entries.pop_front() {
                if self.start == 0 {
                    self.sub(&old.script, old.weight);
                } else {
                    self.start -= 1;
                }
            }
        }
        self.rebalance(cap);
    }

    /// Undoes [`Window::push`] of the newest share (a reorg). `restore` is
    /// the share just older than the oldest kept (None when the chain is not
    /// that long); `cap` is the work cap at the new tip.
    pub fn pop(&mut self, restore: Option<WindowEntry>, cap: Option<u128>) -> Option<WindowEntry> {
        let newest = self.entries.pop_back()?;
        if self.entries.len() >= self.start {
            self.sub(&newest.script, newest.weight);
        }
        self.start = self.start.min(self.entries.len());
        if let Some(r) = restore {
            if self.entries.len() < self.max_shares {
                self.entries.push_front(r);
                self.start += 1;
            }
        }
        self.rebalance(cap);
        Some(newest)
    }

    /// The coinbase payout outputs for a block worth `value_sat` found by
    /// the share at the window's newest end, whose payout script is
    /// `finder`, built on the share `parent` (the lottery's seed).
    ///
    /// Payees are ranked by weight. Each gets its pro-rata amount
    /// `floor(value * weight / total)` directly while it ranks among the
    /// first [`DIRECT_PAYOUTS`] and the amount is at least [`DUST_SAT`].
    /// Every other payee is "small": the sum of their pro-rata amounts is
    /// split into up to [`MAX_PRIZES`] equal prizes of at least
    /// [`DUST_SAT`], each drawn among the small payees weighted by their
    /// window work with `sha256d(parent || prize index)` as the randomness,
    /// so a small payee's expected payout is exactly its pro-rata amount
    /// (up to rounding) and the coinbase keeps at most [`MAX_PAYOUTS`]
    /// outputs. Rounding, and small amounts too little for one prize, go
    /// to the finder. Outputs are ordered by script bytes. Deterministic.
    pub fn payouts(&self, value_sat: u64, finder: &ScriptBuf, parent: &ShareHash) -> Vec<TxOut> {
        let total = self.active_work;
        let mut outs: Vec<(ScriptBuf, u64)> = Vec::new();
        if total > 0 {
            // Scale weights to 64 bits so value * weight fits in u128.
            let shift = (128 - total.leading_zeros()).saturating_sub(64);
            let total_s = (total >> shift).max(1);
            let mut small: Vec<(&ScriptBuf, u128)> = Vec::new();
            let mut small_value = 0u64;
            for (rank, (Reverse(w), script)) in self.ranking.iter().enumerate() {
                let w_s = w >> shift;
                let amount = u128::from(value_sat) * w_s / total_s;
                let amount = u64::try_from(amount).unwrap_or(0);
                if rank < DIRECT_PAYOUTS && amount >= DUST_SAT {
                    outs.push((script.clone(), amount));
                } else if w_s > 0 {
                    small.push((script, w_s));
                    small_value = small_value.saturating_add(amount);
                }
            }
            for (script, prize) in lottery(&small, small_value, parent) {
                match outs.iter_mut().find(|(s, _)| s == script) {
                    Some(o) => o.1 += prize,
                    None => outs.push((script.clone(), prize)),
                }
            }
        }
        let paid: u64 = outs.iter().map(|(_, a)| *a).sum();
        let rest = value_sat.saturating_sub(paid);
        match outs.iter_mut().find(|(s, _)| s == finder) {
            Some(o) => o.1 += rest,
            None if rest > 0 => outs.push((finder.clone(), rest)),
            None => {}
        }
        outs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        outs.into_iter()
            .map(|(script_pubkey, a)| TxOut {
                value: Amount::from_sat(a),
                script_pubkey,
            })
            .collect()
    }

    /// The expectation of what `script` is paid from a block worth
    /// `value_sat` found now: its pro-rata amount, `floor(value * weight /
    /// total)`, whether it is paid directly or through the lottery.
    pub fn expected_payout(&self, value_sat: u64, script: &ScriptBuf) -> u64 {
        let total = self.active_work;
        if total == 0 {
            return 0;
        }
        let shift = (128 - total.leading_zeros()).saturating_sub(64);
        let total_s = (total >> shift).max(1);
        let amount = u128::from(value_sat) * (self.weight_of(script) >> shift) / total_s;
        u64::try_from(amount).unwrap_or(0)
    }

    /// Oldest-first entries counted in the window.
    pub fn iter(&self) -> impl Iterator<Item = &WindowEntry> {
        self.entries.iter().skip(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn script(i: u8) -> ScriptBuf {
        ScriptBuf::from_bytes(vec![0x00, 0x14, i, i, i])
    }

    fn entry(i: u32, payee: u8, weight: u128) -> WindowEntry {
        let mut h = [0u8; 32];
        h[..4].copy_from_slice(&i.to_le_bytes());
        WindowEntry {
            hash: ShareHash(h),
            script: script(payee),
            weight,
        }
    }

    /// The definition, recomputed from scratch: what the incremental window
    /// must always equal.
    fn reference(all: &[WindowEntry], max: usize, cap: Option<u128>) -> HashMap<ScriptBuf, u128> {
        let last = &all[all.len().saturating_sub(max)..];
        let cap = cap.unwrap_or(u128::MAX);
        let mut work = 0u128;
        let mut m = HashMap::new();
        for (k, e) in last.iter().rev().enumerate() {
            if k > 0 && work + e.weight > cap {
                break;
            }
            work += e.weight;
            *m.entry(e.script.clone()).or_insert(0) += e.weight;
        }
        m
    }

    #[test]
    fn payouts_split_by_work_and_give_the_rest_to_the_finder() {
        let mut w = Window::new(10);
        w.push(entry(0, 1, 3), None);
        w.push(entry(1, 2, 1), None);
        let outs = w.payouts(1_000_000, &script(2), &ShareHash([0; 32]));
        assert_eq!(outs.len(), 2);
        let total: u64 = outs.iter().map(|o| o.value.to_sat()).sum();
        assert_eq!(total, 1_000_000);
        assert_eq!(outs[0].script_pubkey, script(1));
        assert_eq!(outs[0].value.to_sat(), 750_000);
        assert_eq!(outs[1].value.to_sat(), 250_000);
        // Dust goes to the finder.
        let outs = w.payouts(700, &script(2), &ShareHash([0; 32]));
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0].value.to_sat(), 700);
    }

    #[test]
    fn the_count_cap_and_the_work_cap_trim_the_oldest() {
        let mut w = Window::new(3);
        for i in 0..5 {
            w.push(entry(i, i as u8, 10), None);
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.weight_of(&script(1)), 0);
        assert_eq!(w.weight_of(&script(2)), 10);
        w.push(entry(5, 5, 10), Some(15));
        assert_eq!(w.len(), 1);
        assert_eq!(w.total_work(), 10);
        // The cap grows again: the older shares come back.
        w.push(entry(6, 6, 10), Some(1000));
        assert_eq!(w.len(), 3);
    }

    fn seed(i: u64) -> ShareHash {
        ShareHash(sha256d::Hash::hash(&i.to_le_bytes()).to_byte_array())
    }

    /// Checks one coinbase against the limits: it pays exactly the value,
    /// at most `MAX_PAYOUTS` outputs, none below dust (unless the whole
    /// value is), one output per script.
    fn assert_within_limits(outs: &[TxOut], value: u64) {
        let paid: u64 = outs.iter().map(|o| o.value.to_sat()).sum();
        assert_eq!(paid, value);
        assert!(outs.len() <= MAX_PAYOUTS, "{} outputs", outs.len());
        if value >= DUST_SAT {
            assert!(outs.iter().all(|o| o.value.to_sat() >= DUST_SAT));
        }
        let mut scripts: Vec<_> = outs.iter().map(|o| o.script_pubkey.clone()).collect();
        scripts.dedup();
        assert_eq!(scripts.len(), outs.len());
    }

    /// A 1 TH/s heater in a window of mostly far bigger miners: paid
    /// directly it would be dust (scenario 1) or beyond the output cap
    /// (scenario 2). Over many blocks (seeded by different parents) its
    /// mean payout must match its work share within 10 %, while every
    /// coinbase stays within its limits.
    #[test]
    fn a_small_miner_is_paid_its_work_share_in_expectation() {
        const VALUE: u64 = 312_500_000;
        const BLOCKS: u64 = 12_000;
        let small_script = |i: u32| {
            let mut b = vec![0x00, 0x14];
            // Big-endian, so the ranking's tie order follows `i`.
            b.extend_from_slice(&i.to_be_bytes());
            b.extend_from_slice(&[0xaa; 16]);
            ScriptBuf::from_bytes(b)
        };
        // (big payees, big weight, small payees, small weight)
        for (big, big_w, small, small_w) in [(5u32, 200_000u128, 300u32, 1u128), (100, 30, 300, 1)]
        {
            let mut w = Window::new(100_000);
            for b in 0..big {
                w.push(entry(b, b as u8, big_w), None);
            }
            for i in 0..small {
                w.push(
                    WindowEntry {
                        hash: ShareHash([0; 32]),
                        script: small_script(i),
                        weight: small_w,
                    },
                    None,
                );
            }
            // Last in the ranking's tie order: never among the direct payees.
            let ours = small_script(small - 1);
            let expected = w.expected_payout(VALUE, &ours);
            let exact = VALUE as f64 * small_w as f64 / w.total_work() as f64;
            assert!((expected as f64 - exact).abs() <= 1.0);
            // Without the lottery it would get nothing.
            assert!(expected < DUST_SAT || small + big > MAX_PAYOUTS as u32);
            let finder = script(0);
            let mut ours_total = 0u64;
            let mut wins = 0u64;
            for b in 0..BLOCKS {
                let outs = w.payouts(VALUE, &finder, &seed(b));
                assert_within_limits(&outs, VALUE);
                if let Some(o) = outs.iter().find(|o| o.script_pubkey == ours) {
                    ours_total += o.value.to_sat();
                    wins += 1;
                }
            }
            let mean = ours_total as f64 / BLOCKS as f64;
            let error = (mean - exact).abs() / exact;
            eprintln!(
                "{big} big + {small} small payees: mean {mean:.1} sat vs work share {exact:.1} sat, {:.2} % off, {wins} wins in {BLOCKS} blocks",
                error * 100.0
            );
            assert!(wins > 0);
            assert!(
                error < 0.10,
                "mean {mean:.0} sat vs work share {exact:.0} sat ({:.1} %, {wins} wins)",
                error * 100.0
            );
        }
    }

    #[test]
    fn the_lottery_is_deterministic_and_depends_on_the_parent() {
        let mut w = Window::new(1000);
        w.push(entry(0, 0, 1_000_000), None);
        for i in 1..200u32 {
            w.push(entry(i, (i % 250) as u8, 1), None);
        }
        let a = w.payouts(10_000_000, &script(0), &seed(1));
        assert_eq!(a, w.payouts(10_000_000, &script(0), &seed(1)));
        let differs = (2..20).any(|i| w.payouts(10_000_000, &script(0), &seed(i)) != a);
        assert!(differs, "another parent draws other winners");
    }

    proptest! {
        #[test]
        fn incremental_window_equals_the_definition(
            ops in proptest::collection::vec((0u8..6, 1u128..1000, proptest::option::of(500u128..5000), any::<bool>()), 1..200),
            max in 1usize..20,
        ) {
            let mut w = Window::new(max);
            let mut chain: Vec<WindowEntry> = Vec::new();
            let mut i = 0u32;
            for (payee, weight, cap, pop) in ops {
                if pop && !chain.is_empty() {
                    chain.pop();
                    let restore = chain.len().checked_sub(max).map(|k| chain[k].clone());
                    w.pop(restore, cap);
                } else {
                    let e = entry(i, payee, weight);
                    i += 1;
                    chain.push(e.clone());
                    w.push(e, cap);
                }
                let expect = reference(&chain, max, cap);
                prop_assert_eq!(&w.sums, &expect);
                prop_assert_eq!(w.total_work(), expect.values().sum::<u128>());
                prop_assert_eq!(w.ranking.len(), expect.len());
                if !chain.is_empty() {
                    let outs = w.payouts(50_0000_0000, &chain[chain.len() - 1].script, &ShareHash([7; 32]));
                    let total: u64 = outs.iter().map(|o| o.value.to_sat()).sum();
                    prop_assert_eq!(total, 50_0000_0000);
                }
            }
        }
    }
}
