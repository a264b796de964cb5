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
//! The tree's shape comes from priorities drawn from a fixed xorshift
//! stream, so it differs between nodes that saw different pushes and pops,
//! but nothing read from it depends on the shape: only the in-order
//! sequence and the sums, which are defined by the entries alone.

use bitcoin::ScriptBuf;
use std::cmp::Ordering;

/// No child.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    weight: u128,
    script: ScriptBuf,
    priority: u64,
    left: u32,
    right: u32,
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
    len: usize,
    rng: u64,
}

impl Default for Ranking {
    fn default() -> Ranking {
        Ranking {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            len: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// The ranking order of `(weight, script)` against a node.
fn order(weight: u128, script: &[u8], node: &Node) -> Ordering {
    node.weight
        .cmp(&weight)
        .then_with(|| script.cmp(node.script.as_bytes()))
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

    /// Splits the subtree `t` into (entries ranked before `(weight,
    /// script)`, the rest).
    fn split(&mut self, t: u32, weight: u128, script: &[u8]) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if order(weight, script, &self.nodes[t as usize]) == Ordering::Greater {
            // The node ranks before the key: it and its left go left.
            let right = self.nodes[t as usize].right;
            let (a, b) = self.split(right, weight, script);
            self.nodes[t as usize].right = a;
            self.fix_sum(t);
            (t, b)
        } else {
            let left = self.nodes[t as usize].left;
            let (a, b) = self.split(left, weight, script);
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
    /// (the window removes the old weight first).
    pub fn insert(&mut self, weight: u128, script: &ScriptBuf) {
        let priority = self.next_priority();
        let node = Node {
            weight,
            script: script.clone(),
            priority,
            left: NIL,
            right: NIL,
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
        let (a, b) = self.split(self.root, weight, script.as_bytes());
        let ab = self.merge(a, i);
        self.root = self.merge(ab, b);
        self.len += 1;
    }

    /// Removes the entry `(weight, script)`; false if it is not ranked.
    pub fn remove(&mut self, weight: u128, script: &[u8]) -> bool {
        let mut parent = NIL;
        let mut went_left = false;
        let mut t = self.root;
        while t != NIL {
            let n = &self.nodes[t as usize];
            match order(weight, script, n) {
                Ordering::Equal => break,
                Ordering::Less => {
                    parent = t;
                    went_left = true;
                    t = n.left;
                }
                Ordering::Greater => {
                    parent = t;
                    went_left = false;
                    t = n.right;
                }
            }
        }
        if t == NIL {
            return false;
        }
        let (l, r) = (self.nodes[t as usize].left, self.nodes[t as usize].right);
        let joined = self.merge(l, r);
        if parent == NIL {
            self.root = joined;
        } else if went_left {
            self.nodes[parent as usize].left = joined;
        } else {
            self.nodes[parent as usize].right = joined;
        }
        // The sums on the path from the root down to the parent.
        self.fix_path(weight, script, parent);
        self.nodes[t as usize].script = ScriptBuf::new();
        self.free.push(t);
        self.len -= 1;
        true
    }

    /// Recomputes the sums on the search path for `(weight, script)` from
    /// the root down to `last`, bottom-up.
    fn fix_path(&mut self, weight: u128, script: &[u8], last: u32) {
        if last == NIL {
            return;
        }
        let mut path = Vec::with_capacity(64);
        let mut t = self.root;
        while t != NIL {
            path.push(t);
            if t == last {
                break;
            }
            let n = &self.nodes[t as usize];
            t = match order(weight, script, n) {
                Ordering::Greater => n.right,
                _ => n.left,
            };
        }
        for &i in path.iter().rev() {
            self.fix_sum(i);
        }
    }

    /// The entries in ranking order, heaviest first.
    pub fn iter(&self) -> Iter<'_> {
        let mut it = Iter {
            ranking: self,
            stack: Vec::with_capacity(64),
        };
        it.descend(self.root);
        it
    }

    /// The entry holding cumulative weight `at` in ranking order: the
    /// first whose running total (itself included) exceeds `at`. None when
    /// `at` is at least the total weight.
    pub fn at_cumulative(&self, mut at: u128) -> Option<(u128, &ScriptBuf)> {
        let mut t = self.root;
        while let Some(n) = self.nodes.get(t as usize) {
            let left = self.sum_of(n.left);
            if at < left {
                t = n.left;
                continue;
            }
            at -= left;
            if at < n.weight {
                return Some((n.weight, &n.script));
            }
            at -= n.weight;
            t = n.right;
        }
        None
    }
}

/// In-order walk of a [`Ranking`].
#[derive(Debug)]
pub struct Iter<'a> {
    ranking: &'a Ranking,
    stack: Vec<u32>,
}

impl Iter<'_> {
    fn descend(&mut self, mut t: u32) {
        while let Some(n) = self.ranking.nodes.get(t as usize) {
            self.stack.push(t);
            t = n.left;
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (u128, &'a ScriptBuf);

    fn next(&mut self) -> Option<(u128, &'a ScriptBuf)> {
        let t = self.stack.pop()?;
        let n = &self.ranking.nodes[t as usize];
        self.descend(n.right);
        Some((n.weight, &n.script))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::BTreeSet;

    fn script(i: u8) -> ScriptBuf {
        ScriptBuf::from_bytes(vec![0x51, i])
    }

    #[test]
    fn ranks_heaviest_first_and_ties_by_script() {
        let mut r = Ranking::default();
        r.insert(5, &script(2));
        r.insert(9, &script(1));
        r.insert(5, &script(1));
        let order: Vec<_> = r.iter().map(|(w, s)| (w, s.clone())).collect();
        assert_eq!(order, vec![(9, script(1)), (5, script(1)), (5, script(2))]);
        assert_eq!(r.total_weight(), 19);
        assert_eq!(r.at_cumulative(0).map(|e| e.0), Some(9));
        assert_eq!(r.at_cumulative(8).map(|e| e.1.clone()), Some(script(1)));
        assert_eq!(r.at_cumulative(9), Some((5, &script(1))));
        assert_eq!(r.at_cumulative(14), Some((5, &script(2))));
        assert_eq!(r.at_cumulative(19), None);
        assert!(r.remove(5, script(1).as_bytes()));
        assert!(!r.remove(5, script(1).as_bytes()));
        assert_eq!(r.at_cumulative(9), Some((5, &script(2))));
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
                    prop_assert!(r.remove(w, &b));
                    set.remove(&(Reverse(w), b));
                }
                if !remove {
                    r.insert(weight, &s);
                    set.insert((Reverse(weight), s.as_bytes().to_vec()));
                }
                let want: Vec<(u128, Vec<u8>)> = set.iter().map(|(Reverse(w), b)| (*w, b.clone())).collect();
                let got: Vec<(u128, Vec<u8>)> = r.iter().map(|(w, s)| (w, s.as_bytes().to_vec())).collect();
                prop_assert_eq!(&got, &want);
                prop_assert_eq!(r.len(), want.len());
                let total: u128 = want.iter().map(|e| e.0).sum();
                prop_assert_eq!(r.total_weight(), total);
                let at = if total == 0 { probe } else { probe % (total + 1) };
                let mut run = 0u128;
                let expect = want.iter().find(|(w, _)| {
                    run += w;
                    run > at
                });
                prop_assert_eq!(
                    r.at_cumulative(at).map(|(w, s)| (w, s.as_bytes().to_vec())),
                    expect.cloned()
                );
            }
        }
    }
}
