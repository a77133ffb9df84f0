//! Passive liveness with `fr_liveness.onnx`: one frame, no user action. The model looks at the face
//! with its surroundings (2.7x the detector box, 128x128, **BGR** 0-255) and outputs three classes;
//! class 0 is a live face, the other two are attack types. The score is P(live) after softmax.
//!
//! Channel order: BGR, like the pack's age and gender models (see [`crate::age`]). The package's
//! JavaScript feeds the canvas's RGB, but the network was trained on OpenCV-loaded (BGR) images: on
//! the 1,000 frames of `antispoof-nuaa-dev` (`visage eval liveness`) its ROC AUC is 0.967 fed RGB and
//! 1.0000 fed BGR, and on frames of the NUAA webcam videos the live subject 0001 went from a median
//! P(live) of 0.03 (RGB: refused) to 0.999 (BGR) while his printed photo stayed below 0.001.

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

/// The default decision threshold on P(live) (the manifest repeats it).
///
/// First chosen on `antispoof-nuaa-dev` (500 real and 500 printed-photo frames of the NUAA Photograph
/// Imposter Database, training split, subjects 0001-0009) as the equal-error point of the model fed
/// RGB. Fed BGR (the right order, see above), the same 1,000 frames separate completely (ROC AUC
/// 1.0000): at 0.04, APCER 0.6% (3 prints accepted) and BPCER 0.0%; every threshold from 0.07 to 0.87
/// gives APCER 0.2% and BPCER 0.0%. 0.04 is kept: live faces in other capture conditions (web
/// photos) score lower than NUAA's webcam frames, and video tracks decide on several frames (see
/// `visage-video`'s `track_liveness`). Few subjects and near-duplicate frames: re-tune on your own
/// capture set.
pub const DEFAULT_LIVENESS_THRESHOLD: f32 = 0.04;

/// Appends the image as planar BGR (blue plane first), values 0-255.
fn push_nchw_bgr(src: &RgbImage, out: &mut Vec<f32>) {
    let plane = (src.width() * src.height()) as usize;
    let start = out.len();
    out.resize(start + 3 * plane, 0.0);
    let (b, rest) = out[start..].split_at_mut(plane);
    let (g, r) = rest.split_at_mut(plane);
    for (i, px) in src.as_raw().chunks_exact(3).enumerate() {
        r[i] = px[0] as f32;
        g[i] = px[1] as f32;
        b[i] = px[2] as f32;
    }
}

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
        push_nchw_bgr(&crop, &mut data);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_sees_blue_first() {
        let img = RgbImage::from_raw(2, 1, vec![10, 20, 30, 40, 50, 60]).unwrap();
        let mut data = vec![-1.0];
        push_nchw_bgr(&img, &mut data);
        assert_eq!(data, [-1.0, 30.0, 60.0, 20.0, 50.0, 10.0, 40.0]);
    }
}
