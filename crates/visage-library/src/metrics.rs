//! How well a clustering matches the truth: pairwise precision/recall/F1, BCubed precision/recall/F,
//! and the number of clusters.

use serde::Serialize;
use std::collections::HashMap;

/// The scores of one clustering against the true identities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClusterScores {
    /// Of the pairs put in one cluster, the share that are one person.
    pub pairwise_precision: f64,
    /// Of the pairs that are one person, the share put in one cluster.
    pub pairwise_recall: f64,
    pub pairwise_f1: f64,
    /// Mean over faces of the share of its cluster that is its person.
    pub bcubed_precision: f64,
    /// Mean over faces of the share of its person that is in its cluster.
    pub bcubed_recall: f64,
    pub bcubed_f: f64,
    pub clusters: usize,
    /// Clusters of one face.
    pub singletons: usize,
}

/// Scores `predicted` labels against `truth` labels (one per face, same order).
pub fn score(predicted: &[usize], truth: &[usize]) -> ClusterScores {
    assert_eq!(predicted.len(), truth.len(), "one predicted and one true label per face");
    let mut joint: HashMap<(usize, usize), u64> = HashMap::new();
    let mut cluster_size: HashMap<usize, u64> = HashMap::new();
    let mut class_size: HashMap<usize, u64> = HashMap::new();
    for (&p, &t) in predicted.iter().zip(truth) {
        *joint.entry((p, t)).or_default() += 1;
        *cluster_size.entry(p).or_default() += 1;
        *class_size.entry(t).or_default() += 1;
    }
    let pairs = |n: u64| (n * n.saturating_sub(1) / 2) as f64;
    let together: f64 = joint.values().map(|&n| pairs(n)).sum();
    let predicted_pairs: f64 = cluster_size.values().map(|&n| pairs(n)).sum();
    let true_pairs: f64 = class_size.values().map(|&n| pairs(n)).sum();
    let n = predicted.len().max(1) as f64;
    let bcubed_precision = joint.iter().map(|(&(p, _), &c)| (c * c) as f64 / cluster_size[&p] as f64).sum::<f64>() / n;
    let bcubed_recall = joint.iter().map(|(&(_, t), &c)| (c * c) as f64 / class_size[&t] as f64).sum::<f64>() / n;
    let pairwise_precision = ratio(together, predicted_pairs);
    let pairwise_recall = ratio(together, true_pairs);
    ClusterScores {
        pairwise_precision,
        pairwise_recall,
        pairwise_f1: harmonic(pairwise_precision, pairwise_recall),
        bcubed_precision,
        bcubed_recall,
        bcubed_f: harmonic(bcubed_precision, bcubed_recall),
        clusters: cluster_size.len(),
        singletons: cluster_size.values().filter(|&&n| n == 1).count(),
    }
}

/// `a / b`, with 1 when there is nothing to count (no pair claimed is no wrong pair).
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        1.0
    } else {
        a / b
    }
}

fn harmonic(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_clustering_scores_one() {
        let s = score(&[5, 5, 7, 9], &[0, 0, 1, 2]);
        assert_eq!((s.pairwise_f1, s.bcubed_f, s.clusters, s.singletons), (1.0, 1.0, 3, 2));
    }

    #[test]
    fn known_values() {
        // Truth: {a,b,c} {d}; predicted: {a,b} {c,d}.
        let s = score(&[0, 0, 1, 1], &[0, 0, 0, 1]);
        assert!((s.pairwise_precision - 0.5).abs() < 1e-12); // ab right, cd wrong
        assert!((s.pairwise_recall - 1.0 / 3.0).abs() < 1e-12); // of ab, ac, bc only ab
                                                                // BCubed precision: a 1, b 1, c 1/2, d 1/2 -> 0.75; recall: a 2/3, b 2/3, c 1/3, d 1 -> 2/3.
        assert!((s.bcubed_precision - 0.75).abs() < 1e-12);
        assert!((s.bcubed_recall - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn everything_in_one_cluster_has_full_recall_and_poor_precision() {
        let s = score(&[0; 4], &[0, 1, 2, 3]);
        assert_eq!(s.pairwise_recall, 1.0);
        assert_eq!(s.pairwise_precision, 0.0);
        assert_eq!(s.bcubed_precision, 0.25);
    }
}
