//! Liveness inside the gallery: a printed-photo enrolment is refused when liveness is required, with
//! the reason in the error and in the audit log; `identify` and `verify` with `require_live` report scores.

use visage::store::AuditFilter;
use visage::system::{EnrolLiveness, EnrollRequest, FaceRecognitionSystem, SystemConfig};
use visage::{AnalyzerConfig, Decision, VisageError};
mod common;
use visage_testkit::{models_home, shared_data};

fn request(subject: &str, image: std::path::PathBuf) -> EnrollRequest {
    common::request(subject, image, "tests/liveness_gallery.rs")
}

#[test]
fn a_printed_photo_is_not_enrolled_when_liveness_is_required() {
    let Some(nuaa) = shared_data().map(|d| d.join("antispoof-nuaa-dev")).filter(|d| d.is_dir()) else {
        eprintln!("SKIPPED: ../shared/data/antispoof-nuaa-dev not found");
        return;
    };
    // Subject 0001's frames: one printed photo, one live.
    let first = |sub: &str| {
        let mut files: Vec<_> = std::fs::read_dir(nuaa.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("0001_"))
            .collect();
        files.sort();
        files
    };
    let (spoofs, reals) = (first("spoof"), first("real"));
    let data = tempfile::tempdir().unwrap();
    let mut config = SystemConfig::new(data.path());
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    config.enrol_liveness = EnrolLiveness { required: true, threshold: None };
    config.quality.min_sharpness = 0.0; // webcam frames: this test is about liveness alone
    let system = FaceRecognitionSystem::open(config.clone()).unwrap();

    // Refused printed photos: every one of the first five, with the reason.
    for spoof in spoofs.iter().take(5) {
        let err = system.enroll(&request("mallory", spoof.clone()), "test").unwrap_err();
        assert!(
            matches!(err, VisageError::Spoof { score, threshold, .. } if score < threshold),
            "{}: {err}",
            spoof.display()
        );
        assert!(err.to_string().contains("presentation attack"));
    }
    let refused = system
        .audit_entries(&AuditFilter { action: Some("enroll".into()), ..AuditFilter::default() })
        .unwrap()
        .into_iter()
        .filter(|e| e.outcome == "refused-spoof")
        .count();
    assert_eq!(refused, 5);
    // A live frame of the same subject is enrolled, and its score is in the audit detail.
    let live = reals.iter().take(5).find_map(|p| system.enroll(&request("alice", p.clone()), "test").ok());
    assert!(live.is_some(), "none of the first five live frames was enrolled");

    // The identification of a printed photo with --require-live is not matched: the gallery is not
    // even searched (no candidates), and the audit log has one refusal and no match or unknown.
    let identify = AuditFilter { action: Some("identify".into()), ..AuditFilter::default() };
    let before = system.audit_entries(&identify).unwrap().len();
    let live = Decision { require_live: true, ..Decision::default() };
    let found = system.identify(&spoofs[0], &live, "test").unwrap();
    assert_eq!(found.faces.len(), 1);
    assert!(!found.faces[0].liveness.unwrap().live && found.faces[0].matched.is_none());
    assert!(found.faces[0].candidates.is_empty() && found.faces[0].similarity.is_none());
    let outcomes: Vec<String> =
        system.audit_entries(&identify).unwrap().into_iter().skip(before).map(|e| e.outcome).collect();
    assert_eq!(outcomes, ["refused-spoof"]);
    let found = system.identify(&reals[0], &live, "test").unwrap();
    assert!(found.faces[0].liveness.unwrap().live && found.faces[0].matched.as_deref() == Some("alice"));
    let err = system.verify(&reals[0], &spoofs[0], &live, "test").unwrap_err();
    assert!(matches!(err, VisageError::Spoof { .. }));

    // With liveness not required (the override), the printed photo goes in, and the audit says so.
    drop(system);
    config.enrol_liveness.required = false;
    let system = FaceRecognitionSystem::open(config).unwrap();
    // (It is a photo of the subject enrolled above as alice, so the duplicate check must be waived too.)
    let printed = EnrollRequest { allow_duplicate: true, ..request("mallory", spoofs[0].clone()) };
    system.enroll(&printed, "test").unwrap();
    let last = system
        .audit_entries(&AuditFilter { subject: Some("mallory".into()), ..AuditFilter::default() })
        .unwrap()
        .into_iter()
        .last()
        .unwrap();
    assert!(last.detail.to_string().contains("\"liveness_required\":false"), "{}", last.detail);
}
