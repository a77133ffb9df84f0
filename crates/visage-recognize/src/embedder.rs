//! The embedding model (`fr_feature.onnx`): an aligned 112x112 RGB face in, a 512-d vector out,
//! L2-normalised so that cosine similarity is a dot product.

use image::RgbImage;
use ndarray::{Array4, Ix2};
use std::sync::Arc;
use visage_core::l2_normalize;
use visage_core::tensor::push_nchw;
use visage_infer::{BackendKind, InferError, Model};

/// Length of an embedding.
pub const EMBEDDING_DIM: usize = 512;
const SIDE: usize = 112;

/// How embeddings are computed.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbedderOptions {
    /// Also embed the mirrored face and average the two (test-time augmentation). Off by default: it
    /// doubles the cost and did not improve this model on LFW.
    pub flip: bool,
    /// Most faces per model run. `None` picks per backend: ONNX Runtime runs a batch as fast as the
    /// faces one by one, tract runs batches slower, so tract gets 1.
    pub max_batch: Option<usize>,
}

/// Errors from embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(transparent)]
    Inference(#[from] InferError),
    #[error("aligned face must be 112x112, got {0}x{1}")]
    WrongSize(u32, u32),
    #[error("embedding model output has shape {0:?}, expected [batch, 512]")]
    OutputShape(Vec<usize>),
}

/// Computes embeddings of aligned faces.
pub struct Embedder {
    model: Arc<dyn Model>,
    options: EmbedderOptions,
}

impl Embedder {
    pub fn new(model: Arc<dyn Model>, options: EmbedderOptions) -> Self {
        Self { model, options }
    }

    fn max_batch(&self) -> usize {
        self.options.max_batch.unwrap_or(match self.model.backend() {
            BackendKind::Ort => 32,
            BackendKind::Tract => 1,
        })
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
                push_nchw(face, 127.0, 1.0 / 128.0, &mut data);
            }
            let input = Array4::from_shape_vec((chunk.len(), 3, SIDE, SIDE), data).expect("sized above");
            let outputs = self.model.run(input.into_dyn().view())?;
            let first = outputs.into_iter().next().ok_or(EmbedError::OutputShape(vec![]))?;
            let shape = first.shape().to_vec();
            let rows = first.into_dimensionality::<Ix2>().map_err(|_| EmbedError::OutputShape(shape.clone()))?;
            if rows.nrows() != chunk.len() || rows.ncols() != EMBEDDING_DIM {
                return Err(EmbedError::OutputShape(shape));
            }
            out.extend(rows.outer_iter().map(|r| r.to_vec()));
        }
        Ok(out)
    }
}
