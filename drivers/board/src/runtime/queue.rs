//! A bounded FIFO that drops the oldest item when full and counts the drops.

use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub(super) struct Bounded<T> {
    items: VecDeque<T>,
    capacity: usize,
    dropped: u64,
}

impl<T> Bounded<T> {
    pub(super) fn new(capacity: usize) -> Bounded<T> {
        Bounded {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    pub(super) fn push(&mut self, item: T) {
        while self.items.len() >= self.capacity {
            self.items.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
        self.items.push_back(item);
    }

    /// Up to `max` items, oldest first.
    pub(super) fn drain(&mut self, max: usize) -> Vec<T> {
        let n = max.min(self.items.len());
        self.items.drain(..n).collect()
    }

    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_oldest_and_counts() {
        let mut q = Bounded::new(3);
        for i in 0..5 {
            q.push(i);
        }
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.drain(2), vec![2, 3]);
        assert_eq!(q.drain(10), vec![4]);
        assert!(q.drain(10).is_empty());
    }
}
