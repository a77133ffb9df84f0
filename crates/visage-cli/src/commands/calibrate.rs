//! `visage calibrate`: scores labelled pairs and writes the model's calibration (the threshold for
//! each target FAR that `--target-far` then uses).

use crate::commands::eval::pipeline::EvalPipeline;
use crate::output::print_json;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::FaceChoice;
use visage_eval::calibration::{default_path, CalibrationSource, DEFAULT_MIN_ERRORS};
use visage_eval::pairs::{read_pairs_file, LabelledPair};
use visage_eval::Calibration;

/// Which face stands for an image of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FaceRule {
    /// Centred for LFW pairs files (the labelled face is the centred one), largest otherwise.
    Auto,
    Largest,
    Centred,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Labelled pairs: a CSV `img1,img2,label` (1 same person, 0 different; paths relative to the
    /// CSV or absolute), or LFW's pairs.csv / pairs.txt.
    #[arg(long)]
    pub pairs: PathBuf,
    /// Where to write the calibration (default: the active calibration of the model,
    /// $VISAGE_HOME/calibration/<model SHA-256>.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Support rule: a FAR is tabulated only where at least this many impostor pairs are accepted.
    #[arg(long, default_value_t = DEFAULT_MIN_ERRORS)]
    pub min_errors: u64,
    /// Which face of an image to use.
    #[arg(long, value_enum, default_value = "auto")]
    pub face: FaceRule,
    /// Also write plots (ROC, DET, score histograms; PNG and SVG) and a Markdown report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub run: crate::commands::eval::pipeline::EmbeddingRunArgs,
}

/// Whether a pairs file is LFW's (its labelled face is the centred one).
pub fn is_lfw(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    matches!(name, "pairs.txt" | "pairs.csv") && path.with_file_name("lfw-deepfunneled").is_dir()
}

/// Scores of labelled pairs: genuine, impostor, and the pairs left out for want of a face.
pub struct PairScores {
    pub genuine: Vec<f32>,
    pub impostor: Vec<f32>,
    pub skipped: usize,
    pub pairs: Vec<LabelledPair>,
    /// Per pair (in order), its score, or `None` when an image had no face.
    pub scores: Vec<Option<f32>>,
    /// The embedding of every image with a face.
    pub embeddings: HashMap<PathBuf, Vec<f32>>,
}

/// Embeds every image of the pairs (cached) and scores each pair.
pub fn score_pairs(pipeline: &EvalPipeline, pairs: Vec<LabelledPair>, workers: Option<usize>) -> Result<PairScores> {
    let mut images: Vec<PathBuf> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    images.sort();
    images.dedup();
    if let Some(missing) = images.iter().find(|p| !p.is_file()) {
        bail!("{}: no such image (named in the pairs file)", missing.display());
    }
    let batch = pipeline.embed(&images, workers, "embedding pair images")?;
    let embedding: HashMap<&Path, &Vec<f32>> =
        images.iter().zip(&batch.embeddings).filter_map(|(p, e)| Some((p.as_path(), e.as_ref()?))).collect();
    let verifier = pipeline.analyzer.verifier();
    let (mut genuine, mut impostor, mut skipped, mut scores) = (Vec::new(), Vec::new(), 0, Vec::new());
    for p in &pairs {
        match (embedding.get(p.a.as_path()), embedding.get(p.b.as_path())) {
            (Some(a), Some(b)) => {
                let s = verifier.verify(a, b).similarity;
                if p.genuine {
                    genuine.push(s)
                } else {
                    impostor.push(s)
                }
                scores.push(Some(s));
            }
            _ => {
                skipped += 1;
                scores.push(None);
            }
        }
    }
    let embeddings = embedding.into_iter().map(|(p, e)| (p.to_path_buf(), e.clone())).collect();
    Ok(PairScores { genuine, impostor, skipped, pairs, scores, embeddings })
}

/// `visage calibrate`.
pub fn run(args: &CalibrateArgs) -> Result<ExitCode> {
    let pairs = read_pairs_file(&args.pairs)?;
    let choice = match args.face {
        FaceRule::Largest => FaceChoice::Largest,
        FaceRule::Centred => FaceChoice::Centred,
        FaceRule::Auto if is_lfw(&args.pairs) => FaceChoice::Centred,
        FaceRule::Auto => FaceChoice::Largest,
    };
    let pipeline = EvalPipeline::new(&args.run.pipeline, choice, args.run.no_cache)?;
    let scored = score_pairs(&pipeline, pairs, args.run.workers)?;
    let (model_id, sha) = pipeline.analyzer.embedding_model();
    let source = CalibrationSource {
        model: model_id.to_string(),
        model_sha256: sha.to_string(),
        pipeline: format!(
            "backend {}, detector {}, detect size {}, min face size {:?}, flip {}, face {:?}",
            pipeline.analyzer.backend(),
            pipeline.analyzer.detector_kind(),
            args.run.pipeline.detect_size,
            args.run.pipeline.min_face_size.unwrap_or(visage::RECOGNITION_MIN_FACE_SIZE),
            args.run.pipeline.flip,
            choice
        ),
        data: args.pairs.display().to_string(),
        skipped_pairs: scored.skipped as u64,
        created: visage::store::time_util::now(),
    };
    let calibration = Calibration::from_scores(&scored.genuine, &scored.impostor, source, args.min_errors)?;
    let out = args.out.clone().unwrap_or_else(|| default_path(sha));
    calibration.save(&out)?;
    if let Some(dir) = &args.report {
        visage_eval::report::write_verification_report(dir, &calibration, &scored.genuine, &scored.impostor)?;
        eprintln!("report written to {}", dir.join("report.md").display());
    }
    if args.run.pipeline.json {
        let mut summary = serde_json::to_value(&calibration)?;
        summary.as_object_mut().expect("object").remove("impostor_tail");
        summary["file"] = json!(out);
        print_json(&summary);
    } else {
        print_table(&calibration);
        let active = if args.out.is_none() { " (the active calibration of this model)" } else { "" };
        println!("written to {}{active}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(c: &Calibration) {
    println!(
        "Calibration on {}: {} genuine and {} impostor pairs ({} left out: no face); model {} ({}…)",
        c.source.data,
        c.genuine_pairs,
        c.impostor_pairs,
        c.source.skipped_pairs,
        c.source.model,
        &c.source.model_sha256[..12]
    );
    println!(
        "FAR is tabulated down to {:.1e}: at least {} accepted impostors of {} (rule of {}); intervals are 95% Clopper-Pearson",
        c.smallest_supported_far, c.min_errors, c.impostor_pairs, c.min_errors
    );
    println!("{:>10} {:>10} {:>28} {:>28}", "target FAR", "threshold", "measured FAR [95% CI]", "FRR [95% CI]");
    for p in &c.operating_points {
        println!(
            "{:>10.0e} {:>10.4} {:>28} {:>28}",
            p.target_far,
            p.threshold,
            format!("{:.4} [{:.4}, {:.4}]", p.far.rate, p.far.ci95[0], p.far.ci95[1]),
            format!("{:.4} [{:.4}, {:.4}]", p.frr.rate, p.frr.ci95[0], p.frr.ci95[1]),
        );
    }
    if c.operating_points.is_empty() {
        println!("(no FAR is supported: fewer than {} impostor pairs)", c.min_errors * 10);
    }
    if let Some(e) = &c.eer {
        println!(
            "EER {:.4} at threshold {:.4} (FAR {:.4} [{:.4}, {:.4}], FRR {:.4} [{:.4}, {:.4}])",
            e.rate, e.threshold, e.far.rate, e.far.ci95[0], e.far.ci95[1], e.frr.rate, e.frr.ci95[0], e.frr.ci95[1]
        );
    }
}
