//! A track's passive liveness, decided once on its first frames: P(live) is scored on each of the
//! track's first [`LivenessRule::frames`] detections, and the track is live when the mean log-odds of
//! those scores reaches the threshold's. With liveness required, a track is not searched before this
//! decision.
//!
//! Why the mean log-odds over several frames (chosen on `antispoof-nuaa-dev`, see docs/video.md): a
//! printed photo has single frames that look live (motion blur while it is brought in front of the
//! camera, glare), and a live face single frames that look printed; the median of 3 let the first
//! track of a print attack through. The mean log-odds adds the evidence of every frame (one confident
//! frame cannot outvote several) and, reported as a probability, it is the frames' geometric-mean odds.

/// How many frames decide a track's liveness, and at what P(live).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivenessRule {
    /// Frames scored before deciding.
    pub frames: usize,
    /// Live when the frames' geometric-mean odds, as a probability, reach this (`None`: the
    /// still-image threshold of the manifest).
    pub threshold: Option<f32>,
}

/// Frames scored before a track's liveness is decided (see docs/video.md for the measurement).
pub const DEFAULT_LIVENESS_FRAMES: usize = 5;

impl Default for LivenessRule {
    fn default() -> Self {
        Self { frames: DEFAULT_LIVENESS_FRAMES, threshold: None }
    }
}

/// The liveness evidence of one track.
#[derive(Debug, Clone, Default)]
pub struct TrackLiveness {
    frames: usize,
    sum_log_odds: f64,
    count: usize,
}

/// Scores are kept inside (1e-6, 1 - 1e-6) so one frame can shift the mean by a bounded amount.
const CLAMP: f64 = 1e-6;

impl TrackLiveness {
    /// No frames yet; decided after `frames` scores (at least 1).
    pub fn new(frames: usize) -> TrackLiveness {
        TrackLiveness { frames: frames.max(1), ..TrackLiveness::default() }
    }

    /// Whether another frame should be scored (the decision is not made yet).
    pub fn wants_frame(&self) -> bool {
        self.count < self.frames
    }

    /// Adds one frame's P(live); ignored once decided.
    pub fn add(&mut self, p_live: f32) {
        if self.wants_frame() {
            self.sum_log_odds += log_odds(p_live);
            self.count += 1;
        }
    }

    /// Whether enough frames were scored to decide.
    pub fn decided(&self) -> bool {
        !self.wants_frame()
    }

    /// Frames scored.
    pub fn frames_scored(&self) -> usize {
        self.count
    }

    /// The frames' mean log-odds as a probability (their geometric-mean odds); `None` without frames.
    pub fn score(&self) -> Option<f32> {
        (self.count > 0).then(|| probability(self.sum_log_odds / self.count as f64))
    }

    /// Live at `threshold` (a P(live)): `None` until decided.
    pub fn is_live(&self, threshold: f32) -> Option<bool> {
        self.decided().then(|| self.sum_log_odds / self.count as f64 >= log_odds(threshold))
    }
}

/// ln(p / (1 - p)), with p kept away from 0 and 1.
pub fn log_odds(p: f32) -> f64 {
    let p = f64::from(p).clamp(CLAMP, 1.0 - CLAMP);
    (p / (1.0 - p)).ln()
}

/// The probability of log-odds `x`.
pub fn probability(x: f64) -> f32 {
    (1.0 / (1.0 + (-x).exp())) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decides_after_its_frames_and_never_changes_after() {
        let mut t = TrackLiveness::new(3);
        assert!(t.score().is_none() && t.is_live(0.5).is_none());
        t.add(0.9);
        t.add(0.9);
        assert!(t.wants_frame() && t.is_live(0.5).is_none(), "two frames do not decide");
        t.add(0.9);
        assert_eq!(t.is_live(0.5), Some(true));
        t.add(0.0);
        assert_eq!(t.frames_scored(), 3, "frames after the decision are not evidence");
        assert!((t.score().unwrap() - 0.9).abs() < 1e-5);
    }

    #[test]
    fn one_confident_frame_does_not_outvote_several() {
        // A print brought in front of the camera: its first three frames have a median of 0.6 (live
        // at 0.5), but the mean log-odds of five frames is low.
        let mut t = TrackLiveness::new(5);
        for p in [0.2, 0.95, 0.6, 0.01, 0.001] {
            t.add(p);
        }
        assert_eq!(t.is_live(0.5), Some(false), "score {:?}", t.score());
        // A live face with one frame that looks printed stays live.
        let mut t = TrackLiveness::new(5);
        for p in [0.99, 0.001, 0.98, 0.995, 0.97] {
            t.add(p);
        }
        assert_eq!(t.is_live(0.5), Some(true), "score {:?}", t.score());
    }

    #[test]
    fn log_odds_round_trip_and_stay_finite() {
        for p in [0.001f32, 0.04, 0.5, 0.93] {
            assert!((probability(log_odds(p)) - p).abs() < 1e-6);
        }
        assert!(log_odds(0.0).is_finite() && log_odds(1.0).is_finite());
        assert!(log_odds(0.0) < log_odds(1e-5));
    }
}
