//! Active liveness (challenge-response) over a sequence of frames: the same face must perform the
//! challenges in order: turn left, turn right, blink. A printed photo can be held up, but it cannot
//! turn its head or blink on request.
//!
//! "Left" and "right" are the person's own: turning to their left moves the face towards the image's
//! right (of an unmirrored camera), so the yaw (positive towards the image's left) decreases.

use crate::attributes::AttributeSet;
use crate::{choose_face, FaceAnalyzer, FaceChoice, ImageSource, VisageError};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use visage_core::cosine_similarity;

/// One thing the person is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Challenge {
    TurnLeft,
    TurnRight,
    Blink,
}

impl FromStr for Challenge {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "turn-left" | "left" => Ok(Challenge::TurnLeft),
            "turn-right" | "right" => Ok(Challenge::TurnRight),
            "blink" => Ok(Challenge::Blink),
            other => Err(format!("unknown challenge '{other}' (expected turn-left, turn-right or blink)")),
        }
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Challenge::TurnLeft => "turn-left",
            Challenge::TurnRight => "turn-right",
            Challenge::Blink => "blink",
        })
    }
}

/// How the challenges are judged.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeOptions {
    /// A turn counts when the yaw differs from the first frame's by at least this many degrees.
    pub min_yaw_change: f32,
    /// Every frame's face must match the first frame's at least this well (cosine similarity);
    /// `None`: the verification threshold.
    pub same_face_threshold: Option<f32>,
}

impl Default for ChallengeOptions {
    fn default() -> Self {
        Self { min_yaw_change: 15.0, same_face_threshold: None }
    }
}

/// What one frame shows.
#[derive(Debug, Clone, Serialize)]
pub struct FrameObservation {
    pub frame: String,
    /// `false`: no face in this frame (it is skipped).
    pub face: bool,
    pub yaw: Option<f32>,
    /// Both eyes open / both closed (`None` without a face).
    pub eyes_open: Option<bool>,
    pub eyes_closed: Option<bool>,
    /// Cosine similarity of this frame's face with the first face's.
    pub similarity_to_first: Option<f32>,
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
}

/// One challenge and the frames that performed it.
#[derive(Debug, Clone, Serialize)]
pub struct ChallengeStep {
    pub challenge: Challenge,
    pub passed: bool,
    /// Indices (into the frame list) of the frames that satisfied it; for a blink, the closed frames
    /// then the first open one after them.
    pub frames: Vec<usize>,
}

/// The verdict on a sequence.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveLivenessReport {
    pub passed: bool,
    pub same_face: bool,
    pub steps: Vec<ChallengeStep>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub frames: Vec<FrameObservation>,
}

/// Judges observations against challenges in order. Frames without a face are skipped.
pub fn judge(
    frames: Vec<FrameObservation>,
    challenges: &[Challenge],
    min_yaw_change: f32,
    same_face_threshold: f32,
) -> ActiveLivenessReport {
    let with_face: Vec<usize> = frames.iter().enumerate().filter(|(_, f)| f.face).map(|(i, _)| i).collect();
    let Some(&first) = with_face.first() else {
        return ActiveLivenessReport {
            passed: false,
            same_face: false,
            steps: Vec::new(),
            reason: Some("no face in any frame".into()),
            frames,
        };
    };
    let stranger =
        with_face.iter().find(|&&i| frames[i].similarity_to_first.is_some_and(|s| s < same_face_threshold)).copied();
    let base_yaw = frames[first].yaw.unwrap_or(0.0);
    let mut steps = Vec::new();
    let mut cursor = 0usize; // position in with_face
    for &challenge in challenges {
        let mut step = ChallengeStep { challenge, passed: false, frames: Vec::new() };
        match challenge {
            Challenge::TurnLeft | Challenge::TurnRight => {
                let sign = if challenge == Challenge::TurnLeft { -1.0 } else { 1.0 };
                let turned = |i: usize| frames[i].yaw.is_some_and(|y| sign * (y - base_yaw) >= min_yaw_change);
                while cursor < with_face.len() && !turned(with_face[cursor]) {
                    cursor += 1;
                }
                while cursor < with_face.len() && turned(with_face[cursor]) {
                    step.frames.push(with_face[cursor]);
                    cursor += 1;
                }
            }
            Challenge::Blink => {
                let closed = |i: usize| frames[i].eyes_closed == Some(true);
                let open = |i: usize| frames[i].eyes_open == Some(true);
                while cursor < with_face.len() && !closed(with_face[cursor]) {
                    cursor += 1;
                }
                let mut closed_frames = Vec::new();
                while cursor < with_face.len() && !open(with_face[cursor]) {
                    if closed(with_face[cursor]) {
                        closed_frames.push(with_face[cursor]);
                    }
                    cursor += 1;
                }
                if !closed_frames.is_empty() && cursor < with_face.len() {
                    step.frames = closed_frames;
                    step.frames.push(with_face[cursor]);
                    cursor += 1;
                }
            }
        }
        step.passed = !step.frames.is_empty();
        steps.push(step);
    }
    let same_face = stranger.is_none();
    let reason = if let Some(i) = stranger {
        Some(format!(
            "frame {} ({}) shows a different face (similarity {:.3} to the first, minimum {same_face_threshold:.3})",
            i,
            frames[i].frame,
            frames[i].similarity_to_first.unwrap_or_default()
        ))
    } else {
        steps.iter().find(|s| !s.passed).map(|s| format!("challenge '{}' was not performed in order", s.challenge))
    };
    ActiveLivenessReport { passed: reason.is_none(), same_face, steps, reason, frames }
}

impl FaceAnalyzer {
    /// What each frame shows: its largest face's yaw, eye state and similarity to the first face.
    pub fn observe_frames(&self, frames: &[ImageSource]) -> Result<Vec<FrameObservation>, VisageError> {
        let mut first_embedding: Option<Vec<f32>> = None;
        let mut out = Vec::with_capacity(frames.len());
        for source in frames {
            let name = source.name().display().to_string();
            let image = self.load(source)?;
            let faces = self.detect(&image)?;
            let Ok(face) = choose_face(&faces, FaceChoice::Largest, image.width(), image.height()) else {
                out.push(FrameObservation {
                    frame: name,
                    face: false,
                    yaw: None,
                    eyes_open: None,
                    eyes_closed: None,
                    similarity_to_first: None,
                    embedding: None,
                });
                continue;
            };
            let attrs = self.attributes(&image, face, AttributeSet::QUALITY, None)?;
            let (embeddings, ..) = self.embed_detections(&image, std::slice::from_ref(face))?;
            let embedding = embeddings.into_iter().next().expect("one face");
            let similarity = first_embedding.as_ref().map(|f| cosine_similarity(f, &embedding));
            if first_embedding.is_none() {
                first_embedding = Some(embedding.clone());
            }
            let eyes = attrs.eyes.expect("asked for eyes");
            out.push(FrameObservation {
                frame: name,
                face: true,
                yaw: attrs.pose.map(|p| p.yaw),
                eyes_open: Some(eyes.left_open && eyes.right_open),
                eyes_closed: Some(!eyes.left_open && !eyes.right_open),
                similarity_to_first: Some(similarity.unwrap_or(1.0)),
                embedding: Some(embedding),
            });
        }
        Ok(out)
    }

    /// Checks that the same face performs `challenges` in order over `frames`.
    pub fn check_challenges(
        &self,
        frames: &[ImageSource],
        challenges: &[Challenge],
        options: &ChallengeOptions,
    ) -> Result<ActiveLivenessReport, VisageError> {
        let observations = self.observe_frames(frames)?;
        let threshold = options.same_face_threshold.unwrap_or_else(|| self.verifier().threshold);
        Ok(judge(observations, challenges, options.min_yaw_change, threshold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(yaw: f32, open: bool, closed: bool, sim: f32) -> FrameObservation {
        FrameObservation {
            frame: String::new(),
            face: true,
            yaw: Some(yaw),
            eyes_open: Some(open),
            eyes_closed: Some(closed),
            similarity_to_first: Some(sim),
            embedding: None,
        }
    }

    const ALL: [Challenge; 3] = [Challenge::TurnLeft, Challenge::TurnRight, Challenge::Blink];

    #[test]
    fn challenges_in_order_pass_with_their_frames() {
        let frames = vec![
            obs(2.0, true, false, 1.0),
            obs(-20.0, true, false, 0.8), // left: yaw down by 22
            obs(-25.0, true, false, 0.8),
            obs(20.0, true, false, 0.7), // right
            obs(0.0, false, true, 0.7),  // closed
            obs(0.0, true, false, 0.7),  // open again
        ];
        let r = judge(frames, &ALL, 15.0, 0.33);
        assert!(r.passed, "{:?}", r.reason);
        assert_eq!(r.steps[0].frames, vec![1, 2]);
        assert_eq!(r.steps[1].frames, vec![3]);
        assert_eq!(r.steps[2].frames, vec![4, 5]);
    }

    #[test]
    fn wrong_order_missing_reopen_and_another_face_fail() {
        let right_then_left =
            vec![obs(0.0, true, false, 1.0), obs(20.0, true, false, 0.8), obs(-20.0, true, false, 0.8)];
        let r = judge(right_then_left, &ALL[..2], 15.0, 0.33);
        assert!(!r.passed && r.steps[0].passed && !r.steps[1].passed);

        let never_reopened = vec![obs(0.0, true, false, 1.0), obs(0.0, false, true, 0.9)];
        let r = judge(never_reopened, &[Challenge::Blink], 15.0, 0.33);
        assert!(!r.passed && r.reason.unwrap().contains("blink"));

        let swapped = vec![obs(0.0, true, false, 1.0), obs(-20.0, true, false, 0.1)];
        let r = judge(swapped, &[Challenge::TurnLeft], 15.0, 0.33);
        assert!(!r.passed && !r.same_face && r.reason.unwrap().contains("different face"));

        let r = judge(Vec::new(), &ALL, 15.0, 0.33);
        assert!(!r.passed);
    }
}
