//! Writing evaluation reports from the CLI.

use anyhow::Result;
use std::path::Path;
use visage_eval::Calibration;

/// ROC, DET, score histograms and `report.md` for a calibration run.
pub fn verification_report(dir: &Path, calibration: &Calibration, genuine: &[f32], impostor: &[f32]) -> Result<()> {
    visage_eval::report::write_verification_report(dir, calibration, genuine, impostor)?;
    Ok(())
}
