//! Liveness evaluation: passive liveness on a labelled folder of real and spoof images (APCER, BPCER,
//! ACER, ROC AUC and the per-threshold error curve for a DET plot). Gender is in [`crate::gender`].

use crate::metrics::{auc, ScoredPair};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use visage::{choose_face, FaceAnalyzer, FaceChoice, VisageError};

/// APCER and BPCER of liveness scores at one threshold (a score at or above it is "live").
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErrorRates {
    pub threshold: f32,
    /// Attack presentations accepted as live / attack presentations.
    pub apcer: f64,
    /// Bona fide (live) presentations rejected / bona fide presentations.
    pub bpcer: f64,
    /// (APCER + BPCER) / 2.
    pub acer: f64,
}

/// Error rates at `threshold` for scores of live and spoof samples.
pub fn error_rates(live: &[f32], spoof: &[f32], threshold: f32) -> ErrorRates {
    let apcer = spoof.iter().filter(|&&s| s >= threshold).count() as f64 / spoof.len().max(1) as f64;
    let bpcer = live.iter().filter(|&&s| s < threshold).count() as f64 / live.len().max(1) as f64;
    ErrorRates { threshold, apcer, bpcer, acer: (apcer + bpcer) / 2.0 }
}

/// The error curve: rates at every distinct score (each a threshold where a rate changes), plus one
/// threshold above every score, ascending.
pub fn error_curve(live: &[f32], spoof: &[f32]) -> Vec<ErrorRates> {
    let mut thresholds: Vec<f32> = live.iter().chain(spoof).copied().filter(|s| s.is_finite()).collect();
    thresholds.sort_by(f32::total_cmp);
    thresholds.dedup();
    if let Some(&last) = thresholds.last() {
        thresholds.push(last + 1e-6);
    }
    thresholds.into_iter().map(|t| error_rates(live, spoof, t)).collect()
}

/// The equal-error point: the curve's threshold where |APCER - BPCER| is smallest (the lower ACER
/// on ties).
pub fn equal_error_point(curve: &[ErrorRates]) -> Option<ErrorRates> {
    curve.iter().copied().min_by(|a, b| {
        let da = (a.apcer - a.bpcer).abs();
        let db = (b.apcer - b.bpcer).abs();
        da.total_cmp(&db).then(a.acer.total_cmp(&b.acer))
    })
}

/// The liveness evaluation of a `real/` + `spoof/` folder.
#[derive(Debug, Clone, Serialize)]
pub struct LivenessReport {
    pub data: String,
    pub real_images: usize,
    pub spoof_images: usize,
    /// Images where no face was found (left out of the rates).
    pub real_no_face: usize,
    pub spoof_no_face: usize,
    /// At the threshold the command was given (the default unless overridden).
    pub at_threshold: ErrorRates,
    /// Where APCER = BPCER: the rule that chose the default threshold.
    pub equal_error: ErrorRates,
    pub auc: f64,
    /// Ascending thresholds with APCER and BPCER at each: draw the DET curve from these.
    pub curve: Vec<ErrorRates>,
    /// Per image: path, label and P(live) (`null` without a face).
    pub scores: Vec<ScoredImage>,
}

/// One image's liveness score.
#[derive(Debug, Clone, Serialize)]
pub struct ScoredImage {
    pub path: PathBuf,
    pub live: bool,
    pub score: Option<f32>,
}

fn images_in(dir: &Path) -> Result<Vec<PathBuf>, VisageError> {
    visage::core::files::image_files(dir, false)
        .map_err(|e| VisageError::Invalid(format!("cannot read {}: {e} (expected real/ and spoof/)", dir.display())))
}

fn pool(threads: usize) -> Result<rayon::ThreadPool, VisageError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| VisageError::Invalid(format!("cannot start {threads} threads: {e}")))
}

/// Counts the images of a liveness folder (for a progress bar).
pub fn liveness_image_count(data: &Path) -> Result<usize, VisageError> {
    Ok(images_in(&data.join("real"))?.len() + images_in(&data.join("spoof"))?.len())
}

/// Scores the largest face of every image of `data/real` and `data/spoof` and reports the error
/// rates at `threshold`, at the equal-error point, the ROC AUC and the whole curve.
pub fn run_liveness(
    analyzer: &FaceAnalyzer,
    data: &Path,
    threshold: f32,
    threads: usize,
    on_image: &(dyn Fn() + Sync),
) -> Result<LivenessReport, VisageError> {
    let real = images_in(&data.join("real"))?;
    let spoof = images_in(&data.join("spoof"))?;
    if real.is_empty() || spoof.is_empty() {
        return Err(VisageError::Invalid(format!(
            "{}: need images in both real/ ({}) and spoof/ ({})",
            data.display(),
            real.len(),
            spoof.len()
        )));
    }
    let labelled: Vec<(PathBuf, bool)> =
        real.iter().map(|p| (p.clone(), true)).chain(spoof.iter().map(|p| (p.clone(), false))).collect();
    let scored: Vec<Result<ScoredImage, VisageError>> = pool(threads)?.install(|| {
        labelled
            .par_iter()
            .map(|(path, live)| {
                let r = (|| {
                    let image = analyzer.load(path)?;
                    let faces = analyzer.detect(&image)?;
                    let score = match choose_face(&faces, FaceChoice::Largest, image.width(), image.height()) {
                        Ok(face) => Some(analyzer.liveness(&image, face, None)?.score),
                        Err(_) => None,
                    };
                    Ok(ScoredImage { path: path.clone(), live: *live, score })
                })();
                on_image();
                r
            })
            .collect()
    });
    let scores: Vec<ScoredImage> = scored.into_iter().collect::<Result<_, _>>()?;
    let live: Vec<f32> = scores.iter().filter(|s| s.live).filter_map(|s| s.score).collect();
    let attack: Vec<f32> = scores.iter().filter(|s| !s.live).filter_map(|s| s.score).collect();
    if live.is_empty() || attack.is_empty() {
        return Err(VisageError::Invalid("no face found in the real or in the spoof images".into()));
    }
    let pairs: Vec<ScoredPair> = live
        .iter()
        .map(|&score| ScoredPair { score, genuine: true, fold: 0 })
        .chain(attack.iter().map(|&score| ScoredPair { score, genuine: false, fold: 0 }))
        .collect();
    let curve = error_curve(&live, &attack);
    let equal_error = equal_error_point(&curve).expect("non-empty curve");
    Ok(LivenessReport {
        data: data.display().to_string(),
        real_images: real.len(),
        spoof_images: spoof.len(),
        real_no_face: real.len() - live.len(),
        spoof_no_face: spoof.len() - attack.len(),
        at_threshold: error_rates(&live, &attack, threshold),
        equal_error,
        auc: auc(&pairs),
        curve,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_curve_and_equal_error_point() {
        let live = [0.9, 0.8, 0.7, 0.2];
        let spoof = [0.1, 0.3, 0.75, 0.05];
        let r = error_rates(&live, &spoof, 0.5);
        assert_eq!((r.apcer, r.bpcer, r.acer), (0.25, 0.25, 0.25));
        let curve = error_curve(&live, &spoof);
        assert_eq!(curve.len(), 9);
        assert!(curve.windows(2).all(|w| w[0].threshold < w[1].threshold));
        assert_eq!((curve[0].apcer, curve[0].bpcer), (1.0, 0.0));
        assert_eq!((curve[8].apcer, curve[8].bpcer), (0.0, 1.0));
        let e = equal_error_point(&curve).unwrap();
        assert_eq!((e.apcer, e.bpcer), (0.25, 0.25));
    }
}
