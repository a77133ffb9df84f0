//! Verification metrics over scored pairs: k-fold accuracy, ROC AUC, TAR at a fixed FAR.

pub use visage::recognize::calibration::{eer, next_up};

/// A pair's similarity, whether it is genuine (same person), and its fold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPair {
    pub score: f32,
    pub genuine: bool,
    pub fold: usize,
}

fn accuracy_at(pairs: &[&ScoredPair], threshold: f32) -> f64 {
    let correct = pairs.iter().filter(|p| (p.score >= threshold) == p.genuine).count();
    correct as f64 / pairs.len().max(1) as f64
}

/// The threshold that maximises accuracy on `pairs`, taken midway between neighbouring scores so it
/// does not sit on a sample. Ties go to the lowest such threshold.
pub fn best_accuracy_threshold(pairs: &[&ScoredPair]) -> f32 {
    let mut sorted: Vec<&ScoredPair> = pairs.to_vec();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    // Sweep: with the threshold just above sorted[i], pairs 0..=i are rejected.
    let genuine_total = sorted.iter().filter(|p| p.genuine).count() as i64;
    let mut correct = genuine_total; // threshold below everything: all accepted
    let (mut best, mut best_t) = (correct, sorted.first().map_or(0.0, |p| p.score - 1e-6));
    for i in 0..sorted.len() {
        correct += if sorted[i].genuine { -1 } else { 1 };
        let next = sorted.get(i + 1).map_or(sorted[i].score + 1e-6, |p| p.score);
        if next > sorted[i].score && correct > best {
            best = correct;
            // The midpoint of two neighbouring f32 values can round down onto the lower one.
            let mid = (sorted[i].score + next) / 2.0;
            best_t = if mid > sorted[i].score { mid } else { next };
        }
    }
    best_t
}

/// Mean and standard deviation of accuracy over the folds: each fold is tested at the threshold that
/// is best on all the other folds (the LFW protocol). Also returns each fold's threshold. `None` with
/// fewer than two folds, where there is nothing to train on.
pub fn k_fold_accuracy(pairs: &[ScoredPair]) -> Option<(f64, f64, Vec<f32>)> {
    let mut folds: Vec<usize> = pairs.iter().map(|p| p.fold).collect();
    folds.sort_unstable();
    folds.dedup();
    if folds.len() < 2 {
        return None;
    }
    let mut accs = Vec::new();
    let mut thresholds = Vec::new();
    for &fold in &folds {
        let train: Vec<&ScoredPair> = pairs.iter().filter(|p| p.fold != fold).collect();
        let test: Vec<&ScoredPair> = pairs.iter().filter(|p| p.fold == fold).collect();
        let t = best_accuracy_threshold(&train);
        accs.push(accuracy_at(&test, t));
        thresholds.push(t);
    }
    let n = accs.len().max(1) as f64;
    let mean = accs.iter().sum::<f64>() / n;
    // Population standard deviation over the folds, as InsightFace's and scikit-learn-based LFW
    // evaluations (and bench/reference.py) report it.
    let var = accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n;
    Some((mean, var.sqrt(), thresholds))
}

/// Area under the ROC curve: the probability that a random genuine pair scores above a random
/// impostor pair (ties count half), by the rank-sum formula.
pub fn auc(pairs: &[ScoredPair]) -> f64 {
    let mut sorted: Vec<&ScoredPair> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    let (mut rank_sum, mut i) = (0.0f64, 0usize);
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].score == sorted[i].score {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * sorted[i..=j].iter().filter(|p| p.genuine).count() as f64;
        i = j + 1;
    }
    let n_pos = pairs.iter().filter(|p| p.genuine).count() as f64;
    let n_neg = pairs.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// The lowest threshold whose false accept rate (impostors with score ≥ threshold) is at most `far`.
/// `None` when the data cannot support the rate: fewer than 1/`far` impostor pairs.
pub fn threshold_at_far(pairs: &[ScoredPair], far: f64) -> Option<f32> {
    let mut impostors: Vec<f32> = pairs.iter().filter(|p| !p.genuine).map(|p| p.score).collect();
    if impostors.is_empty() || (impostors.len() as f64) * far < 1.0 {
        return None;
    }
    impostors.sort_by(|a, b| b.total_cmp(a));
    // The small epsilon keeps 0.29 x 100 from flooring to 28.
    let allowed = (far * impostors.len() as f64 + 1e-9).floor() as usize;
    if allowed >= impostors.len() {
        return Some(f32::NEG_INFINITY);
    }
    // Accepting at most `allowed` impostors: the threshold must lie above impostor number `allowed`.
    Some(next_up(impostors[allowed]))
}

/// True accept rate at the threshold for `far`, with that threshold.
pub fn tar_at_far(pairs: &[ScoredPair], far: f64) -> Option<(f64, f32)> {
    let t = threshold_at_far(pairs, far)?;
    let genuine: Vec<f32> = pairs.iter().filter(|p| p.genuine).map(|p| p.score).collect();
    if genuine.is_empty() {
        return None;
    }
    let accepted = genuine.iter().filter(|&&s| s >= t).count();
    Some((accepted as f64 / genuine.len() as f64, t))
}

/// The error trade-off over every threshold: `(threshold, FAR, FRR)` with FAR the share of impostors
/// scoring ≥ threshold and FRR the share of genuine scores below it, from the lowest threshold up.
/// At most `max_points` points (evenly spaced in rank when there are more distinct scores), always
/// including both ends.
pub fn error_tradeoff(genuine: &[f32], impostor: &[f32], max_points: usize) -> Vec<(f32, f64, f64)> {
    if genuine.is_empty() || impostor.is_empty() {
        return Vec::new();
    }
    let mut g = genuine.to_vec();
    let mut i = impostor.to_vec();
    g.sort_by(f32::total_cmp);
    i.sort_by(f32::total_cmp);
    let mut thresholds: Vec<f32> = g.iter().chain(&i).copied().collect();
    thresholds.sort_by(f32::total_cmp);
    thresholds.dedup();
    thresholds.push(next_up(*thresholds.last().expect("non-empty")));
    let step = (thresholds.len() as f64 / max_points.max(2) as f64).max(1.0);
    let mut picked: Vec<f32> = (0..)
        .map(|k| (k as f64 * step) as usize)
        .take_while(|&k| k < thresholds.len())
        .map(|k| thresholds[k])
        .collect();
    if picked.last() != thresholds.last() {
        picked.push(*thresholds.last().expect("non-empty"));
    }
    let (ng, ni) = (g.len() as f64, i.len() as f64);
    picked
        .into_iter()
        .map(|t| {
            let frr = g.partition_point(|&s| s < t) as f64 / ng;
            let far = (i.len() - i.partition_point(|&s| s < t)) as f64 / ni;
            (t, far, frr)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(score: f32, genuine: bool, fold: usize) -> ScoredPair {
        ScoredPair { score, genuine, fold }
    }

    #[test]
    fn separable_data_is_perfect() {
        let pairs: Vec<ScoredPair> =
            (0..10).flat_map(|f| [p(0.8 + f as f32 * 0.01, true, f), p(0.1 + f as f32 * 0.01, false, f)]).collect();
        let (mean, sd, thresholds) = k_fold_accuracy(&pairs).unwrap();
        assert_eq!(mean, 1.0);
        assert_eq!(sd, 0.0);
        assert!(thresholds.iter().all(|&t| t > 0.2 && t < 0.8));
        assert_eq!(auc(&pairs), 1.0);
    }

    #[test]
    fn edge_cases() {
        assert!(k_fold_accuracy(&[p(0.9, true, 0), p(0.1, false, 0)]).is_none(), "one fold");
        let pairs = [p(0.5, false, 0), p(0.5f32.next_up(), true, 0)];
        let refs: Vec<&ScoredPair> = pairs.iter().collect();
        let t = best_accuracy_threshold(&refs);
        assert_eq!(accuracy_at(&refs, t), 1.0, "adjacent floats still separate");
        let five: Vec<ScoredPair> = (0..5).map(|i| p(i as f32, false, 0)).chain([p(9.0, true, 0)]).collect();
        assert_eq!(threshold_at_far(&five, 1.0), Some(f32::NEG_INFINITY));
        let hundred: Vec<ScoredPair> = (0..100).map(|i| p(i as f32, false, 0)).collect();
        let t = threshold_at_far(&hundred, 0.29).unwrap();
        assert_eq!(hundred.iter().filter(|q| q.score >= t).count(), 29);
    }

    #[test]
    fn best_threshold_splits_between_scores() {
        let pairs = [p(0.1, false, 0), p(0.2, false, 0), p(0.6, true, 0), p(0.3, true, 0), p(0.25, false, 0)];
        let refs: Vec<&ScoredPair> = pairs.iter().collect();
        let t = best_accuracy_threshold(&refs);
        assert!((t - 0.275).abs() < 1e-6, "{t}");
        assert_eq!(accuracy_at(&refs, t), 1.0);
    }

    #[test]
    fn auc_counts_ties_half_and_inversions() {
        assert_eq!(auc(&[p(0.5, true, 0), p(0.5, false, 0)]), 0.5);
        assert_eq!(auc(&[p(0.2, true, 0), p(0.8, false, 0)]), 0.0);
        // 2 genuine x 2 impostor, 3 of 4 orderings right.
        assert_eq!(auc(&[p(0.9, true, 0), p(0.4, true, 0), p(0.5, false, 0), p(0.1, false, 0)]), 0.75);
        assert!(auc(&[p(0.9, true, 0)]).is_nan());
    }

    #[test]
    fn eer_of_constructed_scores() {
        // Genuine 0.5..0.9 and impostors 0.1..0.5 touching at 0.5: at t = 0.5 FAR = 1/5 (the impostor
        // at 0.5), FRR = 0; just above, FAR = 0, FRR = 1/5. Either way |FAR - FRR| = 0.2.
        let genuine = [0.5, 0.6, 0.7, 0.8, 0.9];
        let impostor = [0.1, 0.2, 0.3, 0.4, 0.5];
        let (rate, t) = eer(&genuine, &impostor).unwrap();
        assert!((rate - 0.1).abs() < 1e-12 && t == 0.5, "{rate} {t}");
        // Separable: EER 0 at the lowest genuine score.
        assert_eq!(eer(&[0.8, 0.9], &[0.1, 0.2]), Some((0.0, 0.8)));
        // Crossing exactly: at t = 4.5 one genuine of four (4) is rejected and one impostor of four
        // (4.5) accepted, so FAR = FRR = 0.25.
        assert_eq!(eer(&[4.0, 5.0, 6.0, 7.0], &[1.0, 2.0, 3.0, 4.5]), Some((0.25, 4.5)));
        assert_eq!(eer(&[], &[0.1]), None);
    }

    #[test]
    fn error_tradeoff_runs_from_accept_all_to_reject_all() {
        let curve = error_tradeoff(&[0.6, 0.8], &[0.1, 0.7], 100);
        assert_eq!(curve.first().map(|p| (p.1, p.2)), Some((1.0, 0.0)));
        assert_eq!(curve.last().map(|p| (p.1, p.2)), Some((0.0, 1.0)));
        // At t = 0.7: one impostor (0.7) accepted, one genuine (0.6) rejected.
        assert!(curve.iter().any(|&(t, far, frr)| t == 0.7 && far == 0.5 && frr == 0.5));
        let long: Vec<f32> = (0..1000).map(|k| k as f32 / 1000.0).collect();
        assert!(error_tradeoff(&long, &long, 50).len() <= 52);
    }

    #[test]
    fn far_threshold_and_tar() {
        // 10 impostors 0.0..0.9, genuine at 0.85 and 0.95.
        let mut pairs: Vec<ScoredPair> = (0..10).map(|i| p(i as f32 / 10.0, false, 0)).collect();
        pairs.push(p(0.85, true, 0));
        pairs.push(p(0.95, true, 0));
        // FAR 0.1 allows one impostor (0.9): threshold just above 0.8.
        let t = threshold_at_far(&pairs, 0.1).unwrap();
        assert!(t > 0.8 && t < 0.8001);
        assert_eq!(tar_at_far(&pairs, 0.1).unwrap().0, 1.0);
        // FAR 0.05 with 10 impostors: not supported by the data.
        assert_eq!(threshold_at_far(&pairs, 0.05), None);
        // FAR 0.1 → 1 allowed; at FAR 0.19 still 1.
        assert_eq!(threshold_at_far(&pairs, 0.19), threshold_at_far(&pairs, 0.1));
        let impostors_accepted = pairs.iter().filter(|q| !q.genuine && q.score >= t).count();
        assert_eq!(impostors_accepted, 1);
    }
}
