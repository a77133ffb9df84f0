//! 1:1 verification of two photos under a [`Decision`]: the face of each (the largest, or the only one),
//! liveness when required, and the decision at the resolved threshold with its estimated false-accept
//! rate. [`crate::FaceRecognitionSystem::verify`] adds the audit entry; without a gallery, this is all.

use crate::decision::{Decision, EstimatedFar};
use crate::{FaceAnalyzer, FaceChoice, ImageSource, VisageError};
use serde::Serialize;
use std::path::PathBuf;
use visage_attributes::LivenessScore;
use visage_recognize::{Verification, Verifier};

/// One side of a verification.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifiedImage {
    /// The image's file name, or the upload field it came in.
    #[schema(value_type = String)]
    pub image: PathBuf,
    /// How many faces the image holds.
    pub faces: usize,
    /// The face compared: `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    /// With `require_live`: the face's P(live) (a face that fails is refused, never compared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessScore>,
}

/// The answer to "are these the same person?".
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyOutcome {
    #[serde(flatten)]
    pub verification: Verification,
    /// The false-accept rate asked for, when the threshold came from the calibration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_far: Option<f64>,
    #[serde(flatten)]
    pub far: EstimatedFar,
    /// The two images, in the order given.
    pub images: Vec<VerifiedImage>,
    /// Set when an image held more than one face (the largest was used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The audit entry of a verification: its outcome and detail (the similarity, the threshold and, with
/// `require_live`, both liveness scores), `refused-spoof` for a face that failed liveness, and `None`
/// for an error that compared no faces. One place, for the system and for the CLI without a gallery.
pub fn audit_record(result: &Result<VerifyOutcome, VisageError>) -> Option<(&'static str, serde_json::Value)> {
    match result {
        Ok(v) => {
            let outcome = if v.verification.is_match { "match" } else { "no-match" };
            let mut detail = serde_json::json!({"similarity": v.verification.similarity,
                                                "threshold": v.verification.threshold});
            let liveness: Vec<f32> = v.images.iter().filter_map(|i| i.liveness.map(|l| l.score)).collect();
            if !liveness.is_empty() {
                detail["liveness"] = serde_json::json!(liveness);
            }
            Some((outcome, detail))
        }
        Err(VisageError::Spoof { score, .. }) => Some(("refused-spoof", serde_json::json!({"liveness": score}))),
        Err(_) => None,
    }
}

/// A face picked for verification and its embedding.
pub(crate) struct VerifiedFace {
    pub image: VerifiedImage,
    pub embedding: Vec<f32>,
}

impl FaceAnalyzer {
    /// Are the people in two photos the same? Each image's face is the largest one (with
    /// `require_single`, the only one: several are an error); with `require_live`, a face that fails
    /// liveness is refused with [`VisageError::Spoof`].
    pub fn verify(
        &self,
        a: impl Into<ImageSource>,
        b: impl Into<ImageSource>,
        decision: &Decision,
    ) -> Result<VerifyOutcome, VisageError> {
        let resolved = self.policy().resolve(decision.threshold)?;
        let fa = self.verified_face(a.into(), decision)?;
        let fb = self.verified_face(b.into(), decision)?;
        let verification = Verifier::new(resolved.threshold).verify(&fa.embedding, &fb.embedding);
        let notes: Vec<String> = [&fa, &fb]
            .iter()
            .filter(|f| f.image.faces > 1)
            .map(|f| format!("{} has {} faces; the largest was used", f.image.image.display(), f.image.faces))
            .collect();
        Ok(VerifyOutcome {
            verification,
            target_far: resolved.target_far,
            far: self.policy().estimate(Some(verification.similarity)),
            images: vec![fa.image, fb.image],
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        })
    }

    /// The face of one image a verification compares, checked for liveness when the decision asks.
    pub(crate) fn verified_face(&self, source: ImageSource, decision: &Decision) -> Result<VerifiedFace, VisageError> {
        let choice = if decision.require_single { FaceChoice::Single } else { FaceChoice::Largest };
        let path = source.name();
        let photo = self.open(source)?;
        let detections = self.detect_photo(&photo)?;
        let chosen = crate::choose_face(&detections, choice, photo.width(), photo.height())
            .map_err(|count| match count {
                0 => VisageError::NoFace { path: path.clone() },
                n => VisageError::SeveralFaces { path: path.clone(), count: n },
            })?
            .clone();
        // The face (for its embedding and liveness) from an image where it keeps its full detail.
        let view = self.detail(&photo, std::slice::from_ref(&chosen))?;
        let (mut embeddings, _, _) = self.embed_detections(&view.image, &view.faces)?;
        let liveness = if decision.require_live {
            let l = self.liveness(&view.image, &view.faces[0], None)?;
            if !l.live {
                return Err(VisageError::Spoof { path, score: l.score, threshold: self.liveness_threshold() });
            }
            Some(l)
        } else {
            None
        };
        let image = VerifiedImage { image: path, faces: detections.len(), bbox: chosen.bbox.to_array(), liveness };
        Ok(VerifiedFace { image, embedding: embeddings.remove(0) })
    }
}
