//! Face images cut from the user's photos: thumbnails for the HTML export, and the crop that carries
//! one face to the gallery at `library enroll`. Nothing here writes to disk.

use image::{imageops, RgbImage};
use std::path::Path;

/// The square region around a face box, grown by `margin` (a share of the box's longer side) on each
/// side and clamped to the image: `(x, y, side_w, side_h)`.
pub fn face_region(width: u32, height: u32, bbox: [f32; 4], margin: f32) -> (u32, u32, u32, u32) {
    let [x1, y1, x2, y2] = bbox;
    let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let half = (x2 - x1).max(y2 - y1).max(1.0) * (0.5 + margin);
    let left = (cx - half).clamp(0.0, width.saturating_sub(1) as f32) as u32;
    let top = (cy - half).clamp(0.0, height.saturating_sub(1) as f32) as u32;
    let right = ((cx + half).ceil() as u32).clamp(left + 1, width.max(left + 1));
    let bottom = ((cy + half).ceil() as u32).clamp(top + 1, height.max(top + 1));
    (left, top, right - left, bottom - top)
}

/// A `size`-pixel square thumbnail of the face in `bbox`, with some context around it.
pub fn thumbnail(image: &RgbImage, bbox: [f32; 4], size: u32) -> RgbImage {
    let crop = face_crop(image, bbox, 0.25);
    imageops::resize(&crop, size, size, imageops::FilterType::Triangle)
}

/// The face in `bbox` with `margin` around it, at the photo's full detail.
pub fn face_crop(image: &RgbImage, bbox: [f32; 4], margin: f32) -> RgbImage {
    let (x, y, w, h) = face_region(image.width(), image.height(), bbox, margin);
    imageops::crop_imm(image, x, y, w, h).to_image()
}

/// An image encoded as PNG (lossless: what goes to the gallery keeps the detail the crop has).
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// Writes an image as a JPEG file.
pub fn save_jpeg(image: &RgbImage, path: &Path) -> Result<(), image::ImageError> {
    image.save_with_format(path, image::ImageFormat::Jpeg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_stay_inside_the_image() {
        assert_eq!(face_region(100, 100, [40.0, 40.0, 60.0, 60.0], 0.5), (30, 30, 40, 40));
        let (x, y, w, h) = face_region(100, 80, [90.0, -5.0, 120.0, 30.0], 0.5);
        assert!(x + w <= 100 && y + h <= 80 && w > 0 && h > 0);
    }

    #[test]
    fn thumbnails_have_the_asked_size() {
        let img = RgbImage::new(300, 200);
        let t = thumbnail(&img, [100.0, 50.0, 160.0, 130.0], 96);
        assert_eq!(t.dimensions(), (96, 96));
    }
}
