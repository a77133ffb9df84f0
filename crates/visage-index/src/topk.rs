//! Keeping the k best scores of a scan without sorting all of them.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A score and the row it belongs to, ordered by score and then by row so that results are deterministic.
#[derive(Clone, Copy, Debug)]
struct Entry {
    score: f32,
    row: usize,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // On equal scores the lower row wins (is "greater"), matching a stable full sort.
        self.score.total_cmp(&other.score).then(other.row.cmp(&self.row))
    }
}

/// The `k` largest scores seen so far, in a min-heap of size `k`: after the first `k` rows almost every
/// score fails the comparison with the current minimum, so the scan pays one compare per row.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Reverse<Entry>>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    /// The score a new row must beat to enter (−∞ until `k` rows are held).
    #[inline]
    pub(crate) fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap.peek().map_or(f32::NEG_INFINITY, |e| e.0.score)
        }
    }

    /// Offers row `row` with `score`.
    #[inline]
    pub(crate) fn push(&mut self, score: f32, row: usize) {
        if self.k == 0 {
            return;
        }
        let e = Entry { score, row };
        if self.heap.len() < self.k {
            self.heap.push(Reverse(e));
        } else if self.heap.peek().is_some_and(|min| e > min.0) {
            self.heap.pop();
            self.heap.push(Reverse(e));
        }
    }

    /// Offers a block of scores for rows `first_row..first_row + scores.len()`.
    #[inline]
    pub(crate) fn push_block(&mut self, scores: &[f32], first_row: usize) {
        let mut threshold = self.threshold();
        for (i, &s) in scores.iter().enumerate() {
            if s >= threshold {
                self.push(s, first_row + i);
                threshold = self.threshold();
            }
        }
    }

    /// [`push_block`](Self::push_block) of the rows `keep` accepts; `keep` is only asked about rows whose
    /// score would enter.
    pub(crate) fn push_block_where(&mut self, scores: &[f32], first_row: usize, keep: &dyn Fn(usize) -> bool) {
        let mut threshold = self.threshold();
        for (i, &s) in scores.iter().enumerate() {
            if s >= threshold && keep(first_row + i) {
                self.push(s, first_row + i);
                threshold = self.threshold();
            }
        }
    }

    /// Merges another partial result (from another thread's share of the rows).
    pub(crate) fn merge(&mut self, other: TopK) {
        for Reverse(e) in other.heap {
            self.push(e.score, e.row);
        }
    }

    /// `(row, score)`, best first.
    pub(crate) fn into_sorted(self) -> Vec<(usize, f32)> {
        let mut v: Vec<Entry> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.into_iter().map(|e| (e.row, e.score)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_k_best_in_order() {
        let scores = [0.1, 0.9, -0.3, 0.5, 0.9, 0.7, 0.0];
        let mut t = TopK::new(3);
        t.push_block(&scores[..4], 0);
        let mut u = TopK::new(3);
        u.push_block(&scores[4..], 4);
        t.merge(u);
        assert_eq!(t.into_sorted(), vec![(1, 0.9), (4, 0.9), (5, 0.7)]);
        let mut z = TopK::new(0);
        z.push_block(&scores, 0);
        assert!(z.into_sorted().is_empty());
    }
}
