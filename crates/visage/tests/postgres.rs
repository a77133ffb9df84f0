//! Two face recognition systems (as two `visage serve` replicas) on one PostgreSQL + pgvector gallery,
//! on real photos: what one enrols the other identifies at once, and an erasure holds for both.

use visage::store::{StoreSpec, TemplateMode};
use visage::system::{EnrollRequest, FaceRecognitionSystem, SystemConfig};
use visage::AnalyzerConfig;
mod common;
use common::portrait;
use visage_testkit::{models_home, postgres_server, sample_photos};

fn request(subject: &str, image: std::path::PathBuf) -> EnrollRequest {
    common::request(subject, image, "tests/postgres.rs")
}

fn system(data: &std::path::Path, url: &str, actor: &str) -> FaceRecognitionSystem {
    let mut config = SystemConfig::new(data);
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    config.actor = actor.into();
    config.store = Some(StoreSpec::Postgres { url: url.into(), templates: TemplateMode::Plain });
    FaceRecognitionSystem::open(config).unwrap()
}

#[test]
fn two_systems_on_one_postgres_gallery() {
    let url = postgres_server().create_database("systems");
    // One key for both replicas (the same data dir here; VISAGE_KEY in a deployment).
    let data = tempfile::tempdir().unwrap();
    let photos = tempfile::tempdir().unwrap();
    let one = system(data.path(), &url, "replica-1");
    let two = system(data.path(), &url, "replica-2");
    let a = portrait(3, 0, &one, photos.path());
    let b = portrait(3, 1, &one, photos.path());
    one.enroll(&request("a", a.clone()), "replica-1").unwrap();
    two.enroll(&request("b", b), "replica-2").unwrap();
    // The duplicate check sees the other replica's enrolment.
    let err = two.enroll(&request("c", a.clone()), "replica-2").unwrap_err();
    assert!(matches!(err, visage::VisageError::Duplicate { ref other, .. } if other == "a"), "{err}");

    // Each replica identifies both people in the group photo; strangers stay unknown.
    for replica in [&one, &two] {
        let found = replica.identify(&sample_photos()[3], 2, "test").unwrap();
        assert_eq!(found.faces.len(), 4);
        let mut names: Vec<Option<&str>> = found.faces.iter().map(|f| f.matched.as_deref()).collect();
        names.sort();
        assert_eq!(names, [None, None, Some("a"), Some("b")]);
    }

    // Erased on one: gone for the other at once.
    assert_eq!(one.delete("a", "replica-1").unwrap(), 1);
    let after = two.identify(&a, 1, "replica-2").unwrap();
    assert_eq!(after.faces[0].matched, None, "erased: no longer identified by the other replica");
    assert!(two.audit_verify().unwrap().intact);
    let actors: Vec<String> = one.audit_entries(&Default::default()).unwrap().into_iter().map(|e| e.actor).collect();
    assert!(actors.iter().any(|a| a == "replica-1") && actors.iter().any(|a| a == "replica-2"));
}
