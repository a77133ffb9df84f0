//! Running an embedding model: aligned 112x112 faces in, one vector per face out, L2-normalised so
//! that cosine similarity is a dot product. What each model expects ([`FaceInput`]) is stated in its
//! family's file ([`crate::arcface`], [`crate::sface`]).

use crate::face_input::FaceInput;
use image::RgbImage;
use ndarray::{Array4, Ix2};
use std::sync::Arc;
use visage_core::l2_normalize;
use visage_core::tensor::push_nchw;
use visage_infer::{InferError, Model};

const SIDE: usize = 112;

/// How embeddings are computed.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbedderOptions {
    /// Also embed the mirrored face and average the two (test-time augmentation). Off by default: it
    /// doubles the cost and did not improve this model on LFW.
    pub flip: bool,
    /// Most faces per model run. `None`: 1 on both backends. Batches are slower per face on the
    /// 2-core development machine: tract runs them slower, and ONNX Runtime 1.32 (one thread,
    /// `fr_feature`, 2026-12-02) took 18 ms per face one by one, 20 at batch 4 and 23-26 at
    /// batch 8. Set it for hardware where batches pay (a GPU).
    pub max_batch: Option<usize>,
}

/// Errors from embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Inference(#[from] InferError),
    #[error("aligned face must be 112x112, got {0}x{1}")]
    WrongSize(u32, u32),
    #[error("embedding model output has shape {0:?}, expected [batch, {1}]")]
    OutputShape(Vec<usize>, usize),
}

/// Computes embeddings of aligned faces.
pub struct Embedder {
    model: Arc<dyn Model>,
    options: EmbedderOptions,
    input: FaceInput,
}

impl Embedder {
    /// An embedder for the default model (ArcFace, [`crate::arcface::INPUT`]).
    pub fn new(model: Arc<dyn Model>, options: EmbedderOptions) -> Self {
        Self::for_input(model, crate::arcface::INPUT, options)
    }

    /// An embedder for a model that expects `input`.
    pub fn for_input(model: Arc<dyn Model>, input: FaceInput, options: EmbedderOptions) -> Self {
        Self { model, options, input }
    }

    /// Length of the embeddings this embedder returns.
    pub fn dim(&self) -> usize {
        self.input.dim
    }

    fn max_batch(&self) -> usize {
        self.options.max_batch.unwrap_or(1)
    }

    /// One unit-length embedding per aligned face, in order.
    pub fn embed(&self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if let Some(f) = faces.iter().find(|f| f.dimensions() != (SIDE as u32, SIDE as u32)) {
            return Err(EmbedError::WrongSize(f.width(), f.height()));
        }
        let mut out = self.run_batches(faces)?;
        if self.options.flip {
            let flipped: Vec<RgbImage> = faces.iter().map(image::imageops::flip_horizontal).collect();
            for (e, f) in out.iter_mut().zip(self.run_batches(&flipped)?) {
                e.iter_mut().zip(f).for_each(|(a, b)| *a += b);
            }
        }
        out.iter_mut().for_each(|e| l2_normalize(e));
        Ok(out)
    }

    fn run_batches(&self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(self.max_batch().max(1)) {
            let mut data = Vec::with_capacity(chunk.len() * 3 * SIDE * SIDE);
            for face in chunk {
                let start = data.len();
                push_nchw(face, self.input.mean, self.input.scale, &mut data);
                if self.input.bgr {
                    swap_red_blue(&mut data[start..]);
                }
            }
            let input = Array4::from_shape_vec((chunk.len(), 3, SIDE, SIDE), data).expect("sized above");
            let outputs = self.model.run(input.into_dyn().view())?;
            let dim = self.input.dim;
            let first = outputs.into_iter().next().ok_or(EmbedError::OutputShape(vec![], dim))?;
            let shape = first.shape().to_vec();
            let rows = first.into_dimensionality::<Ix2>().map_err(|_| EmbedError::OutputShape(shape.clone(), dim))?;
            if rows.nrows() != chunk.len() || rows.ncols() != dim {
                return Err(EmbedError::OutputShape(shape, dim));
            }
            out.extend(rows.outer_iter().map(|r| r.to_vec()));
        }
        Ok(out)
    }
}

/// Swaps the first and third planes of one planar `C x H x W` image (RGB to BGR).
fn swap_red_blue(planes: &mut [f32]) {
    let plane = planes.len() / 3;
    let (r, rest) = planes.split_at_mut(plane);
    r.swap_with_slice(&mut rest[plane..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bgr_swaps_the_outer_planes_only() {
        let mut planes = vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0];
        swap_red_blue(&mut planes);
        assert_eq!(planes, [3.0, 3.0, 2.0, 2.0, 1.0, 1.0]);
    }
}
