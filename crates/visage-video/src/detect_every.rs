//! How often the face detector runs: on every Nth frame, or by default at a fixed rate in video time
//! so that a camera's frame rate does not multiply the cost. Between detections the tracker predicts
//! each box; detection is what costs (on one core, CenterFace on a 640x480 frame takes some 30 ms,
//! which alone caps a detect-every-frame watch below 30 frames/s).

use std::fmt;
use std::str::FromStr;

/// Detector runs per second of video that [`DetectEvery::Auto`] aims at: a face crossing a door
/// moves little in 0.1 s, and the tracker's motion model fills the frames between.
pub const AUTO_DETECTIONS_PER_SECOND: f64 = 10.0;

/// The largest N of `--detect-every N`.
pub const MAX_DETECT_EVERY: u32 = 100;

/// How often the detector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetectEvery {
    /// About [`AUTO_DETECTIONS_PER_SECOND`] detections per second of video: every frame up to 14
    /// frames/s, every 2nd at 15 to 24, every 3rd at 25 to 34 (a 30 frames/s camera), and so on.
    #[default]
    Auto,
    /// Every Nth frame (1: every frame).
    Frames(u32),
}

impl DetectEvery {
    /// Every `n`th frame, `n` from 1 to [`MAX_DETECT_EVERY`].
    pub fn every(n: u32) -> Result<DetectEvery, String> {
        if (1..=MAX_DETECT_EVERY).contains(&n) {
            Ok(DetectEvery::Frames(n))
        } else {
            Err(format!("every Nth frame must be from 1 to {MAX_DETECT_EVERY}, not {n}"))
        }
    }

    /// N for a video at `fps` frames per second (1 when the rate is unknown).
    pub fn frames(self, fps: f64) -> u32 {
        match self {
            DetectEvery::Frames(n) => n.clamp(1, MAX_DETECT_EVERY),
            DetectEvery::Auto if fps.is_finite() && fps > 0.0 => {
                (fps / AUTO_DETECTIONS_PER_SECOND).round().clamp(1.0, MAX_DETECT_EVERY as f64) as u32
            }
            DetectEvery::Auto => 1,
        }
    }
}

impl FromStr for DetectEvery {
    type Err = String;

    /// `auto` or a whole number from 1 to [`MAX_DETECT_EVERY`].
    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("auto") {
            return Ok(DetectEvery::Auto);
        }
        let n = text.trim().parse::<u32>().ok();
        n.and_then(|n| DetectEvery::every(n).ok())
            .ok_or_else(|| format!("`{text}` is neither `auto` nor a whole number from 1 to {MAX_DETECT_EVERY}"))
    }
}

impl fmt::Display for DetectEvery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetectEvery::Auto => write!(f, "auto"),
            DetectEvery::Frames(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_detects_about_ten_times_a_second_of_video() {
        let auto = DetectEvery::Auto;
        assert_eq!([5.0, 10.0, 14.0, 15.0, 25.0, 30.0, 60.0].map(|fps| auto.frames(fps)), [1, 1, 1, 2, 3, 3, 6]);
        // An unknown or absurd rate falls back to every frame, or to the largest N.
        assert_eq!([0.0, f64::NAN, 1e9].map(|fps| auto.frames(fps)), [1, 1, MAX_DETECT_EVERY]);
        assert_eq!(DetectEvery::Frames(4).frames(30.0), 4);
        assert_eq!(DetectEvery::Frames(0).frames(30.0), 1);
    }

    #[test]
    fn parses_auto_and_numbers_and_refuses_the_rest() {
        assert_eq!("auto".parse(), Ok(DetectEvery::Auto));
        assert_eq!("3".parse(), Ok(DetectEvery::Frames(3)));
        for bad in ["0", "101", "-1", "2.5", "often", ""] {
            assert!(bad.parse::<DetectEvery>().is_err(), "{bad}");
        }
        assert_eq!(DetectEvery::every(100), Ok(DetectEvery::Frames(100)));
        assert!(DetectEvery::every(0).is_err() && DetectEvery::every(101).is_err());
        assert_eq!(DetectEvery::Frames(7).to_string(), "7");
        assert_eq!(DetectEvery::Auto.to_string(), "auto");
    }
}
