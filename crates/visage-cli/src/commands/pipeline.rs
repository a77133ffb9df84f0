//! The pipeline commands on photos: `detect` (faces, boxes, landmarks), `embed` (and their
//! embeddings) and `verify` (are two photos of the same person?).

use crate::args::decision::DecisionArgs;
use crate::args::gallery::GalleryArgs;
use crate::args::parse::parse_threads;
use crate::args::pipeline::{analyzer, analyzer_config, default_workers, PipelineArgs, Purpose};
use crate::commands::gallery::open::{audit_event, exists};
use crate::output::{draw_target, print_json};
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::core::draw::draw_face;
use visage::{Decision, FaceAnalyzer, VerifyOutcome, VisageError};

/// `visage detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Write the image with boxes and landmarks drawn (a file for one image, a folder for several).
    #[arg(long, value_name = "OUT")]
    pub draw: Option<PathBuf>,
    /// Images processed in parallel (default: all cores); output stays in input order.
    #[arg(long, value_parser = parse_threads)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `visage embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Images processed in parallel (default: all cores); output stays in input order.
    #[arg(long, value_parser = parse_threads)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `visage verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    pub image1: PathBuf,
    pub image2: PathBuf,
    /// Fail when an image holds more than one face (default: use the largest).
    #[arg(long)]
    pub require_single: bool,
    #[command(flatten)]
    pub decision: DecisionArgs,
    #[command(flatten)]
    pub gallery: GalleryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `visage detect`.
pub fn detect(args: &DetectArgs) -> Result<ExitCode> {
    faces_per_image(&args.images, args.draw.as_deref(), false, args.workers, &args.pipeline)
}

/// `visage embed`.
pub fn embed(args: &EmbedArgs) -> Result<ExitCode> {
    faces_per_image(&args.images, None, true, args.workers, &args.pipeline)
}

/// `detect` and `embed`: every face of every image, one result per image; a failed image is reported
/// (in the JSON too) and the others still run.
fn faces_per_image(
    images: &[PathBuf],
    draw: Option<&Path>,
    embed: bool,
    workers: Option<usize>,
    args: &PipelineArgs,
) -> Result<ExitCode> {
    if let Some(out) = draw {
        if images.len() > 1 {
            std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        }
    }
    let purpose = if embed { Purpose::Recognition } else { Purpose::Detection };
    let analyzer = analyzer(args, purpose)?;
    let mut drawn_names = std::collections::HashSet::new();
    let targets: Vec<Option<PathBuf>> = images
        .iter()
        .map(|p| {
            draw.map(|out| if images.len() > 1 { draw_target(out, p, &mut drawn_names) } else { out.to_path_buf() })
        })
        .collect();
    let mut failed = false;
    let progress =
        (!args.json && images.len() > 1).then(|| crate::output::Progress::new(images.len() as u64, "images"));
    let work = |i: &usize| {
        analyzer.analyze(&images[*i], embed).and_then(|a| {
            if let Some(target) = &targets[*i] {
                draw_faces(&analyzer, &images[*i], &a, target)?;
            }
            Ok(a)
        })
    };
    let order: Vec<usize> = (0..images.len()).collect();
    visage::parallel::map_ordered(&order, workers.unwrap_or_else(default_workers), work, |i, result| {
        if let Some(p) = &progress {
            p.inc();
        }
        let path = &images[i];
        match result {
            Ok(a) => {
                if args.json {
                    print_json(&json!({"image": path, "width": a.width, "height": a.height, "faces": a.faces}));
                } else {
                    println!("{}: {}x{}, {} face(s)", path.display(), a.width, a.height, a.faces.len());
                    for (i, f) in a.faces.iter().enumerate() {
                        let [x1, y1, x2, y2] = f.bbox;
                        print!("  face {}: box ({x1:.0}, {y1:.0})-({x2:.0}, {y2:.0}) score {:.3}", i + 1, f.score);
                        match f.embedding.as_deref() {
                            Some(e) => {
                                let head: Vec<String> = e.iter().take(4).map(|v| format!("{v:.4}")).collect();
                                println!(
                                    ", embedding [{}, ...] ({} values; --json prints all)",
                                    head.join(", "),
                                    e.len()
                                );
                            }
                            None => println!(),
                        }
                    }
                }
                if a.faces.is_empty() {
                    eprintln!("{}: no face found", path.display());
                }
            }
            Err(e) => {
                failed = true;
                if args.json {
                    print_json(&json!({"image": path, "error": e.to_string()}));
                }
                eprintln!("error: {e}");
            }
        }
    });
    if let Some(p) = &progress {
        p.finish();
    }
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn draw_faces(
    analyzer: &FaceAnalyzer,
    path: &Path,
    a: &visage::ImageAnalysis,
    target: &Path,
) -> Result<(), VisageError> {
    let mut image = analyzer.load(path)?;
    for f in &a.faces {
        let bbox = visage::core::BBox::new(f.bbox[0], f.bbox[1], f.bbox[2], f.bbox[3]);
        let points: Vec<_> = f.landmarks.iter().map(|p| visage::core::Point::new(p[0], p[1])).collect();
        draw_face(&mut image, &bbox, &points, image::Rgb([0, 230, 64]));
    }
    image.save(target).map_err(|e| VisageError::Output { path: target.to_path_buf(), reason: e.to_string() })
}

/// `visage verify`: exit code 0 for a match, 1 for none, 2 for an error. Where a gallery exists, its
/// audit log records the comparison.
pub fn verify(args: &VerifyArgs) -> Result<ExitCode> {
    let mut config = analyzer_config(&args.pipeline, Purpose::Recognition);
    config.calibration = args.decision.calibration(args.pipeline.recognizer)?;
    let analyzer = FaceAnalyzer::new(config).context("cannot start the face pipeline")?;
    let decision = Decision { require_single: args.require_single, ..args.decision.decision() };
    let result = analyzer.verify(&args.image1, &args.image2, &decision);
    if exists(&args.gallery) {
        if let Some((outcome, detail)) = visage::verification::audit_record(&result) {
            audit_event(&args.gallery, "verify", outcome, detail)?;
        }
    }
    let v = match result {
        Ok(v) => v,
        Err(e) => {
            if args.pipeline.json {
                print_json(&json!({"error": e.to_string()}));
            }
            return Err(e.into());
        }
    };
    if args.pipeline.json {
        print_json(&v);
    } else {
        print_verification(&v, &analyzer);
    }
    Ok(if v.verification.is_match { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A verification for people.
fn print_verification(v: &VerifyOutcome, analyzer: &FaceAnalyzer) {
    let verdict = if v.verification.is_match { "same person" } else { "different people" };
    println!("{verdict}: similarity {:.4} (threshold {:.4})", v.verification.similarity, v.verification.threshold);
    if let [Some(a), Some(b)] = [v.images[0].liveness, v.images[1].liveness] {
        println!("liveness: P(live) {:.3} and {:.3}, both live", a.score, b.score);
    }
    if let Some(line) = analyzer.policy().describe(v.verification.similarity) {
        println!("{line}");
    }
    if let Some(note) = &v.note {
        for part in note.split("; ") {
            println!("note: {part}");
        }
    }
}
