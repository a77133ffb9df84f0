//! Face detection for visage. One file per model family:
//!
//! - [`centerface`]: CenterFace, boxes and 5 landmarks in one pass, run at the image's own size. The
//!   default.
//! - [`ultraface`]: UltraFace RFB-320 boxes, with [`landmark68`] giving 68 points per face, reduced to
//!   the 5 that alignment uses.
//! - [`blazeface`]: MediaPipe's BlazeFace (short range, 128x128), boxes and 6 key points, reduced to
//!   the 5 that alignment uses.
//! - [`mtcnn`]: MTCNN's three-stage cascade (P-Net, R-Net, O-Net) with facenet-pytorch's weights,
//!   boxes and 5 landmarks.
//! - [`scrfd`] and [`retinaface`]: InsightFace's SCRFD and RetinaFace, models the user imports
//!   (`visage models import`), decoded by visage, on a [`letterbox`]ed input.
//!
//! Every detector returns [`Detection`]s in the original image's pixel coordinates.

pub mod blazeface;
pub mod centerface;
pub mod landmark68;
pub mod letterbox;
pub mod mtcnn;
pub mod retinaface;
pub mod scrfd;
pub mod ultraface;

use image::RgbImage;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use visage_core::{BBox, Point};
use visage_infer::InferError;

pub use blazeface::BlazeFace;
pub use centerface::CenterFace;
pub use landmark68::Landmark68;
pub use mtcnn::Mtcnn;
pub use retinaface::RetinaFace;
pub use scrfd::Scrfd;
pub use ultraface::UltraFace;

/// One detected face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub bbox: BBox,
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// Left eye, right eye, nose tip, left mouth corner, right mouth corner ("left" as seen in the image).
    pub landmarks: [Point; 5],
    /// The 68-point landmarks, for detectors that produce them.
    pub landmarks68: Option<Vec<Point>>,
}

/// Thresholds shared by all detectors.
#[derive(Debug, Clone, Copy)]
pub struct DetectorOptions {
    /// Minimum confidence; `None` uses the detector's own default.
    pub score_threshold: Option<f32>,
    /// Faces whose box's shorter side is below this many pixels (of the original image) are dropped.
    pub min_face_size: f32,
    /// Overlapping boxes above this IoU are merged by non-maximum suppression.
    pub nms_iou: f32,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self { score_threshold: None, min_face_size: 0.0, nms_iou: 0.3 }
    }
}

/// Which detector to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetectorKind {
    CenterFace,
    UltraFace,
    BlazeFace,
    Mtcnn,
    /// InsightFace's SCRFD, imported by the user.
    Scrfd,
    /// RetinaFace, imported by the user.
    RetinaFace,
}

impl DetectorKind {
    /// Every detector of the default pack, default first (SCRFD and RetinaFace need an imported model).
    pub const ALL: [DetectorKind; 4] =
        [DetectorKind::CenterFace, DetectorKind::UltraFace, DetectorKind::BlazeFace, DetectorKind::Mtcnn];
}

impl fmt::Display for DetectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DetectorKind::CenterFace => "centerface",
            DetectorKind::UltraFace => "ultraface",
            DetectorKind::BlazeFace => "blazeface",
            DetectorKind::Mtcnn => "mtcnn",
            DetectorKind::Scrfd => "scrfd",
            DetectorKind::RetinaFace => "retinaface",
        })
    }
}

impl FromStr for DetectorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "centerface" => Ok(DetectorKind::CenterFace),
            "ultraface" => Ok(DetectorKind::UltraFace),
            "blazeface" => Ok(DetectorKind::BlazeFace),
            "mtcnn" => Ok(DetectorKind::Mtcnn),
            "scrfd" => Ok(DetectorKind::Scrfd),
            "retinaface" => Ok(DetectorKind::RetinaFace),
            other => Err(format!(
                "unknown detector '{other}' (expected centerface, ultraface, blazeface, mtcnn, or an imported scrfd \
                 or retinaface)"
            )),
        }
    }
}

/// Errors from detection.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Inference(#[from] InferError),
    #[error("model output has an unexpected shape: {0}")]
    OutputShape(String),
    #[error("the {detector} detector needs the image at full size, not a shrunk copy")]
    ShrunkImage { detector: DetectorKind },
}

/// A face detector.
pub trait FaceDetector: Send + Sync {
    /// All faces in `image`, best first, in the image's pixel coordinates.
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, DetectError>;
    fn kind(&self) -> DetectorKind;

    /// The size the detector shrinks a `width` x `height` image to before it looks at it: a caller
    /// that can decode at a reduced scale (JPEG DCT scaling) needs to decode no larger, and passes the
    /// result to [`FaceDetector::detect_shrunk`]. The default, the full size, asks for no reduction.
    fn working_size(&self, width: u32, height: u32) -> (u32, u32) {
        (width, height)
    }

    /// All faces of a `width` x `height` image given as `image`, a copy of it shrunk to at least
    /// [`FaceDetector::working_size`], in the full image's pixel coordinates: the faces
    /// [`FaceDetector::detect`] finds in the full image, up to resampling. The default (for detectors
    /// that need the full image) refuses a shrunk copy.
    fn detect_shrunk(&self, image: &RgbImage, width: u32, height: u32) -> Result<Vec<Detection>, DetectError> {
        if image.dimensions() != (width, height) {
            return Err(DetectError::ShrunkImage { detector: self.kind() });
        }
        self.detect(image)
    }
}
