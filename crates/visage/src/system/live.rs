//! Liveness where it matters: refusing printed photos at enrolment, and `--require-live` for
//! identification and verification, with the liveness score of every face reported.

use super::{FaceRecognitionSystem, IdentifiedFace};
use crate::{FaceChoice, ImageSource, VisageError};
use serde::Serialize;
use visage_attributes::LivenessScore;
use visage_recognize::Verification;

/// The liveness check at enrolment.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnrolLiveness {
    /// Refuse a face whose P(live) is below the threshold. Off in the library by default (existing
    /// callers keep their behaviour); `visage enroll` turns it on unless `--allow-spoof` is given, and
    /// the audit entry of every enrolment says whether it was required.
    pub required: bool,
    /// `None`: the default threshold (the manifest's).
    pub threshold: Option<f32>,
}

/// One identified face with its liveness.
#[derive(Debug, Clone, Serialize)]
pub struct LiveIdentifiedFace {
    #[serde(flatten)]
    pub face: IdentifiedFace,
    pub liveness: LivenessScore,
}

/// Identification with liveness per face.
#[derive(Debug, Clone, Serialize)]
pub struct LiveIdentification {
    pub faces: Vec<LiveIdentifiedFace>,
    pub threshold: f32,
    pub liveness_threshold: f32,
    pub require_live: bool,
}

/// Verification with the liveness of both faces.
#[derive(Debug, Clone, Serialize)]
pub struct LiveVerification {
    #[serde(flatten)]
    pub verification: Verification,
    pub liveness: [LivenessScore; 2],
    pub require_live: bool,
}

impl FaceRecognitionSystem {
    /// The liveness of the one face an enrolment image holds, refused as [`VisageError::Spoof`] when
    /// enrolment requires liveness and the face fails it.
    pub(super) fn enrol_liveness_check(
        &self,
        path: &std::path::Path,
        image: &image::RgbImage,
        face: &visage_detect::Detection,
    ) -> Result<Option<LivenessScore>, VisageError> {
        let policy = self.config.enrol_liveness;
        if !policy.required {
            return Ok(None);
        }
        let l = self.analyzer.liveness(image, face, policy.threshold)?;
        if !l.live {
            let threshold = policy.threshold.unwrap_or_else(|| self.analyzer.liveness_threshold());
            return Err(VisageError::Spoof { path: path.to_path_buf(), score: l.score, threshold });
        }
        Ok(Some(l))
    }

    /// [`FaceRecognitionSystem::identify`] with the liveness of each face. With `require_live`, a face
    /// that fails liveness is not matched (`match: null`, no candidates) and is audited as
    /// `refused-spoof`.
    pub fn identify_live(
        &self,
        source: impl Into<ImageSource>,
        top_k: usize,
        actor: &str,
        require_live: bool,
        liveness_threshold: Option<f32>,
    ) -> Result<LiveIdentification, VisageError> {
        self.identify_live_at(source, top_k, None, actor, require_live, liveness_threshold)
    }

    /// [`FaceRecognitionSystem::identify_live`] deciding at `threshold` instead of the configured one.
    pub fn identify_live_at(
        &self,
        source: impl Into<ImageSource>,
        top_k: usize,
        threshold: Option<f32>,
        actor: &str,
        require_live: bool,
        liveness_threshold: Option<f32>,
    ) -> Result<LiveIdentification, VisageError> {
        let image = self.analyzer.load(source)?;
        let detections = self.analyzer.detect(&image)?;
        let scores = detections
            .iter()
            .map(|d| self.analyzer.liveness(&image, d, liveness_threshold))
            .collect::<Result<Vec<_>, _>>()?;
        // A face that fails a required liveness check is never searched for.
        let refused: Vec<Option<serde_json::Value>> = scores
            .iter()
            .map(|l| (require_live && !l.live).then(|| serde_json::json!({"liveness": l.score})))
            .collect();
        let identified = self.identify_detected(&image, &detections, top_k, threshold, actor, &refused)?;
        let faces = identified
            .faces
            .into_iter()
            .zip(scores)
            .map(|(face, liveness)| LiveIdentifiedFace { face, liveness })
            .collect();
        Ok(LiveIdentification {
            faces,
            threshold: identified.threshold,
            liveness_threshold: liveness_threshold.unwrap_or_else(|| self.analyzer.liveness_threshold()),
            require_live,
        })
    }

    /// [`FaceRecognitionSystem::verify`] with the liveness of both faces. With `require_live`, a
    /// spoof on either side is an error ([`VisageError::Spoof`]), audited as `refused-spoof`.
    pub fn verify_live(
        &self,
        a: impl Into<ImageSource>,
        b: impl Into<ImageSource>,
        actor: &str,
        require_live: bool,
        liveness_threshold: Option<f32>,
    ) -> Result<LiveVerification, VisageError> {
        self.verify_live_at(a, b, None, actor, require_live, liveness_threshold)
    }

    /// [`FaceRecognitionSystem::verify_live`] deciding at `threshold` instead of the configured one.
    pub fn verify_live_at(
        &self,
        a: impl Into<ImageSource>,
        b: impl Into<ImageSource>,
        threshold: Option<f32>,
        actor: &str,
        require_live: bool,
        liveness_threshold: Option<f32>,
    ) -> Result<LiveVerification, VisageError> {
        let mut liveness = Vec::with_capacity(2);
        let mut embeddings = Vec::with_capacity(2);
        for source in [a.into(), b.into()] {
            let path = source.name();
            let image = self.analyzer.load(source)?;
            let faces = self.analyzer.detect(&image)?;
            let face = self.analyzer.embed_choice(&image, &faces, FaceChoice::Largest, &path)?;
            let l = self.analyzer.liveness(&image, &face.detection, liveness_threshold)?;
            if require_live && !l.live {
                self.store.audit(
                    visage_store::AuditEvent::new(actor, "verify", "refused-spoof")
                        .detail(serde_json::json!({"liveness": l.score})),
                )?;
                let threshold = liveness_threshold.unwrap_or_else(|| self.analyzer.liveness_threshold());
                return Err(VisageError::Spoof { path, score: l.score, threshold });
            }
            liveness.push(l);
            embeddings.push(face.embedding);
        }
        let verification = self.decide_verification(&embeddings[0], &embeddings[1], threshold, actor)?;
        Ok(LiveVerification { verification, liveness: [liveness[0], liveness[1]], require_live })
    }
}
