//! Image-quality measures of a face crop, used to refuse poor templates.

use image::GrayImage;

/// Sharpness: the variance of the 4-neighbour Laplacian over the image's interior. Blur removes the
/// high frequencies the Laplacian responds to, so a blurred face scores low. Depends on content and
/// scale: compare crops of the same size (the aligned 112x112 face).
pub fn laplacian_variance(grey: &GrayImage) -> f32 {
    let (w, h) = grey.dimensions();
    if w < 3 || h < 3 {
        return 0.0;
    }
    let px = |x: u32, y: u32| grey.get_pixel(x, y).0[0] as f32;
    let (mut sum, mut sum2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let lap = px(x - 1, y) + px(x + 1, y) + px(x, y - 1) + px(x, y + 1) - 4.0 * px(x, y);
            sum += lap as f64;
            sum2 += (lap as f64) * (lap as f64);
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum2 / n - mean * mean) as f32
}

/// Mean brightness (0-255) and contrast (standard deviation) of a grey image.
pub fn brightness_contrast(grey: &GrayImage) -> (f32, f32) {
    let n = (grey.width() * grey.height()).max(1) as f64;
    let (sum, sum2) =
        grey.as_raw().iter().fold((0.0f64, 0.0f64), |(s, s2), &v| (s + v as f64, s2 + (v as f64).powi(2)));
    let mean = sum / n;
    (mean as f32, (sum2 / n - mean * mean).max(0.0).sqrt() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn flat_images_are_not_sharp_and_edges_are() {
        let flat = GrayImage::from_pixel(20, 20, Luma([128]));
        assert_eq!(laplacian_variance(&flat), 0.0);
        let checks = GrayImage::from_fn(20, 20, |x, y| Luma([if (x + y) % 2 == 0 { 0 } else { 255 }]));
        let blurred = image::imageops::blur(&checks, 2.0);
        assert!(laplacian_variance(&checks) > 100.0 * laplacian_variance(&blurred).max(1e-3));
        assert_eq!(laplacian_variance(&GrayImage::new(2, 2)), 0.0);
        let (b, c) = brightness_contrast(&checks);
        assert!((b - 127.5).abs() < 0.01 && (c - 127.5).abs() < 0.01);
    }
}
