//! Two face recognition systems on one gallery, on real photos: two `visage serve` replicas on one
//! PostgreSQL + pgvector database (plain templates searched in SQL, or encrypted templates searched in
//! each replica's memory), or a `visage serve` and a CLI on one SQLite file. What one enrols the other
//! identifies at once, and an erasure holds for both.

use visage::store::{StoreSpec, TemplateMode};
use visage::system::{EnrollRequest, FaceRecognitionSystem, SystemConfig};
use visage::AnalyzerConfig;
use visage::Decision;
mod common;
use common::portrait;
use visage_testkit::{models_home, postgres_server, sample_photos};

fn request(subject: &str, image: std::path::PathBuf) -> EnrollRequest {
    common::request(subject, image, "tests/shared_gallery.rs")
}

fn system(data: &std::path::Path, store: &Option<StoreSpec>, actor: &str) -> FaceRecognitionSystem {
    let mut config = SystemConfig::new(data);
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    config.actor = actor.into();
    config.store = store.clone();
    FaceRecognitionSystem::open(config).unwrap()
}

fn postgres(templates: TemplateMode) -> Option<StoreSpec> {
    Some(StoreSpec::Postgres { url: postgres_server().create_database("systems"), templates })
}

#[test]
fn two_systems_on_one_postgres_gallery_plain() {
    two_systems_on_one_gallery(postgres(TemplateMode::Plain));
}

#[test]
fn two_systems_on_one_postgres_gallery_encrypted() {
    two_systems_on_one_gallery(postgres(TemplateMode::Encrypted));
}

#[test]
fn two_systems_on_one_sqlite_gallery() {
    two_systems_on_one_gallery(None);
}

/// `store`: the shared gallery (`None`: the SQLite store in the shared data dir).
fn two_systems_on_one_gallery(store: Option<StoreSpec>) {
    // One key for both (the same data dir here; VISAGE_KEY for replicas on several machines).
    let data = tempfile::tempdir().unwrap();
    let photos = tempfile::tempdir().unwrap();
    let one = system(data.path(), &store, "replica-1");
    let two = system(data.path(), &store, "replica-2");
    let a = portrait(3, 0, &one, photos.path());
    let b = portrait(3, 1, &one, photos.path());
    one.enroll(&request("a", a.clone()), "replica-1").unwrap();
    two.enroll(&request("b", b), "replica-2").unwrap();
    // The duplicate check sees the other replica's enrolment.
    let err = two.enroll(&request("c", a.clone()), "replica-2").unwrap_err();
    assert!(matches!(err, visage::VisageError::Duplicate { ref other, .. } if other == "a"), "{err}");

    // Each replica identifies both people in the group photo; strangers stay unknown.
    for replica in [&one, &two] {
        let found =
            replica.identify(&sample_photos()[3], &Decision { top_k: 2, ..Decision::default() }, "test").unwrap();
        assert_eq!(found.faces.len(), 4);
        let mut names: Vec<Option<&str>> = found.faces.iter().map(|f| f.matched.as_deref()).collect();
        names.sort();
        assert_eq!(names, [None, None, Some("a"), Some("b")]);
    }

    // Erased on one: gone for the other at once, and a consent revoked on one holds for the other.
    assert_eq!(one.delete("a", "replica-1").unwrap(), 1);
    let after = two.identify(&a, &Decision { top_k: 1, ..Decision::default() }, "replica-2").unwrap();
    assert_eq!(after.faces[0].matched, None, "erased: no longer identified by the other replica");
    two.revoke_consent("b", None, "replica-2").unwrap();
    let b_after =
        one.identify(&sample_photos()[3], &Decision { top_k: 2, ..Decision::default() }, "replica-1").unwrap();
    assert!(b_after.faces.iter().all(|f| f.matched.is_none()), "consent revoked on the other replica");
    // A new enrolment by the first is identified by the second.
    one.enroll(&request("c", a.clone()), "replica-1").unwrap();
    assert_eq!(
        two.identify(&a, &Decision { top_k: 1, ..Decision::default() }, "replica-2").unwrap().faces[0]
            .matched
            .as_deref(),
        Some("c")
    );
    assert!(two.audit_verify().unwrap().intact);
    let actors: Vec<String> = one.audit_entries(&Default::default()).unwrap().into_iter().map(|e| e.actor).collect();
    assert!(actors.iter().any(|a| a == "replica-1") && actors.iter().any(|a| a == "replica-2"));
}
