//! Drawing detections onto an image for `--draw` output.

use crate::geometry::{BBox, Point};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_hollow_rect_mut};
use imageproc::rect::Rect;

/// Draws a box (with a line width that grows with the image) and its landmarks.
pub fn draw_face(image: &mut RgbImage, bbox: &BBox, landmarks: &[Point], color: Rgb<u8>) {
    let (w, h) = image.dimensions();
    let thickness = ((w.max(h) as f32 / 400.0).round() as i32).max(1);
    for t in 0..thickness {
        let x = bbox.x1.round() as i32 - t;
        let y = bbox.y1.round() as i32 - t;
        let bw = (bbox.width().round() as i32 + 2 * t).max(1) as u32;
        let bh = (bbox.height().round() as i32 + 2 * t).max(1) as u32;
        draw_hollow_rect_mut(image, Rect::at(x, y).of_size(bw, bh), color);
    }
    let radius = (thickness + 1).max(2);
    for p in landmarks {
        draw_filled_circle_mut(image, (p.x.round() as i32, p.y.round() as i32), radius, Rgb([255, 64, 64]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_box_edges_and_points_inside_bounds() {
        let mut img = RgbImage::new(50, 50);
        draw_face(&mut img, &BBox::new(10.0, 10.0, 30.0, 40.0), &[Point::new(20.0, 20.0)], Rgb([0, 255, 0]));
        assert_eq!(img.get_pixel(10, 25), &Rgb([0, 255, 0]));
        assert_eq!(img.get_pixel(20, 20), &Rgb([255, 64, 64]));
        assert_eq!(img.get_pixel(2, 2), &Rgb([0, 0, 0]));
        // Boxes partly outside the image are clipped, not a panic.
        draw_face(&mut img, &BBox::new(-10.0, 45.0, 80.0, 90.0), &[Point::new(-5.0, 60.0)], Rgb([0, 255, 0]));
    }
}
