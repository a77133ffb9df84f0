//! 1:1 verification over a gallery: [`crate::FaceAnalyzer::verify`] with an audit entry for every
//! comparison of faces (no gallery data is read), a refused spoof included.

use super::FaceRecognitionSystem;
use crate::verification::{audit_record, VerifyOutcome};
use crate::{Decision, ImageSource, VisageError};
use visage_store::AuditEvent;

impl FaceRecognitionSystem {
    /// Are the people in two photos the same? See [`crate::FaceAnalyzer::verify`]. Audited: the outcome,
    /// the similarity, the threshold and the purpose, or `refused-spoof` with the liveness score.
    pub fn verify(
        &self,
        a: impl Into<ImageSource>,
        b: impl Into<ImageSource>,
        decision: &Decision,
        actor: &str,
    ) -> Result<VerifyOutcome, VisageError> {
        let result = self.analyzer.verify(a, b, decision);
        if let Some((outcome, detail)) = audit_record(&result) {
            self.store.audit(AuditEvent::new(actor, "verify", outcome).detail(decision.audit_detail(detail)))?;
        }
        result
    }
}
