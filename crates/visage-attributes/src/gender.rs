//! Gender with `fr_gender.onnx` (SSR-Net, same input as age, BGR: see [`crate::age`]): the staged outputs decode to a value in
//! 0-1, 1 = male (the reference demo labels values above 0.6 "Male"). visage labels male at 0.5 and
//! above; `visage eval gender` measures the accuracy on LFW.

use crate::age::ssrnet_input;
use crate::{ssrnet, AttributeError};
use image::RgbImage;
use serde::Serialize;
use std::sync::Arc;
use visage_core::BBox;
use visage_infer::Model;

/// The perceived gender label (a binary model: it cannot express anything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GenderLabel {
    Female,
    Male,
}

impl GenderLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            GenderLabel::Female => "female",
            GenderLabel::Male => "male",
        }
    }
}

/// The gender estimate of one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gender {
    pub label: GenderLabel,
    /// Confidence in the label, 0.5 to 1 (`male_score` for male, `1 - male_score` for female).
    pub score: f32,
    /// The model's output, 0 (female) to 1 (male).
    #[serde(skip)]
    pub male_score: f32,
}

impl Gender {
    /// The label and confidence for a model output (clamped to 0-1).
    pub fn from_male_score(male_score: f32) -> Gender {
        let m = male_score.clamp(0.0, 1.0);
        if m >= 0.5 {
            Gender { label: GenderLabel::Male, score: m, male_score: m }
        } else {
            Gender { label: GenderLabel::Female, score: 1.0 - m, male_score: m }
        }
    }
}

/// The gender model.
pub struct GenderClassifier {
    model: Arc<dyn Model>,
}

impl GenderClassifier {
    pub fn new(model: Arc<dyn Model>) -> Self {
        Self { model }
    }

    /// The gender estimate of the face in `bbox`.
    pub fn classify(&self, image: &RgbImage, bbox: &BBox) -> Result<Gender, AttributeError> {
        let outputs = self.model.run(ssrnet_input(image, bbox).view())?;
        Ok(Gender::from_male_score(ssrnet::decode(&outputs, "fr_gender", 1.0)?))
    }
}
