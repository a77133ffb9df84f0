//! One decision type for both questions a face recognition system answers, "are these the same
//! person?" (verification) and "who is this?" (identification): at which threshold (the configured
//! one, a similarity, or a target false-accept rate turned into a threshold by the active calibration),
//! whether liveness is required, how many candidates to list, whether an image must hold a single
//! face, and for which purpose (identification searches only the subjects consented for it). The CLI and the service build a [`Decision`] from their arguments and the
//! [`crate::FaceRecognitionSystem`] (or [`crate::FaceAnalyzer::verify`], without a gallery) takes it.

use crate::VisageError;
use serde::Serialize;
use std::sync::Arc;
use visage_recognize::calibration::{Calibration, FarBound};

/// Where a decision draws the line between match and no match.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Threshold {
    /// The configured threshold: the operator's, else the embedding model's (from the manifest).
    #[default]
    Configured,
    /// This cosine similarity, in [-1, 1].
    Similarity(f32),
    /// The threshold the active calibration gives for this false-accept rate, in (0, 1).
    TargetFar(f64),
}

/// How to decide a verification or an identification.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub threshold: Threshold,
    /// Check passive liveness of every face: a face that fails is never matched (identification: not
    /// searched for; verification: refused with [`VisageError::Spoof`]).
    pub require_live: bool,
    /// Identification: how many candidate subjects to list per face (at least 1).
    pub top_k: usize,
    /// Verification: refuse an image with more than one face instead of using the largest.
    pub require_single: bool,
    /// The purpose the decision serves (purpose limitation). Identification then searches only the
    /// subjects holding an active consent for it; `None` searches everyone enrolled. Audited either way.
    pub purpose: Option<String>,
}

impl Default for Decision {
    fn default() -> Self {
        Decision {
            threshold: Threshold::Configured,
            require_live: false,
            top_k: 3,
            require_single: false,
            purpose: None,
        }
    }
}

impl Decision {
    /// The default decision at this threshold.
    pub fn at(threshold: Threshold) -> Decision {
        Decision { threshold, ..Decision::default() }
    }

    /// An audit entry's detail with this decision's purpose added (when it has one).
    pub fn audit_detail(&self, mut detail: serde_json::Value) -> serde_json::Value {
        if let (Some(purpose), Some(map)) = (&self.purpose, detail.as_object_mut()) {
            map.insert("purpose".into(), purpose.clone().into());
        }
        detail
    }
}

/// The threshold and calibration a decision was made with, resolved from a [`Decision`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedThreshold {
    pub threshold: f32,
    /// The false-accept rate asked for, when the threshold came from it.
    pub target_far: Option<f64>,
}

/// The estimated false-accept rate of one similarity, from the active calibration: the share of the
/// calibration's impostor pairs that score at least as high. All fields are absent without a calibration.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, utoipa::ToSchema)]
pub struct EstimatedFar {
    /// Share of the calibration's impostor pairs that score at least this similarity. Per comparison
    /// (1:1): against a gallery of N subjects the chance that some impostor reaches it is about N times that.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_far: Option<f64>,
    /// `estimate`, or `at_most` / `at_least` where the calibration data is too thin to say more.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub estimated_far_bound: Option<FarBound>,
    /// 95% Clopper-Pearson interval of the estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_far_ci95: Option<[f64; 2]>,
}

/// The thresholds a system decides with: the configured one and, when one is active, a calibration of
/// the embedding model (checked against its SHA-256 when it was loaded).
#[derive(Debug, Clone)]
pub struct DecisionPolicy {
    pub configured: f32,
    pub calibration: Option<Arc<Calibration>>,
}

impl DecisionPolicy {
    /// The threshold for a decision. A target FAR needs a calibration ([`VisageError::NoCalibration`])
    /// that supports it ([`VisageError::Calibration`]).
    pub fn resolve(&self, threshold: Threshold) -> Result<ResolvedThreshold, VisageError> {
        match threshold {
            // An uncalibrated imported recogniser has no configured threshold (NaN).
            Threshold::Configured if self.configured.is_nan() => Err(VisageError::NoThreshold),
            Threshold::Configured => Ok(ResolvedThreshold { threshold: self.configured, target_far: None }),
            Threshold::Similarity(t) if (-1.0..=1.0).contains(&t) => {
                Ok(ResolvedThreshold { threshold: t, target_far: None })
            }
            Threshold::Similarity(t) => Err(VisageError::Invalid(format!("threshold {t} is not in [-1, 1]"))),
            Threshold::TargetFar(far) => {
                let calibration = self.calibration.as_ref().ok_or(VisageError::NoCalibration)?;
                let threshold = calibration.threshold_for_far(far)?;
                if !threshold.is_finite() {
                    // Every impostor of the calibration would be accepted: no threshold means anything.
                    return Err(VisageError::Invalid(format!(
                        "target FAR {far} accepts every calibration impostor pair: no threshold reaches it; ask for a lower one"
                    )));
                }
                Ok(ResolvedThreshold { threshold, target_far: Some(far) })
            }
        }
    }

    /// The estimated FAR of a similarity (all fields absent without a calibration or a similarity).
    pub fn estimate(&self, similarity: Option<f32>) -> EstimatedFar {
        match (&self.calibration, similarity) {
            (Some(c), Some(s)) => {
                let e = c.estimated_far(s);
                EstimatedFar {
                    estimated_far: Some(e.far),
                    estimated_far_bound: Some(e.bound),
                    estimated_far_ci95: Some(e.ci95),
                }
            }
            _ => EstimatedFar::default(),
        }
    }

    /// One line for people: "estimated FAR at most 1.2e-3 (95% CI ...)", or `None` without a calibration.
    pub fn describe(&self, similarity: f32) -> Option<String> {
        let e = self.calibration.as_ref()?.estimated_far(similarity);
        let bound = match e.bound {
            FarBound::Estimate => "",
            FarBound::AtMost => "at most ",
            FarBound::AtLeast => "at least ",
        };
        Some(format!(
            "estimated FAR {bound}{:.2e} (95% CI {:.1e}-{:.1e}; {} of {} calibration impostor pairs score this high)",
            e.far, e.ci95[0], e.ci95[1], e.impostors_at_or_above, e.impostors
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visage_recognize::calibration::CalibrationSource;

    fn policy(calibrated: bool) -> DecisionPolicy {
        let source = CalibrationSource {
            model: "m".into(),
            model_sha256: "ab".repeat(32),
            pipeline: "test".into(),
            data: "constructed".into(),
            skipped_pairs: 0,
            created: "now".into(),
        };
        let impostor: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let genuine: Vec<f32> = (0..100).map(|i| 0.5 + i as f32 / 200.0).collect();
        let c = Calibration::from_scores(&genuine, &impostor, source, 30).unwrap();
        DecisionPolicy { configured: 0.3, calibration: calibrated.then(|| Arc::new(c)) }
    }

    #[test]
    fn thresholds_resolve_from_configuration_similarity_or_calibration() {
        let p = policy(true);
        assert_eq!(p.resolve(Threshold::Configured).unwrap().threshold, 0.3);
        assert_eq!(p.resolve(Threshold::Similarity(0.5)).unwrap().threshold, 0.5);
        assert!(matches!(p.resolve(Threshold::Similarity(1.5)), Err(VisageError::Invalid(_))));
        let r = p.resolve(Threshold::TargetFar(0.1)).unwrap();
        assert_eq!(r.target_far, Some(0.1));
        assert!(r.threshold > 0.899 && r.threshold < 0.9001, "{}", r.threshold);
        assert!(matches!(p.resolve(Threshold::TargetFar(1e-3)), Err(VisageError::Calibration(_))));
        assert!(matches!(policy(false).resolve(Threshold::TargetFar(0.1)), Err(VisageError::NoCalibration)));
    }

    #[test]
    fn no_decision_resolves_to_a_threshold_that_is_not_a_number() {
        let p = policy(true);
        for far in [0.9999999999999999, 1.0 - 1e-13] {
            let r = p.resolve(Threshold::TargetFar(far));
            assert!(matches!(r, Err(VisageError::Invalid(ref m)) if m.contains("every calibration impostor")), "{r:?}");
        }
        assert!(p.resolve(Threshold::Similarity(f32::NAN)).is_err());
        assert!(p.resolve(Threshold::TargetFar(f64::NAN)).is_err());
    }

    #[test]
    fn estimates_only_with_a_calibration() {
        let e = policy(true).estimate(Some(0.5));
        assert_eq!(e.estimated_far, Some(0.5));
        assert_eq!(e.estimated_far_bound, Some(FarBound::Estimate));
        assert_eq!(policy(false).estimate(Some(0.5)), EstimatedFar::default());
        assert_eq!(policy(true).estimate(None), EstimatedFar::default());
        assert!(policy(true).describe(0.995).unwrap().contains("at most"));
    }
}
