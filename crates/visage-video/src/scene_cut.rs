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

/// Points sampled per block side: a block's mean over an 8x8 grid of its pixels is within a few levels
/// of the mean of all of them (tested), and costs the same on a 1080p frame as on a 640x480 one (averaging
/// every pixel of a 1080p frame took 8 ms, a tenth of the watch's time per frame).
const SAMPLES: u32 = 8;

/// A small grey thumbnail: the mean luma of each block, over a grid of its pixels.
fn thumbnail(frame: &RgbImage) -> Vec<u8> {
    let (w, h) = frame.dimensions();
    if w == 0 || h == 0 {
        return vec![0; (THUMB.0 * THUMB.1) as usize];
    }
    let edge = |i: u32, n: u32, size: u32| (i as u64 * size as u64 / n as u64) as u32;
    let mut thumb = Vec::with_capacity((THUMB.0 * THUMB.1) as usize);
    for by in 0..THUMB.1 {
        let rows: Vec<u32> = positions(edge(by, THUMB.1, h), edge(by + 1, THUMB.1, h), h).collect();
        for bx in 0..THUMB.0 {
            let (mut sum, mut n) = (0u32, 0u32);
            for x in positions(edge(bx, THUMB.0, w), edge(bx + 1, THUMB.0, w), w) {
                for &y in &rows {
                    let p = frame.get_pixel(x, y);
                    sum += (p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000;
                    n += 1;
                }
            }
            thumb.push((sum / n) as u8);
        }
    }
    thumb
}

/// Up to [`SAMPLES`] evenly spaced positions in the block `[start, end)` of a side of `size` pixels
/// (at least one: a frame smaller than the thumbnail repeats its pixels).
fn positions(start: u32, end: u32, size: u32) -> impl Iterator<Item = u32> {
    let len = end.saturating_sub(start).max(1);
    let count = len.min(SAMPLES);
    (0..count).map(move |k| (start + (2 * k + 1) * len / (2 * count)).min(size - 1))
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

    #[test]
    fn sampled_block_means_are_close_to_the_exact_ones_at_any_size() {
        // A smooth picture (a gradient with a bright square) at 1080p: each block's sampled mean is
        // within a few levels of the mean of all its pixels.
        let frame = RgbImage::from_fn(1920, 1080, |x, y| {
            let v = if (600..900).contains(&x) && (300..700).contains(&y) { 230 } else { (x / 8 + y / 6) as u8 };
            Rgb([v, v, v])
        });
        let exact = image::imageops::thumbnail(&frame, THUMB.0, THUMB.1);
        let sampled = thumbnail(&frame);
        for (e, s) in exact.pixels().zip(&sampled) {
            assert!((e[0] as i32 - *s as i32).abs() <= 12, "{} vs {s}", e[0]);
        }
        let mean_error: f32 = exact.pixels().zip(&sampled).map(|(e, s)| (e[0] as f32 - *s as f32).abs()).sum::<f32>()
            / sampled.len() as f32;
        assert!(mean_error < 2.0, "{mean_error}");
        // Frames smaller than the thumbnail, and empty ones, still give a thumbnail.
        assert_eq!(thumbnail(&RgbImage::from_pixel(5, 3, Rgb([90, 90, 90]))), vec![90; (THUMB.0 * THUMB.1) as usize]);
        assert_eq!(thumbnail(&RgbImage::new(0, 0)).len(), (THUMB.0 * THUMB.1) as usize);
    }
}
