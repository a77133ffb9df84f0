//! 1:N identification under a [`Decision`]: every face of an image searched among the enrolled
//! subjects (those consented for the decision's purpose, when it has one), a match or an explicit unknown at the resolved threshold, liveness when required (a face
//! that fails is never searched for), one audit entry per face with the threshold used.

use super::search_index::Candidate;
use super::FaceRecognitionSystem;
use crate::decision::{Decision, EstimatedFar};
use crate::{ImageSource, VisageError};
use serde::Serialize;
use visage_attributes::LivenessScore;
use visage_detect::Detection;
use visage_store::AuditEvent;

/// One face of an identification.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IdentifiedFace {
    pub bbox: [f32; 4],
    /// The identified subject, or `null` (unknown) when the best similarity is below the threshold.
    #[serde(rename = "match")]
    #[schema(required = true)]
    pub matched: Option<String>,
    /// The best candidate's similarity (`null` when the gallery is empty or the face failed liveness).
    #[schema(required = true)]
    pub similarity: Option<f32>,
    pub candidates: Vec<Candidate>,
    /// With a calibration: the estimated FAR of the best similarity.
    #[serde(flatten)]
    pub far: EstimatedFar,
    /// With `require_live`: this face's P(live); a face that fails it is not matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessScore>,
}

/// The result of identifying every face of an image.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Identification {
    pub faces: Vec<IdentifiedFace>,
    /// The similarity a face needed to match.
    pub threshold: f32,
    /// The false-accept rate asked for, when the threshold came from the calibration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_far: Option<f64>,
    /// With `require_live`: the P(live) below which a face is not matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_threshold: Option<f32>,
}

impl FaceRecognitionSystem {
    /// Refuses to search a gallery whose every template was made by another embedding model (e.g.
    /// enrolled with `arcface`, searched with `imported:NAME`): no face could ever match.
    fn refuse_other_models_gallery(&self) -> Result<(), VisageError> {
        let index = self.read_index();
        if index.len() > 0 || index.foreign.is_empty() {
            return Ok(());
        }
        Err(VisageError::Invalid(format!(
            "the gallery's {} template(s) were made by another embedding model than --recognizer {} ({}): \
             identify with the recogniser they were enrolled with, or enrol the subjects again with this one",
            index.foreign.len(),
            self.analyzer.recognizer_kind(),
            self.analyzer.embedding_model().0
        )))
    }

    /// Identifies every face in an image among the enrolled subjects. Each face gets its best
    /// `decision.top_k` subjects (scored by their best template) and a decision: the best subject if it
    /// reaches the threshold, else unknown. With `decision.purpose`, only subjects holding an active
    /// consent for that purpose are candidates. Audited, one entry per face with the threshold and the
    /// purpose (a face refused for liveness as `refused-spoof`).
    pub fn identify(
        &self,
        image: impl Into<ImageSource>,
        decision: &Decision,
        actor: &str,
    ) -> Result<Identification, VisageError> {
        let resolved = self.analyzer.policy().resolve(decision.threshold)?;
        // A large JPEG is decoded at the detector's working size, and the faces taken (for liveness and
        // embedding) from an image where each keeps its full detail.
        self.refuse_other_models_gallery()?;
        let photo = self.analyzer.open(image)?;
        let detections = self.analyzer.detect_photo(&photo)?;
        let view = self.analyzer.detail(&photo, &detections)?;
        let liveness: Vec<Option<LivenessScore>> = if decision.require_live {
            view.faces
                .iter()
                .map(|d| self.analyzer.liveness(&view.image, d, None).map(Some))
                .collect::<Result<_, _>>()?
        } else {
            vec![None; detections.len()]
        };
        // A face that fails a required liveness check is never searched for.
        let refused = |l: &Option<LivenessScore>| l.is_some_and(|l| !l.live);
        let searched: Vec<Detection> =
            view.faces.iter().zip(&liveness).filter(|(_, l)| !refused(l)).map(|(d, _)| d.clone()).collect();
        let embeddings =
            if searched.is_empty() { Vec::new() } else { self.analyzer.embed_detections(&view.image, &searched)?.0 };
        let mut found = self.search(&embeddings, decision.top_k.max(1), decision.purpose.as_deref())?.into_iter();
        let threshold = resolved.threshold;
        let mut faces = Vec::with_capacity(detections.len());
        for (d, liveness) in detections.iter().zip(liveness) {
            let bbox = d.bbox.to_array();
            if refused(&liveness) {
                let detail = serde_json::json!({"liveness": liveness.map(|l| l.score)});
                self.store
                    .audit(AuditEvent::new(actor, "identify", "refused-spoof").detail(decision.audit_detail(detail)))?;
                let far = EstimatedFar::default();
                faces.push(IdentifiedFace { bbox, matched: None, similarity: None, candidates: vec![], far, liveness });
                continue;
            }
            let candidates = found.next().ok_or_else(|| VisageError::Invalid("one search per face".into()))?;
            let best = candidates.first();
            let face = IdentifiedFace {
                bbox,
                matched: best.filter(|c| c.similarity >= threshold).map(|c| c.subject.clone()),
                similarity: best.map(|c| c.similarity),
                far: self.analyzer.policy().estimate(best.map(|c| c.similarity)),
                candidates: candidates.into_iter().take(decision.top_k).collect(),
                liveness,
            };
            let outcome = if face.matched.is_some() { "match" } else { "unknown" };
            let detail = serde_json::json!({"similarity": face.similarity, "candidates": face.candidates.len(),
                                            "threshold": threshold});
            let event = AuditEvent::new(actor, "identify", outcome).subject_opt(face.matched.as_deref());
            self.store.audit(event.detail(decision.audit_detail(detail)))?;
            faces.push(face);
        }
        if faces.is_empty() {
            let detail = decision.audit_detail(serde_json::json!({"faces": 0}));
            self.store.audit(AuditEvent::new(actor, "identify", "no-face").detail(detail))?;
        }
        Ok(Identification {
            faces,
            threshold,
            target_far: resolved.target_far,
            liveness_threshold: decision.require_live.then(|| self.analyzer.liveness_threshold()),
        })
    }
}
