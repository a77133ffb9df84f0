//! Eye state with `fr_eye.onnx`: each eye is cut out around its six 68-point landmarks (a square 1.6
//! times the eye's corner-to-corner width), made grey, 24x24, 0-1. Class 0 is a closed eye.
//!
//! "Left" and "right" are as seen in the image (the eye on the image's left is the person's right
//! eye), like the 5 detector landmarks.

use crate::crop::{clamp_rect, resize_plain_bilinear, Rect};
use crate::{first_output, nchw, softmax, AttributeError};
use image::RgbImage;
use serde::Serialize;
use std::sync::Arc;
use visage_core::tensor::rgb_to_grey_bt601;
use visage_core::Point;
use visage_infer::Model;

const SIDE: u32 = 24;
const PADDING: f32 = 1.6;

/// Open or closed, per eye, with P(open).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EyeState {
    pub left_open: bool,
    pub right_open: bool,
    /// P(open) of the eye on the image's left.
    pub left_score: f32,
    /// P(open) of the eye on the image's right.
    pub right_score: f32,
}

/// The eye-state model.
pub struct EyeStateClassifier {
    model: Arc<dyn Model>,
}

/// The square around one eye: centred on the mean of its four lid points, side 1.6x the distance
/// between its corners. `corners` and `lids` index the 68 points (iBUG numbering, 0-based).
fn eye_rect(p: &[Point], corners: [usize; 2], lids: [usize; 4], width: u32, height: u32) -> Rect {
    let cx = lids.iter().map(|&i| p[i].x).sum::<f32>() / 4.0;
    let cy = lids.iter().map(|&i| p[i].y).sum::<f32>() / 4.0;
    let side = ((p[corners[1]].x - p[corners[0]].x).abs() * PADDING).max(2.0);
    clamp_rect(cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0, width, height)
}

impl EyeStateClassifier {
    pub fn new(model: Arc<dyn Model>) -> Self {
        Self { model }
    }

    /// The two eye crops (image-left eye first), 24x24 grey, from 68 landmarks.
    pub fn eye_rects(landmarks68: &[Point], width: u32, height: u32) -> Result<[Rect; 2], AttributeError> {
        if landmarks68.len() != 68 {
            return Err(AttributeError::BadInput(format!("eye state needs 68 landmarks, got {}", landmarks68.len())));
        }
        Ok([
            eye_rect(landmarks68, [36, 39], [37, 38, 40, 41], width, height),
            eye_rect(landmarks68, [42, 45], [43, 44, 46, 47], width, height),
        ])
    }

    fn open_probability(&self, image: &RgbImage, rect: Rect) -> Result<f32, AttributeError> {
        let (x, y, w, h) = rect;
        let crop = image::imageops::crop_imm(image, x, y, w, h).to_image();
        let grey = rgb_to_grey_bt601(&resize_plain_bilinear(&crop, SIDE, SIDE));
        let data: Vec<f32> = grey.as_raw().iter().map(|&v| v as f32 / 255.0).collect();
        let outputs = self.model.run(nchw(data, 1, SIDE).view())?;
        // Class 0 = closed, class 1 = open.
        Ok(softmax(&first_output(&outputs, "fr_eye", 2)?)[1])
    }

    /// Open/closed for both eyes of a face, from its 68 landmarks.
    pub fn classify(&self, image: &RgbImage, landmarks68: &[Point]) -> Result<EyeState, AttributeError> {
        let [l, r] = Self::eye_rects(landmarks68, image.width(), image.height())?;
        let left_score = self.open_probability(image, l)?;
        let right_score = self.open_probability(image, r)?;
        Ok(EyeState { left_open: left_score >= 0.5, right_open: right_score >= 0.5, left_score, right_score })
    }
}
