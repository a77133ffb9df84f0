//! What every evaluation command that embeds images shares: the analyzer, the embedding cache and progress.

use crate::args::pipeline::{analyzer_config, default_workers, PipelineArgs, Purpose};
use crate::output::Progress;
use anyhow::{Context, Result};
use std::sync::Arc;
use visage::{FaceAnalyzer, FaceChoice};
use visage_eval::cache::{default_root, pipeline_fingerprint, EmbeddingCache};

/// What every evaluation that embeds images takes: parallelism, the cache, and the pipeline options.
#[derive(Debug, clap::Args)]
pub struct EmbeddingRunArgs {
    /// Images processed in parallel (default: all cores).
    #[arg(long, value_parser = crate::args::parse::parse_threads)]
    pub workers: Option<usize>,
    /// Embed every image again instead of using the embedding cache ($VISAGE_HOME/cache/embeddings).
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// A face pipeline for evaluation and, unless `no_cache`, the embedding cache of its model and options.
pub struct EvalPipeline {
    pub analyzer: FaceAnalyzer,
    pub cache: Option<Arc<EmbeddingCache>>,
    pub choice: FaceChoice,
}

impl EvalPipeline {
    pub fn new(args: &PipelineArgs, choice: FaceChoice, no_cache: bool) -> Result<EvalPipeline> {
        let config = analyzer_config(args, Purpose::Recognition);
        let analyzer = FaceAnalyzer::new(config.clone()).context("cannot start the face pipeline")?;
        let cache = if no_cache {
            None
        } else {
            let (_, sha) = analyzer.embedding_model();
            let fingerprint = pipeline_fingerprint(&config, &analyzer, choice);
            let cache = EmbeddingCache::open(&default_root(), sha, &fingerprint)?;
            tracing::info!("embedding cache {} ({} images)", cache.path().display(), cache.len());
            Some(Arc::new(cache))
        };
        Ok(EvalPipeline { analyzer, cache, choice })
    }

    /// Embeds images (from the cache where possible) with a progress bar.
    pub fn embed(
        &self,
        images: &[std::path::PathBuf],
        workers: Option<usize>,
        what: &str,
    ) -> Result<visage_eval::BatchEmbeddings> {
        let progress = Progress::new(images.len() as u64, what);
        let batch = visage_eval::embed_images_cached(
            &self.analyzer,
            self.cache.as_deref(),
            images,
            self.choice,
            workers.unwrap_or_else(default_workers),
            &|| progress.inc(),
        )?;
        progress.finish();
        if batch.cached > 0 {
            eprintln!("{} of {} image(s) from the embedding cache", batch.cached, images.len());
        }
        Ok(batch)
    }
}
