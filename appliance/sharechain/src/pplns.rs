//! The PPLNS window, kept incrementally, and the coinbase payouts every
//! share must make.
//!
//! The window is the last `window_shares` shares of a chain, trimmed from
//! the old end so its work stays within the work cap. Each share weighs its
//! target's work. Pushing a share (new tip) and popping one (reorg) cost
//! O(log payees): per-payee sums live in a map and a ranking with running
//! weight totals ([`crate::ranking`]) is kept sorted, so the payout (the
//! direct payees read off the ranking's front, the small payees' prizes
//! drawn by cumulative weight) costs O(direct + prizes x log payees),
//! bounded by the output cap whatever the window holds.

use crate::ranking::{script_order_key, Ranking};
use crate::share::ShareHash;
use crate::txview::OutputRef;
use bitcoin::{Amount, ScriptBuf, TxOut};
use hearth_shacheck::Checker;
use std::collections::{HashMap, VecDeque};

/// Most payout outputs a coinbase carries (block weight stays small).
pub const MAX_PAYOUTS: usize = 200;
/// No output pays less than this (Bitcoin Core's dust limit for P2PKH).
pub const DUST_SAT: u64 = 546;
/// Most lottery prizes per coinbase for the small payees.
pub const MAX_PRIZES: usize = 32;
/// Payees paid their pro-rata amount directly: the output cap less the
/// prizes and the finder.
pub const DIRECT_PAYOUTS: usize = MAX_PAYOUTS - MAX_PRIZES - 1;

/// `floor(a * b / d)` for `b <= d`, `d > 0` (so the result is at most `a`).
/// Integers only (I13). When the product fits 64 bits (regtest-sized
/// weights) it is one hardware division instead of the 128-bit division
/// routine, which runs once per payee per payout.
fn mul_div_floor(a: u64, b: u64, d: u64) -> u64 {
    let d = d.max(1);
    let p = u128::from(a) * u128::from(b);
    match u64::try_from(p) {
        Ok(p64) => p64 / d,
        Err(_) => u64::try_from(p / u128::from(d)).unwrap_or(u64::MAX),
    }
}

/// `a == b` for scripts: the common payout scripts' sizes (P2WPKH 22,
/// P2SH 23, P2PKH 25, P2WSH and P2TR 34 bytes) compare as 8-byte words,
/// inline, instead of a call to `bcmp` for every output of every
/// share (2.6 % of validating a window with 100 payees on aarch64;
/// docs/sharechain.md, round 8).
fn same_script(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        22 => fixed_eq::<22>(a, b),
        23 => fixed_eq::<23>(a, b),
        25 => fixed_eq::<25>(a, b),
        34 => fixed_eq::<34>(a, b),
        _ => a == b,
    }
}

/// `a[..N] == b[..N]` (both at least `N >= 8` long) as 8-byte words, the
/// last one overlapping, their differences or-ed together: no branch per
/// word, which also keeps the compiler from turning it back into `bcmp`.
fn fixed_eq<const N: usize>(a: &[u8], b: &[u8]) -> bool {
    let (Some(a), Some(b)) = (a.first_chunk::<N>(), b.first_chunk::<N>()) else {
        return a == b;
    };
    let word = |s: &[u8; N], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_ne_bytes(w)
    };
    let mut diff = word(a, N - 8) ^ word(b, N - 8);
    let mut i = 0;
    while i + 8 < N {
        diff |= word(a, i) ^ word(b, i);
        i += 8;
    }
    diff == 0
}

/// The small payees' lottery: `small_value` split into `k = min(MAX_PRIZES,
/// small_value / DUST_SAT)` equal prizes (the remainder is left for the
/// finder), prize `j` going to the small payee holding cumulative weight
/// `direct_weight + r_j mod small_weight` in ranking order (the small
/// payees are the ranking after the direct ones, which weigh
/// `direct_weight`), `r_j` the first 16 bytes (LE) of `sha256d(parent || j
/// as u32 LE)`. Drawn with replacement, so each prize is an independent
/// draw and the expectation is exact. Returns the winners' scripts, one
/// per prize, O(prizes x log payees).
/// The seeds are hashed together through `hasher` (independent 36-byte
/// messages: 4 lanes at once with NEON), the same digests as one by one.
fn lottery<'a>(
    hasher: &Checker,
    ranking: &'a Ranking,
    direct_weight: u128,
    small_weight: u128,
    small_value: u64,
    parent: &ShareHash,
) -> (Vec<(u64, &'a ScriptBuf)>, u64) {
    let prizes = usize::try_from(small_value / DUST_SAT)
        .unwrap_or(MAX_PRIZES)
        .min(MAX_PRIZES);
    if prizes == 0 || small_weight == 0 {
        return (Vec::new(), 0);
    }
    let prize = small_value / prizes as u64;
    let mut out = Vec::with_capacity(prizes);
    let mut seeds = [[0u8; 36]; MAX_PRIZES];
    for (j, seed) in seeds.iter_mut().enumerate().take(prizes) {
        seed[..32].copy_from_slice(&parent.0);
        seed[32..].copy_from_slice(&(j as u32).to_le_bytes());
    }
    let msgs: Vec<&[u8]> = seeds[..prizes].iter().map(|s| s.as_slice()).collect();
    for h in hasher.sha256d_messages(&msgs) {
        let mut r = [0u8; 16];
        r.copy_from_slice(&h.0[..16]);
        // A window weighs at most a few blocks' work (under 2^90 on
        // mainnet), so the modulo bias is below 2^-38.
        let pick = u128::from_le_bytes(r) % small_weight;
        if let Some(e) = ranking.at_cumulative(direct_weight.saturating_add(pick)) {
            out.push((e.key, e.script));
        }
    }
    (out, prize)
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
    ranking: Ranking,
    /// Hashes the lottery seeds (the chain's share checker).
    hasher: Checker,
}

impl Window {
    /// An empty window of at most `max_shares` shares.
    pub fn new(max_shares: usize) -> Window {
        Window {
            max_shares: max_shares.max(1),
            ..Window::default()
        }
    }

    /// Hash the lottery seeds with `checker` (the default is the fastest
    /// backend this CPU has; every backend gives the same digests).
    pub fn set_hasher(&mut self, checker: Checker) {
        self.hasher = checker;
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
        // Looked up by reference first: the script is cloned only for a
        // new payee.
        let (sum, owned) = match self.sums.get_mut(script) {
            Some(sum) => {
                let old = *sum;
                *sum = old.saturating_add(w);
                (*sum, self.ranking.remove(old, script.as_bytes()))
            }
            None => {
                self.sums.insert(script.clone(), w);
                (w, None)
            }
        };
        self.ranking
            .insert(sum, owned.unwrap_or_else(|| script.clone()));
    }

    fn sub(&mut self, script: &ScriptBuf, w: u128) {
        self.active_work = self.active_work.saturating_sub(w);
        if let Some(sum) = self.sums.get_mut(script) {
            let owned = self.ranking.remove(*sum, script.as_bytes());
            *sum = sum.saturating_sub(w);
            if *sum == 0 {
                self.sums.remove(script);
            } else {
                let sum = *sum;
                self.ranking
                    .insert(sum, owned.unwrap_or_else(|| script.clone()));
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
        self.payout_list(value_sat, finder, parent)
            .into_iter()
            .map(|(_, script, a)| TxOut {
                value: Amount::from_sat(a),
                script_pubkey: script.clone(),
            })
            .collect()
    }

    /// Whether `outputs` are exactly [`Window::payouts`]`(value_sat,
    /// finder, parent)`, without building (cloning) the expected outputs:
    /// what validating a share needs.
    pub fn payouts_match(
        &self,
        outputs: &[TxOut],
        value_sat: u64,
        finder: &ScriptBuf,
        parent: &ShareHash,
    ) -> bool {
        self.payouts_match_refs(
            outputs.iter().map(|o| OutputRef {
                value_sat: o.value.to_sat(),
                script: o.script_pubkey.as_bytes(),
            }),
            value_sat,
            finder,
            parent,
        )
    }

    /// [`Window::payouts_match`] of outputs borrowed from a coinbase's
    /// bytes ([`crate::txview`]): what validating a received share needs.
    pub fn payouts_match_refs<'o>(
        &self,
        mut outputs: impl Iterator<Item = OutputRef<'o>>,
        value_sat: u64,
        finder: &ScriptBuf,
        parent: &ShareHash,
    ) -> bool {
        let expected = self.payout_list(value_sat, finder, parent);
        expected.iter().all(|(_, script, a)| {
            outputs
                .next()
                .is_some_and(|o| o.value_sat == *a && same_script(o.script, script.as_bytes()))
        }) && outputs.next().is_none()
    }

    /// The payout set as (sort key, script, amount), ordered by script
    /// bytes ([`script_order_key`] first, the bytes on a tie). The direct
    /// payees are a prefix of the ranking (the pro-rata amount grows with
    /// the weight), read until the first payee that is not direct; every
    /// later payee is small, and their prize pool is one division on their
    /// total weight, which the ranking keeps. So the cost is O(direct
    /// payees + prizes x log payees): bounded by the output cap, whatever
    /// the number of payees (rule v3, docs/sharechain.md).
    fn payout_list<'a>(
        &'a self,
        value_sat: u64,
        finder: &'a ScriptBuf,
        parent: &ShareHash,
    ) -> Vec<(u64, &'a ScriptBuf, u64)> {
        let total = self.ranking.total_weight();
        let mut outs: Vec<(u64, &ScriptBuf, u64)> = Vec::with_capacity(MAX_PAYOUTS);
        if total > 0 {
            // Scale weights to 64 bits so value * weight fits in u128.
            let shift = (128 - total.leading_zeros()).saturating_sub(64);
            let scaled = |w: u128| u64::try_from(w >> shift).unwrap_or(u64::MAX);
            let total_s = scaled(total).max(1);
            let mut direct_weight = 0u128;
            for e in self.ranking.iter().take(DIRECT_PAYOUTS) {
                let amount = mul_div_floor(value_sat, scaled(e.weight), total_s);
                if amount < DUST_SAT {
                    break;
                }
                direct_weight += e.weight;
                outs.push((e.key, e.script, amount));
            }
            let small_weight = total - direct_weight;
            let small_value = mul_div_floor(value_sat, scaled(small_weight), total_s);
            let (mut won, prize) = lottery(
                &self.hasher,
                &self.ranking,
                direct_weight,
                small_weight,
                small_value,
                parent,
            );
            // Small payees are never direct payees, so a winner can only
            // repeat an earlier winner: merge equal scripts.
            won.sort_unstable_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
            });
            let first_won = outs.len();
            for (key, script) in won {
                let merge = outs.len() > first_won;
                match outs.last_mut() {
                    Some(o) if merge && o.1 == script => o.2 += prize,
                    _ => outs.push((key, script, prize)),
                }
            }
        }
        let paid: u64 = outs.iter().map(|(_, _, a)| *a).sum();
        let rest = value_sat.saturating_sub(paid);
        let finder_key = script_order_key(finder.as_bytes());
        match outs
            .iter_mut()
            .find(|(k, s, _)| *k == finder_key && *s == finder)
        {
            Some(o) => o.2 += rest,
            None if rest > 0 => outs.push((finder_key, finder, rest)),
            None => {}
        }
        // By the scripts' bytes: the key orders as they do, and only equal
        // keys (scripts alike in their first 8 bytes) compare the bytes.
        // Sorting on the bytes alone called `memcmp` ~7 times a payee:
        // 8 % of validating a window with 1000 payees on aarch64
        // (docs/sharechain.md, round 7).
        outs.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
        });
        outs
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
    use bitcoin::hashes::{sha256d, Hash};
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

    /// A deterministic window: `payees` scripts, `shares` shares whose
    /// weights come from a fixed xorshift stream scaled by `scale` (so the
    /// 64-bit scaling shift is non-zero when `scale` is large), some pushed
    /// and a few popped again.
    fn seeded_window(payees: u32, shares: u32, scale: u128, seed: u64) -> Window {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut w = Window::new(shares as usize / 2);
        let mut all: Vec<WindowEntry> = Vec::new();
        for i in 0..shares {
            let r = next();
            // Skewed: a few big payees, a long tail of small ones.
            let payee = ((r % u64::from(payees)) * (r >> 60) / 15) as u32;
            let mut script = vec![0x00, 0x14];
            script.extend_from_slice(&payee.to_le_bytes());
            script.extend_from_slice(&[0x5a; 16]);
            let weight = (u128::from(next() % 1000) + 1) * scale;
            let e = WindowEntry {
                hash: seed_hash(u64::from(i)),
                script: ScriptBuf::from_bytes(script),
                weight,
            };
            all.push(e.clone());
            w.push(e, None);
            if next() % 16 == 0 {
                all.pop();
                let restore = all
                    .len()
                    .checked_sub(shares as usize / 2)
                    .map(|k| all[k].clone());
                w.pop(restore, None);
            }
        }
        w
    }

    fn seed_hash(i: u64) -> ShareHash {
        ShareHash(sha256d::Hash::hash(&i.to_le_bytes()).to_byte_array())
    }

    /// sha256d over every (script, value) of every payout set computed for
    /// the scenarios below: one 32-byte digest pins the payout rule.
    fn payout_digest(
        scenarios: &[(u32, u32, u128, u64, u64)],
        payouts: impl Fn(&Window, u64, &ScriptBuf, &ShareHash) -> Vec<TxOut>,
    ) -> String {
        let mut buf = Vec::new();
        for &(payees, shares, scale, seed, value) in scenarios {
            let w = seeded_window(payees, shares, scale, seed);
            let finder = w.newest().map(|e| e.script.clone()).unwrap_or_default();
            for parent in 0..4 {
                for o in payouts(&w, value, &finder, &seed_hash(1000 + parent)) {
                    buf.extend_from_slice(o.script_pubkey.as_bytes());
                    buf.extend_from_slice(&o.value.to_sat().to_le_bytes());
                }
            }
        }
        let h = sha256d::Hash::hash(&buf).to_byte_array();
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Test vector: the payout sets of rule version 3 (share format 3),
    /// recorded with the definition (`reference_payouts`), which the fast
    /// code must also give. Any change of this digest is a consensus change.
    #[test]
    fn payout_rule_test_vector() {
        let scenarios = [
            // 100 payees, regtest-sized weights (no scaling shift).
            (100, 2000, 2, 1, 3_125_000_000),
            // 1000 payees, most of them small: the lottery.
            (1000, 6000, 2, 2, 3_125_000_000),
            // Mainnet-sized weights: the 64-bit scaling shift is non-zero.
            (1000, 6000, 1u128 << 70, 3, 312_500_000),
            (300, 3000, 1u128 << 90, 4, 21_000_000 * 100_000_000),
            // Tiny value: dust and few prizes.
            (500, 4000, 1u128 << 40, 5, 40_000),
        ];
        // The scenarios cover what they claim to.
        let lottery = seeded_window(1000, 6000, 2, 2);
        assert!(lottery.payees() > DIRECT_PAYOUTS);
        let outs = lottery.payouts(3_125_000_000, &script(0), &seed_hash(1000));
        assert!(outs.len() > DIRECT_PAYOUTS && outs.len() <= MAX_PAYOUTS);
        assert!(seeded_window(1000, 6000, 1 << 70, 3).total_work() > u128::from(u64::MAX));
        let vector = "4046fd76de3d01c979746130ea58783bb8f4da686abd74fe5b4ce1cb3d9a5d17";
        assert_eq!(payout_digest(&scenarios, reference_payouts), vector);
        assert_eq!(
            payout_digest(&scenarios, |w, v, f, p| w.payouts(v, f, p)),
            vector
        );
    }

    /// The payout rule v3 written straight from its definition
    /// (docs/sharechain.md), sharing nothing with `Window::payout_list`
    /// but the window's per-payee sums: the ranking is the sums sorted,
    /// the small payees' running weights are summed, the draws are one
    /// scalar sha256d each. The differential tests below hold the fast
    /// code to it.
    fn reference_payouts(
        w: &Window,
        value_sat: u64,
        finder: &ScriptBuf,
        parent: &ShareHash,
    ) -> Vec<TxOut> {
        let mut ranking: Vec<(u128, &ScriptBuf)> = w.sums.iter().map(|(s, w)| (*w, s)).collect();
        ranking.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| a.1.as_bytes().cmp(b.1.as_bytes()))
        });
        let total: u128 = ranking.iter().map(|e| e.0).sum();
        let mut outs: Vec<(ScriptBuf, u64)> = Vec::new();
        if total > 0 {
            let shift = (128 - total.leading_zeros()).saturating_sub(64);
            let total_s = (total >> shift).max(1);
            let pro_rata =
                |wt: u128| u64::try_from(u128::from(value_sat) * (wt >> shift) / total_s).unwrap();
            let mut direct = 0;
            while direct < ranking.len().min(DIRECT_PAYOUTS)
                && pro_rata(ranking[direct].0) >= DUST_SAT
            {
                outs.push((ranking[direct].1.clone(), pro_rata(ranking[direct].0)));
                direct += 1;
            }
            let small = &ranking[direct..];
            let small_weight: u128 = small.iter().map(|e| e.0).sum();
            let small_value = pro_rata(small_weight);
            let prizes = usize::try_from(small_value / DUST_SAT)
                .unwrap()
                .min(MAX_PRIZES);
            if prizes > 0 && small_weight > 0 {
                let prize = small_value / prizes as u64;
                let mut seed = [0u8; 36];
                seed[..32].copy_from_slice(&parent.0);
                for j in 0..prizes as u32 {
                    seed[32..].copy_from_slice(&j.to_le_bytes());
                    let h = sha256d::Hash::hash(&seed).to_byte_array();
                    let mut r = [0u8; 16];
                    r.copy_from_slice(&h[..16]);
                    let pick = u128::from_le_bytes(r) % small_weight;
                    let mut run = 0u128;
                    let (_, script) = small
                        .iter()
                        .find(|(wt, _)| {
                            run += wt;
                            run > pick
                        })
                        .unwrap();
                    match outs.iter_mut().find(|(s, _)| s == *script) {
                        Some(o) => o.1 += prize,
                        None => outs.push(((*script).clone(), prize)),
                    }
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

    #[test]
    fn mul_div_floor_is_exact_at_the_edges() {
        let cases = [
            (0u64, 0u64, 1u64),
            (u64::MAX, u64::MAX, u64::MAX),
            (u64::MAX, 1, u64::MAX),
            ((1 << 52) - 1, u64::MAX - 1, u64::MAX),
            ((1 << 52) - 1, (1 << 63) + 12345, u64::MAX),
            (21_000_000 * 100_000_000, 3, 7),
            (312_500_000, u64::MAX / 3, u64::MAX / 2),
            (1 << 52, u64::MAX - 5, u64::MAX - 4),
        ];
        for (a, b, d) in cases {
            let exact = u64::try_from(u128::from(a) * u128::from(b) / u128::from(d)).unwrap();
            assert_eq!(mul_div_floor(a, b, d), exact, "{a} * {b} / {d}");
        }
    }

    proptest! {
        /// The fixed-size script compare is `==`: every length around the
        /// common sizes, equal and differing in any one byte.
        #[test]
        fn same_script_is_byte_equality(
            len in 0usize..40,
            at in any::<usize>(),
            flip in 1u8..,
            fill in any::<u8>(),
        ) {
            let a: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
            prop_assert!(same_script(&a, &a.clone()));
            if len > 0 {
                let mut b = a.clone();
                b[at % len] ^= flip;
                prop_assert!(!same_script(&a, &b));
                prop_assert!(!same_script(&a, &a[..len - 1]));
            }
        }

        /// The keyed order of scripts is the order of their bytes, prefixes
        /// and ties within the first 8 bytes included (a two-letter
        /// alphabet and short lengths make both common).
        #[test]
        fn the_script_order_key_orders_as_the_bytes_do(
            a in proptest::collection::vec(0u8..2, 0..12),
            b in proptest::collection::vec(0u8..2, 0..12),
        ) {
            let (sa, sb) = (ScriptBuf::from_bytes(a.clone()), ScriptBuf::from_bytes(b.clone()));
            let keyed = script_order_key(sa.as_bytes())
                .cmp(&script_order_key(sb.as_bytes()))
                .then_with(|| a.cmp(&b));
            prop_assert_eq!(keyed, a.cmp(&b));
        }

        #[test]
        fn mul_div_floor_equals_the_128_bit_division(a in any::<u64>(), b in any::<u64>(), d in 1u64..) {
            let (b, d) = if b <= d { (b, d) } else { (d, b) };
            let exact = u64::try_from(u128::from(a) * u128::from(b) / u128::from(d)).unwrap();
            prop_assert_eq!(mul_div_floor(a, b, d), exact);
        }

        /// Differential: the payout code equals the rule's definition on
        /// random seeded windows (pushes and pops, up to 600 payees so the
        /// lottery runs, weights scaled so the 64-bit shift varies, any
        /// block value).
        #[test]
        fn payouts_equal_the_reference_on_random_windows(
            seed in any::<u64>(),
            payees in 1u32..600,
            shares in 2u32..1500,
            scale_bits in 0u32..100,
            value in prop_oneof![0u64..100_000, 0u64..=21_000_000 * 100_000_000, any::<u64>()],
        ) {
            let w = seeded_window(payees, shares, 1u128 << scale_bits, seed);
            let finder = match seed % 3 {
                0 => script(200),
                _ => w.newest().map(|e| e.script.clone()).unwrap_or_default(),
            };
            for p in 0..3 {
                let parent = seed_hash(seed.wrapping_add(p));
                let got = w.payouts(value, &finder, &parent);
                let want = reference_payouts(&w, value, &finder, &parent);
                prop_assert_eq!(&got, &want);
                prop_assert!(w.payouts_match(&want, value, &finder, &parent));
                if let Some(first) = want.first() {
                    let mut off = want.clone();
                    off[0].value = Amount::from_sat(first.value.to_sat() ^ 1);
                    prop_assert!(!w.payouts_match(&off, value, &finder, &parent));
                    prop_assert!(!w.payouts_match(&want[1..], value, &finder, &parent));
                }
            }
        }

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
                prop_assert_eq!(w.ranking.total_weight(), w.total_work());
                if !chain.is_empty() {
                    let outs = w.payouts(50_0000_0000, &chain[chain.len() - 1].script, &ShareHash([7; 32]));
                    let total: u64 = outs.iter().map(|o| o.value.to_sat()).sum();
                    prop_assert_eq!(total, 50_0000_0000);
                }
            }
        }
    }
}
