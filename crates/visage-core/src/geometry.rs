//! Points, boxes and non-maximum suppression.

use serde::{Deserialize, Serialize};

/// A point in image pixel coordinates (x to the right, y down).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    /// The mean of several points; `None` for an empty slice.
    pub fn mean(points: &[Point]) -> Option<Point> {
        if points.is_empty() {
            return None;
        }
        let n = points.len() as f32;
        let (sx, sy) = points.iter().fold((0.0, 0.0), |(sx, sy), p| (sx + p.x, sy + p.y));
        Some(Point::new(sx / n, sy / n))
    }
}

/// An axis-aligned box, corners `(x1, y1)` (top left) and `(x2, y2)` (bottom right), in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn center(&self) -> Point {
        Point::new((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// The shorter side: what "face size" means for a minimum-size filter.
    pub fn min_side(&self) -> f32 {
        self.width().min(self.height())
    }

    /// Intersection over union; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let iy = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// The box clipped to an image of `width` x `height` pixels.
    pub fn clip(&self, width: f32, height: f32) -> BBox {
        BBox::new(
            self.x1.clamp(0.0, width),
            self.y1.clamp(0.0, height),
            self.x2.clamp(0.0, width),
            self.y2.clamp(0.0, height),
        )
    }

    /// Scales x by `sx` and y by `sy` (e.g. from a model's input size back to the original pixels).
    pub fn scale(&self, sx: f32, sy: f32) -> BBox {
        BBox::new(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)
    }

    /// `[x1, y1, x2, y2]`, the shape used in JSON output.
    pub fn to_array(&self) -> [f32; 4] {
        [self.x1, self.y1, self.x2, self.y2]
    }
}

/// Greedy non-maximum suppression: keeps the highest-scoring item and drops every later item whose box
/// overlaps a kept one with IoU above `iou_threshold`. Returns the kept items, best first.
///
/// `key` gives each item's box and score, so detectors keep their own record type.
pub fn nms<T>(mut items: Vec<T>, iou_threshold: f32, key: impl Fn(&T) -> (BBox, f32)) -> Vec<T> {
    items.sort_by(|a, b| key(b).1.total_cmp(&key(a).1));
    let mut kept: Vec<T> = Vec::with_capacity(items.len().min(64));
    for item in items {
        let (bbox, _) = key(&item);
        if kept.iter().all(|k| key(k).0.iou(&bbox) <= iou_threshold) {
            kept.push(item);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        // Overlap 5x10 = 50, union 150.
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(BBox::default().iou(&BBox::default()), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_overlapping_and_all_disjoint() {
        let items = vec![
            (BBox::new(0.0, 0.0, 10.0, 10.0), 0.8),
            (BBox::new(1.0, 1.0, 11.0, 11.0), 0.9),
            (BBox::new(50.0, 50.0, 60.0, 60.0), 0.5),
            (BBox::new(0.5, 0.0, 10.5, 10.0), 0.7),
        ];
        let kept = nms(items, 0.3, |&(b, s)| (b, s));
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].1, 0.9);
        assert_eq!(kept[1].1, 0.5);
    }

    #[test]
    fn nms_threshold_is_respected() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0); // IoU 1/3 with a
        let kept = nms(vec![(a, 0.9), (b, 0.8)], 0.4, |&(b, s)| (b, s));
        assert_eq!(kept.len(), 2);
        let kept = nms(vec![(a, 0.9), (b, 0.8)], 0.3, |&(b, s)| (b, s));
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn clip_scale_center() {
        let b = BBox::new(-5.0, 10.0, 120.0, 50.0).clip(100.0, 40.0);
        assert_eq!(b, BBox::new(0.0, 10.0, 100.0, 40.0));
        assert_eq!(b.scale(2.0, 0.5), BBox::new(0.0, 5.0, 200.0, 20.0));
        assert_eq!(b.center(), Point::new(50.0, 25.0));
        assert_eq!(Point::mean(&[]), None);
    }
}
