//! How Python calls decide: `threshold=`, `target_far=`, `require_live=`, `purpose=` turned into one
//! [`visage::Decision`], and `calibration=` into the calibration a pipeline decides with, as the CLI's
//! decision flags do (`--threshold`, `--target-far`, `--calibration`, `--require-live`, `--purpose`).

use crate::errors::Failure;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use visage::models::{Manifest, ModelHome};
use visage::recognize::calibration::{default_path_in, load_active, Calibration};
use visage::recognize::{RecognizerKind, RecognizerSpec};
use visage::{Decision, Threshold};

/// The decision arguments of `verify` and `Gallery.identify`.
#[derive(Debug, Clone, Default)]
pub struct DecisionArgs {
    pub threshold: Option<f32>,
    pub target_far: Option<f64>,
    pub require_live: bool,
    /// The purpose the decision serves: identification then searches only subjects consented for it.
    pub purpose: Option<String>,
}

impl DecisionArgs {
    /// The decision these arguments ask for; `threshold` and `target_far` together are refused.
    pub fn decision(self) -> Result<Decision, Failure> {
        let threshold = match (self.threshold, self.target_far) {
            (Some(_), Some(_)) => return Err(Failure::invalid("give threshold or target_far, not both")),
            (Some(t), None) => Threshold::Similarity(t),
            (None, Some(far)) => Threshold::TargetFar(far),
            (None, None) => Threshold::Configured,
        };
        Ok(Decision { threshold, require_live: self.require_live, purpose: self.purpose, ..Decision::default() })
    }
}

/// The calibration a pipeline with `recognizer` decides with: `file` if given (it must exist and come
/// from that recogniser), else the recogniser's default file in the model cache (`home`, else
/// `$VISAGE_HOME`) when it exists. Without one, decisions at a target FAR fail with `CalibrationError`
/// and none reports an estimated FAR, as in the CLI.
pub fn load_calibration(
    recognizer: RecognizerKind,
    file: Option<&Path>,
    home: Option<&Path>,
) -> Result<Option<Arc<Calibration>>, Failure> {
    let home = home.map_or_else(ModelHome::from_env, ModelHome::at);
    let spec = RecognizerSpec::resolve(recognizer, Manifest::default_pack(), &home)
        .map_err(|e| Failure::invalid(format!("recognizer: {e}")))?;
    let sha = spec.sha256;
    let path: PathBuf = match file {
        Some(f) if !f.is_file() => {
            return Err(Failure::no_calibration(format!(
                "no calibration at {}: run `visage calibrate --pairs FILE` first (or pass calibration=FILE)",
                f.display()
            )))
        }
        Some(f) => f.to_path_buf(),
        None => match default_path_in(&home, sha) {
            f if f.is_file() => f,
            _ => return Ok(None),
        },
    };
    let loaded = load_active(sha, Some(&path))
        .map_err(|e| Failure::bad_calibration(format!("calibration {}: {e}", path.display())))?;
    Ok(loaded.map(|(c, _)| Arc::new(c)))
}
