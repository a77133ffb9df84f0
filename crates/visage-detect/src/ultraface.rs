//! UltraFace RFB-320 ("Ultra-Light-Fast-Generic-Face-Detector-1MB", `fr_detect.onnx`): an SSD-style
//! detector on a fixed 320x240 input whose exported graph already decodes its 4,420 priors into
//! normalised corner boxes. It gives no landmarks; [`Landmark68`] adds them.

use crate::landmark68::Landmark68;
use crate::{DetectError, Detection, DetectorKind, DetectorOptions, FaceDetector};
use image::RgbImage;
use ndarray::{Array4, Ix3};
use std::sync::Arc;
use visage_core::tensor::{push_nchw, resize_rgb};
use visage_core::{nms, BBox};
use visage_infer::Model;

const INPUT_W: u32 = 320;
const INPUT_H: u32 = 240;

/// The UltraFace detector with the 68-point landmark model.
pub struct UltraFace {
    model: Arc<dyn Model>,
    landmarks: Landmark68,
    options: DetectorOptions,
}

impl UltraFace {
    /// The faceplugin package uses 0.65; 0.7 keeps fewer false positives at the same recall on photos.
    pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.7;

    pub fn new(model: Arc<dyn Model>, landmarks: Landmark68, options: DetectorOptions) -> Self {
        Self { model, landmarks, options }
    }

    /// Boxes only, in original pixels, after NMS and the size filter. Boxes may reach past the image
    /// edge (the landmark crop needs the whole face); [`FaceDetector::detect`] reports them clipped.
    pub fn detect_boxes(&self, image: &RgbImage) -> Result<Vec<(BBox, f32)>, DetectError> {
        let (w, h) = image.dimensions();
        let resized = resize_rgb(image, INPUT_W, INPUT_H);
        let mut data = Vec::with_capacity((3 * INPUT_W * INPUT_H) as usize);
        push_nchw(&resized, 127.0, 1.0 / 128.0, &mut data);
        let input = Array4::from_shape_vec((1, 3, INPUT_H as usize, INPUT_W as usize), data).expect("sized above");
        let outputs = self.model.run(input.into_dyn().view())?;
        if outputs.len() != 2 {
            return Err(DetectError::OutputShape(format!("{} outputs, expected scores and boxes", outputs.len())));
        }
        let bad = |what: &str, shape: &[usize]| DetectError::OutputShape(format!("{what}: {shape:?}"));
        let scores = outputs[0].view().into_dimensionality::<Ix3>().map_err(|_| bad("scores", outputs[0].shape()))?;
        let boxes = outputs[1].view().into_dimensionality::<Ix3>().map_err(|_| bad("boxes", outputs[1].shape()))?;
        if scores.shape()[2] != 2 || boxes.shape()[2] != 4 || scores.shape()[1] != boxes.shape()[1] {
            return Err(bad("scores/boxes", outputs[0].shape()));
        }
        let threshold = self.options.score_threshold.unwrap_or(Self::DEFAULT_SCORE_THRESHOLD);
        let (fw, fh) = (w as f32, h as f32);
        let mut found = Vec::new();
        for i in 0..scores.shape()[1] {
            let score = scores[[0, i, 1]];
            if score < threshold {
                continue;
            }
            let b = BBox::new(boxes[[0, i, 0]], boxes[[0, i, 1]], boxes[[0, i, 2]], boxes[[0, i, 3]]);
            let b = b.scale(fw, fh);
            if b.clip(fw, fh).area() > 0.0 {
                found.push((b, score));
            }
        }
        let mut kept = nms(found, self.options.nms_iou, |&(b, s)| (b, s));
        kept.retain(|(b, _)| b.clip(fw, fh).min_side() >= self.options.min_face_size);
        Ok(kept)
    }
}

impl FaceDetector for UltraFace {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, DetectError> {
        let boxes = self.detect_boxes(image)?;
        let mut faces = Vec::with_capacity(boxes.len());
        let (w, h) = (image.width() as f32, image.height() as f32);
        for (raw, score) in boxes {
            let points = self.landmarks.predict(image, &raw)?;
            faces.push(Detection {
                bbox: raw.clip(w, h),
                score,
                landmarks: Landmark68::to_five(&points),
                landmarks68: Some(points.to_vec()),
            });
        }
        Ok(faces)
    }

    fn kind(&self) -> DetectorKind {
        DetectorKind::UltraFace
    }
}
