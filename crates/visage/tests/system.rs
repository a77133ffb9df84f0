//! The library API of the gallery, end to end on real photos.

use visage::system::{EnrollRequest, FaceRecognitionSystem, SystemConfig};
use visage::Decision;
use visage::{AnalyzerConfig, VisageError};
mod common;
use common::portrait;
use visage_testkit::{models_home, sample_photos};

fn request(subject: &str, image: std::path::PathBuf) -> EnrollRequest {
    common::request(subject, image, "tests/system.rs")
}

#[test]
fn enrol_identify_delete_through_the_library() {
    let data = tempfile::tempdir().unwrap();
    let photos = tempfile::tempdir().unwrap();
    let mut config = SystemConfig::new(data.path());
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    config.actor = "test".into();
    let system = FaceRecognitionSystem::open(config.clone()).unwrap();
    let a = portrait(3, 0, &system, photos.path());
    let b = portrait(3, 1, &system, photos.path());
    system.enroll(&request("a", a.clone()), "test").unwrap();
    system.enroll(&request("b", b), "test").unwrap();
    let err = system.enroll(&request("c", a.clone()), "test").unwrap_err();
    assert!(matches!(err, VisageError::Duplicate { ref other, .. } if other == "a"), "{err}");

    let found = system.identify(&sample_photos()[3], &Decision { top_k: 2, ..Decision::default() }, "test").unwrap();
    assert_eq!(found.faces.len(), 4);
    let mut names: Vec<Option<&str>> = found.faces.iter().map(|f| f.matched.as_deref()).collect();
    names.sort();
    assert_eq!(names, [None, None, Some("a"), Some("b")]);

    // A restart rebuilds the index from the store: same answers.
    drop(system);
    let system = FaceRecognitionSystem::open(config).unwrap();
    let again = system.identify(&sample_photos()[3], &Decision { top_k: 2, ..Decision::default() }, "test").unwrap();
    let names_again: Vec<Option<&str>> = again.faces.iter().map(|f| f.matched.as_deref()).collect();
    assert_eq!(names_again.iter().filter(|n| n.is_some()).count(), 2);

    assert_eq!(system.delete("a", "test").unwrap(), 1);
    let after = system.identify(&a, &Decision { top_k: 1, ..Decision::default() }, "test").unwrap();
    assert_eq!(after.faces[0].matched, None, "erased: no longer identified");
    assert!(system.verify(&a, &a, &Decision::default(), "test").unwrap().verification.is_match);
    assert!(system.audit_verify().unwrap().intact);
}

/// An `Auto` gallery that outgrows the exact scan gets an HNSW graph built in the background, and the
/// graph it switches to has caught up with everything that happened meanwhile (an enrolment here, an
/// erasure by another process on the same store). Threshold 2 instead of 100,000, same code path.
#[test]
fn an_auto_gallery_switches_to_hnsw_built_in_the_background() {
    let data = tempfile::tempdir().unwrap();
    let photos = tempfile::tempdir().unwrap();
    let mut config = SystemConfig::new(data.path());
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    config.hnsw_above = Some(2);
    let system = FaceRecognitionSystem::open(config.clone()).unwrap();
    let other = FaceRecognitionSystem::open(SystemConfig { hnsw_above: None, ..config }).unwrap();
    let faces = [(3, 0), (3, 1), (0, 0), (0, 1)];
    let images: Vec<_> = faces.iter().map(|&(p, f)| portrait(p, f, &system, photos.path())).collect();
    let names = ["a", "b", "c", "d"];
    system.enroll(&request(names[0], images[0].clone()), "test").unwrap();
    system.enroll(&request(names[1], images[1].clone()), "test").unwrap();
    assert_eq!(system.search_index(), Some(visage_index::IndexKind::Exact), "2 templates: exact");
    system.enroll(&request(names[2], images[2].clone()), "test").unwrap(); // 3 > 2: the build starts
    system.enroll(&request(names[3], images[3].clone()), "test").unwrap();
    other.delete("a", "other").unwrap();
    system.wait_for_search_index().unwrap();
    assert_eq!(system.search_index(), Some(visage_index::IndexKind::Hnsw));
    assert_eq!(other.search_index(), Some(visage_index::IndexKind::Exact), "no background build when off");
    for (image, name) in images.iter().zip(names) {
        let found = system.identify(image, &Decision { top_k: 1, ..Decision::default() }, "test").unwrap();
        let expected = (name != "a").then_some(name);
        assert_eq!(found.faces[0].matched.as_deref(), expected, "{name}");
    }

    // Two of the three left are erased: the graph lost more than a quarter of its nodes, so a fresh
    // one is built in the background (the old one answers meanwhile), with the same answers.
    system.delete("b", "test").unwrap();
    system.delete("c", "test").unwrap();
    system.wait_for_search_index().unwrap();
    assert_eq!(system.search_index(), Some(visage_index::IndexKind::Hnsw));
    for (image, name) in images.iter().zip(names) {
        let found = system.identify(image, &Decision { top_k: 1, ..Decision::default() }, "test").unwrap();
        let expected = (name == "d").then_some(name);
        assert_eq!(found.faces[0].matched.as_deref(), expected, "{name} after the rebuild");
    }
}

/// Several photos of one enrolment run on several workers: the templates and their quality reports
/// come in the photos' order, and a refusal names the first bad photo in that order.
#[test]
fn photos_of_one_enrolment_run_in_parallel_in_order() {
    let data = tempfile::tempdir().unwrap();
    let photos = tempfile::tempdir().unwrap();
    let mut config = SystemConfig::new(data.path());
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    config.enrol_workers = 3;
    let system = FaceRecognitionSystem::open(config).unwrap();
    let images: Vec<_> = (0..3).map(|f| portrait(4, f, &system, photos.path())).collect();
    let mut req = request("p", images[0].clone());
    req.images = images.iter().map(Into::into).collect();
    req.allow_duplicate = true;
    let outcome = system.enroll(&req, "test").unwrap();
    assert_eq!(outcome.templates.len(), 3);
    // Each report is its own photo's: enrolled alone, each photo gets the same quality score.
    for (i, image) in images.iter().enumerate() {
        let mut alone = request(&format!("alone{i}"), image.clone());
        alone.allow_duplicate = true;
        let single = system.enroll(&alone, "test").unwrap();
        assert_eq!(single.quality[0].score, outcome.quality[i].score, "report {i} is not photo {i}'s");
    }
    // A group photo (several faces) after a photo with no face: the first in order is reported.
    let blank = photos.path().join("blank.png");
    image::RgbImage::from_pixel(300, 300, image::Rgb([128, 128, 128])).save(&blank).unwrap();
    let mut bad = request("q", images[0].clone());
    bad.images = vec![images[1].clone().into(), blank.clone().into(), sample_photos()[4].clone().into()];
    bad.allow_duplicate = true;
    let err = system.enroll(&bad, "test").unwrap_err();
    assert!(matches!(err, VisageError::NoFace { ref path } if *path == blank), "{err}");
}
