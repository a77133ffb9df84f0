//! Embedding many images in parallel, with timings: shared by the LFW protocol and `visage bench`.

use crate::cache::{CachedEmbedding, EmbeddingCache};
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
    /// Images served from the embedding cache (not run through the models).
    pub cached: usize,
    /// Wall time of the whole batch.
    pub seconds: f64,
    /// Mean time per image embedded in this run of each stage (one image on one thread), in ms.
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
    embed_images_cached(analyzer, None, images, choice, threads, on_image)
}

/// As [`embed_images`], serving images from `cache` when it has them and adding the others to it. The
/// cache must belong to this analyzer's model and pipeline (see [`crate::cache::pipeline_fingerprint`]).
pub fn embed_images_cached(
    analyzer: &FaceAnalyzer,
    cache: Option<&EmbeddingCache>,
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
    enum Outcome {
        Cached(CachedEmbedding),
        Run(Result<visage::EmbeddedFace, VisageError>),
    }
    let results: Vec<Outcome> = pool.install(|| {
        images
            .par_iter()
            .map(|p| {
                if let Some(hit) = cache.and_then(|c| c.get(p)) {
                    on_image();
                    return Outcome::Cached(hit);
                }
                let r = analyzer.embed_one(p, choice);
                if let Some(c) = cache {
                    // Stored as soon as it is known, so an interrupted run keeps its work.
                    let value = match &r {
                        Ok(face) => Some(CachedEmbedding::Face(face.embedding.clone())),
                        Err(VisageError::NoFace { .. }) => Some(CachedEmbedding::NoFace),
                        Err(_) => None,
                    };
                    if let Some(Err(e)) = value.map(|v| c.put(p, v)) {
                        tracing::warn!("{e}");
                    }
                }
                on_image();
                Outcome::Run(r)
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut totals = StageTimings::default();
    let (mut embeddings, mut no_face, mut cached, mut timed) = (Vec::with_capacity(images.len()), 0, 0, 0usize);
    for result in results {
        match result {
            Outcome::Cached(hit) => {
                cached += 1;
                match hit {
                    CachedEmbedding::Face(e) => embeddings.push(Some(e)),
                    CachedEmbedding::NoFace => {
                        no_face += 1;
                        embeddings.push(None);
                    }
                }
            }
            Outcome::Run(Ok(face)) => {
                totals.add(&face.timings);
                timed += 1;
                embeddings.push(Some(face.embedding));
            }
            Outcome::Run(Err(VisageError::NoFace { path })) => {
                tracing::warn!("{}: no face found", path.display());
                no_face += 1;
                embeddings.push(None);
            }
            Outcome::Run(Err(e)) => return Err(e),
        }
    }
    let n = timed.max(1) as f64;
    let mean_stage_ms = StageTimings {
        decode: totals.decode / n,
        detect: totals.detect / n,
        align: totals.align / n,
        embed: totals.embed / n,
    };
    Ok(BatchEmbeddings { embeddings, no_face, cached, seconds, mean_stage_ms })
}
