//! Decoding a photo no larger than needed: a JPEG is decoded with DCT scaling (each side 1/2, 1/4 or
//! 1/8, through the `jpeg-decoder` crate's reduced inverse DCT) when a smaller image is all the caller
//! needs, so a 12-megapixel photo that the detector shrinks to 640 pixels is never decoded in full.
//!
//! Every check of [`decode_image`] runs first (format, file size, truncated JPEG, pixel limit, before
//! any pixel memory is allocated), EXIF orientation is applied, and grey JPEGs become RGB. JPEGs that
//! the reduced decoder does not handle (CMYK, 12-bit, lossless, or any it fails on) and every other
//! format are decoded at full size by [`decode_image`], with its errors.

use crate::image::{check_size, checked_decoder, decode_image, ImageError, LoadOptions};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, RgbImage};
use jpeg_decoder::{CodingProcess, PixelFormat};

/// An image decoded at some scale of its full size.
#[derive(Debug, Clone)]
pub struct ScaledImage {
    /// The decoded pixels, upright (EXIF orientation applied).
    pub image: RgbImage,
    /// The full image's upright width, in pixels.
    pub full_width: u32,
    /// The full image's upright height, in pixels.
    pub full_height: u32,
}

impl ScaledImage {
    /// Pixels of [`ScaledImage::image`] per pixel of the full image, horizontally and vertically (1.0
    /// for a full decode).
    pub fn scale(&self) -> (f32, f32) {
        (self.image.width() as f32 / self.full_width as f32, self.image.height() as f32 / self.full_height as f32)
    }

    /// Whether the image was decoded at full size.
    pub fn is_full(&self) -> bool {
        self.image.dimensions() == (self.full_width, self.full_height)
    }

    /// Whether the image is at least `width` x `height` (or at full size, which is as large as it gets).
    pub fn covers(&self, width: u32, height: u32) -> bool {
        self.is_full() || (self.image.width() >= width && self.image.height() >= height)
    }
}

/// Decodes `bytes` to an upright RGB image at least as large as `need` says for the full upright
/// width and height (`need(width, height)`, never more than the full size), as small as JPEG DCT
/// scaling allows; full size for other formats.
pub fn decode_image_at_least(
    bytes: &[u8],
    options: &LoadOptions,
    need: impl FnOnce(u32, u32) -> (u32, u32),
) -> Result<ScaledImage, ImageError> {
    check_size(bytes, options)?;
    let (mut decoder, _) = checked_decoder(bytes, options)?;
    let (width, height) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    drop(decoder);
    let upright = if swaps_sides(orientation) { (height, width) } else { (width, height) };
    let (min_width, min_height) = need(upright.0, upright.1);
    let is_jpeg = image::guess_format(bytes).ok() == Some(ImageFormat::Jpeg);
    if is_jpeg {
        // The minimum in the stored (not yet rotated) orientation.
        let (need_w, need_h) = if swaps_sides(orientation) { (min_height, min_width) } else { (min_width, min_height) };
        if let Some(stored) = reduced_jpeg(bytes, options, (width, height), (need_w, need_h)) {
            let mut img = DynamicImage::ImageRgb8(stored);
            img.apply_orientation(orientation);
            let image = img.into_rgb8();
            return Ok(ScaledImage { image, full_width: upright.0, full_height: upright.1 });
        }
    }
    let image = decode_image(bytes, options)?;
    Ok(ScaledImage { full_width: image.width(), full_height: image.height(), image })
}

/// Whether an EXIF orientation turns the image by a quarter (width and height swap).
fn swaps_sides(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// The largest DCT reduction (8, 4 or 2: each side divided by it, rounded up) that keeps a `width` x
/// `height` image at least `need` in both sides; `None` when no reduction does.
pub fn jpeg_reduction(width: u32, height: u32, need: (u32, u32)) -> Option<u32> {
    [8, 4, 2].into_iter().find(|&d| width.div_ceil(d) >= need.0 && height.div_ceil(d) >= need.1)
}

/// The stored (unrotated) pixels of a JPEG decoded at the largest reduction that keeps it at least
/// `need`; `None` when there is no reduction to make or the reduced decoder cannot decode this file
/// (the full decoder then decides, with its own error if the file is bad).
fn reduced_jpeg(bytes: &[u8], options: &LoadOptions, full: (u32, u32), need: (u32, u32)) -> Option<RgbImage> {
    let reduction = jpeg_reduction(full.0, full.1, need)?;
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let plain = matches!(info.pixel_format, PixelFormat::L8 | PixelFormat::RGB24)
        && info.coding_process != CodingProcess::Lossless
        && (u32::from(info.width), u32::from(info.height)) == full;
    if !plain {
        return None;
    }
    // The decoder's own allocation cap, as for full decodes: a few bytes per pixel of the limit.
    decoder.set_max_decoding_buffer_size(usize::try_from(options.max_pixels.saturating_mul(4)).unwrap_or(usize::MAX));
    let target = (full.0.div_ceil(reduction), full.1.div_ceil(reduction));
    let (w, h) = decoder.scale(target.0 as u16, target.1 as u16).ok()?;
    if (u32::from(w), u32::from(h)) != target {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    match info.pixel_format {
        PixelFormat::RGB24 => RgbImage::from_raw(target.0, target.1, pixels),
        _ => image::GrayImage::from_raw(target.0, target.1, pixels).map(|g| DynamicImage::ImageLuma8(g).into_rgb8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, Rgb};
    use std::io::Cursor;

    /// A smooth test picture: a gradient with a dark disc, so reduced and full decodes can be compared.
    fn picture(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (dx, dy) = (x as f32 - w as f32 * 0.3, y as f32 - h as f32 * 0.6);
            let disc = dx * dx + dy * dy < (w.min(h) as f32 * 0.2).powi(2);
            let v = if disc { 30 } else { (x * 200 / w) as u8 + 20 };
            Rgb([v, (y * 255 / h) as u8, 128])
        })
    }

    fn jpeg(img: &DynamicImage) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, ImageFormat::Jpeg).unwrap();
        buf.into_inner()
    }

    /// Mean absolute difference between `small` and `full` shrunk to `small`'s size.
    fn mean_diff(small: &RgbImage, full: &RgbImage) -> f64 {
        let shrunk = crate::tensor::resize_rgb(full, small.width(), small.height());
        let sum: u64 = small.as_raw().iter().zip(shrunk.as_raw()).map(|(a, b)| a.abs_diff(*b) as u64).sum();
        sum as f64 / small.as_raw().len() as f64
    }

    #[test]
    fn picks_the_largest_reduction_that_stays_large_enough() {
        assert_eq!(jpeg_reduction(4000, 3000, (640, 480)), Some(4));
        assert_eq!(jpeg_reduction(4000, 3000, (500, 375)), Some(8));
        assert_eq!(jpeg_reduction(4000, 3000, (2001, 10)), None);
        assert_eq!(jpeg_reduction(4000, 3000, (2000, 1500)), Some(2));
        assert_eq!(jpeg_reduction(250, 250, (128, 128)), None);
    }

    #[test]
    fn a_large_jpeg_decodes_reduced_and_matches_the_full_decode() {
        let full = DynamicImage::ImageRgb8(picture(1600, 1200));
        let bytes = jpeg(&full);
        let s = decode_image_at_least(&bytes, &LoadOptions::default(), |_, _| (400, 300)).unwrap();
        assert_eq!(s.image.dimensions(), (400, 300));
        assert_eq!((s.full_width, s.full_height), (1600, 1200));
        assert_eq!(s.scale(), (0.25, 0.25));
        assert!(!s.is_full() && s.covers(400, 300) && !s.covers(401, 300));
        let d = mean_diff(&s.image, &decode_image(&bytes, &LoadOptions::default()).unwrap());
        assert!(d < 3.0, "reduced decode differs from the full one by {d} on average");
        // Asking for more than half the size gives the full image.
        let s = decode_image_at_least(&bytes, &LoadOptions::default(), |_, _| (801, 1)).unwrap();
        assert!(s.is_full() && s.image.dimensions() == (1600, 1200));
    }

    #[test]
    fn grey_jpegs_become_rgb() {
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_fn(800, 600, |x, _| image::Luma([(x / 4) as u8])));
        let bytes = jpeg(&grey);
        let s = decode_image_at_least(&bytes, &LoadOptions::default(), |_, _| (200, 150)).unwrap();
        assert_eq!(s.image.dimensions(), (200, 150));
        let p = s.image.get_pixel(100, 75);
        assert!(p[0] == p[1] && p[1] == p[2] && (p[0] as i32 - 100).abs() <= 3, "{p:?}");
    }

    #[test]
    fn cmyk_jpegs_decode_in_full() {
        // A 4-channel (CMYK) JPEG: the reduced decoder leaves it to the full decoder.
        let (w, h) = (64u32, 48u32);
        let cmyk: Vec<u8> = (0..w * h).flat_map(|i| [(i % 200) as u8, 40, 90, 10]).collect();
        let mut bytes = Vec::new();
        let encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
        encoder.encode(&cmyk, w as u16, h as u16, jpeg_encoder::ColorType::Cmyk).unwrap();
        let s = decode_image_at_least(&bytes, &LoadOptions::default(), |_, _| (8, 6)).unwrap();
        assert!(s.is_full());
        assert_eq!(s.image, decode_image(&bytes, &LoadOptions::default()).unwrap());
    }

    #[test]
    fn exif_orientation_is_applied_to_reduced_images() {
        let full = DynamicImage::ImageRgb8(picture(800, 400));
        let mut bytes = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90);
        encoder.set_exif_metadata(exif_orientation(6)).unwrap(); // 6: rotate 90 degrees clockwise
        encoder.write_image(full.as_bytes(), 800, 400, image::ExtendedColorType::Rgb8).unwrap();
        let upright = decode_image(&bytes, &LoadOptions::default()).unwrap();
        assert_eq!(upright.dimensions(), (400, 800));
        // The minimum is in upright pixels: 100 wide, 200 tall is a quarter.
        let s = decode_image_at_least(&bytes, &LoadOptions::default(), |_, _| (100, 200)).unwrap();
        assert_eq!((s.full_width, s.full_height), (400, 800));
        assert_eq!(s.image.dimensions(), (100, 200));
        let d = mean_diff(&s.image, &upright);
        assert!(d < 3.0, "reduced decode is not turned like the full one ({d})");
    }

    /// A little-endian EXIF block holding only an orientation tag.
    fn exif_orientation(value: u16) -> Vec<u8> {
        let mut e = b"II*\0".to_vec();
        e.extend_from_slice(&8u32.to_le_bytes()); // IFD0 offset
        e.extend_from_slice(&1u16.to_le_bytes()); // one entry
        e.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        e.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        e.extend_from_slice(&1u32.to_le_bytes()); // count
        e.extend_from_slice(&value.to_le_bytes());
        e.extend_from_slice(&[0, 0]);
        e.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        e
    }

    #[test]
    fn the_checks_of_the_full_decoder_still_apply() {
        let bytes = jpeg(&DynamicImage::ImageRgb8(picture(800, 600)));
        let truncated = &bytes[..bytes.len() / 2];
        let err = decode_image_at_least(truncated, &LoadOptions::default(), |_, _| (100, 75)).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let small = LoadOptions { max_pixels: 100_000, ..Default::default() };
        let err = decode_image_at_least(&bytes, &small, |_, _| (100, 75)).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { .. }), "{err}");
        let err = decode_image_at_least(&[], &LoadOptions::default(), |_, _| (1, 1)).unwrap_err();
        assert!(matches!(err, ImageError::Empty));
        let tiny = LoadOptions { max_file_bytes: 10, ..Default::default() };
        assert!(matches!(decode_image_at_least(&bytes, &tiny, |_, _| (1, 1)), Err(ImageError::FileTooLarge { .. })));
    }

    #[test]
    fn other_formats_decode_in_full() {
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(picture(400, 300)).write_to(&mut png, ImageFormat::Png).unwrap();
        let s = decode_image_at_least(png.get_ref(), &LoadOptions::default(), |_, _| (50, 40)).unwrap();
        assert!(s.is_full());
        assert_eq!(s.image, picture(400, 300));
    }
}
