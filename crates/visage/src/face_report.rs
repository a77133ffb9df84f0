//! Everything `visage analyze` reports for one face: its attributes (liveness, age, gender, pose,
//! expression, eyes) and its quality under the one quality policy.

use crate::attributes::{AttributeSet, FaceAttributes};
use crate::quality::{QualityPolicy, QualityReport};
use crate::{FaceAnalyzer, Photo, VisageError};
use image::RgbImage;
use visage_detect::Detection;

/// Everything `visage analyze` reports for one face.
#[derive(Debug, Clone)]
pub struct FaceReport {
    pub detection: Detection,
    pub attributes: FaceAttributes,
    pub quality: QualityReport,
}

/// The shorter side, in pixels, a face's box keeps in the image its attributes are computed on: the
/// largest input of the attribute models (head pose and expression take 224 x 224 crops of the box),
/// so that a large photo decoded at a reduced scale gives them as much detail as the full photo.
pub const ATTRIBUTE_DETAIL_SIDE: f32 = 224.0;

impl FaceAnalyzer {
    /// As [`FaceAnalyzer::analyze_faces`] on a photo opened with [`FaceAnalyzer::open`]: detection on
    /// its reduced decode, and each face's attributes, alignment and quality from an image where its
    /// box keeps [`ATTRIBUTE_DETAIL_SIDE`] pixels (the full photo when it is smaller). Boxes, landmarks
    /// and the 68 landmarks are in the full photo's pixel coordinates.
    pub fn analyze_photo(
        &self,
        photo: &Photo,
        set: AttributeSet,
        liveness_threshold: Option<f32>,
        policy: &QualityPolicy,
    ) -> Result<Vec<FaceReport>, VisageError> {
        let detections = self.detect_photo(photo)?;
        if detections.is_empty() {
            return Ok(Vec::new());
        }
        let view = photo.detail_for(&detections, ATTRIBUTE_DETAIL_SIDE, self.load_options())?;
        detections
            .into_iter()
            .zip(&view.faces)
            .map(|(detection, local)| {
                let mut attributes = self.attributes(&view.image, local, set, liveness_threshold)?;
                if let Some(points) = attributes.landmarks68.as_mut() {
                    points.iter_mut().for_each(|p| *p = view.full_point(*p));
                }
                let aligned = self.align(&view.image, local);
                let quality = policy.assess(&detection, &aligned, Some(&attributes));
                Ok(FaceReport { detection, attributes, quality })
            })
            .collect()
    }

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
