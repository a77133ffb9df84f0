//! MTCNN (Zhang et al., 2016, "Joint Face Detection and Alignment using Multi-task Cascaded
//! Convolutional Networks"), with the weights that PyPI `facenet-pytorch` ships, as ONNX graphs that
//! `visage models install` builds from them.
//!
//! The cascade, as facenet-pytorch runs it:
//!
//! 1. **P-Net** over an image pyramid: scales `12 / min_face * factor^k` (defaults: 20 px, 0.709) down
//!    to where the shorter side is 12 px; each output cell is a 12x12 window; windows with face
//!    probability >= 0.6 are kept, suppressed per scale (IoU 0.5) and across scales (IoU 0.7),
//!    regressed and made square.
//! 2. **R-Net** on 24x24 crops of those boxes: probability >= 0.7, suppression (IoU 0.7), regression,
//!    squared again.
//! 3. **O-Net** on 48x48 crops: probability >= 0.7 (or the caller's score threshold), the 5 landmarks,
//!    regression, then suppression by overlap over the smaller box (0.7).
//!
//! Inputs are RGB, `(x - 127.5) / 128`. O-Net's landmarks are the left eye, right eye (as seen in the
//! image), nose tip and the left and right mouth corners: the order [`Detection::landmarks`] uses.

pub mod boxes;

use crate::{DetectError, Detection, DetectorKind, DetectorOptions, FaceDetector};
use boxes::{crop_rect, landmarks, nms_min, pnet_candidates, regress, square, Candidate};
use image::RgbImage;
use ndarray::{Array4, ArrayD};
use std::sync::Arc;
use visage_core::nms;
use visage_core::tensor::{push_nchw, resize_rgb};
use visage_infer::Model;

/// Pixel normalisation: `(x - MEAN) * SCALE`.
const MEAN: f32 = 127.5;
const SCALE: f32 = 0.0078125;
/// Crops run through R-Net and O-Net at most this many at a time; batches are rounded up to a power
/// of two so that a backend that plans per input shape (tract) sees few shapes.
const MAX_BATCH: usize = 64;

/// The cascade's parameters (facenet-pytorch's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MtcnnConfig {
    /// The smallest face looked for, in image pixels (sets the pyramid's first scale).
    pub min_face: f32,
    /// Ratio between pyramid levels.
    pub factor: f32,
    /// Minimum face probability after P-Net, R-Net and O-Net.
    pub thresholds: [f32; 3],
}

impl Default for MtcnnConfig {
    fn default() -> Self {
        Self { min_face: 20.0, factor: 0.709, thresholds: [0.6, 0.7, 0.7] }
    }
}

/// The MTCNN detector: P-Net, R-Net and O-Net.
pub struct Mtcnn {
    pnet: Arc<dyn Model>,
    rnet: Arc<dyn Model>,
    onet: Arc<dyn Model>,
    options: DetectorOptions,
    config: MtcnnConfig,
}

impl Mtcnn {
    /// The three networks (`mtcnn_pnet.onnx`, `mtcnn_rnet.onnx`, `mtcnn_onet.onnx`). The options'
    /// score threshold, when set, replaces O-Net's; a minimum face size above 20 px starts the pyramid
    /// there (faster) and drops smaller faces.
    pub fn new(pnet: Arc<dyn Model>, rnet: Arc<dyn Model>, onet: Arc<dyn Model>, options: DetectorOptions) -> Self {
        let mut config = MtcnnConfig::default();
        if let Some(t) = options.score_threshold {
            config.thresholds[2] = t;
        }
        config.min_face = config.min_face.max(options.min_face_size);
        Self { pnet, rnet, onet, options, config }
    }

    /// Replaces the cascade's parameters.
    pub fn with_config(mut self, config: MtcnnConfig) -> Self {
        self.config = config;
        self
    }

    /// The pyramid's scales for a `width` x `height` image.
    pub fn scales(&self, width: u32, height: u32) -> Vec<f32> {
        let mut scale = boxes::CELL / self.config.min_face.max(1.0);
        let mut side = width.min(height) as f32 * scale;
        let factor = self.config.factor.clamp(0.1, 0.95);
        let mut out = Vec::new();
        while side >= boxes::CELL {
            out.push(scale);
            scale *= factor;
            side *= factor;
        }
        out
    }

    /// Stage 1: P-Net over the pyramid; squared, regressed proposals.
    fn propose(&self, image: &RgbImage) -> Result<Vec<Candidate>, DetectError> {
        let (w, h) = image.dimensions();
        let mut all = Vec::new();
        for scale in self.scales(w, h) {
            let (sw, sh) = ((w as f32 * scale + 1.0) as u32, (h as f32 * scale + 1.0) as u32);
            let mut data = Vec::with_capacity(3 * (sw * sh) as usize);
            push_nchw(&resize_rgb(image, sw, sh), MEAN, SCALE, &mut data);
            let input = Array4::from_shape_vec((1, 3, sh as usize, sw as usize), data).expect("sized above");
            let out = self.pnet.run(input.into_dyn().view())?;
            let (prob, reg) = (output(&out, 0, "P-Net")?, output(&out, 1, "P-Net")?);
            let (rows, cols) = grid_of(prob, reg)?;
            let face = &prob.as_slice().expect("standard layout")[rows * cols..];
            let found = pnet_candidates(
                face,
                reg.as_slice().expect("standard layout"),
                rows,
                cols,
                scale,
                self.config.thresholds[0],
            );
            all.extend(nms(found, 0.5, |c| (c.bbox, c.score)));
        }
        Ok(nms(all, 0.7, |c| (c.bbox, c.score))
            .into_iter()
            .map(|c| Candidate { bbox: square(regress(&c, false)), ..c })
            .collect())
    }

    /// Stage 2: R-Net on 24x24 crops.
    fn refine(&self, image: &RgbImage, proposals: Vec<Candidate>) -> Result<Vec<Candidate>, DetectError> {
        let (kept, out) = self.run_crops(&self.rnet, image, proposals, 24, "R-Net")?;
        if kept.is_empty() {
            return Ok(kept);
        }
        let scored = score_candidates(kept, &out, self.config.thresholds[1])?;
        Ok(nms(scored, 0.7, |c| (c.bbox, c.score))
            .into_iter()
            .map(|c| Candidate { bbox: square(regress(&c, true)), ..c })
            .collect())
    }

    /// Stage 3: O-Net on 48x48 crops, with landmarks.
    fn output_stage(&self, image: &RgbImage, refined: Vec<Candidate>) -> Result<Vec<Candidate>, DetectError> {
        let (kept, out) = self.run_crops(&self.onet, image, refined, 48, "O-Net")?;
        if kept.is_empty() {
            return Ok(kept);
        }
        let points = output(&out, 2, "O-Net")?;
        if points.shape() != [kept.len(), 10] {
            return Err(DetectError::OutputShape(format!("O-Net landmarks {:?}", points.shape())));
        }
        let points = points.as_slice().expect("standard layout");
        let with_points: Vec<Candidate> = kept
            .into_iter()
            .enumerate()
            .map(|(i, c)| Candidate { landmarks: Some(landmarks(&c.bbox, &points[i * 10..i * 10 + 10])), ..c })
            .collect();
        let scored = score_candidates(with_points, &out, self.config.thresholds[2])?;
        let regressed = scored.into_iter().map(|c| Candidate { bbox: regress(&c, true), ..c }).collect();
        Ok(nms_min(regressed, 0.7))
    }

    /// Crops each candidate's box (clipped; candidates wholly outside are dropped), resizes it to
    /// `side` x `side` and runs `model` on them in batches. Returns the candidates kept and the
    /// model's outputs for them, concatenated along the batch.
    fn run_crops(
        &self,
        model: &Arc<dyn Model>,
        image: &RgbImage,
        candidates: Vec<Candidate>,
        side: u32,
        name: &str,
    ) -> Result<(Vec<Candidate>, Vec<ArrayD<f32>>), DetectError> {
        let (w, h) = image.dimensions();
        let mut kept = Vec::new();
        let mut data = Vec::new();
        for c in candidates {
            if let Some((x, y, cw, ch)) = crop_rect(&c.bbox, w, h) {
                let crop = image::imageops::crop_imm(image, x, y, cw, ch).to_image();
                push_nchw(&resize_rgb(&crop, side, side), MEAN, SCALE, &mut data);
                kept.push(c);
            }
        }
        let per_item = 3 * (side * side) as usize;
        let mut outputs: Vec<Vec<f32>> = Vec::new();
        let mut widths: Vec<usize> = Vec::new();
        for chunk in data.chunks(MAX_BATCH * per_item) {
            let n = chunk.len() / per_item;
            let padded = n.next_power_of_two();
            let mut batch = chunk.to_vec();
            batch.resize(padded * per_item, 0.0);
            let input = Array4::from_shape_vec((padded, 3, side as usize, side as usize), batch).expect("sized above");
            let out = model.run(input.into_dyn().view())?;
            if outputs.is_empty() {
                outputs = vec![Vec::new(); out.len()];
                widths = out.iter().map(|o| o.len() / padded.max(1)).collect();
            }
            for ((acc, o), &width) in outputs.iter_mut().zip(&out).zip(&widths) {
                if o.len() != padded * width {
                    return Err(DetectError::OutputShape(format!("{name} output {:?}", o.shape())));
                }
                acc.extend_from_slice(&o.as_slice().expect("standard layout")[..n * width]);
            }
        }
        let n = kept.len();
        let outputs = outputs
            .into_iter()
            .zip(widths)
            .map(|(v, width)| ArrayD::from_shape_vec(vec![n, width], v).expect("n rows of width"))
            .collect();
        Ok((kept, outputs))
    }
}

/// Output `i` of a model's outputs, in standard layout.
fn output<'a>(out: &'a [ArrayD<f32>], i: usize, name: &str) -> Result<&'a ArrayD<f32>, DetectError> {
    let o = out.get(i).ok_or_else(|| DetectError::OutputShape(format!("{name} gave {} outputs", out.len())))?;
    if !o.is_standard_layout() {
        return Err(DetectError::OutputShape(format!("{name} output {i} is not contiguous")));
    }
    Ok(o)
}

/// The output grid of P-Net: `prob` must be 1 x 2 x rows x cols and `reg` 1 x 4 x rows x cols.
fn grid_of(prob: &ArrayD<f32>, reg: &ArrayD<f32>) -> Result<(usize, usize), DetectError> {
    match (prob.shape(), reg.shape()) {
        ([1, 2, r, c], [1, 4, r2, c2]) if r == r2 && c == c2 => Ok((*r, *c)),
        (p, r) => Err(DetectError::OutputShape(format!("P-Net gave {p:?} and {r:?}"))),
    }
}

/// Sets each candidate's score and regression from a stage's outputs (`prob`: n x 2, `reg`: n x 4)
/// and keeps those whose face probability passes `threshold`.
fn score_candidates(
    candidates: Vec<Candidate>,
    out: &[ArrayD<f32>],
    threshold: f32,
) -> Result<Vec<Candidate>, DetectError> {
    let n = candidates.len();
    let (prob, reg) = (output(out, 0, "stage")?, output(out, 1, "stage")?);
    if n > 0 && (prob.shape() != [n, 2] || reg.shape() != [n, 4]) {
        return Err(DetectError::OutputShape(format!("scores {:?} and regression {:?}", prob.shape(), reg.shape())));
    }
    let (prob, reg) = (prob.as_slice().expect("standard layout"), reg.as_slice().expect("standard layout"));
    Ok(candidates
        .into_iter()
        .enumerate()
        .filter(|&(i, _)| prob[2 * i + 1] > threshold)
        .map(|(i, c)| Candidate {
            score: prob[2 * i + 1],
            reg: [reg[4 * i], reg[4 * i + 1], reg[4 * i + 2], reg[4 * i + 3]],
            ..c
        })
        .collect())
}

impl FaceDetector for Mtcnn {
    fn detect(&self, image: &RgbImage) -> Result<Vec<Detection>, DetectError> {
        let proposals = self.propose(image)?;
        let refined = if proposals.is_empty() { proposals } else { self.refine(image, proposals)? };
        let found = if refined.is_empty() { refined } else { self.output_stage(image, refined)? };
        let (w, h) = (image.width() as f32, image.height() as f32);
        Ok(found
            .into_iter()
            .filter_map(|c| {
                Some(Detection { bbox: c.bbox.clip(w, h), score: c.score, landmarks: c.landmarks?, landmarks68: None })
            })
            .filter(|d| d.bbox.area() > 0.0 && d.bbox.min_side() >= self.options.min_face_size)
            .collect())
    }

    fn kind(&self) -> DetectorKind {
        DetectorKind::Mtcnn
    }
}
