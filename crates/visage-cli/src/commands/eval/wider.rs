//! `visage eval wider`: detection AP on WIDER FACE (easy, medium, hard) for each detector.

use crate::args::pipeline::default_workers;
use crate::output::{print_json, Progress};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use rayon::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::detect::{BlazeFace, CenterFace, DetectorOptions, FaceDetector, Landmark68, Mtcnn, UltraFace};
use visage::infer::{load_model, BackendKind, InferenceConfig};
use visage::models::{ids, Installer, Manifest, ModelHome};
use visage::{AnalyzerConfig, FaceAnalyzer};
use visage_eval::plot::{draw_curves, Curve, CurveChart, Scale};
use visage_eval::wider::{evaluate, read_ground_truth, Difficulty, ScoredBox, SetResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WiderDetector {
    Centerface,
    Ultraface,
    Blazeface,
    Mtcnn,
    All,
}

#[derive(Debug, Args)]
pub struct WiderArgs {
    /// The WIDER FACE folder (wider_val_subset_gt.json and WIDER_val/images/).
    #[arg(long)]
    pub data: PathBuf,
    /// Which detector(s) to evaluate.
    #[arg(long, value_enum, default_value = "all")]
    pub detector: WiderDetector,
    /// Lowest detector score kept: low, so that the PR curve reaches high recall (as the toolkit expects).
    #[arg(long, default_value_t = 0.02)]
    pub score_threshold: f32,
    /// CenterFace: longest image side the network sees; 0 runs at the image's own size (small faces
    /// need it). UltraFace always runs at its fixed 320x240, BlazeFace at 128x128.
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

/// The detector under test, built directly (not through the analyzer) so that UltraFace can run
/// without its 68-point landmark step, which detection AP does not use.
#[allow(clippy::enum_variant_names)] // named after the model families
enum Detector {
    CenterFace(CenterFace),
    UltraFace(UltraFace),
    BlazeFace(BlazeFace),
    Mtcnn(Mtcnn),
}

impl Detector {
    fn build(name: &str, args: &WiderArgs, installer: &Installer, inference: &InferenceConfig) -> Result<Detector> {
        let options =
            DetectorOptions { score_threshold: Some(args.score_threshold), min_face_size: 0.0, ..Default::default() };
        let load = |id: &str| -> Result<_> {
            let path = installer.ensure_models(&[id])?.remove(0);
            Ok(load_model(&path, inference)?)
        };
        Ok(match name {
            "centerface" => {
                let side = if args.detect_size == 0 { u32::MAX } else { args.detect_size };
                Detector::CenterFace(CenterFace::new(load(ids::CENTERFACE)?, options).with_max_side(side))
            }
            "blazeface" => Detector::BlazeFace(BlazeFace::new(load(ids::BLAZEFACE)?, options)),
            "mtcnn" => Detector::Mtcnn(Mtcnn::new(
                load(ids::MTCNN_PNET)?,
                load(ids::MTCNN_RNET)?,
                load(ids::MTCNN_ONET)?,
                options,
            )),
            _ => Detector::UltraFace(UltraFace::new(
                load(ids::ULTRAFACE)?,
                Landmark68::new(load(ids::LANDMARK68)?),
                options,
            )),
        })
    }

    /// Boxes (clipped to the image) and scores.
    fn boxes(&self, image: &image::RgbImage) -> Result<Vec<(visage::core::BBox, f32)>> {
        Ok(match self {
            Detector::CenterFace(d) => d.detect(image)?.into_iter().map(|d| (d.bbox, d.score)).collect(),
            Detector::BlazeFace(d) => d.detect(image)?.into_iter().map(|d| (d.bbox, d.score)).collect(),
            Detector::Mtcnn(d) => d.detect(image)?.into_iter().map(|d| (d.bbox, d.score)).collect(),
            Detector::UltraFace(u) => {
                let (w, h) = (image.width() as f32, image.height() as f32);
                u.detect_boxes(image)?.into_iter().map(|(b, s)| (b.clip(w, h), s)).collect()
            }
        })
    }
}

/// Boxes of every image, by one detector.
fn detect_all(name: &str, detector: &Detector, images: &[PathBuf], workers: usize) -> Result<Vec<Vec<ScoredBox>>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(workers).build()?;
    let progress = Progress::new(images.len() as u64, &format!("{name} on WIDER FACE"));
    let load = visage::core::LoadOptions::default();
    let results: Vec<Result<Vec<ScoredBox>>> = pool.install(|| {
        images
            .par_iter()
            .map(|path| {
                let image = visage::core::load_image(path, &load).with_context(|| format!("{}", path.display()))?;
                let boxes = detector.boxes(&image)?;
                progress.inc();
                Ok(boxes
                    .into_iter()
                    .map(|(b, s)| ScoredBox {
                        bbox: [b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64],
                        score: s as f64,
                    })
                    .collect())
            })
            .collect()
    });
    progress.finish();
    results.into_iter().collect()
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
    // The analyzer settles the backend (and installs the runtime) as every other command does.
    let analyzer = FaceAnalyzer::new(AnalyzerConfig { backend: args.backend, ..AnalyzerConfig::default() })
        .context("cannot start the face pipeline")?;
    let installer = Installer::new(ModelHome::from_env(), Manifest::default_pack());
    let inference = InferenceConfig {
        backend: analyzer.backend(),
        intra_threads: 1,
        ort_library: if analyzer.backend() == BackendKind::Ort { installer.installed_runtime() } else { None },
    };
    let names: Vec<&str> = match args.detector {
        WiderDetector::Centerface => vec!["centerface"],
        WiderDetector::Ultraface => vec!["ultraface"],
        WiderDetector::Blazeface => vec!["blazeface"],
        WiderDetector::Mtcnn => vec!["mtcnn"],
        WiderDetector::All => vec!["centerface", "ultraface", "blazeface", "mtcnn"],
    };
    let workers = args.workers.unwrap_or_else(default_workers);
    let mut results: BTreeMap<String, BTreeMap<Difficulty, SetResult>> = BTreeMap::new();
    for name in &names {
        let detector = Detector::build(name, args, &installer, &inference)?;
        let detections = detect_all(name, &detector, &paths, workers)?;
        results.insert(name.to_string(), evaluate(&images, &detections));
    }
    if let Some(dir) = &args.plot {
        write_plot(dir, &results, images.len())?;
    }
    let faces: BTreeMap<&str, usize> =
        results.values().next().map(|r| r.iter().map(|(d, s)| (d.name(), s.faces)).collect()).unwrap_or_default();
    if args.json {
        let detectors: BTreeMap<&String, BTreeMap<&str, f64>> =
            results.iter().map(|(n, r)| (n, r.iter().map(|(d, s)| (d.name(), s.ap)).collect())).collect();
        print_json(&json!({
            "data": args.data, "images": images.len(), "faces": faces, "iou": visage_eval::wider::IOU_THRESHOLD,
            "score_threshold": (args.score_threshold as f64 * 1e6).round() / 1e6,
            "detect_size": if args.detect_size == 0 { "native".to_string() } else { args.detect_size.to_string() },
            "backend": analyzer.backend().to_string(), "detectors": detectors,
        }));
    } else {
        println!(
            "WIDER FACE ({}, {} images; faces: easy {}, medium {}, hard {}); AP at IoU 0.5, official protocol",
            args.data.display(),
            images.len(),
            faces.get("easy").unwrap_or(&0),
            faces.get("medium").unwrap_or(&0),
            faces.get("hard").unwrap_or(&0)
        );
        println!("{:<12} {:>8} {:>8} {:>8}", "detector", "easy", "medium", "hard");
        for (name, r) in &results {
            let ap = |d| r.get(&d).map_or(f64::NAN, |s: &SetResult| s.ap);
            println!(
                "{:<12} {:>8.4} {:>8.4} {:>8.4}",
                name,
                ap(Difficulty::Easy),
                ap(Difficulty::Medium),
                ap(Difficulty::Hard)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_plot(dir: &Path, results: &BTreeMap<String, BTreeMap<Difficulty, SetResult>>, images: usize) -> Result<()> {
    let curves = results
        .iter()
        .flat_map(|(name, r)| {
            r.iter().map(move |(d, s)| Curve {
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
