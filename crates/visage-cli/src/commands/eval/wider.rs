//! `visage eval wider`: detection AP on WIDER FACE (easy, medium, hard) for each detector.

use super::compare::{detectors, print_skipped, run_each, Choice, Skipped};
use crate::args::pipeline::default_workers;
use crate::output::{print_json, Progress};
use anyhow::{bail, Context, Result};
use clap::Args;
use rayon::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use visage::detect::{DetectorKind, DetectorOptions, Landmark68, UltraFace};
use visage::infer::{load_model, BackendKind, InferenceConfig};
use visage::models::ids;
use visage::{AnalyzerConfig, FaceAnalyzer};
use visage_eval::plot::{draw_curves, Curve, CurveChart, Scale};
use visage_eval::wider::{evaluate, read_ground_truth, Difficulty, ScoredBox, SetResult};

#[derive(Debug, Args)]
pub struct WiderArgs {
    /// The WIDER FACE folder (wider_val_subset_gt.json and WIDER_val/images/).
    #[arg(long)]
    pub data: PathBuf,
    /// The detector to evaluate, or `all`: every detector visage knows, one table row each (those
    /// that cannot run here, e.g. not imported, are skipped with a note).
    #[arg(long, default_value = "all")]
    pub detector: Choice<DetectorKind>,
    /// Lowest detector score kept: low, so that the PR curve reaches high recall (as the toolkit expects).
    #[arg(long, default_value_t = 0.02)]
    pub score_threshold: f32,
    /// CenterFace: longest image side the network sees; 0 runs at the image's own size (small faces
    /// need it). Detectors with a fixed input (UltraFace 320x240, BlazeFace 128x128) ignore it.
    #[arg(long, default_value_t = 0)]
    pub detect_size: u32,
    /// Evaluate only the first N images (in name order).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Write the precision-recall plot (pr.png, pr.svg) into this folder.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Images processed in parallel (default: all cores).
    #[arg(long, value_parser = crate::args::parse::parse_threads)]
    pub workers: Option<usize>,
    /// Inference backend: ort or tract (default: ort when installed).
    #[arg(long, env = "VISAGE_BACKEND")]
    pub backend: Option<BackendKind>,
    #[arg(long)]
    pub json: bool,
}

/// One detector's results: AP per set and its speed.
struct DetectorResult {
    sets: BTreeMap<Difficulty, SetResult>,
    /// Mean detection time per image on one thread (decoding excluded), in ms.
    ms_per_image: f64,
    /// Images per second over the whole run (decoding included, all workers).
    images_per_second: f64,
}

/// A detector under test: the analyzer's, as every command builds it, except UltraFace, whose boxes
/// are taken before its 68-landmark step (AP does not use landmarks, and at WIDER's low score
/// threshold that step would run on thousands of candidate boxes).
struct Detector {
    analyzer: FaceAnalyzer,
    ultraface: Option<UltraFace>,
}

impl Detector {
    /// Boxes (in the image) and scores.
    fn boxes(&self, image: &image::RgbImage) -> Result<Vec<(visage::core::BBox, f32)>> {
        if let Some(u) = &self.ultraface {
            let (w, h) = (image.width() as f32, image.height() as f32);
            return Ok(u.detect_boxes(image)?.into_iter().map(|(b, s)| (b.clip(w, h), s)).collect());
        }
        Ok(self.analyzer.detect(image)?.into_iter().map(|d| (d.bbox, d.score)).collect())
    }
}

/// The detector set for AP: a low score threshold, no minimum face size, CenterFace at `--detect-size`.
fn build(kind: DetectorKind, args: &WiderArgs) -> Result<Detector> {
    let options =
        DetectorOptions { score_threshold: Some(args.score_threshold), min_face_size: 0.0, ..Default::default() };
    let config = AnalyzerConfig {
        backend: args.backend,
        detector: kind,
        detector_options: options,
        detect_max_side: if args.detect_size == 0 { u32::MAX } else { args.detect_size },
        ..AnalyzerConfig::default()
    };
    let analyzer = FaceAnalyzer::new(config).with_context(|| format!("cannot start {kind}"))?;
    let ultraface = if kind == DetectorKind::UltraFace {
        let installer = analyzer.installer();
        let inference = InferenceConfig {
            backend: analyzer.backend(),
            intra_threads: 1,
            ort_library: if analyzer.backend() == BackendKind::Ort { installer.installed_runtime() } else { None },
        };
        let load = |id: &str| -> Result<_> { Ok(load_model(&installer.ensure_models(&[id])?.remove(0), &inference)?) };
        Some(UltraFace::new(load(ids::ULTRAFACE)?, Landmark68::new(load(ids::LANDMARK68)?), options))
    } else {
        None
    };
    Ok(Detector { analyzer, ultraface })
}

/// Boxes of every image, by one detector, and the time detection took.
fn detect_all(
    name: &str,
    detector: &Detector,
    images: &[PathBuf],
    workers: usize,
) -> Result<(Vec<Vec<ScoredBox>>, f64, f64)> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(workers).build()?;
    let progress = Progress::new(images.len() as u64, &format!("{name} on WIDER FACE"));
    let start = Instant::now();
    let results: Vec<Result<(Vec<ScoredBox>, f64)>> = pool.install(|| {
        images
            .par_iter()
            .map(|path| {
                let image = detector.analyzer.load(path).with_context(|| format!("{}", path.display()))?;
                let t = Instant::now();
                let faces = detector.boxes(&image)?;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                progress.inc();
                let boxes = faces
                    .into_iter()
                    .map(|(b, score)| ScoredBox {
                        bbox: [b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64],
                        score: score as f64,
                    })
                    .collect();
                Ok((boxes, ms))
            })
            .collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    progress.finish();
    let (boxes, ms): (Vec<_>, Vec<f64>) = results.into_iter().collect::<Result<Vec<_>>>()?.into_iter().unzip();
    let mean_ms = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    Ok((boxes, mean_ms, images.len() as f64 / seconds.max(1e-9)))
}

/// `visage eval wider`.
pub fn run(args: &WiderArgs) -> Result<ExitCode> {
    let mut images = read_ground_truth(&args.data)?;
    if let Some(n) = args.limit {
        images.truncate(n.max(1));
    }
    let root = args.data.join("WIDER_val/images");
    let paths: Vec<PathBuf> = images.iter().map(|i| root.join(&i.name)).collect();
    if let Some(missing) = paths.iter().find(|p| !p.is_file()) {
        bail!("{}: missing (named in the ground truth)", missing.display());
    }
    let workers = args.workers.unwrap_or_else(default_workers);
    let candidates = args.detector.candidates(&detectors());
    let mut backend = None;
    let (done, skipped) = run_each(
        &candidates,
        args.detector == Choice::All,
        |kind| build(kind, args),
        |kind, detector| {
            backend = Some(detector.analyzer.backend());
            let (detections, ms_per_image, images_per_second) =
                detect_all(&kind.to_string(), &detector, &paths, workers)?;
            Ok(DetectorResult { sets: evaluate(&images, &detections), ms_per_image, images_per_second })
        },
    )?;
    let results: Vec<(String, DetectorResult)> = done.into_iter().map(|(k, r)| (k.to_string(), r)).collect();
    if let Some(dir) = &args.plot {
        write_plot(dir, &results, images.len())?;
    }
    let faces: BTreeMap<&str, usize> =
        results.first().map(|(_, r)| r.sets.iter().map(|(d, s)| (d.name(), s.faces)).collect()).unwrap_or_default();
    let backend = backend.map(|b| b.to_string()).unwrap_or_default();
    if args.json {
        print_json(&json!({
            "data": args.data, "images": images.len(), "faces": faces, "iou": visage_eval::wider::IOU_THRESHOLD,
            "score_threshold": (args.score_threshold as f64 * 1e6).round() / 1e6,
            "detect_size": if args.detect_size == 0 { "native".to_string() } else { args.detect_size.to_string() },
            "backend": backend, "workers": workers, "detectors": detector_json(&results), "skipped": skipped,
        }));
    } else {
        print_table(args, images.len(), &faces, &results, &skipped, &backend, workers);
    }
    Ok(ExitCode::SUCCESS)
}

fn detector_json(results: &[(String, DetectorResult)]) -> BTreeMap<&String, serde_json::Value> {
    results
        .iter()
        .map(|(n, r)| {
            let mut v: serde_json::Map<String, serde_json::Value> =
                r.sets.iter().map(|(d, s)| (d.name().to_string(), json!(s.ap))).collect();
            v.insert("ms_per_image".into(), json!((r.ms_per_image * 100.0).round() / 100.0));
            v.insert("images_per_second".into(), json!((r.images_per_second * 100.0).round() / 100.0));
            (n, serde_json::Value::Object(v))
        })
        .collect()
}

fn print_table(
    args: &WiderArgs,
    images: usize,
    faces: &BTreeMap<&str, usize>,
    results: &[(String, DetectorResult)],
    skipped: &[Skipped],
    backend: &str,
    workers: usize,
) {
    println!(
        "WIDER FACE ({}, {} images; faces: easy {}, medium {}, hard {}); AP at IoU 0.5, official protocol; {} backend",
        args.data.display(),
        images,
        faces.get("easy").unwrap_or(&0),
        faces.get("medium").unwrap_or(&0),
        faces.get("hard").unwrap_or(&0),
        backend
    );
    println!("{:<12} {:>8} {:>8} {:>8} {:>10} {:>10}", "detector", "easy", "medium", "hard", "ms/image", "images/s");
    for (name, r) in results {
        let ap = |d| r.sets.get(&d).map_or(f64::NAN, |s: &SetResult| s.ap);
        println!(
            "{:<12} {:>8.4} {:>8.4} {:>8.4} {:>10.1} {:>10.2}",
            name,
            ap(Difficulty::Easy),
            ap(Difficulty::Medium),
            ap(Difficulty::Hard),
            r.ms_per_image,
            r.images_per_second
        );
    }
    println!("ms/image: detection alone, one image on one thread (UltraFace without its 68-landmark step);");
    println!("images/s: decoding included, {workers} worker(s)");
    print_skipped(skipped);
}

fn write_plot(dir: &Path, results: &[(String, DetectorResult)], images: usize) -> Result<()> {
    let curves = results
        .iter()
        .flat_map(|(name, r)| {
            r.sets.iter().map(move |(d, s)| Curve {
                name: format!("{name} {} (AP {:.3})", d.name(), s.ap),
                points: s.curve.iter().filter(|p| p.0 > 0.0).copied().collect(),
            })
        })
        .collect();
    let chart = CurveChart {
        title: format!("WIDER FACE precision-recall ({images} validation images)"),
        x_label: "recall".into(),
        y_label: "precision".into(),
        x_scale: Scale::Linear,
        y_scale: Scale::Linear,
        x_range: Some((0.0, 1.0)),
        y_range: Some((0.0, 1.0)),
        curves,
        markers: vec![],
        legend: visage_eval::plot::Corner::LowerLeft,
    };
    draw_curves(&chart, &dir.join("pr"))?;
    Ok(())
}
