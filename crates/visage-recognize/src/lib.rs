//! Face recognition for visage: embeddings of aligned faces (one file per model family: [`arcface`],
//! the default, and [`sface`]; [`fusion`] combines them; [`imported`] runs ArcFace models the user
//! imports), 1:1 verification, and the threshold
//! calibration that turns a target false-accept rate into a threshold.

pub mod arcface;
pub mod calibration;
pub mod embedder;
pub mod face_input;
pub mod fusion;
pub mod imported;
pub mod rate;
pub mod recognizer;
pub mod sface;
pub mod verify;

pub use calibration::{Calibration, CalibrationError, FarBound, FarEstimate};
pub use embedder::{Embedder, EmbedderOptions};
pub use face_input::FaceInput;
pub use recognizer::{Recognizer, RecognizerKind, RecognizerSpec};
pub use verify::{Verification, Verifier};
