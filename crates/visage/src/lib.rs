//! visage: face recognition, from image to decision.
//!
//! ```text
//! image ─▶ detect ─▶ 5 landmarks ─▶ align (112x112) ─▶ embed (512-d) ─▶ match
//! ```
//!
//! [`FaceAnalyzer`] runs that pipeline with the models of the default pack, installing them on first
//! use. Each stage lives in its own crate: `visage-core` (images, geometry, alignment),
//! `visage-infer` (ONNX Runtime and tract backends), `visage-models` (manifest and installer),
//! `visage-detect` (CenterFace, UltraFace) and `visage-recognize` (embeddings, verification).
//!
//! ```no_run
//! use visage::{AnalyzerConfig, Decision, FaceAnalyzer};
//! use std::path::Path;
//!
//! let analyzer = FaceAnalyzer::new(AnalyzerConfig::default())?;
//! let v = analyzer.verify(Path::new("alice-1.jpg"), Path::new("alice-2.jpg"), &Decision::default())?;
//! println!("similarity {:.3}, same person: {}", v.verification.similarity, v.verification.is_match);
//! # Ok::<(), visage::VisageError>(())
//! ```

pub mod active_liveness;
mod analyzer;
pub mod attributes;
pub mod decision;
mod error;
pub mod face_report;
pub mod in_use;
pub mod parallel;
pub mod photo;
pub mod quality;
pub mod system;
pub mod verification;

pub use analyzer::{
    choose_face, AnalyzerConfig, EmbeddedFace, Face, FaceAnalyzer, FaceChoice, ImageAnalysis, ImageSource,
    StageTimings, RECOGNITION_MIN_FACE_SIZE,
};
pub use decision::{Decision, DecisionPolicy, EstimatedFar, Threshold};
pub use error::VisageError;
pub use photo::{DetailView, Photo};
pub use verification::{VerifiedImage, VerifyOutcome};

pub use visage_core as core;
pub use visage_detect as detect;
pub use visage_infer as infer;
pub use visage_models as models;
pub use visage_recognize as recognize;
pub use visage_store as store;

pub use system::FaceRecognitionSystem;
