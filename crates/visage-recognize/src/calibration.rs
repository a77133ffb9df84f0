//! Threshold calibration: from genuine and impostor scores of the user's own labelled pairs
//! (`visage calibrate`), the threshold for a target false accept rate (FAR), and the estimated FAR of
//! any similarity. It lives beside verification, not in `visage-eval`, because a running system (the
//! CLI's `--target-far`, the service's `target_far`) needs it without the evaluation tools.
//!
//! **Which FAR values the data supports.** A FAR `f` measured on `N` impostor pairs rests on about
//! `f·N` accepted impostors. A target FAR is tabulated, and `threshold_for_far` answers it, only when
//! `f·N ≥ min_errors` (default 30: Doddington's "rule of 30": with 30 errors the true rate lies within
//! about ±30% of the observed one with 90% confidence). With LFW's 3,000 impostor pairs that allows
//! FAR down to 1e-2, not 1e-3. Every rate carries its exact (Clopper-Pearson) 95% interval.
//!
//! A calibration is bound to the SHA-256 of the embedding model that produced the scores: a
//! calibration of another model is refused ([`Calibration::check_model`]).

use crate::rate::Rate;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The current file format.
pub const FORMAT: u32 = 1;
/// The default support rule: at least this many impostor pairs accepted at a tabulated FAR.
pub const DEFAULT_MIN_ERRORS: u64 = 30;
/// Impostor scores kept in the file (the highest ones) when there are more: enough for FAR down from
/// 0.1 in any data set of up to this many tens of pairs, and small enough to read quickly.
const MAX_TAIL: usize = 100_000;

/// One tabulated operating point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub target_far: f64,
    /// Accept when the similarity is at least this.
    pub threshold: f32,
    /// Impostor pairs accepted at the threshold (at most `target_far` of them).
    pub far: Rate,
    /// Genuine pairs rejected at the threshold.
    pub frr: Rate,
}

/// The equal error rate and where it lies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EqualErrorRate {
    pub rate: f64,
    pub threshold: f32,
    pub far: Rate,
    pub frr: Rate,
}

/// How far an estimate can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FarBound {
    /// Measured: at least `min_errors` impostors score this high.
    Estimate,
    /// Fewer than `min_errors` impostors score this high: the FAR is at most this (the 95% upper
    /// confidence bound).
    AtMost,
    /// Below the stored impostor scores: the FAR is at least this.
    AtLeast,
}

/// The estimated FAR of a similarity: the share of impostor pairs that score at least as high.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FarEstimate {
    pub far: f64,
    pub bound: FarBound,
    pub ci95: [f64; 2],
    /// Impostor pairs of the calibration data scoring at least this similarity, and their number.
    pub impostors_at_or_above: u64,
    pub impostors: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a visage calibration file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error(
        "the calibration was made with embedding model {calibrated} but this pipeline uses {current}: \
         recalibrate with `visage calibrate` or pick a calibration of this model with --calibration"
    )]
    ModelMismatch { calibrated: String, current: String },
    #[error(
        "target FAR {target} is below what the calibration data supports ({smallest:.2e}: {min_errors} \
         accepted impostors needed, {impostors} impostor pairs measured)"
    )]
    Unsupported { target: f64, smallest: f64, min_errors: u64, impostors: u64 },
    #[error("target FAR must be in (0, 1), got {0}")]
    BadTarget(f64),
    #[error("calibration needs genuine and impostor pairs with faces: got {genuine} genuine, {impostor} impostor")]
    NotEnoughPairs { genuine: usize, impostor: usize },
}

/// What a calibration was made from (stored with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSource {
    /// The embedding model's id and SHA-256.
    pub model: String,
    pub model_sha256: String,
    /// The pipeline options that produced the embeddings (detector, sizes, backend).
    pub pipeline: String,
    /// The pairs file.
    pub data: String,
    /// Pairs left out because an image had no usable face.
    pub skipped_pairs: u64,
    pub created: String,
}

/// A calibration: operating points, the EER, and the upper tail of the impostor scores for lookups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub format: u32,
    pub source: CalibrationSource,
    pub genuine_pairs: u64,
    pub impostor_pairs: u64,
    /// The support rule: a FAR is used only where at least this many impostors are accepted.
    pub min_errors: u64,
    /// `min_errors / impostor_pairs`.
    pub smallest_supported_far: f64,
    pub eer: Option<EqualErrorRate>,
    /// Target FAR 1e-1, 1e-2, ... down to the smallest supported.
    pub operating_points: Vec<OperatingPoint>,
    /// The highest impostor scores, descending (all of them up to 100,000).
    pub impostor_tail: Vec<f32>,
}

impl Calibration {
    /// Builds a calibration from the scores of genuine and impostor pairs.
    pub fn from_scores(
        genuine: &[f32],
        impostor: &[f32],
        source: CalibrationSource,
        min_errors: u64,
    ) -> Result<Calibration, CalibrationError> {
        if genuine.is_empty() || impostor.is_empty() {
            return Err(CalibrationError::NotEnoughPairs { genuine: genuine.len(), impostor: impostor.len() });
        }
        let min_errors = min_errors.max(1);
        let mut descending = impostor.to_vec();
        descending.sort_by(|a, b| b.total_cmp(a));
        let n = impostor.len() as u64;
        let keep = descending.len().min(MAX_TAIL.max(descending.len().div_ceil(10) + 1));
        descending.truncate(keep);
        let mut calibration = Calibration {
            format: FORMAT,
            source,
            genuine_pairs: genuine.len() as u64,
            impostor_pairs: n,
            min_errors,
            smallest_supported_far: min_errors as f64 / n as f64,
            eer: None,
            operating_points: Vec::new(),
            impostor_tail: descending,
        };
        let rates_at = |t: f32| {
            let far = impostor.iter().filter(|&&s| s >= t).count() as u64;
            let frr = genuine.iter().filter(|&&s| s < t).count() as u64;
            (Rate::new(far, n), Rate::new(frr, genuine.len() as u64))
        };
        let mut target = 0.1;
        while target * n as f64 + 1e-9 >= min_errors as f64 {
            let threshold = calibration.threshold_for_far(target)?;
            let (far, frr) = rates_at(threshold);
            calibration.operating_points.push(OperatingPoint { target_far: target, threshold, far, frr });
            target /= 10.0;
            // 1e-1 / 10 repeatedly drifts; keep the decades exact.
            target = (target * 1e12).round() / 1e12;
        }
        calibration.eer = eer(genuine, impostor).map(|(rate, threshold)| {
            let (far, frr) = rates_at(threshold);
            EqualErrorRate { rate, threshold, far, frr }
        });
        Ok(calibration)
    }

    /// The lowest threshold that accepts at most `target` of the calibration's impostor pairs. Refused
    /// below the smallest FAR the data supports.
    pub fn threshold_for_far(&self, target: f64) -> Result<f32, CalibrationError> {
        if !(target > 0.0 && target < 1.0) {
            return Err(CalibrationError::BadTarget(target));
        }
        if target + 1e-15 < self.smallest_supported_far {
            return Err(CalibrationError::Unsupported {
                target,
                smallest: self.smallest_supported_far,
                min_errors: self.min_errors,
                impostors: self.impostor_pairs,
            });
        }
        let allowed = (target * self.impostor_pairs as f64 + 1e-9).floor() as usize;
        match self.impostor_tail.get(allowed) {
            // The threshold lies just above impostor number `allowed` (0-based, descending).
            Some(&s) => Ok(next_up(s)),
            None if self.impostor_tail.len() as u64 == self.impostor_pairs => Ok(f32::NEG_INFINITY),
            // Beyond the stored tail (a FAR above 10% of a very large set): the lowest stored score is
            // still a threshold with FAR at most `target`.
            None => Ok(*self.impostor_tail.last().expect("non-empty")),
        }
    }

    /// The estimated FAR of a similarity: the share of calibration impostors scoring at least as high,
    /// or a bound where too few do (see [`FarBound`]).
    pub fn estimated_far(&self, similarity: f32) -> FarEstimate {
        let k = self.impostor_tail.partition_point(|&s| s >= similarity) as u64;
        let n = self.impostor_pairs;
        let rate = Rate::new(k, n);
        let truncated = (self.impostor_tail.len() as u64) < n;
        let (far, bound) = if truncated && k == self.impostor_tail.len() as u64 {
            (rate.rate, FarBound::AtLeast)
        } else if k < self.min_errors {
            (rate.ci95[1], FarBound::AtMost)
        } else {
            (rate.rate, FarBound::Estimate)
        };
        FarEstimate { far, bound, ci95: rate.ci95, impostors_at_or_above: k, impostors: n }
    }

    /// Errors unless the calibration was made with the embedding model of this SHA-256.
    pub fn check_model(&self, model_sha256: &str) -> Result<(), CalibrationError> {
        if self.source.model_sha256.eq_ignore_ascii_case(model_sha256) {
            Ok(())
        } else {
            Err(CalibrationError::ModelMismatch {
                calibrated: format!("{} ({})", self.source.model, self.source.model_sha256),
                current: model_sha256.to_string(),
            })
        }
    }

    /// Reads a calibration file.
    pub fn load(path: &Path) -> Result<Calibration, CalibrationError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CalibrationError::Io { path: path.into(), source })?;
        let c: Calibration = serde_json::from_str(&text)
            .map_err(|e| CalibrationError::Format { path: path.into(), reason: e.to_string() })?;
        if c.format != FORMAT {
            return Err(CalibrationError::Format { path: path.into(), reason: format!("format {}", c.format) });
        }
        let sorted = c.impostor_tail.windows(2).all(|w| w[0] >= w[1]);
        if c.impostor_pairs == 0 || c.impostor_tail.is_empty() || !sorted {
            return Err(CalibrationError::Format { path: path.into(), reason: "bad impostor scores".into() });
        }
        Ok(c)
    }

    /// Writes the calibration as JSON (atomically: a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<(), CalibrationError> {
        let io = |source| CalibrationError::Io { path: path.into(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        std::fs::write(&tmp, text + "\n").map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

/// Where the active calibration of a model lives: `<model home>/calibration/<model SHA-256>.json`.
/// `visage calibrate` writes there by default, and `--target-far` reads it unless `--calibration`
/// names another file; each model thus has its own.
pub fn default_path(model_sha256: &str) -> PathBuf {
    default_path_in(&visage_models::ModelHome::from_env(), model_sha256)
}

/// [`default_path`] under the model home `home` (a caller that names its own, as Python's `home=`).
pub fn default_path_in(home: &visage_models::ModelHome, model_sha256: &str) -> PathBuf {
    home.root().join("calibration").join(format!("{model_sha256}.json"))
}

/// The active calibration of a model: `path` if given, else [`default_path`]; checked against the
/// model's SHA-256. `Ok(None)` when no path was given and the default file does not exist (the caller
/// then decides at the manifest's threshold and reports no estimated FAR).
pub fn load_active(
    model_sha256: &str,
    path: Option<&Path>,
) -> Result<Option<(Calibration, PathBuf)>, CalibrationError> {
    let file = path.map(Path::to_path_buf).unwrap_or_else(|| default_path(model_sha256));
    if path.is_none() && !file.is_file() {
        return Ok(None);
    }
    let calibration = Calibration::load(&file)?;
    calibration.check_model(model_sha256)?;
    Ok(Some((calibration, file)))
}

/// The equal error rate: sweeping the threshold over every score, the point where the false accept
/// rate (impostors ≥ t) and the false reject rate (genuine < t) are closest; returns their mean there
/// and that threshold. `None` without both kinds of score.
pub fn eer(genuine: &[f32], impostor: &[f32]) -> Option<(f64, f32)> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut g = genuine.to_vec();
    let mut i = impostor.to_vec();
    g.sort_by(f32::total_cmp);
    i.sort_by(f32::total_cmp);
    let (ng, ni) = (g.len() as f64, i.len() as f64);
    let mut best: Option<(f64, f64, f32)> = None; // (|FAR - FRR|, EER, threshold)
    for &t in g.iter().chain(&i) {
        let frr = g.partition_point(|&s| s < t) as f64 / ng;
        let far = (i.len() - i.partition_point(|&s| s < t)) as f64 / ni;
        let gap = (far - frr).abs();
        if best.is_none_or(|(b, _, bt)| gap < b || (gap == b && t < bt)) {
            best = Some((gap, (far + frr) / 2.0, t));
        }
    }
    best.map(|(_, rate, t)| (rate, t))
}

/// The smallest f32 greater than `x`: a threshold just above a score accepts nothing at that score.
pub fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let bits = x.to_bits();
    f32::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> CalibrationSource {
        CalibrationSource {
            model: "m".into(),
            model_sha256: "ab".repeat(32),
            pipeline: "test".into(),
            data: "constructed".into(),
            skipped_pairs: 0,
            created: "now".into(),
        }
    }

    /// 1,000 impostors at 0.000, 0.001, ..., 0.999 and 100 genuine at 0.5 .. 0.995.
    fn constructed() -> Calibration {
        let impostor: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let genuine: Vec<f32> = (0..100).map(|i| 0.5 + i as f32 / 200.0).collect();
        Calibration::from_scores(&genuine, &impostor, source(), 30).unwrap()
    }

    #[test]
    fn operating_points_stop_where_the_data_does() {
        let c = constructed();
        // 1,000 impostors and the rule of 30: FAR 1e-1 (100 accepted) is supported, 1e-2 (10) is not.
        assert_eq!(c.operating_points.len(), 1);
        let p = &c.operating_points[0];
        assert_eq!(p.target_far, 0.1);
        assert_eq!(p.far.errors, 100);
        assert!(p.threshold > 0.899 && p.threshold < 0.9001, "{}", p.threshold);
        // Genuine below 0.9: 0.5 + i/200 < 0.9 for i < 80.
        assert_eq!(p.frr.errors, 80);
        assert!((c.smallest_supported_far - 0.03).abs() < 1e-12);
        assert!(matches!(c.threshold_for_far(0.01), Err(CalibrationError::Unsupported { .. })));
        assert!(c.threshold_for_far(0.05).unwrap() > 0.949);
        assert!(matches!(c.threshold_for_far(1.5), Err(CalibrationError::BadTarget(_))));
        let eer = c.eer.as_ref().unwrap();
        assert!(eer.rate > 0.2 && eer.rate < 0.4, "{}", eer.rate);
    }

    #[test]
    fn estimated_far_is_measured_or_bounded() {
        let c = constructed();
        // 0.5: 500 of 1,000 impostors score at least that.
        let e = c.estimated_far(0.5);
        assert_eq!((e.impostors_at_or_above, e.bound), (500, FarBound::Estimate));
        assert!((e.far - 0.5).abs() < 1e-12);
        // 0.995: 5 impostors (0.995..0.999), too few: the 95% upper bound.
        let e = c.estimated_far(0.995);
        assert_eq!((e.impostors_at_or_above, e.bound), (5, FarBound::AtMost));
        assert!(e.far > 0.005 && e.far < 0.02, "{}", e.far);
        // Above everything: at most 3.7e-3 (1 - 0.025^(1/1000)).
        let e = c.estimated_far(1.0);
        assert_eq!(e.impostors_at_or_above, 0);
        assert!((e.far - (1.0 - 0.025f64.powf(1e-3))).abs() < 1e-6);
    }

    #[test]
    fn model_binding_and_file_round_trip() {
        let c = constructed();
        assert!(c.check_model(&"AB".repeat(32)).is_ok());
        assert!(matches!(c.check_model(&"cd".repeat(32)), Err(CalibrationError::ModelMismatch { .. })));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cal.json");
        c.save(&path).unwrap();
        assert_eq!(Calibration::load(&path).unwrap(), c);
        assert_eq!(load_active(&"ab".repeat(32), Some(&path)).unwrap().unwrap().0, c);
        assert!(matches!(load_active(&"cd".repeat(32), Some(&path)), Err(CalibrationError::ModelMismatch { .. })));
        std::fs::write(&path, "{\"format\": 1}").unwrap();
        assert!(matches!(Calibration::load(&path), Err(CalibrationError::Format { .. })));
    }
}
