//! The letterbox InsightFace's detectors (SCRFD, RetinaFace) are fed: the image shrunk or enlarged,
//! aspect ratio kept, to fit the network input (640x640, InsightFace's `det_size`), placed at the top
//! left of a black input, and the way back from network pixels to the image's.

use image::RgbImage;
use visage_core::tensor::resize_rgb;
use visage_core::{BBox, Point};

/// An image placed in a network input of a fixed size.
#[derive(Debug, Clone)]
pub struct Letterbox {
    /// The input image: the resized photo at the top left, black elsewhere.
    pub image: RgbImage,
    /// Network pixels per image pixel (InsightFace's `det_scale`: the resized height over the image's).
    pub scale: f32,
}

impl Letterbox {
    /// Fits `image` into `in_w` x `in_h` as InsightFace does: the side that limits is filled, the
    /// other rounded down.
    pub fn fit(image: &RgbImage, in_w: u32, in_h: u32) -> Letterbox {
        let (w, h) = (image.width().max(1) as f32, image.height().max(1) as f32);
        let (im_ratio, model_ratio) = (h / w, in_h as f32 / in_w as f32);
        let (new_w, new_h) = if im_ratio > model_ratio {
            (((in_h as f32 / im_ratio) as u32).max(1), in_h)
        } else {
            (in_w, ((in_w as f32 * im_ratio) as u32).max(1))
        };
        let resized = resize_rgb(image, new_w, new_h);
        let mut input = RgbImage::new(in_w, in_h);
        image::imageops::replace(&mut input, &resized, 0, 0);
        Letterbox { image: input, scale: new_h as f32 / h }
    }

    /// A point in network pixels, back in image pixels.
    pub fn point(&self, p: Point) -> Point {
        Point::new(p.x / self.scale, p.y / self.scale)
    }

    /// A box in network pixels, back in image pixels.
    pub fn bbox(&self, b: BBox) -> BBox {
        b.scale(1.0 / self.scale, 1.0 / self.scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_and_tall_images_fill_their_limiting_side() {
        let wide = Letterbox::fit(&RgbImage::new(1280, 480), 640, 640);
        assert_eq!(wide.scale, 0.5);
        assert_eq!(wide.image.dimensions(), (640, 640));
        let tall = Letterbox::fit(&RgbImage::from_pixel(300, 600, image::Rgb([9, 9, 9])), 640, 640);
        assert!((tall.scale - 640.0 / 600.0).abs() < 1e-6);
        // 300 * 640 / 600 = 320 columns of photo, then black.
        assert_eq!(tall.image.get_pixel(319, 10).0, [9, 9, 9]);
        assert_eq!(tall.image.get_pixel(320, 10).0, [0, 0, 0]);
        let back = tall.point(Point::new(64.0, 128.0));
        assert!((back.x - 60.0).abs() < 1e-4 && (back.y - 120.0).abs() < 1e-4, "{back:?}");
    }
}
