//! The payees ranked by window weight, with running weight totals: an
//! order-statistics treap in an arena.
//!
//! Entries are ordered by weight, heaviest first, ties by script bytes
//! (the payout rule's ranking). Every node carries the weight sum of its
//! subtree, so the entry at a given cumulative weight, in ranking order,
//! is found in O(log payees) instead of by summing the ranking: that is
//! what lets the payout of a new share cost O(direct payees + prizes x log
//! payees), whatever the number of small payees (docs/sharechain.md,
//! "PPLNS window"). Insert and remove are O(log payees) expected.
//!
//! The tree's shape comes from random priorities (a xorshift stream seeded
//! from std's per-process random hash keys), so a peer choosing the order
//! of its payees' shares cannot predict them and grow the tree deep. The
//! shape differs from node to node, but nothing read from it depends on
//! it: only the in-order sequence and the sums, which the entries alone
//! define.

use bitcoin::ScriptBuf;
use std::cmp::Ordering;
use std::hash::{BuildHasher, RandomState};

/// A script's first 8 bytes as a big-endian number, zero-padded: ordering
/// by it and then by the bytes is ordering by the bytes (a shorter script
/// that is a prefix of a longer one gets an equal or smaller key, and an
/// equal key falls back to the bytes). Kept in each ranked entry, so the
/// payout's sort by script reads it instead of recomputing it per payee.
pub fn script_order_key(script: &[u8]) -> u64 {
    match script.first_chunk::<8>() {
        Some(first) => u64::from_be_bytes(*first),
        None => {
            let mut key = [0u8; 8];
            key[..script.len()].copy_from_slice(script);
            u64::from_be_bytes(key)
        }
    }
}

/// No child.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    weight: u128,
    script: ScriptBuf,
    /// [`script_order_key`] of `script`.
    key: u64,
    priority: u64,
    left: u32,
    right: u32,
    /// The neighbours in ranking order (a thread through the tree, so a
    /// walk in order is one load per step).
    prev: u32,
    next: u32,
    /// Weight of this node and everything below it.
    sum: u128,
}

/// Payees by weight (heaviest first, ties by script bytes) with subtree
/// weight sums.
#[derive(Debug, Clone)]
pub struct Ranking {
    nodes: Vec<Node>,
    /// Arena slots of removed nodes, reused by the next inserts.
    free: Vec<u32>,
    root: u32,
    /// The heaviest entry (first in ranking order).
    first: u32,
    len: usize,
    rng: u64,
}

impl Default for Ranking {
    fn default() -> Ranking {
        Ranking {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            first: NIL,
            len: 0,
            // Never zero: xorshift would stay there.
            rng: RandomState::new().hash_one(0x9e37_79b9_7f4a_7c15u64) | 1,
        }
    }
}

/// One ranked payee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranked<'a> {
    /// Its window weight.
    pub weight: u128,
    /// Its payout script.
    pub script: &'a ScriptBuf,
    /// [`script_order_key`] of the script.
    pub key: u64,
}

/// A key to place in the ranking: weight, script and its order key.
#[derive(Clone, Copy)]
struct Probe<'a> {
    weight: u128,
    script: &'a [u8],
    key: u64,
}

impl<'a> Probe<'a> {
    fn new(weight: u128, script: &'a [u8]) -> Probe<'a> {
        Probe {
            weight,
            script,
            key: script_order_key(script),
        }
    }
}

/// The ranking order of `probe` against a node: heavier first, then by
/// script bytes (the order key first, which orders as the bytes do).
fn order(probe: Probe<'_>, node: &Node) -> Ordering {
    node.weight
        .cmp(&probe.weight)
        .then_with(|| probe.key.cmp(&node.key))
        .then_with(|| probe.script.cmp(node.script.as_bytes()))
}

impl Ranking {
    /// Entries ranked.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing ranked.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sum of all weights (saturating).
    pub fn total_weight(&self) -> u128 {
        self.sum_of(self.root)
    }

    fn sum_of(&self, i: u32) -> u128 {
        self.nodes.get(i as usize).map_or(0, |n| n.sum)
    }

    fn fix_sum(&mut self, i: u32) {
        let Some(n) = self.nodes.get(i as usize) else {
            return;
        };
        let (l, r, w) = (n.left, n.right, n.weight);
        let sum = w
            .saturating_add(self.sum_of(l))
            .saturating_add(self.sum_of(r));
        self.nodes[i as usize].sum = sum;
    }

    fn next_priority(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// The last node down one side of subtree `t` (`side` picks the child):
    /// its first or last entry in ranking order. NIL for an empty subtree.
    fn extreme(&self, mut t: u32, side: impl Fn(&Node) -> u32) -> u32 {
        while let Some(n) = self.nodes.get(t as usize) {
            let c = side(n);
            if c == NIL {
                return t;
            }
            t = c;
        }
        NIL
    }

    /// Splits the subtree `t` into (entries ranked before `(weight,
    /// script)`, the rest).
    fn split(&mut self, t: u32, probe: Probe<'_>) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if order(probe, &self.nodes[t as usize]) == Ordering::Greater {
            // The node ranks before the key: it and its left go left.
            let right = self.nodes[t as usize].right;
            let (a, b) = self.split(right, probe);
            self.nodes[t as usize].right = a;
            self.fix_sum(t);
            (t, b)
        } else {
            let left = self.nodes[t as usize].left;
            let (a, b) = self.split(left, probe);
            self.nodes[t as usize].left = b;
            self.fix_sum(t);
            (a, t)
        }
    }

    /// Joins two subtrees, every entry of `a` ranked before every one of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].priority >= self.nodes[b as usize].priority {
            let right = self.nodes[a as usize].right;
            let m = self.merge(right, b);
            self.nodes[a as usize].right = m;
            self.fix_sum(a);
            a
        } else {
            let left = self.nodes[b as usize].left;
            let m = self.merge(a, left);
            self.nodes[b as usize].left = m;
            self.fix_sum(b);
            b
        }
    }

    /// Ranks `script` with `weight`. The caller keeps one entry per script
    /// (the window removes the old weight first and hands its script back
    /// here, so moving a payee allocates nothing).
    pub fn insert(&mut self, weight: u128, script: ScriptBuf) {
        let priority = self.next_priority();
        let key = script_order_key(script.as_bytes());
        let (a, b) = self.split(
            self.root,
            Probe {
                weight,
                script: script.as_bytes(),
                key,
            },
        );
        let node = Node {
            weight,
            script,
            key,
            priority,
            left: NIL,
            right: NIL,
            prev: NIL,
            next: NIL,
            sum: weight,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                u32::try_from(self.nodes.len() - 1).unwrap_or(NIL)
            }
        };
        // Threaded between the last entry ranked before it and the first
        // after it.
        let prev = self.extreme(a, |n| n.right);
        let next = self.extreme(b, |n| n.left);
        self.link(prev, i);
        self.link(i, next);
        let ab = self.merge(a, i);
        self.root = self.merge(ab, b);
        self.len += 1;
    }

    /// Removes the entry `(weight, script)` and returns its script; None if
    /// it is not ranked.
    pub fn remove(&mut self, weight: u128, script: &[u8]) -> Option<ScriptBuf> {
        let probe = Probe::new(weight, script);
        // The nodes above the one removed, whose sums it is part of.
        let mut path = Stack::default();
        let mut went_left = false;
        let mut t = self.root;
        while t != NIL {
            let n = &self.nodes[t as usize];
            let here = t;
            (went_left, t) = match order(probe, n) {
                Ordering::Equal => break,
                Ordering::Less => (true, n.left),
                Ordering::Greater => (false, n.right),
            };
            path.push(here);
        }
        if t == NIL {
            return None;
        }
        let n = &self.nodes[t as usize];
        let (l, r, prev, next) = (n.left, n.right, n.prev, n.next);
        self.link(prev, next);
        let joined = self.merge(l, r);
        match path.pop() {
            None => self.root = joined,
            Some(parent) => {
                let p = &mut self.nodes[parent as usize];
                if went_left {
                    p.left = joined;
                } else {
                    p.right = joined;
                }
                self.fix_sum(parent);
                while let Some(i) = path.pop() {
                    self.fix_sum(i);
                }
            }
        }
        let script = std::mem::take(&mut self.nodes[t as usize].script);
        self.free.push(t);
        self.len -= 1;
        Some(script)
    }

    /// Threads `next` right after `prev` (NIL: `next` becomes the first
    /// entry; NIL `next`: `prev` becomes the last).
    fn link(&mut self, prev: u32, next: u32) {
        match self.nodes.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.first = next,
        }
        if let Some(n) = self.nodes.get_mut(next as usize) {
            n.prev = prev;
        }
    }

    /// The entries in ranking order, heaviest first.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            ranking: self,
            next: self.first,
        }
    }

    /// The entry holding cumulative weight `at` in ranking order: the
    /// first whose running total (itself included) exceeds `at`. None when
    /// `at` is at least the total weight.
    pub fn at_cumulative(&self, mut at: u128) -> Option<Ranked<'_>> {
        let mut t = self.root;
        while let Some(n) = self.nodes.get(t as usize) {
            let left = self.sum_of(n.left);
            if at < left {
                t = n.left;
                continue;
            }
            at -= left;
            if at < n.weight {
                return Some(n.ranked());
            }
            at -= n.weight;
            t = n.right;
        }
        None
    }
}

impl Node {
    fn ranked(&self) -> Ranked<'_> {
        Ranked {
            weight: self.weight,
            script: &self.script,
            key: self.key,
        }
    }
}

/// Node indices on a path from the root: inline up to a depth no treap of
/// random priorities reaches in practice (expected ~2 ln n, ~18 for a
/// full window), spilling to the heap past it, so walks allocate nothing.
#[derive(Debug)]
struct Stack {
    inline: [u32; 64],
    len: usize,
    spill: Vec<u32>,
}

impl Default for Stack {
    fn default() -> Stack {
        Stack {
            inline: [NIL; 64],
            len: 0,
            spill: Vec::new(),
        }
    }
}

impl Stack {
    fn push(&mut self, i: u32) {
        match self.inline.get_mut(self.len) {
            Some(slot) => {
                *slot = i;
                self.len += 1;
            }
            None => self.spill.push(i),
        }
    }

    fn pop(&mut self) -> Option<u32> {
        if let Some(i) = self.spill.pop() {
            return Some(i);
        }
        self.len = self.len.checked_sub(1)?;
        Some(self.inline[self.len])
    }
}

/// In-order walk of a [`Ranking`], along its thread.
#[derive(Debug)]
pub struct Iter<'a> {
    ranking: &'a Ranking,
    next: u32,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Ranked<'a>;

    fn next(&mut self) -> Option<Ranked<'a>> {
        let n = self.ranking.nodes.get(self.next as usize)?;
        self.next = n.next;
        Some(n.ranked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BTreeSet;

    /// Short scripts and long ones alike in their first 8 bytes, so the
    /// order key both decides and ties.
    fn script(i: u8) -> ScriptBuf {
        match i % 2 {
            0 => ScriptBuf::from_bytes(vec![0x51, i]),
            _ => ScriptBuf::from_bytes(vec![0x00, 0x14, 1, 1, 1, 1, 1, 1, i]),
        }
    }

    #[test]
    fn ranks_heaviest_first_and_ties_by_script() {
        let mut r = Ranking::default();
        r.insert(5, script(2));
        r.insert(9, script(1));
        r.insert(5, script(1));
        let order: Vec<_> = r.iter().map(|e| (e.weight, e.script.clone())).collect();
        assert_eq!(order, vec![(9, script(1)), (5, script(1)), (5, script(2))]);
        assert_eq!(r.total_weight(), 19);
        let at = |r: &Ranking, w| r.at_cumulative(w).map(|e| (e.weight, e.script.clone()));
        assert_eq!(at(&r, 0), Some((9, script(1))));
        assert_eq!(at(&r, 8), Some((9, script(1))));
        assert_eq!(at(&r, 9), Some((5, script(1))));
        assert_eq!(at(&r, 14), Some((5, script(2))));
        assert_eq!(at(&r, 19), None);
        assert_eq!(r.remove(5, script(1).as_bytes()), Some(script(1)));
        assert_eq!(r.remove(5, script(1).as_bytes()), None);
        assert_eq!(at(&r, 9), Some((5, script(2))));
        assert_eq!(
            r.iter().next().map(|e| e.key),
            Some(script_order_key(script(1).as_bytes()))
        );
        assert_eq!(r.len(), 2);
    }

    proptest! {
        /// Against a B-tree of the same entries and running sums computed
        /// by walking it: random inserts and removes, every query checked.
        #[test]
        fn equals_a_sorted_set_with_running_sums(
            ops in proptest::collection::vec((0u8..40, 1u128..1000, any::<bool>(), any::<u128>()), 1..400),
        ) {
            let mut r = Ranking::default();
            let mut set: BTreeSet<(Reverse<u128>, Vec<u8>)> = BTreeSet::new();
            for (payee, weight, remove, probe) in ops {
                let s = script(payee);
                let existing = set.iter().find(|(_, b)| b == s.as_bytes()).cloned();
                if let Some((Reverse(w), b)) = existing {
                    prop_assert_eq!(r.remove(w, &b).map(|s| s.to_bytes()), Some(b.clone()));
                    set.remove(&(Reverse(w), b));
                }
                if !remove {
                    r.insert(weight, s.clone());
                    set.insert((Reverse(weight), s.as_bytes().to_vec()));
                }
                let want: Vec<(u128, Vec<u8>)> = set.iter().map(|(Reverse(w), b)| (*w, b.clone())).collect();
                let got: Vec<(u128, Vec<u8>)> = r.iter().map(|e| (e.weight, e.script.to_bytes())).collect();
                prop_assert!(r.iter().all(|e| e.key == script_order_key(e.script.as_bytes())));
                prop_assert_eq!(&got, &want);
                prop_assert_eq!(r.len(), want.len());
                // The thread runs both ways: each entry's successor names
                // it as its predecessor.
                let mut at_node = r.first;
                let mut prev = NIL;
                while at_node != NIL {
                    prop_assert_eq!(r.nodes[at_node as usize].prev, prev);
                    prev = at_node;
                    at_node = r.nodes[at_node as usize].next;
                }
                let total: u128 = want.iter().map(|e| e.0).sum();
                prop_assert_eq!(r.total_weight(), total);
                let at = if total == 0 { probe } else { probe % (total + 1) };
                let mut run = 0u128;
                let expect = want.iter().find(|(w, _)| {
                    run += w;
                    run > at
                });
                prop_assert_eq!(
                    r.at_cumulative(at).map(|e| (e.weight, e.script.to_bytes())),
                    expect.cloned()
                );
            }
        }
    }
}
