//! Open-set identification (1:N with "unknown"): rank-k hit rates (CMC), and the false negative
//! identification rate (FNIR) at a fixed false positive identification rate (FPIR), as NIST FRVT
//! reports them.
//!
//! - A mated search (the person is in the gallery) is a hit at threshold `T` when the person's gallery
//!   entry is the top candidate and scores at least `T`; FNIR(T) is the share of mated searches that
//!   are not hits.
//! - A non-mated search (the person is not in the gallery) is a false positive when the top candidate
//!   scores at least `T`; FPIR(T) is their share.
//! - FNIR at a target FPIR `f` is read at the lowest `T` with FPIR(T) ≤ f, and only where `f` times
//!   the number of non-mated searches is at least `min_errors` (the rule of 30 by default, as in
//!   [`crate::calibration`]).

use crate::metrics::next_up;
use crate::stats::Rate;
use serde::Serialize;
use visage_index::{ExactIndex, IndexError, VectorIndex};

/// The outcome of the searches: per mated search, the rank of the mate (1-based, `None` beyond the
/// candidates kept) and the top candidate's score and whether it is the mate; per non-mated search,
/// the top score.
#[derive(Debug, Clone, Default)]
pub struct SearchOutcome {
    pub mated: Vec<MatedSearch>,
    pub non_mated_top: Vec<f32>,
    pub gallery_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatedSearch {
    pub rank: Option<usize>,
    pub top_score: f32,
    pub top_is_mate: bool,
}

/// FNIR at one FPIR.
#[derive(Debug, Clone, Serialize)]
pub struct FnirPoint {
    pub target_fpir: f64,
    pub threshold: f32,
    pub fpir: Rate,
    pub fnir: Rate,
}

/// Open-set metrics of one gallery.
#[derive(Debug, Clone, Serialize)]
pub struct OpenSetMetrics {
    pub gallery_size: usize,
    pub mated_searches: usize,
    pub non_mated_searches: usize,
    /// Mated searches whose mate is the top candidate (any score), and in the top 5. Here `errors`
    /// counts the hits and `rate` is the hit rate.
    pub rank1: Rate,
    pub rank5: Rate,
    pub fnir_at_fpir: Vec<FnirPoint>,
    /// Target FPIRs the non-mated searches are too few for.
    pub unsupported_fpir: Vec<f64>,
}

/// Searches every probe among the gallery (exact cosine search, `visage-index`). Gallery entries are
/// `(subject id, embedding)`; mated probes carry their subject id.
pub fn search(
    gallery: &[(u64, &[f32])],
    mated: &[(u64, &[f32])],
    non_mated: &[&[f32]],
    keep: usize,
) -> Result<SearchOutcome, IndexError> {
    let dim = gallery.first().map_or(512, |g| g.1.len());
    let mut index = ExactIndex::new(dim)?;
    let ids: Vec<u64> = gallery.iter().map(|g| g.0).collect();
    let flat: Vec<f32> = gallery.iter().flat_map(|g| g.1.iter().copied()).collect();
    index.add_batch(&ids, &flat)?;
    let queries: Vec<f32> = mated.iter().flat_map(|m| m.1.iter().copied()).collect();
    let found = if mated.is_empty() { Vec::new() } else { index.search_batch(&queries, keep.max(1))? };
    let mated = mated
        .iter()
        .zip(found)
        .map(|((id, _), candidates)| MatedSearch {
            rank: candidates.iter().position(|c| c.0 == *id).map(|p| p + 1),
            top_score: candidates.first().map_or(f32::NEG_INFINITY, |c| c.1),
            top_is_mate: candidates.first().is_some_and(|c| c.0 == *id),
        })
        .collect();
    let queries: Vec<f32> = non_mated.iter().flat_map(|q| q.iter().copied()).collect();
    let found = if non_mated.is_empty() { Vec::new() } else { index.search_batch(&queries, 1)? };
    let non_mated_top = found.iter().map(|c| c.first().map_or(f32::NEG_INFINITY, |c| c.1)).collect();
    Ok(SearchOutcome { mated, non_mated_top, gallery_size: gallery.len() })
}

/// The lowest threshold with FPIR at most `target`, or `None` when the non-mated searches are too few
/// (`target · n < min_errors`).
pub fn threshold_at_fpir(non_mated_top: &[f32], target: f64, min_errors: u64) -> Option<f32> {
    let n = non_mated_top.len();
    if n == 0 || target * (n as f64) + 1e-9 < min_errors.max(1) as f64 {
        return None;
    }
    let mut sorted = non_mated_top.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (target * n as f64 + 1e-9).floor() as usize;
    Some(sorted.get(allowed).map_or(f32::NEG_INFINITY, |&s| next_up(s)))
}

/// FNIR (misses among mated searches) and FPIR (false positives among non-mated) at threshold `t`.
pub fn rates_at(outcome: &SearchOutcome, t: f32) -> (Rate, Rate) {
    let misses = outcome.mated.iter().filter(|m| !(m.top_is_mate && m.top_score >= t)).count();
    let false_pos = outcome.non_mated_top.iter().filter(|&&s| s >= t).count();
    (
        Rate::new(misses as u64, outcome.mated.len() as u64),
        Rate::new(false_pos as u64, outcome.non_mated_top.len() as u64),
    )
}

/// Rank-1 and rank-5 rates and FNIR at each supported target FPIR.
pub fn open_set_metrics(outcome: &SearchOutcome, targets: &[f64], min_errors: u64) -> OpenSetMetrics {
    let n = outcome.mated.len() as u64;
    let within = |k: usize| outcome.mated.iter().filter(|m| m.rank.is_some_and(|r| r <= k)).count() as u64;
    let (mut points, mut unsupported) = (Vec::new(), Vec::new());
    for &target in targets {
        match threshold_at_fpir(&outcome.non_mated_top, target, min_errors) {
            Some(threshold) => {
                let (fnir, fpir) = rates_at(outcome, threshold);
                points.push(FnirPoint { target_fpir: target, threshold, fpir, fnir });
            }
            None => unsupported.push(target),
        }
    }
    OpenSetMetrics {
        gallery_size: outcome.gallery_size,
        mated_searches: outcome.mated.len(),
        non_mated_searches: outcome.non_mated_top.len(),
        rank1: Rate::new(within(1), n),
        rank5: Rate::new(within(5), n),
        fnir_at_fpir: points,
        unsupported_fpir: unsupported,
    }
}

/// The DET of FNIR against FPIR over every threshold: `(FPIR, FNIR)` points, at most `max_points`.
pub fn det_curve(outcome: &SearchOutcome, max_points: usize) -> Vec<(f64, f64)> {
    let mut thresholds: Vec<f32> =
        outcome.non_mated_top.iter().copied().chain(outcome.mated.iter().map(|m| m.top_score)).collect();
    thresholds.sort_by(f32::total_cmp);
    thresholds.dedup();
    let step = (thresholds.len() as f64 / max_points.max(2) as f64).max(1.0);
    (0..)
        .map(|k| (k as f64 * step) as usize)
        .take_while(|&k| k < thresholds.len())
        .map(|k| {
            let (fnir, fpir) = rates_at(outcome, thresholds[k]);
            (fpir.rate, fnir.rate)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn constructed_searches() {
        // Gallery: three subjects on the axes of 3-d space.
        let g: Vec<Vec<f32>> = vec![unit(&[1.0, 0.0, 0.0]), unit(&[0.0, 1.0, 0.0]), unit(&[0.0, 0.0, 1.0])];
        let gallery: Vec<(u64, &[f32])> = g.iter().enumerate().map(|(i, v)| (i as u64, v.as_slice())).collect();
        // Mated: subject 0 close to its entry (hit), subject 1 closer to subject 2's entry (rank 2).
        let m0 = unit(&[1.0, 0.1, 0.0]);
        let m1 = unit(&[0.0, 0.5, 1.0]);
        let mated = [(0u64, m0.as_slice()), (1u64, m1.as_slice())];
        // Non-mated: one far from everything, one close to subject 2.
        let n0 = unit(&[1.0, 1.0, 1.0]);
        let n1 = unit(&[0.0, 0.1, 1.0]);
        let outcome = search(&gallery, &mated, &[n0.as_slice(), n1.as_slice()], 5).unwrap();
        assert_eq!(outcome.mated[0].rank, Some(1));
        assert_eq!(outcome.mated[1].rank, Some(2));
        assert!(!outcome.mated[1].top_is_mate);
        let metrics = open_set_metrics(&outcome, &[0.5, 0.01], 1);
        assert_eq!(metrics.rank1.errors, 1);
        assert_eq!(metrics.rank5.errors, 2);
        // FPIR 0.5 of 2 non-mated: one false positive allowed; the threshold sits above the lower
        // non-mated top score (0.577), so the hit (0.995) still counts: FNIR 1/2.
        let p = &metrics.fnir_at_fpir[0];
        assert_eq!(p.fpir.errors, 1);
        assert_eq!(p.fnir.errors, 1);
        assert!(p.threshold > 0.577 && p.threshold < 0.578, "{}", p.threshold);
        // FPIR 0.01 needs 100 non-mated searches.
        assert_eq!(metrics.unsupported_fpir, vec![0.01]);
        let det = det_curve(&outcome, 100);
        assert!(det.iter().all(|&(a, b)| (0.0..=1.0).contains(&a) && (0.0..=1.0).contains(&b)));
    }

    #[test]
    fn support_rule() {
        let tops: Vec<f32> = (0..3000).map(|i| i as f32 / 3000.0).collect();
        assert!(threshold_at_fpir(&tops, 1e-2, 30).is_some());
        assert!(threshold_at_fpir(&tops, 1e-3, 30).is_none());
        let t = threshold_at_fpir(&tops, 1e-2, 30).unwrap();
        assert_eq!(tops.iter().filter(|&&s| s >= t).count(), 30);
    }
}
