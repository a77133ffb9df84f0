//! `visage eval lfw`: 10-fold verification accuracy, AUC and TAR at fixed FARs on LFW.

use super::pipeline::{EmbeddingRunArgs, EvalPipeline};
use crate::args::pipeline::default_workers;
use crate::output::{print_json, Progress};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use visage::FaceChoice;

/// `visage eval lfw`.
#[derive(Debug, Args)]
pub struct LfwArgs {
    /// The LFW folder (with pairs.csv and lfw-deepfunneled/).
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub run: EmbeddingRunArgs,
}

/// `visage eval lfw`.
pub fn run(a: &LfwArgs) -> Result<ExitCode> {
    let (data, workers, no_cache, args) = (&a.data, a.run.workers, a.run.no_cache, &a.run.pipeline);
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
