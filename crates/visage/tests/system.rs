//! The library API of the gallery, end to end on real photos.

use visage::system::{EnrollRequest, FaceRecognitionSystem, SystemConfig};
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

    let found = system.identify(&sample_photos()[3], 2, "test").unwrap();
    assert_eq!(found.faces.len(), 4);
    let mut names: Vec<Option<&str>> = found.faces.iter().map(|f| f.matched.as_deref()).collect();
    names.sort();
    assert_eq!(names, [None, None, Some("a"), Some("b")]);

    // A restart rebuilds the index from the store: same answers.
    drop(system);
    let system = FaceRecognitionSystem::open(config).unwrap();
    let again = system.identify(&sample_photos()[3], 2, "test").unwrap();
    let names_again: Vec<Option<&str>> = again.faces.iter().map(|f| f.matched.as_deref()).collect();
    assert_eq!(names_again.iter().filter(|n| n.is_some()).count(), 2);

    assert_eq!(system.delete("a", "test").unwrap(), 1);
    let after = system.identify(&a, 1, "test").unwrap();
    assert_eq!(after.faces[0].matched, None, "erased: no longer identified");
    assert!(system.verify(&a, &a, "test").unwrap().is_match);
    assert!(system.audit_verify().unwrap().intact);
}
