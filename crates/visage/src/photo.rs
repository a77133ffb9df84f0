//! A photo prepared for the pipeline at no more resolution than each step needs.
//!
//! [`crate::FaceAnalyzer::open`] decodes a photo once at the size the detector works at: a large JPEG at a
//! reduced DCT scale ([`visage_core::scaled_decode`]), so a 12-megapixel photo that CenterFace shrinks
//! to 640 pixels costs a quarter-scale decode. [`Photo::detail`] then gives the faces an image
//! in which each keeps its full detail for alignment: the 112x112 crop takes its pixels from at least
//! as many image pixels as it has (or from the full image, when the face is smaller than that). The
//! detection image is reused when it is enough; otherwise the photo is decoded once more, at the
//! smallest DCT scale that is. Faces are always reported in the full image's pixel coordinates.

use crate::error::VisageError;
use image::RgbImage;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use visage_core::{decode_image_at_least, LoadOptions, Point, ScaledImage, Similarity, ARCFACE_TEMPLATE_112};
use visage_detect::Detection;

/// An encoded photo and its decode at the detector's working size.
pub struct Photo {
    name: PathBuf,
    bytes: Vec<u8>,
    decoded: ScaledImage,
}

impl Photo {
    /// The full image's upright width.
    pub fn width(&self) -> u32 {
        self.decoded.full_width
    }

    /// The full image's upright height.
    pub fn height(&self) -> u32 {
        self.decoded.full_height
    }

    /// The file or name the photo came from.
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// The decode detection runs on (the full image, or a reduced-scale JPEG decode).
    pub fn decoded(&self) -> &ScaledImage {
        &self.decoded
    }
}

/// The photo at a resolution where every face asked for keeps its full detail, with those faces in
/// the pixel coordinates of that image (for alignment, quality and liveness crops).
pub struct DetailView<'p> {
    pub image: Cow<'p, RgbImage>,
    pub faces: Vec<Detection>,
    /// Pixels of `image` per full-size pixel, horizontally and vertically.
    scale: (f32, f32),
}

impl DetailView<'_> {
    /// A point of [`DetailView::image`] in the full image's pixel coordinates.
    pub fn full_point(&self, p: Point) -> Point {
        Point::new((p.x + 0.5) / self.scale.0 - 0.5, (p.y + 0.5) / self.scale.1 - 0.5)
    }
}

impl Photo {
    /// Decodes `bytes` (named `name` in errors) at least as large as `need` says for the full upright
    /// size: the detector's working size, for [`crate::FaceAnalyzer::open`].
    pub(crate) fn decode(
        name: PathBuf,
        bytes: Vec<u8>,
        options: &LoadOptions,
        need: impl FnOnce(u32, u32) -> (u32, u32),
    ) -> Result<Photo, VisageError> {
        let decoded = decode_image_at_least(&bytes, options, need)
            .map_err(|source| VisageError::Image { path: name.clone(), source })?;
        Ok(Photo { name, bytes, decoded })
    }

    /// The photo at a resolution where each of `faces` (full-size coordinates) keeps its full detail:
    /// the detection decode when it is enough, else a second decode at the smallest scale that is.
    pub fn detail(&self, faces: &[Detection], options: &LoadOptions) -> Result<DetailView<'_>, VisageError> {
        self.detail_for(faces, 0.0, options)
    }

    /// As [`Photo::detail`], and each face's box at least `min_box_side` pixels on its shorter side
    /// (or at full size): for models that crop the box itself at their own input size (the attribute
    /// models of `visage analyze` take up to 224 pixels).
    pub fn detail_for(
        &self,
        faces: &[Detection],
        min_box_side: f32,
        options: &LoadOptions,
    ) -> Result<DetailView<'_>, VisageError> {
        let scale = faces.iter().map(|f| detail_scale(f).max(box_scale(f, min_box_side))).fold(0.0f32, f32::max);
        let need = |full: u32| ((full as f32 * scale).ceil() as u32).clamp(1, full);
        let (need_w, need_h) = (need(self.width()), need(self.height()));
        let image = if self.decoded.covers(need_w, need_h) {
            Cow::Borrowed(&self.decoded.image)
        } else {
            let finer = decode_image_at_least(&self.bytes, options, |_, _| (need_w, need_h))
                .map_err(|source| VisageError::Image { path: self.name.clone(), source })?;
            Cow::Owned(finer.image)
        };
        let (sx, sy) = (image.width() as f32 / self.width() as f32, image.height() as f32 / self.height() as f32);
        let faces = faces.iter().map(|f| rescale(f, sx, sy)).collect();
        Ok(DetailView { image, faces, scale: (sx, sy) })
    }
}

/// The scale (image pixels per full-size pixel) at which aligning `face` samples the image no more
/// finely than its pixels: the alignment's own scale (crop pixels per full-size pixel), at most 1.
fn detail_scale(face: &Detection) -> f32 {
    match Similarity::estimate(&face.landmarks, &ARCFACE_TEMPLATE_112) {
        Some(t) if t.scale().is_finite() => t.scale().min(1.0),
        _ => 1.0,
    }
}

/// The scale at which `face`'s box is `min_side` pixels on its shorter side, at most 1 (0 for no minimum).
fn box_scale(face: &Detection, min_side: f32) -> f32 {
    let side = face.bbox.min_side();
    if min_side <= 0.0 {
        0.0
    } else if side > 0.0 && side.is_finite() {
        (min_side / side).min(1.0)
    } else {
        1.0
    }
}

/// A detection in the coordinates of the image shrunk by `sx`, `sy`. Boxes scale as areas (corner to
/// corner); points are pixel positions, whose centres move by half a pixel between scales. At full
/// size the detection is returned as it is: `(x + 0.5) - 0.5` is not always `x` in floating point,
/// and that last bit would move the aligned crop (and its embedding) away from the full-size path's.
fn rescale(face: &Detection, sx: f32, sy: f32) -> Detection {
    if sx == 1.0 && sy == 1.0 {
        return face.clone();
    }
    let point = |p: &Point| Point::new((p.x + 0.5) * sx - 0.5, (p.y + 0.5) * sy - 0.5);
    Detection {
        bbox: face.bbox.scale(sx, sy),
        score: face.score,
        landmarks: face.landmarks.each_ref().map(point),
        landmarks68: face.landmarks68.as_ref().map(|l| l.iter().map(point).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visage_core::BBox;

    fn face(scale: f32) -> Detection {
        let landmarks = ARCFACE_TEMPLATE_112.map(|p| Point::new(p.x / scale + 100.0, p.y / scale + 50.0));
        Detection {
            bbox: BBox::new(100.0, 50.0, 100.0 + 112.0 / scale, 50.0 + 112.0 / scale),
            score: 0.9,
            landmarks,
            landmarks68: None,
        }
    }

    #[test]
    fn the_detail_scale_is_the_alignment_scale() {
        // A face four times the template's size needs a quarter of the full resolution.
        assert!((detail_scale(&face(0.25)) - 0.25).abs() < 1e-4);
        // A face smaller than the template needs the full image, no more.
        assert_eq!(detail_scale(&face(2.0)), 1.0);
        let mut degenerate = face(1.0);
        degenerate.landmarks = [Point::new(3.0, 3.0); 5];
        assert_eq!(detail_scale(&degenerate), 1.0);
    }

    #[test]
    fn a_minimum_box_side_asks_for_more_detail() {
        // A 448 px box (the template's size at scale 0.25) needs half the resolution to be 224 px.
        let f = face(0.25);
        assert!((box_scale(&f, 224.0) - 0.5).abs() < 1e-4);
        assert_eq!(box_scale(&f, 0.0), 0.0);
        assert_eq!(box_scale(&f, 1000.0), 1.0);
    }

    #[test]
    fn rescaling_keeps_pixel_centres_in_place() {
        let f = face(0.25);
        let r = rescale(&f, 0.25, 0.25);
        assert_eq!(r.bbox, f.bbox.scale(0.25, 0.25));
        // Full-size pixels 0..4 make reduced pixel 0: their middle (x = 1.5) is its centre (x = 0).
        let p = rescale(&Detection { landmarks: [Point::new(1.5, 5.5); 5], ..f }, 0.25, 0.25).landmarks[0];
        assert!((p.x - 0.0).abs() < 1e-6 && (p.y - 1.0).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn at_full_size_the_detection_is_unchanged_to_the_bit() {
        // (0.01 + 0.5) - 0.5 is not 0.01 in f32: a round trip through pixel centres would move it.
        assert_ne!((0.01f32 + 0.5) - 0.5, 0.01);
        let f = Detection { landmarks: [Point::new(0.01, 1234.567); 5], ..face(1.0) };
        assert_eq!(rescale(&f, 1.0, 1.0), f);
    }
}
