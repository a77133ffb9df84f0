//! The face framings the attribute models were trained on. Each model saw its own crop of the
//! detector box; feeding it another framing degrades it silently, so each is reproduced here.

use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use visage_core::BBox;

/// An integer pixel rectangle inside an image: `(x, y, width, height)`, never empty.
pub type Rect = (u32, u32, u32, u32);

/// The box scaled by `scale` about its centre (the scale lowered so the region fits the image), then
/// shifted, not shrunk, to lie inside the image. This is the faceplugin liveness/age/gender framing:
/// liveness looks at 2.7x the box (background and the edges of a printed photo are its evidence),
/// age and gender at 1.4x.
pub fn scaled_rect(bbox: &BBox, scale: f32, width: u32, height: u32) -> Rect {
    let (w, h) = (width as f32, height as f32);
    let (bw, bh) = (bbox.width().max(1.0), bbox.height().max(1.0));
    let scale = scale.min((h - 1.0) / bh).min((w - 1.0) / bw).max(0.0);
    let (nw, nh) = (bw * scale, bh * scale);
    let c = bbox.center();
    let (mut x1, mut y1, mut x2, mut y2) = (c.x - nw / 2.0, c.y - nh / 2.0, c.x + nw / 2.0, c.y + nh / 2.0);
    if x1 < 0.0 {
        x2 -= x1;
        x1 = 0.0;
    }
    if y1 < 0.0 {
        y2 -= y1;
        y1 = 0.0;
    }
    if x2 > w - 1.0 {
        x1 -= x2 - (w - 1.0);
        x2 = w - 1.0;
    }
    if y2 > h - 1.0 {
        y1 -= y2 - (h - 1.0);
        y2 = h - 1.0;
    }
    clamp_rect(x1, y1, x2, y2, width, height)
}

/// The box grown by `margin` of its width and height on every side, clipped to the image (the
/// head-pose framing uses a quarter).
pub fn margin_rect(bbox: &BBox, margin: f32, width: u32, height: u32) -> Rect {
    let (mw, mh) = (bbox.width() * margin, bbox.height() * margin);
    clamp_rect(bbox.x1 - mw, bbox.y1 - mh, bbox.x2 + mw, bbox.y2 + mh, width, height)
}

/// A region anchored at the box's top-left corner, `factor` times its size, clipped to the image (the
/// expression model's framing).
pub fn corner_rect(bbox: &BBox, factor: f32, width: u32, height: u32) -> Rect {
    clamp_rect(bbox.x1, bbox.y1, bbox.x1 + bbox.width() * factor, bbox.y1 + bbox.height() * factor, width, height)
}

/// Rounds a float rectangle to pixels inside a `width` x `height` image, at least 1x1.
pub fn clamp_rect(x1: f32, y1: f32, x2: f32, y2: f32, width: u32, height: u32) -> Rect {
    let (w, h) = (width.max(1), height.max(1));
    let cx = |v: f32, max: u32| (v.max(0.0) as u32).min(max - 1);
    let (x, y) = (cx(x1, w), cx(y1, h));
    let x2 = (x2.max(0.0).round() as u32).clamp(x + 1, w);
    let y2 = (y2.max(0.0).round() as u32).clamp(y + 1, h);
    (x, y, x2 - x, y2 - y)
}

/// Cuts `rect` out of the image and resizes it to `side` x `side` (aspect ratio not kept, as the
/// reference code does).
pub fn crop_resize(image: &RgbImage, rect: Rect, side: u32) -> RgbImage {
    let (x, y, w, h) = rect;
    let crop = image::imageops::crop_imm(image, x, y, w, h).to_image();
    resize_plain_bilinear(&crop, side, side)
}

/// Bilinear resize without an anti-aliasing filter when shrinking, like OpenCV's `INTER_LINEAR`,
/// which is what the faceplugin models were fed. It matters: the liveness model reads fine print
/// texture, and an anti-aliased (area-averaged) crop took its ROC AUC on NUAA from 0.98 to 0.93.
pub fn resize_plain_bilinear(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (width, height) = (width.max(1), height.max(1));
    if src.dimensions() == (width, height) {
        return src.clone();
    }
    let view =
        ImageRef::new(src.width(), src.height(), src.as_raw(), PixelType::U8x3).expect("buffer matches its dimensions");
    let mut dst = FirImage::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear));
    Resizer::new().resize(&view, &mut dst, &options).expect("same pixel type");
    RgbImage::from_raw(width, height, dst.into_vec()).expect("buffer matches its dimensions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_rect_is_centred_when_it_fits() {
        let r = scaled_rect(&BBox::new(90.0, 90.0, 110.0, 110.0), 2.0, 200, 200);
        assert_eq!(r, (80, 80, 40, 40));
    }

    #[test]
    fn scaled_rect_shifts_inside_at_the_border_and_caps_the_scale() {
        // A face in the top-left corner: shifted right/down, same size.
        let (x, y, w, h) = scaled_rect(&BBox::new(0.0, 0.0, 20.0, 20.0), 2.7, 200, 200);
        assert_eq!((x, y), (0, 0));
        assert!((w as i32 - 54).abs() <= 1 && (h as i32 - 54).abs() <= 1);
        // A face nearly as large as the image: the scale drops so the region fits.
        let (x, y, w, h) = scaled_rect(&BBox::new(10.0, 10.0, 90.0, 90.0), 2.7, 100, 100);
        assert!(x + w <= 100 && y + h <= 100 && w >= 90);
    }

    #[test]
    fn rects_stay_inside_and_non_empty() {
        for b in [BBox::new(-50.0, -50.0, -10.0, -10.0), BBox::new(500.0, 500.0, 600.0, 600.0), BBox::default()] {
            for r in [margin_rect(&b, 0.25, 100, 80), corner_rect(&b, 1.2, 100, 80), scaled_rect(&b, 2.7, 100, 80)] {
                assert!(r.2 >= 1 && r.3 >= 1 && r.0 + r.2 <= 100 && r.1 + r.3 <= 80, "{r:?} for {b:?}");
            }
        }
        assert_eq!(margin_rect(&BBox::new(40.0, 40.0, 60.0, 60.0), 0.25, 100, 100), (35, 35, 30, 30));
        assert_eq!(corner_rect(&BBox::new(40.0, 40.0, 60.0, 60.0), 1.2, 100, 100), (40, 40, 24, 24));
    }
}
