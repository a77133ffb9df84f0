//! One function per command.

use crate::cli::{Cli, Command, EvalCommand, ModelsCommand, PipelineArgs};
use crate::output::print_json;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::core::draw::draw_face;
use visage::core::LoadOptions;
use visage::detect::DetectorOptions;
use visage::models::{FileState, Installer, Manifest, ModelHome};
use visage::recognize::EmbedderOptions;
use visage::{AnalyzerConfig, FaceAnalyzer, FaceChoice, VisageError};

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Models(cmd) => models(cmd),
        Command::Detect { images, draw, pipeline } => faces_per_image(&images, draw.as_deref(), false, &pipeline),
        Command::Embed { images, pipeline } => faces_per_image(&images, None, true, &pipeline),
        Command::Verify { image1, image2, threshold, require_single, calibration, require_live, gallery, pipeline } => {
            let calibration = crate::calibrate::resolve(&calibration)?;
            let threshold = threshold.or(calibration.as_ref().and_then(|c| c.threshold()));
            if require_live {
                let c = calibration.as_ref();
                crate::liveness::verify_live(&image1, &image2, threshold, require_single, c, &gallery, &pipeline)
            } else {
                verify(&image1, &image2, threshold, require_single, calibration.as_ref(), &gallery, &pipeline)
            }
        }
        Command::Calibrate(args) => crate::calibrate::run(&args),
        Command::Analyze(args) => crate::analyze::run(&args),
        Command::Liveness(args) => crate::active::run(&args),
        Command::Eval(EvalCommand::Wider(args)) => crate::evaluate_wider::run(&args),
        Command::Eval(EvalCommand::Identify(args)) => crate::evaluate_identify::run(&args),
        Command::Eval(EvalCommand::Fairness(args)) => crate::evaluate_fairness::run(&args),
        Command::Eval(EvalCommand::Liveness(args)) => crate::eval_attributes::liveness(&args),
        Command::Eval(EvalCommand::Gender(args)) => crate::eval_attributes::gender(&args),
        Command::Eval(EvalCommand::Lfw { data, workers, no_cache, pipeline }) => {
            crate::evaluate::eval_lfw(&data, workers, no_cache, &pipeline)
        }
        Command::Bench(args) => crate::bench::run(&args),
        Command::Enroll(args) => crate::gallery::enroll(&args),
        Command::Identify { image, top_k, threshold, calibration, require_live, gallery, pipeline } => {
            let calibration = crate::calibrate::resolve(&calibration)?;
            if require_live {
                crate::liveness::identify_live(&image, top_k, threshold, calibration.as_ref(), &gallery, &pipeline)
            } else {
                crate::gallery::identify(&image, top_k, threshold, calibration.as_ref(), &gallery, &pipeline)
            }
        }
        Command::Delete { subject, gallery } => crate::gallery::delete(&subject, &gallery),
        Command::Export { subject, include_templates, out, gallery } => {
            crate::gallery::export(&subject, include_templates, out.as_deref(), &gallery)
        }
        Command::Subjects { json, gallery } => crate::gallery::subjects(json, &gallery),
        Command::Consent(cmd) => crate::gallery::consent_cmd(&cmd),
        Command::PurgeExpired { gallery } => crate::gallery::purge_expired(&gallery),
        Command::Keys(cmd) => crate::gallery::keys(&cmd),
        Command::Audit(cmd) => crate::gallery::audit(&cmd),
        Command::Store(cmd) => crate::store_cmd::run(&cmd),
        Command::Loadtest(args) => crate::loadtest::run(&args),
        Command::Watch(args) => crate::watch::run(&args),
        Command::Serve { addr, max_body_mb, rate_per_minute, max_inflight, allow_spoof, gallery, pipeline } => {
            let mut limits = visage_server::Limits {
                max_body_bytes: max_body_mb.max(1) * 1024 * 1024,
                requests_per_minute: rate_per_minute,
                ..visage_server::Limits::default()
            };
            if let Some(n) = max_inflight {
                limits.max_concurrent_inference = n.max(1);
            }
            crate::gallery::serve(addr, limits, !allow_spoof, &gallery, &pipeline)
        }
    }
}

/// What the analyzer is for: detection alone looks for every face, recognition only for usable ones.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Detection,
    Recognition,
}

/// Builds the analyzer for the pipeline options (installing models on first use).
pub fn analyzer(args: &PipelineArgs, threshold: Option<f32>, purpose: Purpose) -> Result<FaceAnalyzer> {
    FaceAnalyzer::new(analyzer_config(args, threshold, purpose)).context("cannot start the face pipeline")
}

/// The analyzer configuration for the pipeline options.
pub fn analyzer_config(args: &PipelineArgs, threshold: Option<f32>, purpose: Purpose) -> AnalyzerConfig {
    let default_min_face = match purpose {
        Purpose::Detection => 0.0,
        Purpose::Recognition => visage::RECOGNITION_MIN_FACE_SIZE,
    };
    AnalyzerConfig {
        backend: args.backend,
        detector: args.detector,
        detector_options: DetectorOptions {
            score_threshold: args.score_threshold,
            min_face_size: args.min_face_size.unwrap_or(default_min_face),
            ..DetectorOptions::default()
        },
        detect_max_side: args.detect_size,
        embedder_options: EmbedderOptions { flip: args.flip, ..EmbedderOptions::default() },
        intra_threads: args.intra_threads,
        load_options: LoadOptions { max_pixels: args.max_pixels, ..LoadOptions::default() },
        auto_install: !args.no_install,
        threshold,
        ..AnalyzerConfig::default()
    }
}

fn installer() -> Installer {
    Installer::new(ModelHome::from_env(), Manifest::default_pack())
}

fn models(cmd: ModelsCommand) -> Result<ExitCode> {
    let installer = installer();
    match cmd {
        ModelsCommand::Install => {
            let installed = installer.install_all()?;
            if installed.is_empty() {
                println!("All models are installed and verified in {}", installer.home().root().display());
            } else {
                println!("Installed {} file(s) into {}", installed.len(), installer.home().root().display());
            }
            print_models_table(&installer);
        }
        ModelsCommand::List { json } => {
            if json {
                let rows: Vec<_> = installer
                    .status()
                    .iter()
                    .map(|s| {
                        json!({"id": s.id, "task": s.task, "file": s.file, "path": s.path, "licence": s.licence,
                               "source": s.source, "size": s.size, "status": state_word(&s.state)})
                    })
                    .collect();
                let embedding = installer.manifest().model(visage::models::ids::EMBEDDING).expect("in the manifest");
                print_json(&json!({"home": installer.home().root(), "models": rows,
                                   "verification_threshold": embedding.threshold,
                                   "threshold_note": embedding.threshold_note}));
            } else {
                print_models_table(&installer);
            }
        }
        ModelsCommand::Import { dir } => {
            if !dir.is_dir() {
                bail!("{} is not a folder", dir.display());
            }
            let report = installer.import_dir(&dir)?;
            for f in &report.installed {
                println!("installed  {f}");
            }
            for f in &report.already {
                println!("present    {f}");
            }
            for (path, why) in &report.rejected {
                println!("rejected   {}: {why}", path.display());
            }
            for f in &report.missing {
                println!("missing    {f}");
            }
            if !report.missing.is_empty() {
                eprintln!("{} file(s) of the pack are still missing; see `visage models list`", report.missing.len());
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn state_word(state: &FileState) -> &'static str {
    match state {
        FileState::Verified => "verified",
        FileState::Missing => "missing",
        FileState::HashMismatch { .. } => "hash-mismatch",
        FileState::Unreadable { .. } => "unreadable",
    }
}

fn print_models_table(installer: &Installer) {
    println!("{:<12} {:<11} {:<26} {:>9}  {:<14} {:<8} source", "model", "task", "file", "size", "status", "licence");
    for s in installer.status() {
        let size = s.size.map_or("-".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6));
        println!(
            "{:<12} {:<11} {:<26} {:>9}  {:<14} {:<8} {}",
            s.id,
            s.task,
            s.file,
            size,
            state_word(&s.state),
            s.licence,
            s.source
        );
    }
    let embedding = installer.manifest().model(visage::models::ids::EMBEDDING).expect("in the manifest");
    if let (Some(t), Some(note)) = (embedding.threshold, &embedding.threshold_note) {
        println!("\nverification threshold {t}: {note}");
    }
}

/// `detect` and `embed`: every face of every image, one result per image; a failed image is reported
/// (in the JSON too) and the others still run.
fn faces_per_image(images: &[PathBuf], draw: Option<&Path>, embed: bool, args: &PipelineArgs) -> Result<ExitCode> {
    if let Some(out) = draw {
        if images.len() > 1 {
            std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        }
    }
    let purpose = if embed { Purpose::Recognition } else { Purpose::Detection };
    let analyzer = analyzer(args, None, purpose)?;
    let mut drawn_names = std::collections::HashSet::new();
    let mut failed = false;
    for path in images {
        let result = analyzer.analyze(path, embed).and_then(|a| {
            if let Some(out) = draw {
                let target =
                    if images.len() > 1 { draw_target(out, path, &mut drawn_names) } else { out.to_path_buf() };
                draw_faces(&analyzer, path, &a, &target)?;
            }
            Ok(a)
        });
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
    }
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// `OUT/<stem>.png`, numbered when two inputs share a name (a/x.jpg and b/x.jpg).
fn draw_target(out: &Path, image: &Path, used: &mut std::collections::HashSet<String>) -> PathBuf {
    let stem = image.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    let mut name = format!("{stem}.png");
    let mut n = 2;
    while !used.insert(name.clone()) {
        name = format!("{stem}-{n}.png");
        n += 1;
    }
    out.join(name)
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

fn verify(
    a: &Path,
    b: &Path,
    threshold: Option<f32>,
    require_single: bool,
    calibration: Option<&crate::calibrate::ActiveCalibration>,
    gallery: &crate::cli::GalleryArgs,
    args: &PipelineArgs,
) -> Result<ExitCode> {
    let analyzer = analyzer(args, threshold, Purpose::Recognition)?;
    let choice = if require_single { FaceChoice::Single } else { FaceChoice::Largest };
    let embedded = analyzer.embed_one(a, choice).and_then(|fa| Ok((fa, analyzer.embed_one(b, choice)?)));
    let (fa, fb) = match embedded {
        Ok(pair) => pair,
        Err(e) => {
            if args.json {
                print_json(&json!({"error": e.to_string()}));
            }
            return Err(e.into());
        }
    };
    let v = analyzer.verifier().verify(&fa.embedding, &fb.embedding);
    // Where a gallery exists, its audit log records every comparison of faces.
    if crate::gallery::exists(gallery) {
        let outcome = if v.is_match { "match" } else { "no-match" };
        crate::gallery::audit_event(gallery, "verify", outcome, json!({"similarity": v.similarity}))?;
    }
    let several: Vec<String> = [(a, &fa), (b, &fb)]
        .iter()
        .filter(|(_, f)| f.faces_in_image > 1)
        .map(|(p, f)| format!("{} has {} faces; the largest was used", p.display(), f.faces_in_image))
        .collect();
    if args.json {
        let image = |p: &Path, f: &visage::EmbeddedFace| json!({"image": p, "faces": f.faces_in_image, "bbox": f.detection.bbox.to_array()});
        let mut out = json!({"similarity": v.similarity, "threshold": v.threshold, "match": v.is_match,
                             "images": [image(a, &fa), image(b, &fb)]});
        if !several.is_empty() {
            out["note"] = json!(several.join("; "));
        }
        if let Some(c) = calibration {
            crate::calibrate::merge(&mut out, c.decision_fields(Some(v.similarity)));
        }
        print_json(&out);
    } else {
        let verdict = if v.is_match { "same person" } else { "different people" };
        println!("{verdict}: similarity {:.4} (threshold {:.4})", v.similarity, v.threshold);
        if let Some(c) = calibration {
            println!("{}", c.describe(v.similarity));
        }
        for note in &several {
            println!("note: {note}");
        }
    }
    Ok(if v.is_match { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
