//! Inference backends for visage, behind one trait.
//!
//! - [`ort`](crate::ort_backend): ONNX Runtime loaded at run time (`load-dynamic`) from the shared library
//!   that `visage models install` takes out of the `onnxruntime` wheel. The fast default.
//! - [`tract`](crate::tract_backend): pure Rust, always builds; 2-2.5x slower.
//!
//! A [`Model`] is shared between threads: each backend keeps what it needs per thread or per input shape
//! inside, so callers run images in parallel without knowing how.

mod ort_backend;
mod tract_backend;

use ndarray::{ArrayD, ArrayViewD};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

pub use ort_backend::{ort_library_version, OrtModel};
pub use tract_backend::TractModel;

/// Which engine runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// ONNX Runtime through the `ort` crate.
    Ort,
    /// tract, pure Rust.
    Tract,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Ort => "ort",
            BackendKind::Tract => "tract",
        })
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ort" | "onnxruntime" => Ok(BackendKind::Ort),
            "tract" => Ok(BackendKind::Tract),
            other => Err(format!("unknown backend '{other}' (expected ort or tract)")),
        }
    }
}

/// How to run models.
#[derive(Debug, Clone)]
pub struct InferenceConfig {
    pub backend: BackendKind,
    /// Threads inside one model run. One is best on small machines: parallelism comes from running
    /// several images at once, each on its own session.
    pub intra_threads: usize,
    /// The ONNX Runtime shared library, required for [`BackendKind::Ort`].
    pub ort_library: Option<PathBuf>,
}

impl Default for InferenceConfig {
    fn default() -> Self {
        Self { backend: BackendKind::Tract, intra_threads: 1, ort_library: None }
    }
}

/// Errors from loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("cannot load the ONNX Runtime library {path}: {reason}")]
    RuntimeLibrary { path: PathBuf, reason: String },
    #[error("the ort backend needs the ONNX Runtime library; none was given")]
    NoRuntimeLibrary,
    #[error("cannot load model {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("running model {model} failed: {reason}")]
    Run { model: String, reason: String },
}

/// A loaded model with one input. Safe to call from many threads at once.
pub trait Model: Send + Sync {
    /// Runs the model on one input tensor and returns every output, in the model's output order.
    fn run(&self, input: ArrayViewD<'_, f32>) -> Result<Vec<ArrayD<f32>>, InferError>;
    /// The engine behind this model.
    fn backend(&self) -> BackendKind;
}

/// Loads the ONNX model at `path` with the configured backend.
pub fn load_model(path: &Path, config: &InferenceConfig) -> Result<Arc<dyn Model>, InferError> {
    Ok(match config.backend {
        BackendKind::Ort => {
            let lib = config.ort_library.as_deref().ok_or(InferError::NoRuntimeLibrary)?;
            Arc::new(OrtModel::load(path, lib, config.intra_threads)?)
        }
        BackendKind::Tract => Arc::new(TractModel::load(path)?),
    })
}

fn model_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}
