//! RetinaFace (Deng et al., 2020) in its widespread PyTorch export (`Pytorch_Retinaface`: MobileNet-0.25
//! or ResNet-50), a model the user imports (`visage models import`): visage decodes its raw outputs
//! itself.
//!
//! The input is the image letterboxed into 640x640 (or the size the graph fixes), BGR, minus the means
//! (104, 117, 123), unscaled. The network gives, for every prior box, box deltas (4), background and
//! face probabilities (2) and key-point deltas (10). Priors: per stride 8, 16 and 32, at the centre of
//! every cell of a grid of `ceil(side / stride)` cells, two square priors of sides 16 and 32, 64 and 128,
//! 256 and 512 pixels; cells row by row, the two sizes after each other. Decoding, with the variances
//! (0.1, 0.2): centre = prior centre + delta · 0.1 · prior size, size = prior size · exp(delta · 0.2),
//! and each key point = prior centre + delta · 0.1 · prior size.

use crate::letterbox::Letterbox;
use crate::{DetectError, Detection, DetectorKind, DetectorOptions, FaceDetector};
use image::RgbImage;
use ndarray::{Array4, ArrayD};
use std::sync::Arc;
use visage_core::{nms, BBox, Point};
use visage_infer::Model;

/// Stride and the two prior sizes at it.
const LEVELS: [(u32, [f32; 2]); 3] = [(8, [16.0, 32.0]), (16, [64.0, 128.0]), (32, [256.0, 512.0])];
/// The variances of the centre and of the size.
const VARIANCES: (f32, f32) = (0.1, 0.2);
/// Per-channel means subtracted from the BGR input.
const MEANS_BGR: [f32; 3] = [104.0, 117.0, 123.0];

/// The RetinaFace detector.
pub struct RetinaFace {
    model: Arc<dyn Model>,
    options: DetectorOptions,
    /// Network input width and height.
    input: (u32, u32),
}

impl RetinaFace {
    pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.5;
    /// InsightFace's `det_size`, used when the graph does not fix its input size.
    pub const DEFAULT_SIZE: u32 = 640;

    /// A detector running `model` on `input` (width, height).
    pub fn new(model: Arc<dyn Model>, options: DetectorOptions, input: (u32, u32)) -> Self {
        Self { model, options, input }
    }
}

/// A prior box: centre and side, in network pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub centre: Point,
    pub size: f32,
}

/// Every prior of an `in_w` x `in_h` input, in the network's order.
pub fn priors(in_w: u32, in_h: u32) -> Vec<Prior> {
    let mut out = Vec::new();
    for (stride, sizes) in LEVELS {
        let (cols, rows) = (in_w.div_ceil(stride), in_h.div_ceil(stride));
        for r in 0..rows {
            for c in 0..cols {
                let centre = Point::new((c as f32 + 0.5) * stride as f32, (r as f32 + 0.5) * stride as f32);
                out.extend(sizes.iter().map(|&size| Prior { centre, size }));
            }
        }
    }
    out
}

/// The BGR, mean-subtracted NCHW input of an image already letterboxed.
fn input_tensor(image: &RgbImage) -> Array4<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut t = Array4::zeros((1, 3, h, w));
    for (x, y, px) in image.enumerate_pixels() {
        for (c, &channel) in [2usize, 1, 0].iter().enumerate() {
            t[[0, c, y as usize, x as usize]] = px.0[channel] as f32 - MEANS_BGR[c];
        }
    }
    t
}

impl FaceDetector for RetinaFace {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, DetectError> {
        let (in_w, in_h) = self.input;
        let boxed = Letterbox::fit(image, in_w, in_h);
        let outputs = self.model.run(input_tensor(&boxed.image).into_dyn().view())?;
        let threshold = self.options.score_threshold.unwrap_or(Self::DEFAULT_SCORE_THRESHOLD);
        let found = decode(&outputs, &priors(in_w, in_h), threshold)?;
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
        DetectorKind::RetinaFace
    }
}

/// Decodes the three outputs (told apart by their last dimension: 4 box deltas, 2 scores, 10 key-point
/// deltas) against `priors` into detections in network pixels, before NMS.
pub fn decode(outputs: &[ArrayD<f32>], priors: &[Prior], threshold: f32) -> Result<Vec<Detection>, DetectError> {
    let by_k = |k: usize| {
        outputs
            .iter()
            .find(|o| o.shape().last() == Some(&k))
            .map(|o| o.iter().copied().collect::<Vec<f32>>())
            .filter(|v| v.len() == k * priors.len())
            .ok_or_else(|| {
                let shapes: Vec<&[usize]> = outputs.iter().map(|o| o.shape()).collect();
                DetectError::OutputShape(format!(
                    "RetinaFace needs [1, {}, {k}] among its outputs, got {shapes:?}",
                    priors.len()
                ))
            })
    };
    let (loc, conf, landms) = (by_k(4)?, by_k(2)?, by_k(10)?);
    let (v0, v1) = VARIANCES;
    let mut found = Vec::new();
    for (i, p) in priors.iter().enumerate() {
        let score = conf[2 * i + 1];
        if score < threshold {
            continue;
        }
        let l = &loc[4 * i..4 * i + 4];
        let centre = Point::new(p.centre.x + l[0] * v0 * p.size, p.centre.y + l[1] * v0 * p.size);
        let (w, h) = (p.size * (l[2] * v1).exp(), p.size * (l[3] * v1).exp());
        let bbox = BBox::new(centre.x - w / 2.0, centre.y - h / 2.0, centre.x + w / 2.0, centre.y + h / 2.0);
        let k = &landms[10 * i..10 * i + 10];
        let landmarks = std::array::from_fn(|j| {
            Point::new(p.centre.x + k[2 * j] * v0 * p.size, p.centre.y + k[2 * j + 1] * v0 * p.size)
        });
        found.push(Detection { bbox, score, landmarks, landmarks68: None });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn priors_of_a_64_pixel_input() {
        let p = priors(64, 64);
        // 8x8x2 + 4x4x2 + 2x2x2.
        assert_eq!(p.len(), 128 + 32 + 8);
        assert_eq!(p[0], Prior { centre: Point::new(4.0, 4.0), size: 16.0 });
        assert_eq!(p[1], Prior { centre: Point::new(4.0, 4.0), size: 32.0 });
        assert_eq!(p[2].centre, Point::new(12.0, 4.0));
        // The first stride-16 prior, then the second row of that grid.
        assert_eq!(p[128], Prior { centre: Point::new(8.0, 8.0), size: 64.0 });
        assert_eq!(p[128 + 8].centre, Point::new(8.0, 24.0));
        // A side that is not a multiple of the stride still gets a cell for its last pixels.
        assert_eq!(priors(70, 64).len(), 9 * 8 * 2 + 5 * 4 * 2 + 3 * 2 * 2);
    }

    #[test]
    fn decodes_deltas_with_the_variances() {
        let priors = priors(64, 64);
        let n = priors.len();
        let (mut loc, mut conf, mut landms) =
            (ArrayD::zeros(IxDyn(&[1, n, 4])), ArrayD::zeros(IxDyn(&[1, n, 2])), ArrayD::zeros(IxDyn(&[1, n, 10])));
        // Prior 129: the stride-16 cell at (8, 8), size 128.
        let i = 129;
        conf[[0, i, 1]] = 0.9;
        conf[[0, 5, 1]] = 0.4; // below the threshold
        for (j, v) in [1.0, -0.5, 0.0, (2.0f32).ln() / 0.2].into_iter().enumerate() {
            loc[[0, i, j]] = v;
        }
        landms[[0, i, 0]] = 0.25;
        landms[[0, i, 9]] = -1.0;
        // Outputs in another order than the export's: told apart by their last dimension.
        let found = decode(&[conf, landms, loc], &priors, 0.5).unwrap();
        assert_eq!(found.len(), 1);
        let d = &found[0];
        // Centre (8 + 1 * 0.1 * 128, 8 - 0.5 * 0.1 * 128) = (20.8, 1.6); width 128, height 256.
        let close = |a: f32, b: f32| (a - b).abs() < 1e-3;
        assert!(close(d.bbox.x1, 20.8 - 64.0) && close(d.bbox.x2, 20.8 + 64.0), "{:?}", d.bbox);
        assert!(close(d.bbox.y1, 1.6 - 128.0) && close(d.bbox.y2, 1.6 + 128.0), "{:?}", d.bbox);
        assert!(close(d.landmarks[0].x, 8.0 + 3.2) && close(d.landmarks[0].y, 8.0));
        assert!(close(d.landmarks[4].y, 8.0 - 12.8));
        assert!(decode(&found_free_outputs(n - 1), &priors, 0.5).is_err());
    }

    fn found_free_outputs(n: usize) -> Vec<ArrayD<f32>> {
        [4, 2, 10].iter().map(|&k| ArrayD::zeros(IxDyn(&[1, n, k]))).collect()
    }

    #[test]
    fn input_is_bgr_minus_the_means() {
        let t = input_tensor(&RgbImage::from_pixel(2, 1, image::Rgb([200, 100, 50])));
        assert_eq!([t[[0, 0, 0, 1]], t[[0, 1, 0, 1]], t[[0, 2, 0, 1]]], [50.0 - 104.0, 100.0 - 117.0, 200.0 - 123.0]);
    }
}
