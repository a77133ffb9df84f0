//! The one place that decides visage's platform directories: where installed models (and the
//! calibrations and caches made from them) live, `$VISAGE_HOME` else the user's cache dir, and where
//! the gallery lives, `$VISAGE_DATA_DIR` else the user's data dir.

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

    /// Directory of the models a user imported (`visage models import --licence`), with their record.
    pub fn imported_dir(&self) -> PathBuf {
        self.root.join("imported")
    }

    /// Directory of the ONNX Runtime library.
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.join("runtime")
    }
}

/// The default gallery dir: `$VISAGE_DATA_DIR`, else `<data dir>/visage` (`~/.local/share/visage` on
/// Linux, following `$XDG_DATA_HOME`).
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VISAGE_DATA_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("visage")
}
