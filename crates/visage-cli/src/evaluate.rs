//! Evaluation commands: shared set-up (the analyzer, the embedding cache, progress) and `eval lfw`.

use crate::cli::PipelineArgs;
use crate::commands::{analyzer_config, default_workers, Purpose};
use crate::output::{print_json, Progress};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use visage::{FaceAnalyzer, FaceChoice};
use visage_eval::cache::{default_root, pipeline_fingerprint, EmbeddingCache};

/// What every evaluation that embeds images takes: parallelism, the cache, and the pipeline options.
#[derive(Debug, clap::Args)]
pub struct EmbeddingRunArgs {
    /// Images processed in parallel (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Embed every image again instead of using the embedding cache.
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
        let config = analyzer_config(args, None, Purpose::Recognition);
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

/// `visage eval lfw`.
pub fn eval_lfw(data: &Path, workers: Option<usize>, no_cache: bool, args: &PipelineArgs) -> Result<ExitCode> {
    if !data.join("pairs.csv").is_file() {
        bail!("{} does not look like LFW: no pairs.csv (expected pairs.csv and lfw-deepfunneled/)", data.display());
    }
    let pipeline = EvalPipeline::new(args, FaceChoice::Centred, no_cache)?;
    let threads = workers.unwrap_or_else(default_workers);
    let progress = Progress::new(visage_eval::lfw::image_count(data)? as u64, "embedding LFW images");
    let options = visage_eval::LfwOptions { data: data.to_path_buf(), threads, cache: pipeline.cache.clone() };
    let report = visage_eval::run_lfw(&pipeline.analyzer, &options, &|| progress.inc())?;
    progress.finish();
    if args.json {
        print_json(&report);
    } else {
        println!(
            "LFW ({}, {} pairs, {} images, {} backend, {} detector)",
            report.data, report.pairs, report.images, report.backend, report.detector
        );
        println!("  accuracy     {:.2}% ± {:.2} (10-fold)", report.accuracy * 100.0, report.accuracy_std * 100.0);
        println!("  AUC          {:.4}", report.auc);
        // Say on how many errors each FAR rests.
        let impostors = report.impostor_pairs;
        for (far, tar) in &report.tar_at_far {
            let allowed = far.parse::<f64>().map_or(0.0, |f| (f * impostors as f64).floor());
            let rough = if allowed < visage_eval::calibration::DEFAULT_MIN_ERRORS as f64 {
                " (rough: fewer than 30 errors)"
            } else {
                ""
            };
            println!("  TAR@FAR={far} {tar:.4}: at most {allowed} of {impostors} impostor pairs accepted{rough}");
        }
        println!(
            "  threshold    {:.4} at FAR=1e-3; {:.4} for best accuracy",
            report.threshold, report.threshold_best_accuracy
        );
        println!("  no face      {} image(s)", report.no_face);
        match report.images_per_second {
            Some(speed) => println!(
                "  speed        {speed:.1} images/s on {} worker(s) ({} image(s) from the cache)",
                report.threads, report.cached
            ),
            None => println!("  speed        not measured: every image came from the embedding cache (--no-cache)"),
        }
        if report.images_per_second.is_some() {
            let s = report.stage_ms;
            println!(
                "  stage ms     decode {:.2}, detect {:.2}, align {:.2}, embed {:.2}",
                s.decode, s.detect, s.align, s.embed
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
