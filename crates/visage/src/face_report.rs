//! Everything `visage analyze` reports for one face: its attributes (liveness, age, gender, pose,
//! expression, eyes) and its quality under the one quality policy.

use crate::attributes::{AttributeSet, FaceAttributes};
use crate::quality::{QualityPolicy, QualityReport};
use crate::{FaceAnalyzer, VisageError};
use image::RgbImage;
use visage_detect::Detection;

/// Everything `visage analyze` reports for one face.
#[derive(Debug, Clone)]
pub struct FaceReport {
    pub detection: Detection,
    pub attributes: FaceAttributes,
    pub quality: QualityReport,
}

impl FaceAnalyzer {
    /// Detects every face of a decoded image and reports liveness, the attributes in `set` and the
    /// quality of each (pose and eye state count towards quality only when in `set`).
    pub fn analyze_faces(
        &self,
        image: &RgbImage,
        set: AttributeSet,
        liveness_threshold: Option<f32>,
        policy: &QualityPolicy,
    ) -> Result<Vec<FaceReport>, VisageError> {
        let detections = self.detect(image)?;
        detections
            .into_iter()
            .map(|detection| {
                let attributes = self.attributes(image, &detection, set, liveness_threshold)?;
                let aligned = self.align(image, &detection);
                let quality = policy.assess(&detection, &aligned, Some(&attributes));
                Ok(FaceReport { detection, attributes, quality })
            })
            .collect()
    }
}
