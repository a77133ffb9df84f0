//! Cut detection: a video made of several shots (or a camera that is moved) changes the whole frame
//! at once, which IoU tracking cannot see when the new face sits where the old one was. A cut makes
//! every track check its face again.

use image::RgbImage;

/// Side of the grey thumbnail compared between frames.
const THUMB: (u32, u32) = (32, 24);

/// Mean absolute difference of thumbnails (0-255) above which two frames are different shots.
pub const DEFAULT_CUT_THRESHOLD: f32 = 30.0;

/// Remembers the last frame's thumbnail and says when the next one is a different shot.
#[derive(Debug, Default)]
pub struct CutDetector {
    last: Option<Vec<u8>>,
    threshold: f32,
}

impl CutDetector {
    /// A detector reporting a cut above `threshold` (see [`DEFAULT_CUT_THRESHOLD`]).
    pub fn new(threshold: f32) -> CutDetector {
        CutDetector { last: None, threshold }
    }

    /// Whether `frame` starts a new shot (never for the first frame).
    pub fn is_cut(&mut self, frame: &RgbImage) -> bool {
        let thumb = thumbnail(frame);
        let cut = self.last.as_ref().is_some_and(|last| mean_abs_diff(last, &thumb) > self.threshold);
        self.last = Some(thumb);
        cut
    }
}

/// A small grey thumbnail (block averages).
fn thumbnail(frame: &RgbImage) -> Vec<u8> {
    let small = image::imageops::thumbnail(frame, THUMB.0, THUMB.1);
    small.pixels().map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8).collect()
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return f32::MAX;
    }
    a.iter().zip(b).map(|(x, y)| (*x as i32 - *y as i32).unsigned_abs()).sum::<u32>() as f32 / a.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn a_new_shot_is_a_cut_and_small_changes_are_not() {
        let mut d = CutDetector::new(DEFAULT_CUT_THRESHOLD);
        let dark = RgbImage::from_pixel(64, 48, Rgb([40, 40, 40]));
        let mut moved = dark.clone();
        for x in 0..8 {
            for y in 0..8 {
                moved.put_pixel(x, y, Rgb([250, 250, 250]));
            }
        }
        let bright = RgbImage::from_pixel(64, 48, Rgb([200, 180, 160]));
        assert!(!d.is_cut(&dark));
        assert!(!d.is_cut(&moved));
        assert!(d.is_cut(&bright));
        assert!(!d.is_cut(&bright));
    }
}
