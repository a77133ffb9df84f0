//! Facial expression with `fr_expression.onnx`: a region anchored at the box's top-left corner, 1.2
//! times its size (the reference code's framing), 224x224, RGB 0-1; 7 classes in the FER-2013 order.

use crate::crop::{corner_rect, crop_resize};
use crate::{first_output, nchw, softmax, AttributeError};
use image::RgbImage;
use serde::Serialize;
use std::sync::Arc;
use visage_core::BBox;
use visage_infer::Model;

const SIDE: u32 = 224;
const FACTOR: f32 = 1.2;

/// The seven classes, in the model's output order (the reference demo's labels; "happy" is its "smile").
pub const EXPRESSION_LABELS: [&str; 7] = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];

/// The most likely expression of one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Expression {
    pub label: &'static str,
    /// Its probability.
    pub score: f32,
}

/// The expression model.
pub struct ExpressionClassifier {
    model: Arc<dyn Model>,
}

impl ExpressionClassifier {
    pub fn new(model: Arc<dyn Model>) -> Self {
        Self { model }
    }

    /// The probabilities of the seven classes, in [`EXPRESSION_LABELS`] order.
    pub fn probabilities(&self, image: &RgbImage, bbox: &BBox) -> Result<Vec<f32>, AttributeError> {
        let crop = crop_resize(image, corner_rect(bbox, FACTOR, image.width(), image.height()), SIDE);
        let mut data = Vec::with_capacity(3 * (SIDE * SIDE) as usize);
        visage_core::tensor::push_nchw(&crop, 0.0, 1.0 / 255.0, &mut data);
        let outputs = self.model.run(nchw(data, 3, SIDE).view())?;
        Ok(softmax(&first_output(&outputs, "fr_expression", EXPRESSION_LABELS.len())?))
    }

    /// The most likely expression.
    pub fn classify(&self, image: &RgbImage, bbox: &BBox) -> Result<Expression, AttributeError> {
        let p = self.probabilities(image, bbox)?;
        let (i, &score) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("7 classes");
        Ok(Expression { label: EXPRESSION_LABELS[i], score })
    }
}
