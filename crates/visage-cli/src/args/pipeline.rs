//! `PipelineArgs`, the options of every command that runs models, and the analyzer they configure.

use super::parse::{parse_pixels, parse_unit};
use anyhow::{Context, Result};
use clap::Args;
use visage::core::LoadOptions;
use visage::detect::{DetectorKind, DetectorOptions};
use visage::infer::BackendKind;
use visage::recognize::{EmbedderOptions, RecognizerKind};
use visage::{AnalyzerConfig, FaceAnalyzer};

/// Options shared by every command that runs models.
#[derive(Debug, Args, Clone)]
pub struct PipelineArgs {
    /// Inference backend: ort (ONNX Runtime) or tract (pure Rust). Default: ort when installed.
    #[arg(long, env = "VISAGE_BACKEND")]
    pub backend: Option<BackendKind>,
    /// Face detector: centerface (default), ultraface, blazeface (MediaPipe, for faces that fill much
    /// of the frame: selfies, webcams), or mtcnn (the three-stage cascade, facenet-pytorch's weights);
    /// scrfd or retinaface run the model imported with `visage models import`.
    #[arg(long, default_value = "centerface")]
    pub detector: DetectorKind,
    /// Recogniser: arcface (default, 512-d), sface (OpenCV Zoo SFace, 128-d), fusion (score fusion
    /// of both), or imported:NAME (an ArcFace model imported with `visage models import`, uncalibrated
    /// until `visage calibrate` runs with it). A gallery's templates are compared only with embeddings of
    /// the recogniser that made them: pass the same one to every command on that gallery.
    #[arg(long, env = "VISAGE_RECOGNIZER", default_value = "arcface")]
    pub recognizer: RecognizerKind,
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
    /// Threads inside each model run (1 to 256).
    #[arg(long, default_value_t = 1, value_parser = crate::args::parse::parse_threads)]
    pub intra_threads: usize,
    /// Never install models; fail if they are missing.
    #[arg(long)]
    pub no_install: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What the analyzer is for: detection alone looks for every face, recognition only for usable ones.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Detection,
    Recognition,
}

/// Builds the analyzer for the pipeline options (installing models on first use).
pub fn analyzer(args: &PipelineArgs, purpose: Purpose) -> Result<FaceAnalyzer> {
    FaceAnalyzer::new(analyzer_config(args, purpose)).context("cannot start the face pipeline")
}

/// The analyzer configuration for the pipeline options.
pub fn analyzer_config(args: &PipelineArgs, purpose: Purpose) -> AnalyzerConfig {
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
        recognizer: args.recognizer,
        embedder_options: EmbedderOptions { flip: args.flip, ..EmbedderOptions::default() },
        intra_threads: args.intra_threads,
        load_options: LoadOptions { max_pixels: args.max_pixels, ..LoadOptions::default() },
        auto_install: !args.no_install,
        ..AnalyzerConfig::default()
    }
}

/// The default for `--workers`: every core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
