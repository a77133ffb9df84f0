//! `identify`, `verify` and `analyze` on large JPEGs decode them at a reduced scale
//! (`visage::photo`) and decide as the full decode does: on a real portrait enlarged to about 9
//! megapixels, the same subject at the same similarity, embeddings at cosine > 0.99, the same faces
//! and attributes; a small JPEG, decoded in full, gives exactly the full path's results.

use image::RgbImage;
use std::path::{Path, PathBuf};
use visage::attributes::AttributeSet;
use visage::face_report::FaceReport;
use visage::quality::QualityPolicy;
use visage::system::{FaceRecognitionSystem, SystemConfig};
use visage::{AnalyzerConfig, Decision};
mod common;
use common::portrait;
use visage_testkit::models_home;

fn system(data: &Path) -> FaceRecognitionSystem {
    let mut config = SystemConfig::new(data);
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    config.actor = "test".into();
    FaceRecognitionSystem::open(config).unwrap()
}

/// `image` resized to `side` pixels on its longer side, written as a JPEG (quality 92) to `out`,
/// with the full decode of that JPEG written losslessly next to it (`.png`): the same pixels, which
/// the full-size path decodes. Returns both paths.
fn jpeg_and_its_full_decode(image: &RgbImage, side: u32, out: &Path) -> (PathBuf, PathBuf) {
    let f = side as f32 / image.width().max(image.height()) as f32;
    let (w, h) = ((image.width() as f32 * f) as u32, (image.height() as f32 * f) as u32);
    let resized = visage::core::tensor::resize_rgb(image, w, h);
    let jpeg = out.with_extension("jpg");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&jpeg).unwrap());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 92).encode_image(&resized).unwrap();
    drop(file);
    let png = out.with_extension("png");
    visage::core::decode_image(&std::fs::read(&jpeg).unwrap(), &Default::default()).unwrap().save(&png).unwrap();
    (jpeg, png)
}

#[test]
fn identify_and_verify_on_a_large_jpeg_decide_as_the_full_decode() {
    let (data, photos) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let system = system(data.path());
    let enrolled = portrait(3, 0, &system, photos.path());
    system.enroll(&common::request("a", enrolled.clone(), "tests/reduced_decisions.rs"), "test").unwrap();
    let face = image::open(&enrolled).unwrap().into_rgb8();
    let (jpeg, png) = jpeg_and_its_full_decode(&face, 3000, &photos.path().join("large"));
    assert!(!system.analyzer().open(&jpeg).unwrap().decoded().is_full(), "the large JPEG decoded in full");

    let reduced = system.identify(&jpeg, &Decision::default(), "test").unwrap();
    let full = system.identify(&png, &Decision::default(), "test").unwrap();
    assert_eq!(reduced.faces.len(), 1);
    assert_eq!(full.faces.len(), 1);
    assert_eq!(reduced.faces[0].matched.as_deref(), Some("a"));
    assert_eq!(full.faces[0].matched.as_deref(), Some("a"));
    let (r, f) = (reduced.faces[0].similarity.unwrap(), full.faces[0].similarity.unwrap());
    eprintln!("identify: similarity {r:.4} (reduced decode) against {f:.4} (full)");
    assert!((r - f).abs() < 0.01, "identify similarity {r} (reduced) against {f} (full)");
    let iou = box_iou(reduced.faces[0].bbox, full.faces[0].bbox);
    assert!(iou > 0.9, "identify box moved: IoU {iou}");

    let live = Decision { require_live: true, ..Decision::default() };
    let v = system.verify(&jpeg, &png, &live, "test").unwrap();
    eprintln!("verify: cosine {:.4} between the reduced and the full decode", v.verification.similarity);
    assert!(v.verification.similarity > 0.99, "verify: cosine {}", v.verification.similarity);
    let (lr, lf) = (v.images[0].liveness.unwrap().score, v.images[1].liveness.unwrap().score);
    assert!((lr - lf).abs() < 0.05, "liveness {lr} (reduced) against {lf} (full)");
}

#[test]
fn analyze_on_a_large_jpeg_reports_as_the_full_decode() {
    let (data, photos) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let system = system(data.path());
    let face = image::open(portrait(3, 0, &system, photos.path())).unwrap().into_rgb8();
    let (jpeg, _) = jpeg_and_its_full_decode(&face, 3000, &photos.path().join("large"));
    let a = system.analyzer();
    let policy = QualityPolicy::default();
    let photo = a.open(&jpeg).unwrap();
    assert!(!photo.decoded().is_full());
    let reduced = a.analyze_photo(&photo, AttributeSet::ALL, None, &policy).unwrap();
    let full = a.analyze_faces(&a.load(&jpeg).unwrap(), AttributeSet::ALL, None, &policy).unwrap();
    assert_eq!(reduced.len(), 1);
    assert_eq!(full.len(), 1);
    assert_close(&reduced[0], &full[0]);
}

#[test]
fn small_jpegs_are_decoded_in_full_and_unaffected() {
    let (data, photos) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let system = system(data.path());
    let face = image::open(portrait(3, 0, &system, photos.path())).unwrap().into_rgb8();
    let (jpeg, png) = jpeg_and_its_full_decode(&face, 400, &photos.path().join("small"));
    let a = system.analyzer();
    let photo = a.open(&jpeg).unwrap();
    assert!(photo.decoded().is_full(), "a 400-pixel JPEG was decoded at a reduced scale");
    let v = system.verify(&jpeg, &png, &Decision::default(), "test").unwrap();
    assert!(v.verification.similarity > 0.9999, "verify: cosine {}", v.verification.similarity);
    let policy = QualityPolicy::default();
    let reduced = a.analyze_photo(&photo, AttributeSet::ALL, None, &policy).unwrap();
    let full = a.analyze_faces(&a.load(&jpeg).unwrap(), AttributeSet::ALL, None, &policy).unwrap();
    assert_eq!(reduced.len(), full.len());
    for (r, f) in reduced.iter().zip(&full) {
        assert_eq!(r.detection.bbox, f.detection.bbox);
        assert_eq!(r.attributes.age, f.attributes.age);
        assert_eq!(r.attributes.liveness, f.attributes.liveness);
        assert_eq!(r.attributes.pose, f.attributes.pose);
        assert_eq!(r.attributes.landmarks68, f.attributes.landmarks68);
        assert_eq!(r.quality, f.quality);
    }
}

/// The same face, the same attributes within what a resampling changes.
fn assert_close(r: &FaceReport, f: &FaceReport) {
    let iou = r.detection.bbox.iou(&f.detection.bbox);
    let (ra, fa) = (&r.attributes, &f.attributes);
    let brief = |a: &visage::attributes::FaceAttributes, q: &visage::quality::QualityReport| {
        format!("age {:?}, {:?}, {:?}, {:?}, quality {:.3}", a.age, a.gender, a.pose, a.liveness, q.score)
    };
    eprintln!("analyze: box IoU {iou:.3}; reduced: {}; full: {}", brief(ra, &r.quality), brief(fa, &f.quality));
    assert!(iou > 0.9, "box moved: IoU {iou}");
    assert!((ra.age.unwrap() - fa.age.unwrap()).abs() < 3.0, "age {:?} against {:?}", ra.age, fa.age);
    assert_eq!(ra.gender.unwrap().label, fa.gender.unwrap().label);
    assert!((ra.liveness.unwrap().score - fa.liveness.unwrap().score).abs() < 0.05);
    let (rp, fp) = (ra.pose.unwrap(), fa.pose.unwrap());
    assert!((rp.yaw - fp.yaw).abs() < 3.0 && (rp.pitch - fp.pitch).abs() < 3.0, "pose {rp:?} against {fp:?}");
    assert_eq!(ra.expression.unwrap().label, fa.expression.unwrap().label);
    assert_eq!(ra.eyes.map(|e| (e.left_open, e.right_open)), fa.eyes.map(|e| (e.left_open, e.right_open)));
    // The 68 landmarks are reported in the full photo's pixels: within a few of the full path's.
    let (rl, fl) = (ra.landmarks68.as_ref().unwrap(), fa.landmarks68.as_ref().unwrap());
    let worst = rl.iter().zip(fl).map(|(p, q)| (p.x - q.x).hypot(p.y - q.y)).fold(0.0f32, f32::max);
    let side = f.detection.bbox.min_side();
    assert!(worst < side * 0.03, "a landmark moved by {worst} px on a {side} px face");
    assert_eq!(r.quality.ok, f.quality.ok);
    assert!((r.quality.score - f.quality.score).abs() < 0.05, "quality {:?} against {:?}", r.quality, f.quality);
}

fn box_iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    visage::core::BBox::new(a[0], a[1], a[2], a[3]).iou(&visage::core::BBox::new(b[0], b[1], b[2], b[3]))
}
