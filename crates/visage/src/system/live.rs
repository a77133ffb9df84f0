//! Liveness at enrolment: refusing printed photos before they become templates. (Identification and
//! verification take liveness through [`crate::Decision::require_live`].)

use super::FaceRecognitionSystem;
use crate::VisageError;
use visage_attributes::LivenessScore;

/// The liveness check at enrolment.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnrolLiveness {
    /// Refuse a face whose P(live) is below the threshold. Off in the library by default (existing
    /// callers keep their behaviour); `visage enroll` turns it on unless `--allow-spoof` is given, and
    /// the audit entry of every enrolment says whether it was required.
    pub required: bool,
    /// `None`: the default threshold (the manifest's).
    pub threshold: Option<f32>,
}

impl FaceRecognitionSystem {
    /// The liveness of the one face an enrolment image holds, refused as [`VisageError::Spoof`] when
    /// enrolment requires liveness and the face fails it.
    pub(super) fn enrol_liveness_check(
        &self,
        path: &std::path::Path,
        image: &image::RgbImage,
        face: &visage_detect::Detection,
    ) -> Result<Option<LivenessScore>, VisageError> {
        let policy = self.config.enrol_liveness;
        if !policy.required {
            return Ok(None);
        }
        let l = self.analyzer.liveness(image, face, policy.threshold)?;
        if !l.live {
            let threshold = policy.threshold.unwrap_or_else(|| self.analyzer.liveness_threshold());
            return Err(VisageError::Spoof { path: path.to_path_buf(), score: l.score, threshold });
        }
        Ok(Some(l))
    }
}
