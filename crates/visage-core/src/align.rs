//! Face alignment: a least-squares similarity transform of the 5 landmarks onto the ArcFace template,
//! and a bilinear warp of the face into a 112x112 crop.

use crate::geometry::Point;
use image::RgbImage;

/// Where the 5 landmarks (left eye, right eye, nose tip, left and right mouth corner, as seen in the image)
/// sit in the standard 112x112 ArcFace crop.
pub const ARCFACE_TEMPLATE_112: [Point; 5] = [
    Point::new(38.2946, 51.6963),
    Point::new(73.5318, 51.5014),
    Point::new(56.0252, 71.7366),
    Point::new(41.5493, 92.3655),
    Point::new(70.7299, 92.2041),
];

/// Side of the aligned crop the template is defined for.
pub const ALIGNED_SIZE: u32 = 112;

/// A 2-D similarity transform (rotation, uniform scale, translation):
/// `x' = a·x − b·y + tx`, `y' = b·x + a·y + ty`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub const IDENTITY: Similarity = Similarity { a: 1.0, b: 0.0, tx: 0.0, ty: 0.0 };

    /// The least-squares similarity mapping `src` onto `dst` (Umeyama, 1991).
    ///
    /// In two dimensions Umeyama's SVD solution has a closed form: treating points as complex numbers
    /// `z`, the best `w = c·z + t` has `c = Σ (dst−d̄)·conj(src−s̄) / Σ |src−s̄|²` and `t = d̄ − c·s̄`. A
    /// complex factor is a rotation with a scale, never a reflection, which is the constraint Umeyama's
    /// determinant correction enforces. Returns `None` when the source points all coincide.
    pub fn estimate(src: &[Point], dst: &[Point]) -> Option<Similarity> {
        assert_eq!(src.len(), dst.len(), "point sets of different sizes");
        let s_mean = Point::mean(src)?;
        let d_mean = Point::mean(dst)?;
        let (mut re, mut im, mut var) = (0.0f64, 0.0f64, 0.0f64);
        for (s, d) in src.iter().zip(dst) {
            let (sx, sy) = ((s.x - s_mean.x) as f64, (s.y - s_mean.y) as f64);
            let (dx, dy) = ((d.x - d_mean.x) as f64, (d.y - d_mean.y) as f64);
            // (dx + i·dy)·(sx − i·sy)
            re += dx * sx + dy * sy;
            im += dy * sx - dx * sy;
            var += sx * sx + sy * sy;
        }
        // NaN coordinates make every sum NaN: checking finiteness refuses them with coincident points.
        let usable = var.is_finite() && var > f64::EPSILON && re.is_finite() && im.is_finite();
        if !usable {
            return None;
        }
        let (a, b) = (re / var, im / var);
        let tx = d_mean.x as f64 - (a * s_mean.x as f64 - b * s_mean.y as f64);
        let ty = d_mean.y as f64 - (b * s_mean.x as f64 + a * s_mean.y as f64);
        Some(Similarity { a: a as f32, b: b as f32, tx: tx as f32, ty: ty as f32 })
    }

    pub fn apply(&self, p: Point) -> Point {
        Point::new(self.a * p.x - self.b * p.y + self.tx, self.b * p.x + self.a * p.y + self.ty)
    }

    /// The inverse transform; `None` for a degenerate (zero-scale) transform.
    pub fn inverse(&self) -> Option<Similarity> {
        let s2 = self.a * self.a + self.b * self.b;
        if s2 <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / s2, -self.b / s2);
        let inv = Similarity { a, b, tx: 0.0, ty: 0.0 };
        let t = inv.apply(Point::new(self.tx, self.ty));
        Some(Similarity { a, b, tx: -t.x, ty: -t.y })
    }

    /// Uniform scale factor of the transform.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }
}

/// Warps `image` into a `width` x `height` crop where crop pixel `(u, v)` takes the bilinear sample at
/// `to_crop⁻¹(u, v)` of the source. Samples outside the image are black, as OpenCV's `warpAffine` does
/// with its default constant border, so crops match the reference implementation.
pub fn warp_similarity(image: &RgbImage, to_crop: &Similarity, width: u32, height: u32) -> RgbImage {
    let mut out = vec![0u8; (width * height * 3) as usize];
    let Some(inv) = to_crop.inverse() else {
        return RgbImage::from_raw(width, height, out).expect("sized above");
    };
    let (w, h) = (image.width() as i64, image.height() as i64);
    let src = image.as_raw();
    let stride = (w * 3) as usize;
    // A neighbour outside the image reads as black, so edges blend into the border as OpenCV's do.
    let sample = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= w || y >= h {
            return [0.0; 3];
        }
        let i = y as usize * stride + x as usize * 3;
        [src[i] as f32, src[i + 1] as f32, src[i + 2] as f32]
    };
    for v in 0..height {
        // Source position of crop pixel (0, v); each step in u adds (a, b).
        let start = inv.apply(Point::new(0.0, v as f32));
        let row = &mut out[(v * width * 3) as usize..((v + 1) * width * 3) as usize];
        for (u, dst) in row.chunks_exact_mut(3).enumerate() {
            let sx = start.x + inv.a * u as f32;
            let sy = start.y + inv.b * u as f32;
            if !(sx > -1.0 && sy > -1.0 && sx < w as f32 && sy < h as f32) {
                continue;
            }
            // floor() and round() are library calls on baseline x86-64; for values above -1 the casts
            // below compute the same and keep this loop ~10x faster.
            let (xi, yi) = ((sx + 1.0) as i64 - 1, (sy + 1.0) as i64 - 1);
            let (fx, fy) = (sx - xi as f32, sy - yi as f32);
            let interior = xi >= 0 && yi >= 0 && xi + 1 < w && yi + 1 < h;
            let (p00, p10, p01, p11) = if interior {
                let i = yi as usize * stride + xi as usize * 3;
                let px = |j: usize| [src[j] as f32, src[j + 1] as f32, src[j + 2] as f32];
                (px(i), px(i + 3), px(i + stride), px(i + stride + 3))
            } else {
                (sample(xi, yi), sample(xi + 1, yi), sample(xi, yi + 1), sample(xi + 1, yi + 1))
            };
            for c in 0..3 {
                let top = p00[c] + (p10[c] - p00[c]) * fx;
                let bottom = p01[c] + (p11[c] - p01[c]) * fx;
                dst[c] = (top + (bottom - top) * fy + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
    }
    RgbImage::from_raw(width, height, out).expect("sized above")
}

/// Aligns a face: the similarity that takes its 5 `landmarks` onto [`ARCFACE_TEMPLATE_112`], and the
/// 112x112 crop warped with it. Returns `None` for degenerate landmarks (all in one point).
pub fn align_face(image: &RgbImage, landmarks: &[Point; 5]) -> Option<(RgbImage, Similarity)> {
    let t = Similarity::estimate(landmarks, &ARCFACE_TEMPLATE_112)?;
    Some((warp_similarity(image, &t, ALIGNED_SIZE, ALIGNED_SIZE), t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn close(a: Point, b: Point, tol: f32) -> bool {
        (a.x - b.x).abs() < tol && (a.y - b.y).abs() < tol
    }

    #[test]
    fn estimate_recovers_a_known_similarity() {
        let truth = Similarity { a: 0.8 * 0.3f32.cos(), b: 0.8 * 0.3f32.sin(), tx: 12.0, ty: -7.0 };
        let src = ARCFACE_TEMPLATE_112;
        let dst: Vec<Point> = src.iter().map(|&p| truth.apply(p)).collect();
        let est = Similarity::estimate(&src, &dst).unwrap();
        assert!((est.a - truth.a).abs() < 1e-5 && (est.b - truth.b).abs() < 1e-5);
        assert!((est.tx - truth.tx).abs() < 1e-3 && (est.ty - truth.ty).abs() < 1e-3);
        assert!((est.scale() - 0.8).abs() < 1e-5);
    }

    #[test]
    fn estimate_is_least_squares_under_noise() {
        // Perturbing one point moves the fit, but the residual must not exceed that of the true transform.
        let truth = Similarity { a: 1.5, b: 0.2, tx: 3.0, ty: 4.0 };
        let src = ARCFACE_TEMPLATE_112;
        let mut dst: Vec<Point> = src.iter().map(|&p| truth.apply(p)).collect();
        dst[2].x += 4.0;
        dst[4].y -= 3.0;
        let est = Similarity::estimate(&src, &dst).unwrap();
        let residual = |t: &Similarity| -> f32 {
            src.iter()
                .zip(&dst)
                .map(|(&s, d)| {
                    let p = t.apply(s);
                    (p.x - d.x).powi(2) + (p.y - d.y).powi(2)
                })
                .sum()
        };
        assert!(residual(&est) <= residual(&truth) + 1e-3);
        // Small perturbations of the estimate only make it worse.
        for (da, db) in [(1e-3, 0.0), (-1e-3, 0.0), (0.0, 1e-3), (0.0, -1e-3)] {
            let p = Similarity { a: est.a + da, b: est.b + db, ..est };
            assert!(residual(&p) >= residual(&est));
        }
    }

    #[test]
    fn estimate_rejects_degenerate_points() {
        let p = [Point::new(5.0, 5.0); 5];
        assert!(Similarity::estimate(&p, &ARCFACE_TEMPLATE_112).is_none());
        let mut nan = ARCFACE_TEMPLATE_112;
        nan[1].x = f32::NAN;
        assert!(Similarity::estimate(&nan, &ARCFACE_TEMPLATE_112).is_none());
    }

    #[test]
    fn inverse_round_trips() {
        let t = Similarity { a: 0.5, b: -1.2, tx: 30.0, ty: 2.0 };
        let inv = t.inverse().unwrap();
        let p = Point::new(17.0, -3.5);
        assert!(close(inv.apply(t.apply(p)), p, 1e-4));
        assert!(Similarity { a: 0.0, b: 0.0, tx: 1.0, ty: 1.0 }.inverse().is_none());
    }

    #[test]
    fn warp_with_identity_copies_and_translation_shifts() {
        let mut img = RgbImage::new(8, 8);
        img.put_pixel(3, 4, Rgb([200, 100, 50]));
        let same = warp_similarity(&img, &Similarity::IDENTITY, 8, 8);
        assert_eq!(same, img);
        let shift = Similarity { tx: 2.0, ty: 1.0, ..Similarity::IDENTITY };
        let moved = warp_similarity(&img, &shift, 8, 8);
        assert_eq!(moved.get_pixel(5, 5), &Rgb([200, 100, 50]));
        // Outside the source is black.
        let far = Similarity { tx: 100.0, ..Similarity::IDENTITY };
        assert!(warp_similarity(&img, &far, 8, 8).pixels().all(|p| p.0 == [0, 0, 0]));
    }

    #[test]
    fn warp_interpolates_bilinearly() {
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, Rgb([0, 0, 0]));
        img.put_pixel(1, 0, Rgb([100, 200, 50]));
        let half = Similarity { tx: -0.5, ..Similarity::IDENTITY };
        let out = warp_similarity(&img, &half, 1, 1);
        assert_eq!(out.get_pixel(0, 0), &Rgb([50, 100, 25]));
    }

    #[test]
    fn aligning_template_points_gives_identity() {
        let img = RgbImage::new(112, 112);
        let (crop, t) = align_face(&img, &ARCFACE_TEMPLATE_112).unwrap();
        assert_eq!(crop.dimensions(), (112, 112));
        assert!((t.a - 1.0).abs() < 1e-5 && t.b.abs() < 1e-5 && t.tx.abs() < 1e-3);
    }
}
