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
use visage_eval::folders::{self, read_folders};
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
#[command(group(clap::ArgGroup::new("data").required(true).args(["pairs", "folders"])))]
pub struct CalibrateArgs {
    /// Labelled pairs: a CSV `img1,img2,label` (1 same person, 0 different; paths relative to the
    /// CSV or absolute), or LFW's pairs.csv / pairs.txt.
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    /// A folder-per-person dataset (e.g. LFW's lfw-deepfunneled/): every genuine pair, and
    /// --impostors pairs of two people drawn at random. Enough impostors reach low FARs: the rule of
    /// 30 needs 3,000,000 for FAR 1e-5.
    #[arg(long, conflicts_with = "pairs")]
    pub folders: Option<PathBuf>,
    /// With --folders: how many impostor pairs to draw [default: 3000000].
    #[arg(long)]
    pub impostors: Option<u64>,
    /// With --folders: the seed of the impostor draw (the same seed draws the same pairs) [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
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

/// Genuine and impostor scores, pairs left out, and what the data was.
struct Scores {
    genuine: Vec<f32>,
    impostor: Vec<f32>,
    skipped: usize,
    data: String,
}

/// Which face stands for an image: LFW's labelled face is the centred one.
fn face_choice(rule: FaceRule, lfw: bool) -> FaceChoice {
    match rule {
        FaceRule::Largest => FaceChoice::Largest,
        FaceRule::Centred => FaceChoice::Centred,
        FaceRule::Auto if lfw => FaceChoice::Centred,
        FaceRule::Auto => FaceChoice::Largest,
    }
}

/// Scores of a pairs file.
fn pairs_scores(args: &CalibrateArgs, path: &Path) -> Result<(EvalPipeline, Scores)> {
    let pairs = read_pairs_file(path)?;
    let choice = face_choice(args.face, is_lfw(path));
    let pipeline = EvalPipeline::new(&args.run.pipeline, choice, args.run.no_cache)?;
    let s = score_pairs(&pipeline, pairs, args.run.workers)?;
    let data = path.display().to_string();
    Ok((pipeline, Scores { genuine: s.genuine, impostor: s.impostor, skipped: s.skipped, data }))
}

/// Scores of every genuine pair and `--impostors` drawn impostor pairs of a folder-per-person dataset.
fn folder_scores(args: &CalibrateArgs, dir: &Path) -> Result<(EvalPipeline, Scores)> {
    let (impostors, seed) = (args.impostors.unwrap_or(3_000_000), args.seed.unwrap_or(1));
    let dataset = read_folders(dir)?;
    let genuine_pairs = dataset.genuine_pairs();
    let impostor_pairs = dataset.draw_impostors(impostors, seed)?;
    eprintln!(
        "{}: {} people, {} images, {} genuine pairs, {} impostor pairs drawn (seed {})",
        dir.display(),
        dataset.people.len(),
        dataset.images.len(),
        genuine_pairs.len(),
        impostor_pairs.len(),
        seed
    );
    let lfw = dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("lfw"));
    let pipeline = EvalPipeline::new(&args.run.pipeline, face_choice(args.face, lfw), args.run.no_cache)?;
    let batch = pipeline.embed(&dataset.images, args.run.workers, "embedding dataset images")?;
    let (genuine, g_skipped) = folders::score_pairs(&batch.embeddings, &genuine_pairs);
    let (impostor, i_skipped) = folders::score_pairs(&batch.embeddings, &impostor_pairs);
    let data = format!(
        "{} (folders: all genuine pairs, {} impostor pairs drawn with seed {})",
        dir.display(),
        impostors,
        seed
    );
    Ok((pipeline, Scores { genuine, impostor, skipped: g_skipped + i_skipped, data }))
}

/// `visage calibrate`.
pub fn run(args: &CalibrateArgs) -> Result<ExitCode> {
    let (pipeline, scored) = match (&args.pairs, &args.folders) {
        (Some(_), _) if args.impostors.is_some() || args.seed.is_some() => {
            bail!("--impostors and --seed draw impostor pairs from --folders DIR; a --pairs file lists its own")
        }
        (Some(path), _) => pairs_scores(args, path)?,
        (None, Some(dir)) => folder_scores(args, dir)?,
        (None, None) => bail!("give --pairs FILE or --folders DIR"),
    };
    let choice = pipeline.choice;
    let (model_id, sha) = pipeline.analyzer.embedding_model();
    let source = CalibrationSource {
        model: model_id.to_string(),
        model_sha256: sha.to_string(),
        pipeline: format!(
            "backend {}, detector {}, recognizer {}, detect size {}, min face size {:?}, flip {}, face {:?}",
            pipeline.analyzer.backend(),
            pipeline.analyzer.detector_kind(),
            pipeline.analyzer.recognizer_kind(),
            args.run.pipeline.detect_size,
            args.run.pipeline.min_face_size.unwrap_or(visage::RECOGNITION_MIN_FACE_SIZE),
            args.run.pipeline.flip,
            choice
        ),
        data: scored.data.clone(),
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
