//! A track's decision, asked of the gallery through [`FaceRecognitionSystem`]: the same open-set rule
//! as `identify` (the best subject if it reaches the threshold, else unknown), and with liveness
//! required, a track is searched only once its liveness is decided live (a spoof track never is); with a purpose, only subjects consented for it are
//! candidates. Each decision is audited once per track, with the
//! stream and track ids.

use crate::track_identity::Verdict;
use crate::track_liveness::{LivenessRule, TrackLiveness};
use serde_json::json;
use visage::store::AuditEvent;
use visage::system::FaceRecognitionSystem;
use visage::{Decision, VisageError};

/// How tracks are decided: identify's [`Decision`] (its threshold, and with `require_live` a track
/// whose liveness over its first frames is below the liveness threshold is refused, never searched),
/// and how liveness is decided.
#[derive(Debug, Clone, Default)]
pub struct DecisionSettings {
    pub decision: Decision,
    pub liveness: LivenessRule,
}

impl DecisionSettings {
    /// The P(live) threshold: the rule's, else the manifest's.
    pub fn liveness_threshold(&self, system: &FaceRecognitionSystem) -> f32 {
        self.liveness.threshold.unwrap_or_else(|| system.analyzer().liveness_threshold())
    }
}

/// Where a decision was made, for its audit entry.
#[derive(Debug, Clone, Copy)]
pub struct DecisionContext<'a> {
    pub actor: &'a str,
    /// The decisions' [`Decision`], for the purpose it records.
    pub decision: &'a Decision,
    pub stream: &'a str,
    pub track: u64,
    pub frame: u64,
}

/// Decides a track from its fused embedding and its liveness. The one place where the video
/// pipeline calls the system's decision API. With liveness required, a track whose liveness is not
/// decided yet is refused as a spoof (the watch loop waits for the decision before asking).
pub fn decide(
    system: &FaceRecognitionSystem,
    settings: &DecisionSettings,
    fused: &[f32],
    liveness: &TrackLiveness,
) -> Result<Verdict, VisageError> {
    if settings.decision.require_live && liveness.is_live(settings.liveness_threshold(system)) != Some(true) {
        return Ok(Verdict::Spoof);
    }
    let threshold = system.analyzer().policy().resolve(settings.decision.threshold)?.threshold;
    let purpose = settings.decision.purpose.as_deref();
    let best = system.search_embedding(fused, 1, purpose)?.into_iter().next();
    Ok(match best {
        Some(c) if c.similarity >= threshold => Verdict::Identified { subject: c.subject, similarity: c.similarity },
        other => Verdict::Unknown { similarity: other.map(|c| c.similarity) },
    })
}

/// Writes the audit entry of a track's decision (one per decision per track, never per frame).
pub fn audit(
    system: &FaceRecognitionSystem,
    context: DecisionContext<'_>,
    verdict: &Verdict,
    liveness: Option<f32>,
    frames: usize,
) -> Result<(), VisageError> {
    let outcome = match verdict {
        Verdict::Identified { .. } => "match",
        Verdict::Unknown { .. } => "unknown",
        Verdict::Spoof => "refused-spoof",
    };
    let detail = json!({
        "stream": context.stream,
        "track": context.track,
        "frame": context.frame,
        "similarity": verdict.similarity(),
        "liveness": liveness,
        "frames": frames,
    });
    let event = AuditEvent::new(context.actor, "watch", outcome).subject_opt(verdict.subject());
    system.store().audit(event.detail(context.decision.audit_detail(detail)))?;
    Ok(())
}
