//! `visage eval lfw`: 10-fold verification accuracy, AUC and TAR at fixed FARs on LFW, for one
//! recogniser or, with `--recognizer all`, for each one in a single table.

use super::compare::{print_skipped, recognizers, run_each, Choice, Skipped};
use super::pipeline::{EmbeddingRunArgs, EvalPipeline};
use crate::args::pipeline::default_workers;
use crate::output::{print_json, Progress};
use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use visage::recognize::RecognizerKind;
use visage::FaceChoice;
use visage_eval::LfwReport;

/// `visage eval lfw`.
#[derive(Debug, Args)]
// The pipeline's own `--recognizer` takes one name; this command's takes `all` too, and sets the
// pipeline's per run.
#[command(mut_arg("recognizer", |a| a.long("pipeline-recognizer").hide(true)))]
pub struct LfwArgs {
    /// The LFW folder (with pairs.csv and lfw-deepfunneled/).
    #[arg(long)]
    pub data: PathBuf,
    /// Recogniser: arcface (default), sface, fusion, ..., or `all`: every recogniser visage knows,
    /// one table row each (those that cannot run here are skipped with a note).
    #[arg(long = "recognizer", default_value = "arcface")]
    pub recognizers: Choice<RecognizerKind>,
    /// Only the first N genuine and N impostor pairs of each fold (a quick run).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub run: EmbeddingRunArgs,
}

/// `visage eval lfw`.
pub fn run(a: &LfwArgs) -> Result<ExitCode> {
    if !a.data.join("pairs.csv").is_file() {
        bail!("{} does not look like LFW: no pairs.csv (expected pairs.csv and lfw-deepfunneled/)", a.data.display());
    }
    let candidates = a.recognizers.candidates(&recognizers());
    let comparing = a.recognizers == Choice::All;
    let (done, skipped) = run_each(&candidates, comparing, |kind| pipeline(a, kind), |_, p| evaluate(a, &p))?;
    let json = a.run.pipeline.json;
    match (comparing, done.as_slice()) {
        (false, [(_, report)]) if json => print_json(report),
        (false, [(_, report)]) => print_report(report),
        _ if json => print_json(&json!({
            "data": a.data, "limit": a.limit,
            "recognizers": done.iter().map(|(k, r)| (k.to_string(), r)).collect::<std::collections::BTreeMap<_, _>>(),
            "skipped": skipped,
        })),
        _ => print_table(&done, &skipped),
    }
    Ok(ExitCode::SUCCESS)
}

/// The evaluation pipeline with recogniser `kind`.
fn pipeline(a: &LfwArgs, kind: RecognizerKind) -> Result<EvalPipeline> {
    let mut args = a.run.pipeline.clone();
    args.recognizer = kind;
    EvalPipeline::new(&args, FaceChoice::Centred, a.run.no_cache)
}

/// Runs the protocol with one pipeline.
fn evaluate(a: &LfwArgs, pipeline: &EvalPipeline) -> Result<LfwReport> {
    let limit = a.limit.map(|n| n as usize);
    let threads = a.run.workers.unwrap_or_else(default_workers);
    let what = format!("embedding LFW images ({})", pipeline.analyzer.recognizer_kind());
    let progress = Progress::new(visage_eval::lfw::image_count(&a.data, limit)? as u64, &what);
    let options = visage_eval::LfwOptions { data: a.data.clone(), threads, cache: pipeline.cache.clone(), limit };
    let report = visage_eval::run_lfw(&pipeline.analyzer, &options, &|| progress.inc())?;
    progress.finish();
    Ok(report)
}

/// One row per recogniser.
fn print_table(done: &[(RecognizerKind, LfwReport)], skipped: &[Skipped]) {
    if let Some((_, r)) = done.first() {
        println!(
            "LFW ({}, {} pairs, {} images; {} detector, {} backend, {} worker(s))",
            r.data, r.pairs, r.images, r.detector, r.backend, r.threads
        );
    }
    println!(
        "{:<12} {:>16} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "recognizer", "10-fold acc.", "AUC", "TAR@1e-3", "TAR@1e-2", "thr@1e-3", "ms/face", "images/s"
    );
    for (kind, r) in done {
        let tar = |far: &str| r.tar_at_far.get(far).map_or("-".to_string(), |t| format!("{t:.4}"));
        let speed = r.images_per_second.map_or(("cached".to_string(), "cached".to_string()), |s| {
            (format!("{:.1}", r.stage_ms.embed), format!("{s:.1}"))
        });
        println!(
            "{:<12} {:>7.2}% ± {:>5.2} {:>7.4} {:>10} {:>10} {:>10} {:>9} {:>9}",
            kind.to_string(),
            r.accuracy * 100.0,
            r.accuracy_std * 100.0,
            r.auc,
            tar("1e-3"),
            tar("1e-2"),
            if r.threshold.is_finite() { format!("{:.4}", r.threshold) } else { "-".into() },
            speed.0,
            speed.1
        );
    }
    println!("ms/face: embedding one aligned face on one thread; images/s: decode to embedding, all workers;");
    println!("cached: every embedding came from the cache of an earlier run (--no-cache measures speed).");
    if let Some((_, r)) = done.first() {
        if r.impostor_pairs < 30_000 {
            println!("TAR@1e-3 rests on at most {} accepted impostor pairs: rough.", r.impostor_pairs / 1000);
        }
    }
    print_skipped(skipped);
}

/// The detailed report of one recogniser.
fn print_report(report: &LfwReport) {
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
