//! MTCNN (`--detector mtcnn`) on real photos: the faces CenterFace finds, with landmarks close to
//! CenterFace's, the same on both backends.

use image::RgbImage;
use std::path::Path;
use visage::core::decode_image;
use visage::detect::{Detection, DetectorKind};
use visage::infer::BackendKind;
use visage::{AnalyzerConfig, FaceAnalyzer};
use visage_testkit::{lfw_dir, models_home, sample_photos};

fn analyzer(backend: BackendKind, detector: DetectorKind) -> FaceAnalyzer {
    FaceAnalyzer::new(AnalyzerConfig {
        backend: Some(backend),
        detector,
        home: models_home(),
        progress: false,
        ..AnalyzerConfig::default()
    })
    .expect("analyzer")
}

fn load(path: &Path) -> RgbImage {
    decode_image(&std::fs::read(path).unwrap(), &Default::default()).unwrap()
}

/// The face of `faces` that overlaps `target` most, with the IoU.
fn best_match<'a>(target: &Detection, faces: &'a [Detection]) -> Option<(&'a Detection, f32)> {
    faces.iter().map(|f| (f, f.bbox.iou(&target.bbox))).max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The distance between each pair of corresponding landmarks, as a fraction of the inter-ocular
/// distance of `b`'s; `None` for a face in profile (eyes closer than 0.3 of its box width), where that
/// distance is no scale.
fn landmark_errors(a: &Detection, b: &Detection) -> Option<[f32; 5]> {
    let eyes = (b.landmarks[1].x - b.landmarks[0].x).hypot(b.landmarks[1].y - b.landmarks[0].y);
    (eyes >= 0.3 * b.bbox.width()).then(|| {
        std::array::from_fn(|k| (a.landmarks[k].x - b.landmarks[k].x).hypot(a.landmarks[k].y - b.landmarks[k].y) / eyes)
    })
}

/// Mean and largest of the landmark errors.
fn summary(errors: &[f32]) -> (f32, f32) {
    (errors.iter().sum::<f32>() / errors.len() as f32, errors.iter().copied().fold(0.0, f32::max))
}

#[test]
fn mtcnn_finds_the_faces_centerface_finds_with_the_same_landmarks() {
    let centerface = analyzer(BackendKind::Ort, DetectorKind::CenterFace);
    let mtcnn = analyzer(BackendKind::Ort, DetectorKind::Mtcnn);
    let (mut found_faces, mut faces, mut errors) = (0, 0, Vec::new());
    for path in sample_photos() {
        let image = load(&path);
        let c = centerface.detect(&image).unwrap();
        let m = mtcnn.detect(&image).unwrap();
        faces += c.len();
        found_faces += m.len();
        // Every face MTCNN finds is one CenterFace finds: no false detections, no duplicates.
        assert!(m.len() <= c.len(), "{}: {m:?}", path.display());
        for face in &m {
            let (same, iou) = best_match(face, &c).unwrap();
            assert!(iou > 0.6, "{}: IoU {iou}: {:?} vs {:?}", path.display(), face.bbox, same.bbox);
            assert!(face.score > 0.7, "{}: score {}", path.display(), face.score);
            let [le, re, nose, lm, rm] = face.landmarks;
            assert!(le.x < re.x && lm.x < rm.x, "{}: left first, as seen in the image", path.display());
            assert!(le.y.max(re.y) < nose.y && nose.y < lm.y.min(rm.y) + 5.0, "{}: vertical order", path.display());
            errors.extend(landmark_errors(face, same).into_iter().flatten());
        }
    }
    // 21 of the 22 faces: the one missed (a turned head in sample2) scores 0.69 at O-Net, just below
    // MTCNN's standard 0.7.
    assert!(found_faces + 1 >= faces, "MTCNN found {found_faces} of {faces} faces");
    let (mean, worst) = summary(&errors);
    eprintln!("MTCNN vs CenterFace landmarks, {} points: mean {mean:.3}, worst {worst:.3} eye distances", errors.len());
    // Two detectors trained on different data place points a little differently (MTCNN's mouth
    // corners are wider): measured mean 0.089, worst 0.22 of the eye distance (about 6 and 15 px).
    assert!(mean < 0.12, "mean landmark distance {mean} of the eye distance");
    assert!(worst < 0.3, "worst landmark distance {worst} of the eye distance");
}

#[test]
fn mtcnn_lfw_portraits_landmarks_match_centerface() {
    let Some(lfw) = lfw_dir() else { return };
    let centerface = analyzer(BackendKind::Ort, DetectorKind::CenterFace);
    let mtcnn = analyzer(BackendKind::Ort, DetectorKind::Mtcnn);
    let people = ["George_W_Bush", "Colin_Powell", "Serena_Williams", "Hugo_Chavez", "Gloria_Macapagal_Arroyo"];
    let mut errors = Vec::new();
    for name in people {
        let image = load(&lfw.join("lfw-deepfunneled").join(name).join(format!("{name}_0001.jpg")));
        let c = centerface.detect(&image).unwrap();
        let m = mtcnn.detect(&image).unwrap();
        let centred = c.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())).expect("CenterFace finds it");
        let (found, iou) = best_match(centred, &m).unwrap_or_else(|| panic!("{name}: MTCNN found no face"));
        assert!(iou > 0.6, "{name}: IoU {iou}");
        errors.extend(landmark_errors(found, centred).expect("a frontal portrait"));
    }
    let (mean, worst) = summary(&errors);
    eprintln!("MTCNN vs CenterFace landmarks on LFW: mean {mean:.3}, worst {worst:.3} eye distances");
    assert!(mean < 0.12 && worst < 0.3, "mean {mean}, worst {worst} of the eye distance");
}

#[test]
fn mtcnn_gives_the_same_faces_on_both_backends() {
    let ort = analyzer(BackendKind::Ort, DetectorKind::Mtcnn);
    let tract = analyzer(BackendKind::Tract, DetectorKind::Mtcnn);
    let image = load(&sample_photos()[0]);
    let a = ort.detect(&image).unwrap();
    let b = tract.detect(&image).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!(x.bbox.iou(&y.bbox) > 0.99, "{:?} vs {:?}", x.bbox, y.bbox);
        assert!((x.score - y.score).abs() < 1e-3);
        for (p, q) in x.landmarks.iter().zip(&y.landmarks) {
            assert!((p.x - q.x).abs() < 0.5 && (p.y - q.y).abs() < 0.5, "{p:?} vs {q:?}");
        }
    }
}
