//! Decoding images safely: any format the `image` crate reads, EXIF orientation applied, converted to
//! 8-bit RGB, with a pixel limit checked before any pixel memory is allocated, and truncated JPEG and
//! PNG files refused.

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// Limits and options for decoding.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Largest accepted image, in pixels (width x height). Larger images are refused before decoding,
    /// so a hostile 20000x20000 file cannot exhaust memory.
    pub max_pixels: u64,
    /// Largest accepted file, in bytes.
    pub max_file_bytes: u64,
}

impl LoadOptions {
    /// 64 megapixels: every phone and most DSLR photos, about 200 MB of RGB once decoded.
    pub const DEFAULT_MAX_PIXELS: u64 = 64_000_000;
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { max_pixels: Self::DEFAULT_MAX_PIXELS, max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES }
    }
}

/// Why an image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no such file")]
    NotFound { path: PathBuf },
    #[error("cannot read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the file is empty")]
    Empty,
    #[error("not an image: the content is not in any supported format (JPEG, PNG, BMP, GIF, TIFF, WebP, PNM)")]
    UnknownFormat,
    #[error("the image is {width}x{height}, {pixels} pixels, above the limit of {limit} pixels")]
    TooLarge { width: u32, height: u32, pixels: u64, limit: u64 },
    #[error("the file is {bytes} bytes, above the limit of {limit} bytes")]
    FileTooLarge { bytes: u64, limit: u64 },
    #[error("the image has no pixels ({width}x{height})")]
    ZeroSized { width: u32, height: u32 },
    #[error("corrupt or truncated {format} image: {reason}")]
    Corrupt { format: String, reason: String },
    #[error("{format} images are not supported by this build (use JPEG, PNG, BMP, GIF, TIFF, WebP or PNM)")]
    Unsupported { format: String },
}

/// Reads and decodes the image at `path`. See [`decode_image`].
pub fn load_image(path: &Path, options: &LoadOptions) -> Result<RgbImage, ImageError> {
    decode_image(&read_image_file(path, options)?, options)
}

/// Reads the bytes of the image file at `path`, refusing files above the size limit before reading them.
pub fn read_image_file(path: &Path, options: &LoadOptions) -> Result<Vec<u8>, ImageError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ImageError::NotFound { path: path.to_path_buf() },
        _ => ImageError::Io { path: path.to_path_buf(), source: e },
    })?;
    if meta.len() > options.max_file_bytes {
        return Err(ImageError::FileTooLarge { bytes: meta.len(), limit: options.max_file_bytes });
    }
    std::fs::read(path).map_err(|e| ImageError::Io { path: path.to_path_buf(), source: e })
}

/// Decodes an encoded image to 8-bit RGB, upright.
///
/// The format is recognised from the content, never from a file name. Grey, grey+alpha, RGBA and 16-bit
/// images are converted (alpha is dropped); EXIF orientation is applied so coordinates refer to the image
/// as a person sees it.
pub fn decode_image(bytes: &[u8], options: &LoadOptions) -> Result<RgbImage, ImageError> {
    check_size(bytes, options)?;
    let (mut decoder, corrupt) = checked_decoder(bytes, options)?;
    // A missing or unreadable EXIF block is not an error: the image is simply taken as stored.
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

/// Refuses empty data and data above the file size limit.
pub(crate) fn check_size(bytes: &[u8], options: &LoadOptions) -> Result<(), ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    if bytes.len() as u64 > options.max_file_bytes {
        return Err(ImageError::FileTooLarge { bytes: bytes.len() as u64, limit: options.max_file_bytes });
    }
    Ok(())
}

/// The width and height an encoded image's header gives, after the same checks [`decode_image`] makes
/// before decoding (format, completeness, pixel limit), without decoding any pixel: a caller can
/// budget the memory decoding will take.
pub fn image_dimensions(bytes: &[u8], options: &LoadOptions) -> Result<(u32, u32), ImageError> {
    if bytes.is_empty() {
        return Err(ImageError::Empty);
    }
    checked_decoder(bytes, options).map(|(decoder, _)| decoder.dimensions())
}

pub(crate) type Corrupt = Box<dyn Fn(image::ImageError) -> ImageError>;

/// A decoder for `bytes` whose format, completeness and size were checked, and how to report its errors.
pub(crate) fn checked_decoder<'a>(
    bytes: &'a [u8],
    options: &LoadOptions,
) -> Result<(impl ImageDecoder + 'a, Corrupt), ImageError> {
    let format = image::guess_format(bytes).map_err(|_| ImageError::UnknownFormat)?;
    let format_name = format!("{format:?}").to_uppercase();
    let truncated = |reason: &str| ImageError::Corrupt { format: format_name.clone(), reason: reason.into() };
    if format == image::ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(truncated("truncated: the data ends before the end-of-image marker"));
    }
    if format == image::ImageFormat::Png && !png_is_complete(bytes) {
        return Err(truncated("truncated: the data ends before the IEND chunk"));
    }
    let name = format_name.clone();
    let corrupt: Corrupt = Box::new(move |e: image::ImageError| match e {
        image::ImageError::Unsupported(_) => ImageError::Unsupported { format: name.clone() },
        other => ImageError::Corrupt { format: name.clone(), reason: other.to_string() },
    });
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    // The decoder's own allocation cap: up to 8 bytes a pixel (16-bit RGBA buffers).
    limits.max_alloc = Some(options.max_pixels.saturating_mul(8).max(1 << 20));
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(&corrupt)?;
    let (width, height) = decoder.dimensions();
    let pixels = width as u64 * height as u64;
    if pixels == 0 {
        return Err(ImageError::ZeroSized { width, height });
    }
    if pixels > options.max_pixels {
        return Err(ImageError::TooLarge { width, height, pixels, limit: options.max_pixels });
    }
    Ok((decoder, corrupt))
}

/// Whether a PNG's chunks run from the signature to an IEND chunk (the decoder would otherwise fill a
/// cut-off image with zeros or fail late, after allocating the whole image).
fn png_is_complete(b: &[u8]) -> bool {
    let mut i = 8; // after the signature
    while let Some(header) = b.get(i..i + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if &header[4..8] == b"IEND" {
            // The whole chunk, its CRC included.
            return b.len() >= i + 12 + len;
        }
        i = match i.checked_add(12).and_then(|n| n.checked_add(len)) {
            Some(next) => next,
            None => return false,
        };
    }
    false
}

/// Whether a JPEG's main image reaches its end-of-image marker. The JPEG decoder is lenient and fills a
/// cut-off scan with grey, which would silently turn a truncated upload into a wrong face. The check walks
/// the segments from the start (so an EXIF thumbnail inside APP1, or data appended after the image, such
/// as a phone's motion-photo video, cannot mislead it) and skips each scan's entropy-coded data, where
/// 0xFF is always followed by a stuffed 0x00 or a restart marker.
fn jpeg_is_complete(b: &[u8]) -> bool {
    let mut i = 2; // after SOI
    loop {
        // Every segment starts with 0xFF (possibly several, as fill) and a marker code.
        if i >= b.len() {
            return false;
        }
        if b[i] != 0xFF {
            return true; // not a structure this check understands: let the decoder judge it
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = b.get(i) else { return false };
        i += 1;
        match marker {
            0xD9 => return true,            // EOI
            0x01 | 0xD0..=0xD7 => continue, // markers without a length
            _ => {
                let Some(len) = b.get(i..i + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
                    return false;
                };
                if len < 2 {
                    return true;
                }
                i += len;
                if marker == 0xDA {
                    // Entropy-coded data runs to the next marker that is not a stuffed byte or a restart.
                    loop {
                        match (b.get(i), b.get(i + 1)) {
                            (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
                            (Some(0xFF), Some(0xFF)) => i += 1,
                            (Some(0xFF), Some(_)) => break,
                            (Some(_), _) => i += 1,
                            (None, _) => return false,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Luma, Rgb, Rgba};

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, format).unwrap();
        buf.into_inner()
    }

    fn sample_rgb() -> RgbImage {
        RgbImage::from_fn(40, 30, |x, y| Rgb([(x * 6) as u8, (y * 8) as u8, 128]))
    }

    #[test]
    fn decodes_png_and_jpeg() {
        let png = encode(&DynamicImage::ImageRgb8(sample_rgb()), ImageFormat::Png);
        assert_eq!(decode_image(&png, &LoadOptions::default()).unwrap(), sample_rgb());
        let jpg = encode(&DynamicImage::ImageRgb8(sample_rgb()), ImageFormat::Jpeg);
        assert_eq!(decode_image(&jpg, &LoadOptions::default()).unwrap().dimensions(), (40, 30));
    }

    #[test]
    fn converts_grey_rgba_and_16_bit() {
        let grey = image::GrayImage::from_pixel(5, 4, Luma([77]));
        let out = decode_image(&encode(&DynamicImage::ImageLuma8(grey), ImageFormat::Png), &Default::default());
        assert_eq!(out.unwrap().get_pixel(2, 2), &Rgb([77, 77, 77]));

        let rgba = image::RgbaImage::from_pixel(5, 4, Rgba([10, 20, 30, 0]));
        let out = decode_image(&encode(&DynamicImage::ImageRgba8(rgba), ImageFormat::Png), &Default::default());
        assert_eq!(out.unwrap().get_pixel(0, 0), &Rgb([10, 20, 30]));

        let deep = image::ImageBuffer::<Rgb<u16>, _>::from_pixel(5, 4, Rgb([65535u16, 0, 32896]));
        let out = decode_image(&encode(&DynamicImage::ImageRgb16(deep), ImageFormat::Png), &Default::default());
        assert_eq!(out.unwrap().get_pixel(4, 3), &Rgb([255, 0, 128]));
    }

    #[test]
    fn refuses_empty_text_corrupt_and_truncated() {
        assert!(matches!(decode_image(&[], &Default::default()), Err(ImageError::Empty)));
        let text = b"this is not an image, just text in a file named photo.jpg\n";
        assert!(matches!(decode_image(text, &Default::default()), Err(ImageError::UnknownFormat)));

        let jpg = encode(&DynamicImage::ImageRgb8(sample_rgb()), ImageFormat::Jpeg);
        let truncated = &jpg[..jpg.len() / 2];
        assert!(matches!(decode_image(truncated, &Default::default()), Err(ImageError::Corrupt { .. })));

        let mut png = encode(&DynamicImage::ImageRgb8(sample_rgb()), ImageFormat::Png);
        let mid = png.len() / 2;
        png[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
        assert!(matches!(decode_image(&png, &Default::default()), Err(ImageError::Corrupt { .. })));
    }

    /// A BMP header claiming `width` x `height` pixels, with no pixel data behind it.
    fn bmp_header(width: u32, height: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"BM");
        b.extend_from_slice(&(54 + width * height * 3).to_le_bytes()); // file size (claimed)
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
        b.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
        b.extend_from_slice(&(width as i32).to_le_bytes());
        b.extend_from_slice(&(height as i32).to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes()); // planes
        b.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
        b.extend_from_slice(&[0; 24]); // no compression, sizes, resolution, palette
        b
    }

    #[test]
    fn refuses_images_above_the_pixel_limit_before_decoding() {
        // A 20000x20000 header with no body: refused from the header, nothing allocated for pixels.
        let err = decode_image(&bmp_header(20_000, 20_000), &Default::default()).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { width: 20_000, height: 20_000, .. }), "{err}");
        assert!(err.to_string().contains("above the limit"));
        let small = LoadOptions { max_pixels: 100, ..Default::default() };
        let png = encode(&DynamicImage::ImageRgb8(sample_rgb()), ImageFormat::Png);
        assert!(matches!(decode_image(&png, &small), Err(ImageError::TooLarge { .. })));
    }

    #[test]
    fn header_without_pixels_is_corrupt_not_a_panic() {
        assert!(matches!(decode_image(&bmp_header(64, 64), &Default::default()), Err(ImageError::Corrupt { .. })));
    }

    #[test]
    fn jpeg_completeness_ignores_thumbnails_and_trailers() {
        let jpg = encode(&DynamicImage::ImageRgb8(sample_rgb()), ImageFormat::Jpeg);
        assert!(jpeg_is_complete(&jpg));
        // Data appended after the image (a motion photo's video, vendor trailers) with marker-like bytes.
        let mut trailer = jpg.clone();
        trailer.extend_from_slice(b"\0\0\0\x18ftypmp42\x12\xFF\xDA\x33\x44\xFF\xD8");
        assert!(jpeg_is_complete(&trailer));
        assert!(decode_image(&trailer, &Default::default()).is_ok());
        // Cut anywhere inside the scan: incomplete.
        for cut in [jpg.len() - 2, jpg.len() / 2, 200] {
            assert!(!jpeg_is_complete(&jpg[..cut]), "cut at {cut}");
        }
    }

    #[test]
    fn a_png_without_its_iend_chunk_is_truncated() {
        let png = encode(&DynamicImage::ImageRgb8(sample_rgb()), ImageFormat::Png);
        assert!(png_is_complete(&png));
        for cut in [png.len() - 12, png.len() - 1, png.len() / 2, 40] {
            let err = decode_image(&png[..cut], &Default::default()).unwrap_err();
            assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
        }
    }

    #[test]
    fn dimensions_come_from_the_header_after_the_same_checks() {
        let png = encode(&DynamicImage::ImageRgb8(sample_rgb()), ImageFormat::Png);
        assert_eq!(image_dimensions(&png, &Default::default()).unwrap(), (40, 30));
        let jpg = encode(&DynamicImage::ImageRgb8(sample_rgb()), ImageFormat::Jpeg);
        assert!(matches!(
            image_dimensions(&jpg[..jpg.len() / 2], &Default::default()),
            Err(ImageError::Corrupt { .. })
        ));
        let err = image_dimensions(&bmp_header(20_000, 20_000), &Default::default()).unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { .. }), "{err}");
        assert!(matches!(image_dimensions(&[], &Default::default()), Err(ImageError::Empty)));
    }

    #[test]
    fn one_pixel_image_decodes() {
        let one = RgbImage::from_pixel(1, 1, Rgb([1, 2, 3]));
        let png = encode(&DynamicImage::ImageRgb8(one.clone()), ImageFormat::Png);
        assert_eq!(decode_image(&png, &Default::default()).unwrap(), one);
    }

    #[test]
    fn missing_file_is_not_found() {
        let err = load_image(Path::new("/nonexistent/visage/photo.jpg"), &Default::default()).unwrap_err();
        assert!(matches!(err, ImageError::NotFound { .. }));
        assert!(err.to_string().contains("no such file"));
    }
}
