//! Purpose limitation, end to end on real photos: an identification for purpose P only considers the
//! subjects holding an active consent for P, in every kind of search (the in-memory exact scan and HNSW
//! graph over SQLite, PostgreSQL searching in SQL, PostgreSQL with encrypted templates searched in
//! memory). Consents are changed by one system and searched by another, so the filter follows the
//! store's consent log, not its own process's writes.

use visage::store::{AuditFilter, ConsentGrant, StoreSpec, TemplateMode};
use visage::system::{EnrollRequest, FaceRecognitionSystem, SystemConfig};
use visage::{AnalyzerConfig, Decision};
use visage_index::IndexKind;
mod common;
use common::portrait;
use visage_testkit::{models_home, postgres_server, sample_photos};

fn system(data: &std::path::Path, store: &Option<StoreSpec>, index: IndexKind) -> FaceRecognitionSystem {
    let mut config = SystemConfig::new(data);
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    config.store = store.clone();
    config.index = index;
    config.hnsw_above = None;
    FaceRecognitionSystem::open(config).unwrap()
}

fn grant(purpose: &str) -> ConsentGrant {
    ConsentGrant {
        purpose: purpose.into(),
        legal_basis: "consent".into(),
        evidence: "tests/purpose.rs".into(),
        expires_at: None,
    }
}

fn enrol(system: &FaceRecognitionSystem, subject: &str, image: &std::path::Path, purpose: &str) {
    let request = EnrollRequest {
        subject: subject.into(),
        name: None,
        consent: grant(purpose),
        images: vec![image.to_path_buf().into()],
        allow_duplicate: false,
    };
    system.enroll(&request, "admin").unwrap();
}

/// The subjects matched in the group photo (where both enrolled people appear) for a purpose.
fn matched(system: &FaceRecognitionSystem, purpose: Option<&str>) -> Vec<String> {
    let decision = Decision { top_k: 1, purpose: purpose.map(str::to_string), ..Decision::default() };
    let found = system.identify(&sample_photos()[3], &decision, "door").unwrap();
    let mut names: Vec<String> = found.faces.into_iter().filter_map(|f| f.matched).collect();
    names.sort();
    names
}

fn purpose_bound_search(store: Option<StoreSpec>, index: IndexKind) {
    let data = tempfile::tempdir().unwrap();
    let photos = tempfile::tempdir().unwrap();
    let admin = system(data.path(), &store, index);
    let door = system(data.path(), &store, index);
    let (a, b) = (portrait(3, 0, &admin, photos.path()), portrait(3, 1, &admin, photos.path()));
    enrol(&admin, "a", &a, "access");
    enrol(&admin, "b", &b, "payroll");

    assert_eq!(matched(&door, None), ["a", "b"], "no purpose: everyone enrolled");
    assert_eq!(matched(&door, Some("access")), ["a"]);
    assert_eq!(matched(&door, Some("payroll")), ["b"]);
    assert!(matched(&door, Some("marketing")).is_empty(), "nobody consented to marketing");

    // Consents change in another process: the searching system follows at once.
    admin.grant_consent("b", &grant("access"), "admin").unwrap();
    admin.grant_consent("a", &grant("payroll"), "admin").unwrap();
    assert_eq!(matched(&door, Some("access")), ["a", "b"]);
    admin.revoke_consent("a", Some("access"), "admin").unwrap();
    assert_eq!(matched(&door, Some("access")), ["b"], "revoked for access, still enrolled for payroll");
    assert_eq!(matched(&door, Some("payroll")), ["a", "b"]);

    // Erased, then enrolled again under the same id for another purpose: the old consent is gone.
    admin.delete("a", "admin").unwrap();
    admin.delete("b", "admin").unwrap();
    enrol(&admin, "a", &a, "marketing");
    assert!(matched(&door, Some("payroll")).is_empty());
    assert_eq!(matched(&door, Some("marketing")), ["a"]);

    // Every decision records the purpose it served.
    let entries = door.audit_entries(&AuditFilter { action: Some("identify".into()), ..AuditFilter::default() });
    let entries = entries.unwrap();
    assert!(entries.iter().any(|e| e.detail["purpose"] == "marketing"), "purpose not audited");
}

#[test]
fn purpose_bound_search_sqlite_exact() {
    purpose_bound_search(None, IndexKind::Exact);
}

#[test]
fn purpose_bound_search_sqlite_hnsw() {
    purpose_bound_search(None, IndexKind::Hnsw);
}

#[test]
fn purpose_bound_search_postgres_in_sql() {
    let url = postgres_server().create_database("purpose");
    purpose_bound_search(Some(StoreSpec::Postgres { url, templates: TemplateMode::Plain }), IndexKind::Exact);
}

#[test]
fn purpose_bound_search_postgres_encrypted_in_memory() {
    let url = postgres_server().create_database("purpose");
    purpose_bound_search(Some(StoreSpec::Postgres { url, templates: TemplateMode::Encrypted }), IndexKind::Hnsw);
}
