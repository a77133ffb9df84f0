//! The one error type of the pipeline and the system.

use std::path::PathBuf;

/// Everything that can go wrong between a file and a decision.
#[derive(Debug, thiserror::Error)]
pub enum VisageError {
    #[error("{path}: {source}")]
    Image { path: PathBuf, source: visage_core::ImageError },
    #[error(transparent)]
    Install(#[from] visage_models::InstallError),
    #[error(transparent)]
    Inference(#[from] visage_infer::InferError),
    #[error(transparent)]
    Detect(#[from] visage_detect::DetectError),
    #[error(transparent)]
    Embed(#[from] visage_recognize::embedder::EmbedError),
    #[error("{path}: no face found")]
    NoFace { path: PathBuf },
    #[error("{path}: {count} faces found, but exactly one is required")]
    SeveralFaces { path: PathBuf, count: usize },
    #[error("cannot write {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    #[error(transparent)]
    Store(#[from] visage_store::StoreError),
    #[error(transparent)]
    Index(#[from] visage_index::IndexError),
    #[error("{path}: not enrolled: {}", reasons.join("; "))]
    PoorQuality { path: PathBuf, reasons: Vec<String> },
    #[error(
        "{path}: not enrolled: the face looks like a presentation attack such as a printed photo (liveness \
         {score:.3}, threshold {threshold:.3}). If this is a live person, retry in better light or enrol with \
         --allow-spoof (recorded in the audit log)"
    )]
    Spoof { path: PathBuf, score: f32, threshold: f32 },
    #[error(
        "{path}: this face already matches enrolled subject '{other}' (similarity {similarity:.3}); not enrolled. \
         If they really are different people, enrol with --allow-duplicate (recorded in the audit log)"
    )]
    Duplicate { path: PathBuf, other: String, similarity: f32 },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the recogniser has no verification threshold: an imported recogniser is uncalibrated until `visage \
         calibrate --recognizer imported:NAME --folders DIR` runs with it; or pass --threshold or --target-far"
    )]
    NoThreshold,
    #[error("a target FAR needs a calibration of this embedding model: run `visage calibrate --pairs FILE` first")]
    NoCalibration,
    #[error(transparent)]
    Calibration(#[from] visage_recognize::CalibrationError),
}
