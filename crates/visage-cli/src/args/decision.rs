//! `DecisionArgs`: how `verify` and `identify` decide (a threshold, or a target FAR with the
//! calibration it needs, whether liveness is required, and for which purpose), turned into one
//! [`visage::Decision`].

use super::parse::parse_similarity;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use visage::models::Manifest;
use visage::recognize::calibration::{default_path, load_active, Calibration};
use visage::recognize::{RecognizerKind, RecognizerSpec};
use visage::{Decision, Threshold};

/// The decision flags of `verify` and `identify`.
#[derive(Debug, Args, Clone)]
pub struct DecisionArgs {
    /// Cosine similarity threshold in [-1, 1] (default: the model's, from the manifest).
    #[arg(long, value_parser = parse_similarity)]
    pub threshold: Option<f32>,
    /// Decide at the threshold for this false accept rate, from the active calibration (see
    /// `visage calibrate`); each decision then reports its estimated FAR.
    #[arg(long, conflicts_with = "threshold")]
    pub target_far: Option<f64>,
    /// The calibration file (default: $VISAGE_HOME/calibration/<model SHA-256>.json, written by
    /// `visage calibrate`). It must come from the same embedding model.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Check passive liveness: a face that fails it is not matched (verify: an error, exit 2). Reports
    /// the score per face.
    #[arg(long)]
    pub require_live: bool,
    /// The purpose this decision serves (purpose limitation): identify and watch then consider only
    /// subjects holding an active consent for it. Recorded in the audit log.
    #[arg(long)]
    pub purpose: Option<String>,
}

impl DecisionArgs {
    /// The decision these flags ask for (top-k and single-face rules are the command's own).
    pub fn decision(&self) -> Decision {
        let threshold = match (self.threshold, self.target_far) {
            (Some(t), _) => Threshold::Similarity(t),
            (None, Some(far)) => Threshold::TargetFar(far),
            (None, None) => Threshold::Configured,
        };
        Decision { threshold, require_live: self.require_live, purpose: self.purpose.clone(), ..Decision::default() }
    }

    /// The calibration decisions with `recognizer` use: `--calibration FILE`, else the recogniser's
    /// default file. Without `--target-far` and `--calibration`, the default file is used only if it
    /// exists (it then adds the estimated FAR to each decision).
    pub fn calibration(&self, recognizer: RecognizerKind) -> Result<Option<Arc<Calibration>>> {
        let sha = RecognizerSpec::of(recognizer, Manifest::default_pack()).map_err(anyhow::Error::msg)?.sha256;
        let explicit = self.target_far.is_some() || self.calibration.is_some();
        let path = self.calibration.clone().unwrap_or_else(|| default_path(sha));
        if explicit && !path.is_file() {
            bail!(
                "no calibration at {}: run `visage calibrate --pairs FILE` first (or pass --calibration FILE)",
                path.display()
            );
        }
        let found =
            load_active(sha, self.calibration.as_deref()).with_context(|| format!("calibration {}", path.display()))?;
        Ok(found.map(|(c, _)| Arc::new(c)))
    }
}
