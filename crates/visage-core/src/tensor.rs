//! Turning images into model inputs: resizing and planar (NCHW) float layout.

use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{GrayImage, RgbImage};

/// Resizes an RGB image to exactly `width` x `height` (aspect ratio not kept), bilinear with
/// antialiasing when shrinking. Zero target sizes are raised to 1.
pub fn resize_rgb(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (width, height) = (width.max(1), height.max(1));
    if src.dimensions() == (width, height) {
        return src.clone();
    }
    let src_view =
        ImageRef::new(src.width(), src.height(), src.as_raw(), PixelType::U8x3).expect("buffer matches its dimensions");
    let mut dst = FirImage::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new().resize(&src_view, &mut dst, &options).expect("same pixel type");
    RgbImage::from_raw(width, height, dst.into_vec()).expect("buffer matches its dimensions")
}

/// Grey from RGB with the ITU-R BT.601 weights (what OpenCV's `cvtColor` uses, and so what the
/// faceplugin models were fed).
pub fn rgb_to_grey_bt601(src: &RgbImage) -> GrayImage {
    GrayImage::from_fn(src.width(), src.height(), |x, y| {
        let [r, g, b] = src.get_pixel(x, y).0;
        let v = 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
        image::Luma([v.round().clamp(0.0, 255.0) as u8])
    })
}

/// Appends the image as planar RGB floats (`C x H x W`, the layout of one NCHW batch item) to `out`,
/// each value mapped to `(x - mean) * scale`.
pub fn push_nchw(src: &RgbImage, mean: f32, scale: f32, out: &mut Vec<f32>) {
    let plane = (src.width() * src.height()) as usize;
    let start = out.len();
    out.resize(start + 3 * plane, 0.0);
    let (r, rest) = out[start..].split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, px) in src.as_raw().chunks_exact(3).enumerate() {
        r[i] = (px[0] as f32 - mean) * scale;
        g[i] = (px[1] as f32 - mean) * scale;
        b[i] = (px[2] as f32 - mean) * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn nchw_layout_and_normalisation() {
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, Rgb([127, 255, 0]));
        img.put_pixel(1, 0, Rgb([255, 0, 127]));
        let mut out = vec![9.0];
        push_nchw(&img, 127.0, 1.0 / 128.0, &mut out);
        assert_eq!(out, vec![9.0, 0.0, 1.0, 1.0, -127.0 / 128.0, -127.0 / 128.0, 0.0]);
    }

    #[test]
    fn resize_keeps_flat_colour_and_size() {
        let img = RgbImage::from_pixel(250, 250, Rgb([10, 200, 30]));
        let out = resize_rgb(&img, 256, 96);
        assert_eq!(out.dimensions(), (256, 96));
        assert!(out.pixels().all(|p| p.0 == [10, 200, 30]));
        assert_eq!(resize_rgb(&img, 0, 0).dimensions(), (1, 1));
    }

    #[test]
    fn grey_uses_bt601() {
        let img = RgbImage::from_pixel(1, 1, Rgb([255, 0, 0]));
        assert_eq!(rgb_to_grey_bt601(&img).get_pixel(0, 0).0, [76]);
    }
}
