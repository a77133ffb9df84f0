//! Liveness and attributes of detected faces, on top of [`FaceAnalyzer`].
//!
//! Each attribute model is loaded the first time it is asked for (through
//! [`FaceAnalyzer::pack_model`]), so callers that only recognise faces never load them.

use crate::{FaceAnalyzer, VisageError};
use image::RgbImage;
use serde::Serialize;
use visage_attributes::{
    AgeEstimator, Expression, ExpressionClassifier, EyeState, EyeStateClassifier, Gender, GenderClassifier, HeadPose,
    LivenessDetector, PoseEstimator,
};
use visage_core::Point;
use visage_detect::{Detection, Landmark68};

pub use visage_attributes::{GenderCalibration, GenderLabel, LivenessScore, EXPRESSION_LABELS, GENDER_CALIBRATION};
use visage_models::ids;

/// Model ids of the attribute models in the manifest.
pub mod attribute_ids {
    pub const LIVENESS: &str = "liveness";
    pub const AGE: &str = "age";
    pub const GENDER: &str = "gender";
    pub const POSE: &str = "pose";
    pub const EXPRESSION: &str = "expression";
    pub const EYE: &str = "eye";
}

/// Which attributes to compute. Models of the ones left out are never loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeSet {
    pub liveness: bool,
    pub age: bool,
    pub gender: bool,
    pub pose: bool,
    pub expression: bool,
    pub eyes: bool,
}

impl AttributeSet {
    /// Every attribute.
    pub const ALL: AttributeSet =
        AttributeSet { liveness: true, age: true, gender: true, pose: true, expression: true, eyes: true };
    /// Nothing.
    pub const NONE: AttributeSet =
        AttributeSet { liveness: false, age: false, gender: false, pose: false, expression: false, eyes: false };
    /// What the quality assessment needs beyond the image itself: pose and eye state.
    pub const QUALITY: AttributeSet = AttributeSet { pose: true, eyes: true, ..AttributeSet::NONE };
}

/// Liveness and attributes of one face; `None` for those not asked for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaceAttributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessScore>,
    /// Apparent age in years.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pose: Option<HeadPose>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<Expression>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eyes: Option<EyeState>,
    /// The 68 landmarks used for the eye state, in image pixels.
    #[serde(skip)]
    pub landmarks68: Option<Vec<Point>>,
}

impl FaceAnalyzer {
    /// The default liveness threshold: the manifest's (chosen on NUAA, see there), else the crate's.
    pub fn liveness_threshold(&self) -> f32 {
        visage_models::Manifest::default_pack()
            .model(attribute_ids::LIVENESS)
            .and_then(|m| m.threshold)
            .unwrap_or(visage_attributes::DEFAULT_LIVENESS_THRESHOLD)
    }

    /// P(live) of a face and the decision at `threshold` (the default when `None`).
    pub fn liveness(
        &self,
        image: &RgbImage,
        face: &Detection,
        threshold: Option<f32>,
    ) -> Result<LivenessScore, VisageError> {
        let detector = LivenessDetector::new(self.pack_model(attribute_ids::LIVENESS)?);
        let threshold = threshold.unwrap_or_else(|| self.liveness_threshold());
        detector.check(image, &face.bbox, threshold).map_err(attr_err)
    }

    /// The 68 landmarks of a face: the detector's when it gave them (UltraFace), else from the
    /// landmark model run on the box.
    pub fn landmarks68(&self, image: &RgbImage, face: &Detection) -> Result<Vec<Point>, VisageError> {
        if let Some(p) = &face.landmarks68 {
            return Ok(p.clone());
        }
        let model = Landmark68::new(self.pack_model(ids::LANDMARK68)?);
        Ok(model.predict(image, &face.bbox)?.to_vec())
    }

    /// The attributes in `set` for one face.
    pub fn attributes(
        &self,
        image: &RgbImage,
        face: &Detection,
        set: AttributeSet,
        liveness_threshold: Option<f32>,
    ) -> Result<FaceAttributes, VisageError> {
        let b = &face.bbox;
        let mut out = FaceAttributes::default();
        if set.liveness {
            out.liveness = Some(self.liveness(image, face, liveness_threshold)?);
        }
        if set.age {
            let m = AgeEstimator::new(self.pack_model(attribute_ids::AGE)?);
            out.age = Some(m.estimate(image, b).map_err(attr_err)?);
        }
        if set.gender {
            let m = GenderClassifier::new(self.pack_model(attribute_ids::GENDER)?);
            out.gender = Some(m.classify(image, b).map_err(attr_err)?);
        }
        if set.pose {
            let m = PoseEstimator::new(self.pack_model(attribute_ids::POSE)?);
            out.pose = Some(m.estimate(image, b).map_err(attr_err)?);
        }
        if set.expression {
            let m = ExpressionClassifier::new(self.pack_model(attribute_ids::EXPRESSION)?);
            out.expression = Some(m.classify(image, b).map_err(attr_err)?);
        }
        if set.eyes {
            let p68 = self.landmarks68(image, face)?;
            let m = EyeStateClassifier::new(self.pack_model(attribute_ids::EYE)?);
            out.eyes = Some(m.classify(image, &p68).map_err(attr_err)?);
            out.landmarks68 = Some(p68);
        }
        Ok(out)
    }
}

fn attr_err(e: visage_attributes::AttributeError) -> VisageError {
    match e {
        visage_attributes::AttributeError::Inference(i) => VisageError::Inference(i),
        other => VisageError::Invalid(other.to_string()),
    }
}
