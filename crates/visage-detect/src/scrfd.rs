//! SCRFD (Guo et al., 2021; InsightFace's `det_10g.onnx`, `det_2.5g.onnx`, `det_500m.onnx`), a model the
//! user imports (`visage models import`): visage decodes its raw outputs itself, as InsightFace's
//! `scrfd.py` does.
//!
//! The input is the image letterboxed into 640x640 (InsightFace's `det_size`, or the size the graph
//! fixes), RGB, `(x - 127.5) / 128`. Per stride (8, 16, 32; some exports add 64 and 128) the network
//! gives, for 2 anchors at each location of its grid, a score (already a probability), 4 distances
//! from the anchor centre to the box's left, top, right and bottom edges, and (models with key points)
//! 5 key points as offsets from the anchor centre, all in units of the stride. Anchor centres are at
//! `(column * stride, row * stride)`, the two anchors of a location after each other.
//!
//! Models without key points give only boxes: their 5 alignment points are then the ArcFace template's
//! placed in the box, so alignment is only as good as the box.

use crate::letterbox::Letterbox;
use crate::{DetectError, Detection, DetectorKind, DetectorOptions, FaceDetector};
use image::RgbImage;
use ndarray::{Array4, ArrayD};
use std::sync::Arc;
use visage_core::tensor::push_nchw;
use visage_core::{nms, BBox, Point, ARCFACE_TEMPLATE_112};
use visage_infer::Model;

/// The strides of the feature pyramid, finest first (3-level models use the first three).
const STRIDES: [u32; 5] = [8, 16, 32, 64, 128];

/// The SCRFD detector.
pub struct Scrfd {
    model: Arc<dyn Model>,
    options: DetectorOptions,
    /// Network input width and height.
    input: (u32, u32),
}

impl Scrfd {
    /// InsightFace's default `det_thresh`.
    pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.5;
    /// InsightFace's `det_size`, used when the graph does not fix its input size.
    pub const DEFAULT_SIZE: u32 = 640;

    /// A detector running `model` on `input` (width, height; each a multiple of 32).
    pub fn new(model: Arc<dyn Model>, options: DetectorOptions, input: (u32, u32)) -> Self {
        Self { model, options, input }
    }
}

impl FaceDetector for Scrfd {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, DetectError> {
        let (in_w, in_h) = self.input;
        let boxed = Letterbox::fit(image, in_w, in_h);
        let mut data = Vec::with_capacity((3 * in_w * in_h) as usize);
        push_nchw(&boxed.image, 127.5, 1.0 / 128.0, &mut data);
        let tensor = Array4::from_shape_vec((1, 3, in_h as usize, in_w as usize), data).expect("sized above");
        let outputs = self.model.run(tensor.into_dyn().view())?;
        let threshold = self.options.score_threshold.unwrap_or(Self::DEFAULT_SCORE_THRESHOLD);
        let found = decode(&outputs, in_w, in_h, threshold)?;
        let (w, h) = (image.width() as f32, image.height() as f32);
        Ok(nms(found, self.options.nms_iou, |d| (d.bbox, d.score))
            .into_iter()
            .map(|d| Detection {
                bbox: boxed.bbox(d.bbox).clip(w, h),
                landmarks: d.landmarks.map(|p| boxed.point(p)),
                ..d
            })
            .filter(|d| d.bbox.area() > 0.0 && d.bbox.min_side() >= self.options.min_face_size)
            .collect())
    }

    fn kind(&self) -> DetectorKind {
        DetectorKind::Scrfd
    }
}

/// Decodes SCRFD's outputs for an `in_w` x `in_h` input into detections in network pixels, before
/// NMS: per stride the scores, then per stride the box distances, then (with key points) per stride
/// the key points, each `[anchors, k]` or `[1, anchors, k]`.
pub fn decode(outputs: &[ArrayD<f32>], in_w: u32, in_h: u32, threshold: f32) -> Result<Vec<Detection>, DetectError> {
    let levels = match outputs.len() {
        6 | 9 => 3,
        10 | 15 => 5,
        n => return Err(DetectError::OutputShape(format!("{n} outputs; SCRFD has 6, 9, 10 or 15"))),
    };
    let keypoints = outputs.len() == 3 * levels;
    let mut found = Vec::new();
    for (level, &stride) in STRIDES[..levels].iter().enumerate() {
        let scores: Vec<f32> = outputs[level].iter().copied().collect();
        let boxes: Vec<f32> = outputs[level + levels].iter().copied().collect();
        let kps: Option<Vec<f32>> = keypoints.then(|| outputs[level + 2 * levels].iter().copied().collect());
        let (cols, rows) = ((in_w / stride) as usize, (in_h / stride) as usize);
        let locations = cols * rows;
        if locations == 0 || !scores.len().is_multiple_of(locations) {
            return Err(DetectError::OutputShape(format!(
                "stride {stride}: {} scores for a {cols}x{rows} grid",
                scores.len()
            )));
        }
        let per_location = scores.len() / locations;
        if boxes.len() != 4 * scores.len() || kps.as_ref().is_some_and(|k| k.len() != 10 * scores.len()) {
            return Err(DetectError::OutputShape(format!(
                "stride {stride}: boxes or key points do not match the scores"
            )));
        }
        let s = stride as f32;
        for (i, &score) in scores.iter().enumerate() {
            if score < threshold {
                continue;
            }
            let loc = i / per_location;
            let centre = Point::new((loc % cols) as f32 * s, (loc / cols) as f32 * s);
            let d = &boxes[4 * i..4 * i + 4];
            let bbox = BBox::new(centre.x - d[0] * s, centre.y - d[1] * s, centre.x + d[2] * s, centre.y + d[3] * s);
            let landmarks = match &kps {
                Some(k) => std::array::from_fn(|j| {
                    Point::new(centre.x + k[10 * i + 2 * j] * s, centre.y + k[10 * i + 2 * j + 1] * s)
                }),
                None => template_in(&bbox),
            };
            found.push(Detection { bbox, score, landmarks, landmarks68: None });
        }
    }
    Ok(found)
}

/// The ArcFace template's 5 points placed in a box (for detectors without key points).
pub fn template_in(bbox: &BBox) -> [Point; 5] {
    let side = visage_core::align::ALIGNED_SIZE as f32;
    ARCFACE_TEMPLATE_112.map(|p| Point::new(bbox.x1 + p.x / side * bbox.width(), bbox.y1 + p.y / side * bbox.height()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    /// Outputs of a 64x64 input (grids 8x8, 4x4, 2x2, 2 anchors each) with one hot anchor.
    fn outputs(level: usize, anchor: usize, score: f32, dist: [f32; 4], kps: Option<[f32; 10]>) -> Vec<ArrayD<f32>> {
        let rows = [128, 32, 8];
        let mut out: Vec<ArrayD<f32>> = Vec::new();
        for (k, per) in [(1, 0), (4, 1), (10, 2)] {
            if per == 2 && kps.is_none() {
                break;
            }
            for (l, &r) in rows.iter().enumerate() {
                let mut t = ArrayD::zeros(IxDyn(&[r, k]));
                if l == level {
                    match per {
                        0 => t[[anchor, 0]] = score,
                        1 => (0..4).for_each(|j| t[[anchor, j]] = dist[j]),
                        _ => (0..10).for_each(|j| t[[anchor, j]] = kps.unwrap()[j]),
                    }
                }
                out.push(t);
            }
        }
        out
    }

    #[test]
    fn decodes_distances_and_key_points_from_the_anchor_centre() {
        // Stride 16, a 4x4 grid: anchor 13 is the second anchor of location 6 = column 2, row 1, whose
        // centre is (2 * 16, 1 * 16) = (32, 16).
        let kps = [0.5, -0.25, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 2.0];
        let found = decode(&outputs(1, 13, 0.8, [1.0, 0.5, 2.0, 1.5], Some(kps)), 64, 64, 0.5).unwrap();
        assert_eq!(found.len(), 1);
        let d = &found[0];
        assert_eq!(d.score, 0.8);
        assert_eq!(d.bbox, BBox::new(32.0 - 16.0, 16.0 - 8.0, 32.0 + 32.0, 16.0 + 24.0));
        assert_eq!(d.landmarks[0], Point::new(32.0 + 8.0, 16.0 - 4.0));
        assert_eq!(d.landmarks[1], Point::new(48.0, 16.0));
        assert_eq!(d.landmarks[4], Point::new(16.0, 48.0));
    }

    #[test]
    fn six_outputs_give_boxes_with_template_points_and_the_threshold_holds() {
        // Stride 8, 8x8 grid: anchor 0 is at (0, 0), anchor 19 at location 9 = column 1, row 1: (8, 8).
        let found = decode(&outputs(0, 19, 0.6, [1.0, 1.0, 1.0, 1.0], None), 64, 64, 0.5).unwrap();
        assert_eq!(found[0].bbox, BBox::new(0.0, 0.0, 16.0, 16.0));
        let left_eye = ARCFACE_TEMPLATE_112[0];
        assert!((found[0].landmarks[0].x - left_eye.x / 112.0 * 16.0).abs() < 1e-5);
        assert!(decode(&outputs(0, 19, 0.6, [1.0; 4], None), 64, 64, 0.61).unwrap().is_empty());
    }

    #[test]
    fn wrong_outputs_are_refused() {
        assert!(decode(&outputs(0, 0, 0.9, [1.0; 4], None)[..5], 64, 64, 0.5).is_err());
        // The same outputs do not fit a 96x96 grid.
        assert!(decode(&outputs(0, 0, 0.9, [1.0; 4], None), 96, 96, 0.5).is_err());
    }
}
