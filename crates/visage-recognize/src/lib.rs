//! Face recognition for visage: 512-d embeddings of aligned faces, 1:1 verification, and the threshold
//! calibration that turns a target false-accept rate into a threshold.

pub mod calibration;
pub mod embedder;
pub mod rate;
pub mod verify;

pub use calibration::{Calibration, CalibrationError, FarBound, FarEstimate};
pub use embedder::{Embedder, EmbedderOptions, EMBEDDING_DIM};
pub use verify::{Verification, Verifier};
