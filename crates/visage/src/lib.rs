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
//! use visage::{AnalyzerConfig, FaceAnalyzer, FaceChoice};
//!
//! let analyzer = FaceAnalyzer::new(AnalyzerConfig::default())?;
//! let a = analyzer.embed_one(std::path::Path::new("alice-1.jpg"), FaceChoice::Largest)?;
//! let b = analyzer.embed_one(std::path::Path::new("alice-2.jpg"), FaceChoice::Largest)?;
//! let v = analyzer.verifier().verify(&a.embedding, &b.embedding);
//! println!("similarity {:.3}, same person: {}", v.similarity, v.is_match);
//! # Ok::<(), visage::VisageError>(())
//! ```

pub mod active_liveness;
mod analyzer;
pub mod attributes;
mod error;
pub mod face_quality;
pub mod parallel;
pub mod quality;
pub mod system;

pub use analyzer::{
    choose_face, AnalyzerConfig, EmbeddedFace, Face, FaceAnalyzer, FaceChoice, ImageAnalysis, ImageSource,
    StageTimings, RECOGNITION_MIN_FACE_SIZE,
};
pub use error::VisageError;

pub use visage_core as core;
pub use visage_detect as detect;
pub use visage_infer as infer;
pub use visage_models as models;
pub use visage_recognize as recognize;
pub use visage_store as store;

pub use system::FaceRecognitionSystem;
