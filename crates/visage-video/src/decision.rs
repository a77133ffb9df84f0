//! A track's decision, asked of the gallery through [`FaceRecognitionSystem`]: the same open-set rule
//! as `identify` (the best subject if it reaches the threshold, else unknown), and with liveness
//! required, a spoof track is never searched; with a purpose, only subjects consented for it are
//! candidates. Each decision is audited once per track, with the
//! stream and track ids.

use crate::track_identity::Verdict;
use serde_json::json;
use visage::store::AuditEvent;
use visage::system::FaceRecognitionSystem;
use visage::{Decision, VisageError};

/// How tracks are decided: identify's [`Decision`] (its threshold, and with `require_live` a track
/// whose median P(live) is below the liveness threshold is refused, never searched), and the P(live)
/// threshold.
#[derive(Debug, Clone, Default)]
pub struct DecisionSettings {
    pub decision: Decision,
    /// P(live) threshold; `None`: the manifest's.
    pub liveness_threshold: Option<f32>,
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

/// Decides a track from its fused embedding and median liveness. The one place where the video
/// pipeline calls the system's decision API.
pub fn decide(
    system: &FaceRecognitionSystem,
    settings: &DecisionSettings,
    fused: &[f32],
    liveness: Option<f32>,
) -> Result<Verdict, VisageError> {
    let liveness_threshold = settings.liveness_threshold.unwrap_or_else(|| system.analyzer().liveness_threshold());
    if settings.decision.require_live && liveness.is_none_or(|l| l < liveness_threshold) {
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
