//! Passive liveness with `fr_liveness.onnx`: one frame, no user action. The model looks at the face
//! with its surroundings (2.7x the detector box, 128x128, RGB 0-255) and outputs three classes; class 0
//! is a live face, the other two are attack types. The score is P(live) after softmax.

use crate::crop::{crop_resize, scaled_rect};
use crate::{first_output, nchw, softmax, AttributeError};
use image::RgbImage;
use serde::Serialize;
use std::sync::Arc;
use visage_core::BBox;
use visage_infer::Model;

const SIDE: u32 = 128;
/// How much of the surroundings the model sees: 2.7 times the detector box.
pub const CROP_SCALE: f32 = 2.7;

/// The default decision threshold on P(live) (the manifest repeats it with its note).
///
/// Chosen on `antispoof-nuaa-dev` (500 real and 500 printed-photo frames of the NUAA Photograph
/// Imposter Database, training split, subjects 0001-0009) with `visage eval liveness`: the threshold
/// where APCER equals BPCER (the equal-error point, measured 0.038: APCER = BPCER = 8.6%) with
/// CenterFace boxes (there APCER 8.4%, BPCER 9.4%). The scores are far apart (median P(live) 0.63
/// for live frames, 0.0003 for prints), so a low threshold still separates. Few subjects and near-duplicate frames: treat it as
/// a starting point and re-tune on your own capture set.
pub const DEFAULT_LIVENESS_THRESHOLD: f32 = 0.04;

/// The liveness verdict on one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LivenessScore {
    /// P(live), 0 to 1.
    pub score: f32,
    /// `score >= threshold`.
    pub live: bool,
}

/// The passive liveness model.
pub struct LivenessDetector {
    model: Arc<dyn Model>,
}

impl LivenessDetector {
    pub fn new(model: Arc<dyn Model>) -> Self {
        Self { model }
    }

    /// The 128x128 crop the model sees for a face box.
    pub fn crop(image: &RgbImage, bbox: &BBox) -> RgbImage {
        crop_resize(image, scaled_rect(bbox, CROP_SCALE, image.width(), image.height()), SIDE)
    }

    /// P(live) of the face in `bbox`.
    pub fn score(&self, image: &RgbImage, bbox: &BBox) -> Result<f32, AttributeError> {
        let crop = Self::crop(image, bbox);
        let mut data = Vec::with_capacity(3 * (SIDE * SIDE) as usize);
        visage_core::tensor::push_nchw(&crop, 0.0, 1.0, &mut data);
        let outputs = self.model.run(nchw(data, 3, SIDE).view())?;
        let logits = first_output(&outputs, "fr_liveness", 3)?;
        Ok(softmax(&logits)[0])
    }

    /// Score and decision at `threshold`.
    pub fn check(&self, image: &RgbImage, bbox: &BBox, threshold: f32) -> Result<LivenessScore, AttributeError> {
        let score = self.score(image, bbox)?;
        Ok(LivenessScore { score, live: score >= threshold })
    }
}
