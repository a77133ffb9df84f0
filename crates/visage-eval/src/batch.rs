//! Embedding many images in parallel, with timings: shared by the LFW protocol and `visage bench`.

use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;
use visage::{FaceAnalyzer, FaceChoice, StageTimings, VisageError};

/// The embedded images of a batch.
pub struct BatchEmbeddings {
    /// Per input, in order: the embedding, or `None` when the image has no face.
    pub embeddings: Vec<Option<Vec<f32>>>,
    /// Images without a face.
    pub no_face: usize,
    /// Wall time of the whole batch.
    pub seconds: f64,
    /// Mean time per embedded image of each stage (one image on one thread), in ms.
    pub mean_stage_ms: StageTimings,
}

/// Embeds the face `choice` picks in each image, `threads` images at a time. An image without a face
/// is counted; any other error stops the batch. `on_image` runs after each image (progress display).
pub fn embed_images(
    analyzer: &FaceAnalyzer,
    images: &[PathBuf],
    choice: FaceChoice,
    threads: usize,
    on_image: &(dyn Fn() + Sync),
) -> Result<BatchEmbeddings, VisageError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| VisageError::Invalid(format!("cannot start {threads} threads: {e}")))?;
    let started = Instant::now();
    let results: Vec<Result<visage::EmbeddedFace, VisageError>> = pool.install(|| {
        images
            .par_iter()
            .map(|p| {
                let r = analyzer.embed_one(p, choice);
                on_image();
                r
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut totals = StageTimings::default();
    let (mut embeddings, mut no_face) = (Vec::with_capacity(images.len()), 0);
    for result in results {
        match result {
            Ok(face) => {
                totals.add(&face.timings);
                embeddings.push(Some(face.embedding));
            }
            Err(VisageError::NoFace { path }) => {
                tracing::warn!("{}: no face found", path.display());
                no_face += 1;
                embeddings.push(None);
            }
            Err(e) => return Err(e),
        }
    }
    let n = (images.len() - no_face).max(1) as f64;
    let mean_stage_ms = StageTimings {
        decode: totals.decode / n,
        detect: totals.detect / n,
        align: totals.align / n,
        embed: totals.embed / n,
    };
    Ok(BatchEmbeddings { embeddings, no_face, seconds, mean_stage_ms })
}
