//! WIDER FACE detection evaluation, computed as the official evaluation code does
//! (`evaluation.py` of the WIDER FACE toolkit and its MATLAB original):
//!
//! - scores of all detections are normalised to [0, 1] over the whole data set (min-max);
//! - per image, detections are taken by descending score; each is matched to the ground-truth box it
//!   overlaps most (IoU with the toolkit's `+1` pixel convention); at IoU ≥ 0.5 a box outside the
//!   evaluated set (easy, medium or hard; invalid boxes included) makes the detection "ignored"
//!   (neither a hit nor a false positive), a box in the set is recalled;
//! - for 1,000 score thresholds, the proposals kept and faces recalled are summed over images;
//!   precision = recalled / proposals, recall = recalled / faces in the set;
//! - AP is the VOC area under the monotone precision envelope.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The IoU a detection needs to count.
pub const IOU_THRESHOLD: f64 = 0.5;
/// Score thresholds on the PR curve.
pub const THRESHOLDS: usize = 1000;

/// One image of the ground truth.
#[derive(Debug, Clone)]
pub struct WiderImage {
    /// The image path relative to `WIDER_val/images/`.
    pub name: String,
    /// Every face box, `[x, y, w, h]`.
    pub boxes: Vec<[f64; 4]>,
    /// 0-based indices of the boxes in each evaluation set.
    pub easy: Vec<usize>,
    pub medium: Vec<usize>,
    pub hard: Vec<usize>,
}

/// The three official sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
}

impl Difficulty {
    pub const ALL: [Difficulty; 3] = [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard];

    pub fn name(self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        }
    }

    fn indices(self, image: &WiderImage) -> &[usize] {
        match self {
            Difficulty::Easy => &image.easy,
            Difficulty::Medium => &image.medium,
            Difficulty::Hard => &image.hard,
        }
    }
}

/// A detection: `[x1, y1, x2, y2]` in pixels and a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredBox {
    pub bbox: [f64; 4],
    pub score: f64,
}

/// AP and the PR curve of one set.
#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    pub ap: f64,
    /// Faces in the set (over all images).
    pub faces: usize,
    /// `(recall, precision)` per score threshold, from the highest threshold down.
    #[serde(skip)]
    pub curve: Vec<(f64, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum WiderError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
}

#[derive(Deserialize)]
struct GtEntry {
    boxes_xywh: Vec<[f64; 4]>,
    easy: Vec<usize>,
    medium: Vec<usize>,
    hard: Vec<usize>,
}

/// Reads `wider_val_subset_gt.json` of a WIDER FACE folder, in file-name order.
pub fn read_ground_truth(dir: &Path) -> Result<Vec<WiderImage>, WiderError> {
    let path = dir.join("wider_val_subset_gt.json");
    let text = std::fs::read_to_string(&path).map_err(|source| WiderError::Io { path: path.clone(), source })?;
    let entries: BTreeMap<String, GtEntry> =
        serde_json::from_str(&text).map_err(|e| WiderError::Format { path: path.clone(), reason: e.to_string() })?;
    let mut images = Vec::with_capacity(entries.len());
    for (name, e) in entries {
        let n = e.boxes_xywh.len();
        if let Some(bad) = e.easy.iter().chain(&e.medium).chain(&e.hard).find(|&&i| i >= n) {
            return Err(WiderError::Format { path, reason: format!("{name}: box index {bad} of {n} boxes") });
        }
        images.push(WiderImage { name, boxes: e.boxes_xywh, easy: e.easy, medium: e.medium, hard: e.hard });
    }
    if images.is_empty() {
        return Err(WiderError::Format { path, reason: "no images".into() });
    }
    Ok(images)
}

/// IoU with the toolkit's inclusive-pixel convention (`+1` on widths and heights).
fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = a[2].min(b[2]) - a[0].max(b[0]) + 1.0;
    let ih = a[3].min(b[3]) - a[1].max(b[1]) + 1.0;
    if iw <= 0.0 || ih <= 0.0 {
        return 0.0;
    }
    let inter = iw * ih;
    let area = |r: &[f64; 4]| (r[2] - r[0] + 1.0) * (r[3] - r[1] + 1.0);
    inter / (area(a) + area(b) - inter)
}

/// Per detection (sorted by descending score): whether it is a proposal (not ignored), and the number
/// of set faces recalled by it and the detections before it.
fn image_eval(preds: &[ScoredBox], gt: &[[f64; 4]], in_set: &[bool]) -> (Vec<bool>, Vec<usize>) {
    let gt_corners: Vec<[f64; 4]> = gt.iter().map(|b| [b[0], b[1], b[0] + b[2], b[1] + b[3]]).collect();
    // 0: not yet recalled, 1: recalled, -1: matched but outside the set.
    let mut recall_state = vec![0i8; gt.len()];
    let mut proposal = vec![true; preds.len()];
    let mut recalled_so_far = vec![0usize; preds.len()];
    for (h, p) in preds.iter().enumerate() {
        let (best, best_iou) = gt_corners
            .iter()
            .enumerate()
            .map(|(k, g)| (k, iou(&p.bbox, g)))
            .fold((0, f64::NEG_INFINITY), |acc, x| if x.1 > acc.1 { x } else { acc });
        if best_iou >= IOU_THRESHOLD {
            if !in_set[best] {
                recall_state[best] = -1;
                proposal[h] = false;
            } else if recall_state[best] == 0 {
                recall_state[best] = 1;
            }
        }
        recalled_so_far[h] = recall_state.iter().filter(|&&s| s == 1).count();
    }
    (proposal, recalled_so_far)
}

/// Evaluates detections (per image, in the order of `images`, with scores already normalised) on one
/// set.
fn evaluate_set(images: &[WiderImage], detections: &[Vec<ScoredBox>], set: Difficulty) -> SetResult {
    let mut pr = vec![[0.0f64; 2]; THRESHOLDS]; // [proposals, recalled]
    let mut faces = 0usize;
    for (image, preds) in images.iter().zip(detections) {
        let keep = set.indices(image);
        faces += keep.len();
        if image.boxes.is_empty() || preds.is_empty() {
            continue;
        }
        let mut in_set = vec![false; image.boxes.len()];
        for &k in keep {
            in_set[k] = true;
        }
        let mut sorted = preds.clone();
        sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
        let (proposal, recalled) = image_eval(&sorted, &image.boxes, &in_set);
        for (t, row) in pr.iter_mut().enumerate() {
            let threshold = 1.0 - (t + 1) as f64 / THRESHOLDS as f64;
            // The last detection at or above the threshold (scores descend).
            let n = sorted.partition_point(|p| p.score >= threshold);
            if n > 0 {
                row[0] += proposal[..n].iter().filter(|&&p| p).count() as f64;
                row[1] += recalled[n - 1] as f64;
            }
        }
    }
    let curve: Vec<(f64, f64)> = pr
        .iter()
        .map(|&[proposals, recalled]| {
            let precision = if proposals > 0.0 { recalled / proposals } else { 0.0 };
            (recalled / faces.max(1) as f64, precision)
        })
        .collect();
    SetResult { ap: voc_ap(&curve), faces, curve }
}

/// The VOC average precision of `(recall, precision)` points in order of rising recall.
pub fn voc_ap(curve: &[(f64, f64)]) -> f64 {
    let mut mrec = vec![0.0];
    let mut mpre = vec![0.0];
    for &(r, p) in curve {
        mrec.push(r);
        mpre.push(p);
    }
    mrec.push(1.0);
    mpre.push(0.0);
    for i in (1..mpre.len()).rev() {
        mpre[i - 1] = mpre[i - 1].max(mpre[i]);
    }
    (1..mrec.len()).filter(|&i| mrec[i] != mrec[i - 1]).map(|i| (mrec[i] - mrec[i - 1]) * mpre[i]).sum()
}

/// Evaluates one detector's detections (per image, raw scores) on the three sets.
pub fn evaluate(images: &[WiderImage], detections: &[Vec<ScoredBox>]) -> BTreeMap<Difficulty, SetResult> {
    let scores = detections.iter().flatten().map(|d| d.score);
    let (lo, hi) = scores.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| (a.min(s), b.max(s)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let normalised: Vec<Vec<ScoredBox>> = detections
        .iter()
        .map(|d| d.iter().map(|b| ScoredBox { bbox: b.bbox, score: (b.score - lo) / span }).collect())
        .collect();
    Difficulty::ALL.iter().map(|&set| (set, evaluate_set(images, &normalised, set))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(boxes: Vec<[f64; 4]>, hard: Vec<usize>) -> WiderImage {
        WiderImage { name: "x.jpg".into(), boxes, easy: vec![], medium: vec![], hard }
    }

    fn det(x: f64, y: f64, w: f64, h: f64, score: f64) -> ScoredBox {
        ScoredBox { bbox: [x, y, x + w, y + h], score }
    }

    #[test]
    fn ap_of_a_hand_made_case() {
        // Two faces in the set; detections: hit (0.9), false positive (0.8), hit (0.7).
        // PR: (0.5, 1), (0.5, 0.5), (1, 2/3): AP = 0.5 * 1 + 0.5 * 2/3 = 5/6.
        let images = [image(vec![[0.0, 0.0, 20.0, 20.0], [100.0, 100.0, 20.0, 20.0]], vec![0, 1])];
        let dets = vec![vec![
            det(0.0, 0.0, 20.0, 20.0, 0.9),
            det(300.0, 300.0, 20.0, 20.0, 0.8),
            det(101.0, 101.0, 20.0, 20.0, 0.7),
        ]];
        let result = evaluate(&images, &dets);
        let hard = &result[&Difficulty::Hard];
        assert_eq!(hard.faces, 2);
        assert!((hard.ap - 5.0 / 6.0).abs() < 1e-9, "{}", hard.ap);
        // No face in the easy set: AP 0 (nothing to recall).
        assert_eq!(result[&Difficulty::Easy].ap, 0.0);
    }

    #[test]
    fn detections_of_faces_outside_the_set_are_ignored() {
        // Face 1 is not in the set: its detection (the top score) is neither a hit nor a false positive.
        let images = [image(vec![[0.0, 0.0, 20.0, 20.0], [100.0, 100.0, 20.0, 20.0]], vec![0])];
        let dets = vec![vec![det(100.0, 100.0, 20.0, 20.0, 0.95), det(0.0, 0.0, 20.0, 20.0, 0.5)]];
        let hard = &evaluate(&images, &dets)[&Difficulty::Hard];
        assert_eq!(hard.faces, 1);
        assert!((hard.ap - 1.0).abs() < 1e-9, "{}", hard.ap);
        // IoU below 0.5 is a miss: a box shifted by half its size.
        let dets = vec![vec![det(10.0, 10.0, 20.0, 20.0, 0.9)]];
        assert_eq!(evaluate(&images, &dets)[&Difficulty::Hard].ap, 0.0);
    }

    #[test]
    fn voc_ap_uses_the_precision_envelope() {
        assert!((voc_ap(&[(0.5, 1.0), (0.5, 0.5), (1.0, 2.0 / 3.0)]) - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(voc_ap(&[(1.0, 1.0)]), 1.0);
        assert_eq!(voc_ap(&[]), 0.0);
        assert!((iou(&[0.0, 0.0, 9.0, 9.0], &[0.0, 0.0, 9.0, 9.0]) - 1.0).abs() < 1e-12);
    }
}
