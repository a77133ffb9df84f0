//! The 68-point landmark model (`fr_landmark.onnx`): a 64x64 grey crop of the face box in, 68 (x, y)
//! pairs out, each normalised to the crop. Used with UltraFace, which finds boxes only.

use crate::DetectError;
use image::RgbImage;
use ndarray::Array4;
use std::sync::Arc;
use visage_core::tensor::{resize_rgb, rgb_to_grey_bt601};
use visage_core::{BBox, Point};
use visage_infer::Model;

const SIDE: u32 = 64;

/// The 68-point landmark model.
pub struct Landmark68 {
    model: Arc<dyn Model>,
}

impl Landmark68 {
    pub fn new(model: Arc<dyn Model>) -> Self {
        Self { model }
    }

    /// The square crop the model expects for a detector box: side = the box height, centred on the
    /// box, shifted (not shrunk) to stay inside the image where possible.
    pub fn crop_rect(bbox: &BBox, width: u32, height: u32) -> (u32, u32, u32, u32) {
        let (w, h) = (width as f32, height as f32);
        let side = bbox.height().max(1.0).min(w).min(h);
        let c = bbox.center();
        let x0 = (c.x - side / 2.0).clamp(0.0, (w - side).max(0.0));
        let y0 = (c.y - side / 2.0).clamp(0.0, (h - side).max(0.0));
        let (x0, y0) = (x0.floor() as u32, y0.floor() as u32);
        let side = (side.round() as u32).max(1);
        (x0, y0, side.min(width - x0).max(1), side.min(height - y0).max(1))
    }

    /// The 68 landmarks of the face in `bbox`, in image pixels.
    pub fn predict(&self, image: &RgbImage, bbox: &BBox) -> Result<[Point; 68], DetectError> {
        let (x0, y0, cw, ch) = Self::crop_rect(bbox, image.width(), image.height());
        let crop = image::imageops::crop_imm(image, x0, y0, cw, ch).to_image();
        let grey = rgb_to_grey_bt601(&resize_rgb(&crop, SIDE, SIDE));
        let data: Vec<f32> = grey.as_raw().iter().map(|&v| v as f32 / 256.0).collect();
        let input = Array4::from_shape_vec((1, 1, SIDE as usize, SIDE as usize), data).expect("64x64");
        let outputs = self.model.run(input.into_dyn().view())?;
        let out = outputs.first().ok_or_else(|| DetectError::OutputShape("no output".into()))?;
        if out.len() != 136 {
            return Err(DetectError::OutputShape(format!("landmarks: {:?}", out.shape())));
        }
        let v: Vec<f32> = out.iter().copied().collect();
        Ok(std::array::from_fn(|i| Point::new(x0 as f32 + v[2 * i] * cw as f32, y0 as f32 + v[2 * i + 1] * ch as f32)))
    }

    /// The 5 alignment points from the 68 (iBUG numbering, 0-based): each eye is the mean of its four
    /// lid points (37, 38, 40, 41 and 43, 44, 46, 47), the nose tip is 30, and each mouth corner is the
    /// mean of its outer and inner corner (48 and 60, 54 and 64).
    pub fn to_five(p: &[Point; 68]) -> [Point; 5] {
        let mean = |idx: &[usize]| Point::mean(&idx.iter().map(|&i| p[i]).collect::<Vec<_>>()).expect("non-empty");
        [mean(&[37, 38, 40, 41]), mean(&[43, 44, 46, 47]), p[30], mean(&[48, 60]), mean(&[54, 64])]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_is_square_on_the_box_height_and_inside_the_image() {
        assert_eq!(Landmark68::crop_rect(&BBox::new(40.0, 20.0, 60.0, 60.0), 200, 100), (30, 20, 40, 40));
        // Near the right edge: shifted left to fit.
        assert_eq!(Landmark68::crop_rect(&BBox::new(180.0, 0.0, 200.0, 40.0), 200, 100), (160, 0, 40, 40));
        // Taller than the image: capped at the image.
        let (x, y, w, h) = Landmark68::crop_rect(&BBox::new(0.0, -50.0, 30.0, 150.0), 200, 100);
        assert!(x + w <= 200 && y + h <= 100 && w > 0 && h > 0);
    }

    #[test]
    fn five_points_from_68() {
        let mut p = [Point::default(); 68];
        for (i, q) in p.iter_mut().enumerate() {
            *q = Point::new(i as f32, 2.0 * i as f32);
        }
        let five = Landmark68::to_five(&p);
        assert_eq!(five[0], Point::new(39.0, 78.0));
        assert_eq!(five[1], Point::new(45.0, 90.0));
        assert_eq!(five[2], Point::new(30.0, 60.0));
        assert_eq!(five[3], Point::new(54.0, 108.0));
        assert_eq!(five[4], Point::new(59.0, 118.0));
    }
}
