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
use bitcoin::{Amount, ScriptBuf, TxOut};
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Most payout outputs a coinbase carries (block weight stays small).
pub const MAX_PAYOUTS: usize = 200;
/// Outputs below this are not paid; their amount goes to the finder.
pub const DUST_SAT: u64 = 546;

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
    /// `finder`: the top [`MAX_PAYOUTS`] payees by weight get
    /// `floor(value * weight / total)`; the rest, dust and rounding go to
    /// the finder. Ordered by script bytes.
    pub fn payouts(&self, value_sat: u64, finder: &ScriptBuf) -> Vec<TxOut> {
        let total = self.active_work;
        let mut outs: Vec<(ScriptBuf, u64)> = Vec::new();
        if total > 0 {
            // Scale weights to 64 bits so value * weight fits in u128.
            let shift = (128 - total.leading_zeros()).saturating_sub(64);
            let total_s = (total >> shift).max(1);
            for (Reverse(w), script) in self.ranking.iter().take(MAX_PAYOUTS) {
                let amount = u128::from(value_sat) * (w >> shift) / total_s;
                let amount = u64::try_from(amount).unwrap_or(0);
                if amount >= DUST_SAT {
                    outs.push((script.clone(), amount));
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
        let outs = w.payouts(1_000_000, &script(2));
        assert_eq!(outs.len(), 2);
        let total: u64 = outs.iter().map(|o| o.value.to_sat()).sum();
        assert_eq!(total, 1_000_000);
        assert_eq!(outs[0].script_pubkey, script(1));
        assert_eq!(outs[0].value.to_sat(), 750_000);
        assert_eq!(outs[1].value.to_sat(), 250_000);
        // Dust goes to the finder.
        let outs = w.payouts(700, &script(2));
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
                    let outs = w.payouts(50_0000_0000, &chain[chain.len() - 1].script);
                    let total: u64 = outs.iter().map(|o| o.value.to_sat()).sum();
                    prop_assert_eq!(total, 50_0000_0000);
                }
            }
        }
    }
}
