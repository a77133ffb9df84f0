//! A track's evidence about who it is: its best frames by quality (face size, sharpness, frontal
//! pose) and their unit embeddings fused by their mean (its liveness is [`crate::track_liveness`]'s).
//! It asks for a decision only when that evidence changed, and notices when the face stops being the same person
//! (a new face where the old one was), so that one track never carries two people.

use visage_detect::Detection;

/// How a track gathers evidence.
#[derive(Debug, Clone, Copy)]
pub struct IdentityConfig {
    /// Frames embedded before the first decision.
    pub frames_to_decide: usize,
    /// Best frames kept (a better frame replaces the worst, and the track is decided again).
    pub max_frames: usize,
    /// A new frame replaces a kept one only if its quality is this many times the worst kept.
    pub better_by: f32,
    /// Detection rounds between two checks that the face is still the same person.
    pub recheck_every: u32,
    /// A frame whose similarity to the track's fused embedding is below this is another person.
    pub same_person_similarity: f32,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self { frames_to_decide: 3, max_frames: 5, better_by: 1.15, recheck_every: 10, same_person_similarity: 0.3 }
    }
}

/// One embedded frame of a track.
#[derive(Debug, Clone)]
pub struct Sample {
    pub frame: u64,
    pub quality: f32,
    /// Unit-length embedding.
    pub embedding: Vec<f32>,
}

/// What a track was decided to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Identified {
        subject: String,
        similarity: f32,
    },
    /// Nobody enrolled reaches the threshold (`similarity`: the best one, `None` for an empty gallery).
    Unknown {
        similarity: Option<f32>,
    },
    /// Passive liveness failed with liveness required: never searched.
    Spoof,
}

impl Verdict {
    /// The identified subject, if any.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Verdict::Identified { subject, .. } => Some(subject),
            _ => None,
        }
    }

    /// The best similarity found, if searched.
    pub fn similarity(&self) -> Option<f32> {
        match self {
            Verdict::Identified { similarity, .. } => Some(*similarity),
            Verdict::Unknown { similarity } => *similarity,
            Verdict::Spoof => None,
        }
    }

    /// Same decision (the same subject, or both unknown, or both spoof), whatever the similarity.
    fn same_decision(&self, other: &Verdict) -> bool {
        match (self, other) {
            (Verdict::Identified { subject: a, .. }, Verdict::Identified { subject: b, .. }) => a == b,
            (Verdict::Unknown { .. }, Verdict::Unknown { .. }) | (Verdict::Spoof, Verdict::Spoof) => true,
            _ => false,
        }
    }
}

/// The result of offering a frame's embedding to a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// The same person: the frame counts as evidence (if it is among the best).
    Same,
    /// Another person: the track should end and a new one start with this frame.
    Changed,
}

/// The evidence and decision of one track.
#[derive(Debug, Clone, Default)]
pub struct TrackIdentity {
    config: IdentityConfig,
    samples: Vec<Sample>,
    rounds_since_embedding: u32,
    evidence_changed: bool,
    verdict: Option<Verdict>,
}

impl TrackIdentity {
    /// A track with no evidence yet.
    pub fn new(config: IdentityConfig) -> TrackIdentity {
        TrackIdentity { config, ..TrackIdentity::default() }
    }

    /// Whether a frame of this `quality` is worth embedding: the track still needs frames, the frame
    /// is clearly better than the worst kept one, a check is due, or one is forced (after a cut).
    pub fn wants(&mut self, quality: f32, force_check: bool) -> bool {
        self.rounds_since_embedding += 1;
        let worst = self.samples.iter().map(|s| s.quality).fold(f32::INFINITY, f32::min);
        self.samples.len() < self.config.frames_to_decide
            || force_check
            || self.rounds_since_embedding >= self.config.recheck_every
            || (self.samples.len() < self.config.max_frames && quality > worst)
            || quality > worst * self.config.better_by
    }

    /// Offers an embedded frame. Another person's face is refused ([`Continuity::Changed`]); the
    /// same person's is kept if it is among the best `max_frames`, which changes the evidence.
    pub fn add(&mut self, sample: Sample) -> Continuity {
        self.rounds_since_embedding = 0;
        if let Some(fused) = self.fused() {
            if cosine(&fused, &sample.embedding) < self.config.same_person_similarity {
                return Continuity::Changed;
            }
        }
        self.samples.push(sample);
        if self.samples.len() > self.config.max_frames {
            let worst = (0..self.samples.len())
                .min_by(|&a, &b| self.samples[a].quality.total_cmp(&self.samples[b].quality))
                .expect("not empty");
            let kept_new = worst != self.samples.len() - 1;
            self.samples.remove(worst);
            self.evidence_changed |= kept_new;
        } else {
            self.evidence_changed = true;
        }
        Continuity::Same
    }

    /// Whether a decision is due: enough frames, and the evidence changed since the last one.
    pub fn needs_decision(&self) -> bool {
        self.evidence_changed && self.samples.len() >= self.config.frames_to_decide
    }

    /// The mean of the kept unit embeddings, normalised (`None` without frames).
    pub fn fused(&self) -> Option<Vec<f32>> {
        let first = self.samples.first()?;
        let mut sum = vec![0.0f32; first.embedding.len()];
        for s in &self.samples {
            for (a, b) in sum.iter_mut().zip(&s.embedding) {
                *a += b;
            }
        }
        let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
        (norm > 0.0).then(|| sum.iter().map(|v| v / norm).collect())
    }

    /// Records a decision on the current evidence; true when it differs from the previous decision
    /// (an event is due), false when it only confirms it.
    pub fn record(&mut self, verdict: Verdict) -> bool {
        self.evidence_changed = false;
        let changed = !self.verdict.as_ref().is_some_and(|v| v.same_decision(&verdict));
        if changed {
            self.verdict = Some(verdict);
        }
        changed
    }

    /// The current decision.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// Frames embedded and kept.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }
}

/// Quality of a face for recognition in [0, 1]: the enrolment gate's score (size and sharpness of
/// the aligned crop) times how frontal the face is (nose between the eyes).
pub fn frame_quality(face: &Detection, aligned: &image::RgbImage) -> f32 {
    let base = visage::quality::QualityPolicy::default().assess(face, aligned, None).score;
    base * frontality(face)
}

/// 1 for a frontal face, falling as the nose moves away from the midpoint of the eyes.
pub fn frontality(face: &Detection) -> f32 {
    let [left, right, nose, ..] = face.landmarks;
    let eye_distance = (right.x - left.x).abs().max(1.0);
    let offset = (nose.x - (left.x + right.x) / 2.0).abs() / eye_distance;
    (1.0 - 2.0 * offset).clamp(0.1, 1.0)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|v| v * v).sum::<f32>().sqrt();
    let nb = b.iter().map(|v| v * v).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector near axis `axis` (a "person"), nudged by `noise` along axis 7.
    fn person(axis: usize, noise: f32) -> Vec<f32> {
        let mut v = [0.0f32; 8];
        v[axis] = 1.0;
        v[7] = noise;
        let n = (1.0 + noise * noise).sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn sample(frame: u64, quality: f32, embedding: Vec<f32>) -> Sample {
        Sample { frame, quality, embedding }
    }

    #[test]
    fn decides_after_enough_frames_and_again_only_when_evidence_changes() {
        let mut id = TrackIdentity::new(IdentityConfig::default());
        for f in 0..3 {
            assert!(id.wants(0.5, false));
            assert!(!id.needs_decision());
            assert_eq!(id.add(sample(f, 0.5, person(0, 0.1 * f as f32))), Continuity::Same);
        }
        assert!(id.needs_decision());
        assert!(id.record(Verdict::Identified { subject: "a".into(), similarity: 0.6 }));
        assert!(!id.needs_decision());
        // Same decision again (a slightly different similarity) is no news.
        assert!(!id.record(Verdict::Identified { subject: "a".into(), similarity: 0.62 }));
        assert!(id.record(Verdict::Unknown { similarity: Some(0.2) }));
        // A worse frame than every kept one, once all slots are full, changes nothing.
        id.add(sample(3, 0.6, person(0, 0.0)));
        id.add(sample(4, 0.6, person(0, 0.0)));
        id.record(Verdict::Unknown { similarity: None });
        assert!(!id.wants(0.1, false), "a poor frame is not worth embedding");
        id.add(sample(5, 0.1, person(0, 0.0)));
        assert!(!id.needs_decision(), "a frame worse than all kept ones is dropped");
        assert_eq!(id.samples().len(), 5);
        assert!(id.wants(0.9, false), "a clearly better frame is");
    }

    #[test]
    fn another_persons_face_is_refused_as_a_change() {
        let mut id = TrackIdentity::new(IdentityConfig::default());
        id.add(sample(0, 0.5, person(0, 0.0)));
        id.add(sample(1, 0.5, person(0, 0.3)));
        assert_eq!(id.add(sample(2, 0.9, person(1, 0.0))), Continuity::Changed);
        assert_eq!(id.samples().len(), 2, "the other face is not evidence");
        assert!(id.wants(0.0, true), "a forced check always embeds");
    }

    #[test]
    fn fusion_is_the_normalised_mean() {
        let mut id = TrackIdentity::new(IdentityConfig { same_person_similarity: -1.0, ..IdentityConfig::default() });
        assert!(id.fused().is_none());
        id.add(sample(0, 0.5, person(0, 0.0)));
        id.add(sample(1, 0.5, person(1, 0.0)));
        id.add(sample(2, 0.5, person(1, 0.0)));
        let f = id.fused().unwrap();
        let norm = f.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!((f[1] / f[0] - 2.0).abs() < 1e-5);
    }

    #[test]
    fn a_turned_face_is_less_frontal() {
        use visage_core::geometry::{BBox, Point};
        let face = |nose_x: f32| Detection {
            bbox: BBox::new(0.0, 0.0, 100.0, 100.0),
            score: 0.9,
            landmarks: [
                Point::new(30.0, 40.0),
                Point::new(70.0, 40.0),
                Point::new(nose_x, 60.0),
                Point::new(35.0, 80.0),
                Point::new(65.0, 80.0),
            ],
            landmarks68: None,
        };
        assert_eq!(frontality(&face(50.0)), 1.0);
        assert!(frontality(&face(62.0)) < 0.5);
    }
}
