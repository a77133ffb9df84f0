//! `visage bench`: the pipeline's speed on real images, and the Python reference pipeline
//! (bench/reference.py: OpenCV + numpy + onnxruntime, same models) on the same images and the same
//! number of workers, in one command, with the ratio.

use crate::args::pipeline::PipelineArgs;
use crate::args::pipeline::{analyzer, default_workers, Purpose};
use crate::output::{print_json, Progress};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use visage::models::ids;
use visage::FaceChoice;

/// `visage bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A folder of images (searched recursively for .jpg/.jpeg/.png), e.g. ../shared/data/lfw.
    #[arg(long)]
    pub data: PathBuf,
    /// How many images to use (the first N in path order).
    #[arg(long, default_value_t = 500)]
    pub limit: usize,
    /// Images processed in parallel, by visage and by the reference (default: all cores).
    #[arg(long, value_parser = crate::args::parse::parse_threads)]
    pub workers: Option<usize>,
    /// The reference script; `none` skips it. Default: bench/reference.py of this source tree.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/reference.py"))]
    pub reference: String,
    /// Which model files the reference runs: as their packages ship them, or visage's installed
    /// copies with its install-time rewrites.
    #[arg(long, value_enum, default_value = "shipped")]
    pub reference_models: ReferenceModels,
    /// The Python interpreter for the reference.
    #[arg(long, default_value = "python3")]
    pub python: String,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReferenceModels {
    Shipped,
    Installed,
}

pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let images = collect_images(&args.data, args.limit)?;
    if images.is_empty() {
        bail!("no images ({}) under {}", visage::core::files::IMAGE_EXTENSIONS.join(", "), args.data.display());
    }
    let workers = args.workers.unwrap_or_else(default_workers);
    let analyzer = analyzer(&args.pipeline, Purpose::Recognition)?;
    // Warm-up: model sessions and plans are built on first use, as in any long-running service.
    let _ = analyzer.embed_one(&images[0], FaceChoice::Centred);

    let progress = Progress::new(images.len() as u64, "visage");
    let batch = visage_eval::embed_images(&analyzer, &images, FaceChoice::Centred, workers, &|| progress.inc())?;
    progress.finish();
    let (seconds, m) = (batch.seconds, batch.mean_stage_ms);
    let visage = json!({
        "images": images.len(),
        "no_face": batch.no_face,
        "seconds": seconds,
        "images_per_second": images.len() as f64 / seconds,
        "stage_ms": m,
        "peak_rss_mb": peak_rss_mb(),
        "backend": analyzer.backend().to_string(),
        "detector": analyzer.detector_kind().to_string(),
    });

    let reference = if args.reference == "none" {
        None
    } else {
        // The reference gets the models as their packages ship them (what a Python pipeline runs), or
        // with --reference-models installed, visage's install-time rewrites too.
        let shipped = tempfile::tempdir().context("temporary directory")?;
        let dir = match args.reference_models {
            ReferenceModels::Shipped => {
                analyzer.installer().write_shipped(&[ids::CENTERFACE, ids::EMBEDDING], shipped.path())?;
                shipped.path().to_path_buf()
            }
            ReferenceModels::Installed => analyzer.installer().home().models_dir(),
        };
        Some(run_reference(args, &images, workers, &dir)?)
    };
    let ratio = reference
        .as_ref()
        .and_then(|r| r["images_per_second"].as_f64())
        .map(|r| visage["images_per_second"].as_f64().unwrap_or(0.0) / r);

    if args.pipeline.json {
        print_json(&json!({"data": args.data, "images": images.len(), "workers": workers,
                           "reference_models": format!("{:?}", args.reference_models).to_lowercase(),
                           "visage": visage, "reference": reference, "ratio": ratio}));
    } else {
        println!("{} images from {}, {} worker(s)", images.len(), args.data.display(), workers);
        let models = match args.reference_models {
            ReferenceModels::Shipped => "the model files as shipped",
            ReferenceModels::Installed => "visage's installed (rewritten) model files",
        };
        println!("(the reference runs {models})");
        print_side("visage", &visage);
        if let Some(r) = &reference {
            print_side("python reference", r);
        }
        if let Some(ratio) = ratio {
            println!("ratio: visage runs {ratio:.2}x the reference's images per second");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_side(name: &str, v: &Value) {
    let s = &v["stage_ms"];
    let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "  {name:<17} {:>7.1} images/s   ms/image: decode {:.2}, detect {:.2}, align {:.2}, embed {:.2}   peak RSS {:.0} MB",
        v["images_per_second"].as_f64().unwrap_or(f64::NAN),
        f("decode"),
        f("detect"),
        f("align"),
        f("embed"),
        v["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
    );
}

fn run_reference(args: &BenchArgs, images: &[PathBuf], workers: usize, models: &Path) -> Result<Value> {
    let mut list = tempfile::NamedTempFile::new().context("temporary file")?;
    for p in images {
        writeln!(list, "{}", p.display())?;
    }
    list.flush()?;
    eprintln!("running the Python reference ({}) on the same {} images...", args.reference, images.len());
    let output = Command::new(&args.python)
        .arg(&args.reference)
        .args(["bench", "--json", "--threads", "1"])
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--models")
        .arg(models)
        .arg("--images")
        .arg(list.path())
        .output()
        .with_context(|| format!("cannot run {} {}", args.python, args.reference))?;
    if !output.status.success() {
        bail!(
            "the reference failed ({}); install its requirements with `pip install -r bench/requirements.txt`, or pass --reference none:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("the reference printed no JSON result:\n{stdout}"))
}

/// The first `limit` images under `dir`, in path order (so both sides see the same images).
fn collect_images(dir: &Path, limit: usize) -> Result<Vec<PathBuf>> {
    let mut out =
        visage::core::files::image_files(dir, true).with_context(|| format!("cannot read {}", dir.display()))?;
    out.truncate(limit);
    Ok(out)
}

/// Peak resident memory of this process, in MB (Linux; `None` elsewhere).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
