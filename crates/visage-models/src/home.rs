//! Where visage keeps installed models: `$VISAGE_HOME`, else the user's cache dir.

use std::path::{Path, PathBuf};

/// The root of visage's model cache.
#[derive(Debug, Clone)]
pub struct ModelHome {
    root: PathBuf,
}

impl ModelHome {
    /// `$VISAGE_HOME` if set, else `<cache dir>/visage` (`~/.cache/visage` on Linux).
    pub fn from_env() -> ModelHome {
        if let Some(home) = std::env::var_os("VISAGE_HOME").filter(|v| !v.is_empty()) {
            return ModelHome::at(PathBuf::from(home));
        }
        let base = dirs::cache_dir().unwrap_or_else(std::env::temp_dir);
        ModelHome::at(base.join("visage"))
    }

    pub fn at(root: impl Into<PathBuf>) -> ModelHome {
        ModelHome { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of the installed model files.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// Directory of the ONNX Runtime library.
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.join("runtime")
    }
}
