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

/// The largest distance between corresponding landmarks, as a fraction of the inter-ocular distance.
fn landmark_error(a: &Detection, b: &Detection) -> f32 {
    let eyes = b.landmarks[1].x - b.landmarks[0].x;
    let eyes = eyes.hypot(b.landmarks[1].y - b.landmarks[0].y);
    a.landmarks.iter().zip(&b.landmarks).map(|(p, q)| (p.x - q.x).hypot(p.y - q.y) / eyes).fold(0.0, f32::max)
}

#[test]
fn mtcnn_finds_the_faces_centerface_finds_with_the_same_landmarks() {
    let centerface = analyzer(BackendKind::Ort, DetectorKind::CenterFace);
    let mtcnn = analyzer(BackendKind::Ort, DetectorKind::Mtcnn);
    let mut errors = Vec::new();
    for path in sample_photos() {
        let image = load(&path);
        let c = centerface.detect(&image).unwrap();
        let m = mtcnn.detect(&image).unwrap();
        assert_eq!(m.len(), c.len(), "{}: {m:?}", path.display());
        for face in &c {
            let (found, iou) = best_match(face, &m).unwrap();
            assert!(iou > 0.5, "{}: IoU {iou}: {:?} vs {:?}", path.display(), found.bbox, face.bbox);
            assert!(found.score > 0.9, "{}: score {}", path.display(), found.score);
            let [le, re, nose, lm, rm] = found.landmarks;
            assert!(le.x < re.x && lm.x < rm.x, "{}: left first, as seen in the image", path.display());
            assert!(le.y.max(re.y) < nose.y && nose.y < lm.y.min(rm.y) + 5.0, "{}: vertical order", path.display());
            errors.push(landmark_error(found, face));
        }
    }
    errors.sort_by(f32::total_cmp);
    let median = errors[errors.len() / 2];
    let worst = errors[errors.len() - 1];
    eprintln!("MTCNN vs CenterFace landmarks over {} faces: median {median:.3}, worst {worst:.3} IOD", errors.len());
    assert!(median < 0.10, "median landmark distance {median} of the eye distance");
    assert!(worst < 0.20, "worst landmark distance {worst} of the eye distance");
}

#[test]
fn mtcnn_lfw_portraits_landmarks_match_centerface() {
    let Some(lfw) = lfw_dir() else { return };
    let centerface = analyzer(BackendKind::Ort, DetectorKind::CenterFace);
    let mtcnn = analyzer(BackendKind::Ort, DetectorKind::Mtcnn);
    let people = ["George_W_Bush", "Colin_Powell", "Serena_Williams", "Hugo_Chavez", "Gloria_Macapagal_Arroyo"];
    for name in people {
        let image = load(&lfw.join("lfw-deepfunneled").join(name).join(format!("{name}_0001.jpg")));
        let c = centerface.detect(&image).unwrap();
        let m = mtcnn.detect(&image).unwrap();
        let centred = c.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())).expect("CenterFace finds it");
        let (found, iou) = best_match(centred, &m).unwrap_or_else(|| panic!("{name}: MTCNN found no face"));
        assert!(iou > 0.5, "{name}: IoU {iou}");
        let error = landmark_error(found, centred);
        assert!(error < 0.10, "{name}: a landmark is {error:.3} eye distances from CenterFace's");
    }
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
