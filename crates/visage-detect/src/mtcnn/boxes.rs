//! The box arithmetic of the MTCNN cascade (Zhang et al., 2016), as facenet-pytorch does it: P-Net's
//! grid cells to image windows, box regression, squaring, "Min" suppression and the crop rectangles.
//! Pure functions on [`Candidate`]s, tested by hand.

use visage_core::{BBox, Point};

/// P-Net looks at 12x12 windows ...
pub const CELL: f32 = 12.0;
/// ... every 2 pixels of its input.
pub const STRIDE: f32 = 2.0;

/// A face candidate between stages: its box in image pixels, score, and the regression the last stage
/// predicted for it (offsets as fractions of the box's width and height).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub bbox: BBox,
    pub score: f32,
    pub reg: [f32; 4],
    pub landmarks: Option<[Point; 5]>,
}

/// The P-Net candidates of one pyramid level: every cell of the `rows` x `cols` output whose face
/// probability `prob[row * cols + col]` is at least `threshold`, mapped back through `scale` (input
/// pixels per image pixel) to its 12x12 window in the image. `reg` holds the 4 regression planes, one
/// after the other.
pub fn pnet_candidates(
    prob: &[f32],
    reg: &[f32],
    rows: usize,
    cols: usize,
    scale: f32,
    threshold: f32,
) -> Vec<Candidate> {
    let plane = rows * cols;
    let mut out = Vec::new();
    for (i, &score) in prob.iter().enumerate().take(plane) {
        if score < threshold {
            continue;
        }
        let (row, col) = ((i / cols) as f32, (i % cols) as f32);
        let x1 = ((STRIDE * col + 1.0) / scale).floor();
        let y1 = ((STRIDE * row + 1.0) / scale).floor();
        let x2 = ((STRIDE * col + CELL) / scale).floor();
        let y2 = ((STRIDE * row + CELL) / scale).floor();
        out.push(Candidate {
            bbox: BBox::new(x1, y1, x2, y2),
            score,
            reg: [reg[i], reg[plane + i], reg[2 * plane + i], reg[3 * plane + i]],
            landmarks: None,
        });
    }
    out
}

/// Applies the candidate's regression: each corner moves by its offset times the box's width or
/// height; `inclusive` counts the sides as `x2 - x1 + 1` (stages 2 and 3) rather than `x2 - x1`
/// (stage 1).
pub fn regress(c: &Candidate, inclusive: bool) -> BBox {
    let extra = if inclusive { 1.0 } else { 0.0 };
    let (w, h) = (c.bbox.x2 - c.bbox.x1 + extra, c.bbox.y2 - c.bbox.y1 + extra);
    BBox::new(c.bbox.x1 + c.reg[0] * w, c.bbox.y1 + c.reg[1] * h, c.bbox.x2 + c.reg[2] * w, c.bbox.y2 + c.reg[3] * h)
}

/// The square with the box's centre and its longer side.
pub fn square(b: BBox) -> BBox {
    let (w, h) = (b.x2 - b.x1, b.y2 - b.y1);
    let side = w.max(h);
    let x1 = b.x1 + w * 0.5 - side * 0.5;
    let y1 = b.y1 + h * 0.5 - side * 0.5;
    BBox::new(x1, y1, x1 + side, y1 + side)
}

/// The pixels to crop for a box, as `(x, y, width, height)` inside a `width` x `height` image: the box
/// truncated to whole pixels and clipped (facenet-pytorch crops rather than pads). `None` when nothing
/// of it is inside.
pub fn crop_rect(b: &BBox, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
    // MTCNN's boxes count pixels from 1: the crop is [x1 - 1, x2) in 0-based pixels.
    let x = (b.x1.trunc() as i64).max(1) - 1;
    let y = (b.y1.trunc() as i64).max(1) - 1;
    let ex = (b.x2.trunc() as i64).min(width as i64);
    let ey = (b.y2.trunc() as i64).min(height as i64);
    (ex > x && ey > y).then(|| (x as u32, y as u32, (ex - x) as u32, (ey - y) as u32))
}

/// O-Net's landmarks (`l`: 5 x then 5 y, as fractions of the box) in image pixels.
pub fn landmarks(b: &BBox, l: &[f32]) -> [Point; 5] {
    let (w, h) = (b.x2 - b.x1 + 1.0, b.y2 - b.y1 + 1.0);
    std::array::from_fn(|k| Point::new(w * l[k] + b.x1 - 1.0, h * l[5 + k] + b.y1 - 1.0))
}

/// Greedy suppression with the overlap measured against the smaller box (intersection over the
/// smaller area, MTCNN's "Min" method), which removes boxes nested inside a better one. Best first.
pub fn nms_min(mut items: Vec<Candidate>, threshold: f32) -> Vec<Candidate> {
    items.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in items {
        let overlaps = |k: &Candidate| {
            let (a, b) = (&k.bbox, &c.bbox);
            let iw = (a.x2.min(b.x2) - a.x1.max(b.x1) + 1.0).max(0.0);
            let ih = (a.y2.min(b.y2) - a.y1.max(b.y1) + 1.0).max(0.0);
            let area = |r: &BBox| (r.x2 - r.x1 + 1.0) * (r.y2 - r.y1 + 1.0);
            iw * ih / area(a).min(area(b)).max(f32::MIN_POSITIVE) > threshold
        };
        if !kept.iter().any(overlaps) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(bbox: BBox, score: f32) -> Candidate {
        Candidate { bbox, score, reg: [0.0; 4], landmarks: None }
    }

    #[test]
    fn pnet_cells_map_to_their_windows() {
        // A 2x3 output; only cell (row 1, col 2) passes. At scale 0.5 its window starts at
        // (2*2+1)/0.5 = 10, (2*1+1)/0.5 = 6 and ends at (2*2+12)/0.5 = 32, (2*1+12)/0.5 = 28.
        let prob = [0.1, 0.2, 0.3, 0.4, 0.5, 0.9];
        let reg: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let found = pnet_candidates(&prob, &reg, 2, 3, 0.5, 0.6);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bbox, BBox::new(10.0, 6.0, 32.0, 28.0));
        assert_eq!(found[0].score, 0.9);
        assert_eq!(found[0].reg, [5.0, 11.0, 17.0, 23.0], "the 4 planes of cell 5");
    }

    #[test]
    fn regression_squaring_and_landmarks() {
        let c = Candidate {
            bbox: BBox::new(10.0, 20.0, 30.0, 60.0),
            score: 1.0,
            reg: [0.1, -0.1, 0.5, 0.0],
            landmarks: None,
        };
        assert_eq!(regress(&c, false), BBox::new(12.0, 16.0, 40.0, 60.0));
        // Inclusive sides: 21 x 41.
        let r = regress(&c, true);
        assert!((r.x1 - 12.1).abs() < 1e-5 && (r.y1 - 15.9).abs() < 1e-5 && (r.x2 - 40.5).abs() < 1e-5);
        // 20 x 40 becomes a 40 x 40 square with the same centre (20, 40).
        assert_eq!(square(BBox::new(10.0, 20.0, 30.0, 60.0)), BBox::new(0.0, 20.0, 40.0, 60.0));
        let l = [0.0, 1.0, 0.5, 0.25, 0.75, 0.0, 0.0, 0.5, 1.0, 1.0];
        let p = landmarks(&BBox::new(10.0, 20.0, 29.0, 39.0), &l);
        assert_eq!(p[0], Point::new(9.0, 19.0));
        assert_eq!(p[1], Point::new(29.0, 19.0));
        assert_eq!(p[2], Point::new(19.0, 29.0));
    }

    #[test]
    fn crops_are_clipped_to_the_image() {
        assert_eq!(crop_rect(&BBox::new(10.7, 20.2, 30.9, 40.0), 100, 100), Some((9, 19, 21, 21)));
        assert_eq!(crop_rect(&BBox::new(-15.0, -5.0, 30.0, 200.0), 100, 100), Some((0, 0, 30, 100)));
        assert_eq!(crop_rect(&BBox::new(120.0, 10.0, 150.0, 40.0), 100, 100), None);
    }

    #[test]
    fn min_suppression_drops_nested_boxes() {
        let outer = candidate(BBox::new(0.0, 0.0, 99.0, 99.0), 0.9);
        let nested = candidate(BBox::new(10.0, 10.0, 39.0, 39.0), 0.8); // IoU 0.09, but fully inside
        let apart = candidate(BBox::new(200.0, 0.0, 239.0, 39.0), 0.7);
        let kept = nms_min(vec![nested, apart.clone(), outer.clone()], 0.7);
        assert_eq!(kept, vec![outer, apart]);
    }
}
