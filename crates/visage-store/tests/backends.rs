//! One behaviour suite, run against both gallery backends: the embedded SQLite store and PostgreSQL
//! with pgvector (a real server, installed and started by `visage_testkit::postgres_server`). Then what
//! only a shared database server has to get right: two processes' stores on one database, and the audit
//! chain under parallel writers. And `migrate` from SQLite to PostgreSQL.

use std::sync::Arc;
use visage_store::postgres::{PgStore, DIM};
use visage_store::{
    migrate, AuditEvent, AuditFilter, ConsentGrant, GalleryStore, NewTemplate, Store, StoreError, StoreKey,
    TemplateMode, TemplateModel,
};

/// A unit vector pointing mostly along axis `axis`, slightly perturbed by `jitter`.
fn embedding(axis: usize, jitter: f32) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    v[axis % DIM] = 1.0;
    v[(axis + 1) % DIM] = jitter;
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn template(axis: usize, jitter: f32) -> NewTemplate {
    NewTemplate {
        embedding: embedding(axis, jitter),
        model_id: "arcface".into(),
        model_sha256: "m1".into(),
        quality: 0.9,
    }
}

fn consent(purpose: &str) -> ConsentGrant {
    ConsentGrant { purpose: purpose.into(), legal_basis: "consent".into(), evidence: "form-1".into(), expires_at: None }
}

/// A fresh gallery of each kind.
enum Backend {
    Sqlite,
    Postgres(TemplateMode),
}

fn open(backend: &Backend, dir: &std::path::Path) -> (Box<dyn GalleryStore>, Option<String>) {
    let key = StoreKey::load_or_create(dir).unwrap();
    match backend {
        Backend::Sqlite => (Box::new(Store::open(dir, key).unwrap()), None),
        Backend::Postgres(mode) => {
            let url = visage_testkit::postgres_server().create_database("backends");
            (Box::new(PgStore::open(&url, key, *mode).unwrap()), Some(url))
        }
    }
}

/// Best subject for a query: in the database when the store searches there, else by brute force over
/// the decrypted templates (what the in-process index does).
fn best(store: &dyn GalleryStore, query: &[f32]) -> Option<(String, f32)> {
    if store.searches_in_database() {
        return store.search(query, 3, "m1", None).unwrap().into_iter().next();
    }
    store
        .all_templates()
        .unwrap()
        .into_iter()
        .map(|t| (t.subject_id, t.embedding.iter().zip(query).map(|(a, b)| a * b).sum::<f32>()))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

fn behaviour(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) = open(&backend, dir.path());
    let store_ref = store.as_ref();
    // Enrol: several templates per subject, one consent reused for the same purpose.
    let ids = store_ref
        .enroll(
            "alice",
            Some("Alice"),
            &consent("door"),
            &[template(0, 0.0), template(0, 0.2)],
            "t",
            serde_json::json!({}),
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    store_ref.enroll("bob", None, &consent("door"), &[template(5, 0.0)], "t", serde_json::json!({})).unwrap();
    store_ref.enroll("bob", Some("Bob"), &consent("door"), &[template(5, 0.1)], "t", serde_json::json!({})).unwrap();
    let subjects = store_ref.subjects().unwrap();
    assert_eq!(subjects.iter().map(|(s, n)| (s.id.as_str(), *n)).collect::<Vec<_>>(), [("alice", 2), ("bob", 2)]);
    assert_eq!(store_ref.subject("bob").unwrap().unwrap().display_name.as_deref(), Some("Bob"));
    assert_eq!(store_ref.consents("bob").unwrap().len(), 1, "the active consent for the same purpose is reused");
    // Bad input is refused with a clear error, nothing stored.
    assert!(matches!(
        store_ref.enroll("../x", None, &consent("door"), &[template(1, 0.0)], "t", serde_json::json!({})),
        Err(StoreError::InvalidSubjectId(_))
    ));
    assert!(store_ref.enroll("carol", None, &consent("door"), &[], "t", serde_json::json!({})).is_err());
    assert!(store_ref.subject("carol").unwrap().is_none());
    // Identify: each query finds its subject, scored by the best template.
    let (who, sim) = best(store_ref, &embedding(0, 0.2)).unwrap();
    assert_eq!(who, "alice");
    assert!(sim > 0.999, "best template of alice: {sim}");
    assert_eq!(best(store_ref, &embedding(5, 0.05)).unwrap().0, "bob");
    // Templates decrypt (or read) back exactly.
    let all = store_ref.all_templates().unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.iter().any(|t| t.subject_id == "alice" && t.embedding == embedding(0, 0.2)));
    // Which models made the templates; another recogniser's (another length) is kept unless the store
    // has one fixed length (pgvector's column for plain templates).
    let arcface = TemplateModel { model_id: "arcface".into(), model_sha256: "m1".into(), templates: 4 };
    assert_eq!(store_ref.template_models().unwrap(), std::slice::from_ref(&arcface));
    let short =
        NewTemplate { embedding: vec![0.6, 0.8], model_id: "sface".into(), model_sha256: "m2".into(), quality: 0.9 };
    let enrolled = store_ref.enroll("frank", None, &consent("door"), &[short], "t", serde_json::json!({}));
    match store_ref.vector_dim() {
        Some(dim) => {
            assert_eq!(dim, DIM);
            let error = enrolled.unwrap_err().to_string();
            assert!(error.contains("2 values") && error.contains("512"), "{error}");
            assert!(store_ref.subject("frank").unwrap().is_none());
        }
        None => {
            enrolled.unwrap();
            let sface = TemplateModel { model_id: "sface".into(), model_sha256: "m2".into(), templates: 1 };
            assert_eq!(store_ref.template_models().unwrap(), [arcface.clone(), sface]);
            store_ref.delete_subject("frank", "t").unwrap();
        }
    }
    assert_eq!(store_ref.template_models().unwrap(), [arcface]);
    // Export: audited, templates only when asked.
    let export = store_ref.export("alice", false, "t").unwrap();
    assert!(export.templates.iter().all(|t| t.embedding.is_none()));
    assert!(export.audit.iter().any(|e| e.action == "enroll"));
    let with = store_ref.export("alice", true, "t").unwrap();
    assert_eq!(with.templates[1].embedding.as_deref(), Some(&embedding(0, 0.2)[..]));
    assert!(matches!(store_ref.export("nobody", false, "t"), Err(StoreError::UnknownSubject(_))));
    // Consent grant: a further purpose for an enrolled subject, audited; the same active purpose twice,
    // an unknown subject or an empty purpose are refused.
    let granted = store_ref.grant_consent("alice", &consent("payroll"), "t").unwrap();
    assert_eq!((granted.purpose.as_str(), granted.revoked_at.as_deref()), ("payroll", None));
    assert_eq!(store_ref.consents("alice").unwrap().len(), 2);
    assert!(matches!(store_ref.grant_consent("alice", &consent("payroll"), "t"), Err(StoreError::Invalid(_))));
    assert!(matches!(store_ref.grant_consent("nobody", &consent("x"), "t"), Err(StoreError::UnknownSubject(_))));
    assert!(matches!(store_ref.grant_consent("alice", &consent(" "), "t"), Err(StoreError::Invalid(_))));
    let grants =
        store_ref.audit_entries(&AuditFilter { action: Some("consent-grant".into()), ..Default::default() }).unwrap();
    assert_eq!((grants.len(), grants[0].detail["purpose"].as_str()), (1, Some("payroll")));
    // Revoking one purpose keeps the templates while another consent is active.
    assert!(store_ref.revoke_consent("alice", Some("door"), "t").unwrap().is_empty());
    assert_eq!(best(store_ref, &embedding(0, 0.2)).unwrap().0, "alice");
    // Consent revoke: templates go, the subject stays with the revoked record.
    let removed = store_ref.revoke_consent("bob", Some("door"), "t").unwrap();
    assert_eq!(removed.len(), 2);
    assert_ne!(best(store_ref, &embedding(5, 0.0)).map(|b| b.0).as_deref(), Some("bob"));
    assert!(store_ref.consents("bob").unwrap()[0].revoked_at.is_some());
    assert!(matches!(store_ref.revoke_consent("bob", None, "t"), Err(StoreError::NoConsent(..))));
    // Purge: an expired consent's templates go.
    let mut soon = consent("event");
    soon.expires_at =
        Some(visage_store::time_util::format(time::OffsetDateTime::now_utc() + time::Duration::seconds(1)));
    store_ref.enroll("dave", None, &soon, &[template(9, 0.0)], "t", serde_json::json!({})).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (report, purged) = store_ref.purge_expired("t").unwrap();
    assert_eq!(report.subjects, ["dave"]);
    assert_eq!(purged.len(), 1);
    // Delete: erased; a tombstone stays in the audit log, but nothing in the log names her any more
    // (her entries keep a pseudonym whose link to her is destroyed) and the chain still verifies.
    let alice_filter = AuditFilter { subject: Some("alice".into()), ..Default::default() };
    let before = store_ref.audit_entries(&alice_filter).unwrap();
    assert!(before.len() >= 3 && before.iter().all(|e| e.subject.as_deref() == Some("alice")), "{before:?}");
    assert_eq!(store_ref.delete_subject("alice", "t").unwrap(), ids);
    assert!(store_ref.subject("alice").unwrap().is_none());
    assert_ne!(best(store_ref, &embedding(0, 0.0)).map(|b| b.0).as_deref(), Some("alice"));
    assert!(store_ref.audit_entries(&alice_filter).unwrap().is_empty(), "erased entries still found by id");
    let all = store_ref.audit_entries(&AuditFilter::default()).unwrap();
    assert!(!serde_json::to_string(&all).unwrap().contains("alice"), "the log still names the erased subject");
    let tomb = all.iter().rev().find(|e| e.action == "delete" && e.outcome == "ok").unwrap();
    assert_eq!(tomb.detail["templates_erased"], 2);
    let pseudonym = tomb.subject.clone().unwrap();
    assert!(pseudonym.starts_with("subj-"), "{pseudonym}");
    assert_eq!(all.iter().filter(|e| e.subject.as_deref() == Some(pseudonym.as_str())).count(), before.len() + 1);
    assert!(store_ref.verify_audit().unwrap().intact);
    assert!(matches!(store_ref.delete_subject("alice", "t"), Err(StoreError::UnknownSubject(_))));
    // API keys: created, authenticated, revoked.
    let (key, text) = store_ref.create_api_key(&["identify".into()], &[], Some("kiosk"), "t").unwrap();
    assert_eq!(store_ref.authenticate(&text).unwrap().unwrap().id, key.id);
    assert!(store_ref.authenticate(&text.replace("vsg_", "vsg_x")).unwrap().is_none());
    assert!(store_ref.authenticate(&format!("{text}x")).unwrap().is_none());
    store_ref.revoke_api_key(&key.id, "t").unwrap();
    assert!(store_ref.authenticate(&text).unwrap().is_none());
    assert!(store_ref.create_api_key(&["root".into()], &[], None, "t").is_err());
    assert_eq!(store_ref.api_keys().unwrap().len(), 1);
    // The audit chain verifies, and lists with filters.
    let v = store_ref.verify_audit().unwrap();
    assert!(v.intact, "{v:?}");
    assert!(v.entries >= 12, "{v:?}");
    assert_eq!(store_ref.audit_entries(&AuditFilter { limit: Some(2), ..Default::default() }).unwrap().len(), 2);
    // Key rotation: everything still opens under the new key.
    store_ref.enroll("erin", None, &consent("door"), &[template(20, 0.0)], "t", serde_json::json!({})).unwrap();
    store.rotate_key(StoreKey::generate(), "t").unwrap();
    assert!(store.verify_audit().unwrap().intact);
    assert_eq!(store.all_templates().unwrap().len(), 1);
}

#[test]
fn behaviour_sqlite() {
    behaviour(Backend::Sqlite);
}

#[test]
fn behaviour_postgres_plain() {
    behaviour(Backend::Postgres(TemplateMode::Plain));
}

#[test]
fn behaviour_postgres_encrypted() {
    behaviour(Backend::Postgres(TemplateMode::Encrypted));
}

#[test]
fn postgres_refuses_a_wrong_key_and_a_changed_mode() {
    let dir = tempfile::tempdir().unwrap();
    let url = visage_testkit::postgres_server().create_database("keys");
    let key = StoreKey::load_or_create(dir.path()).unwrap();
    PgStore::open(&url, key.clone(), TemplateMode::Plain).unwrap();
    assert!(matches!(PgStore::open(&url, StoreKey::generate(), TemplateMode::Plain), Err(StoreError::WrongKey { .. })));
    let err = PgStore::open(&url, key.clone(), TemplateMode::Encrypted).unwrap_err().to_string();
    assert!(err.contains("keeps plain templates"), "{err}");
    // Encrypted mode really stores no plain vector.
    let url = visage_testkit::postgres_server().create_database("enc");
    let store = PgStore::open(&url, key, TemplateMode::Encrypted).unwrap();
    store.enroll("a", None, &consent("p"), &[template(3, 0.0)], "t", serde_json::json!({})).unwrap();
    let db = url.rsplit('/').next().unwrap();
    let plain = visage_testkit::postgres_server()
        .psql(db, "SELECT COUNT(*) FROM templates WHERE embedding IS NOT NULL OR ciphertext IS NULL")
        .unwrap();
    assert_eq!(plain, "0");
}

#[test]
fn postgres_finds_an_edited_audit_entry() {
    let dir = tempfile::tempdir().unwrap();
    let url = visage_testkit::postgres_server().create_database("tamper");
    let store = PgStore::open(&url, StoreKey::load_or_create(dir.path()).unwrap(), TemplateMode::Plain).unwrap();
    for i in 0..5 {
        store.audit(AuditEvent::new("t", "identify", "unknown").detail(serde_json::json!({"i": i}))).unwrap();
    }
    let db = url.rsplit('/').next().unwrap();
    let server = visage_testkit::postgres_server();
    server.psql(db, "UPDATE audit SET outcome = 'match' WHERE seq = 3").unwrap();
    let v = store.verify_audit().unwrap();
    assert_eq!((v.intact, v.first_bad), (false, Some(3)), "{v:?}");
    server.psql(db, "UPDATE audit SET outcome = 'unknown' WHERE seq = 3").unwrap();
    assert!(store.verify_audit().unwrap().intact);
    server.psql(db, "DELETE FROM audit WHERE seq = 5").unwrap();
    let v = store.verify_audit().unwrap();
    assert_eq!((v.intact, v.first_bad), (false, Some(5)), "{v:?}");
}

/// Two stores on one database, as two `visage serve` processes would hold: an enrolment by one is
/// found by the other at once, and so is an erasure.
#[test]
fn two_stores_on_one_database_see_each_other_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = StoreKey::load_or_create(dir.path()).unwrap();
    let url = visage_testkit::postgres_server().create_database("shared");
    let a = PgStore::open(&url, key.clone(), TemplateMode::Plain).unwrap();
    let b = PgStore::open(&url, key, TemplateMode::Plain).unwrap();
    a.enroll("alice", None, &consent("door"), &[template(7, 0.0)], "a", serde_json::json!({})).unwrap();
    assert_eq!(b.search(&embedding(7, 0.1), 1, "m1", None).unwrap()[0].0, "alice");
    b.delete_subject("alice", "b").unwrap();
    assert!(a.search(&embedding(7, 0.1), 1, "m1", None).unwrap().is_empty());
    assert!(a.verify_audit().unwrap().intact);
}

/// Two processes' stores on one gallery, of each kind.
fn open_pair(backend: &Backend, dir: &std::path::Path) -> (Box<dyn GalleryStore>, Box<dyn GalleryStore>) {
    let (a, url) = open(backend, dir);
    let key = StoreKey::load_or_create(dir).unwrap();
    let b: Box<dyn GalleryStore> = match (backend, url) {
        (Backend::Postgres(mode), Some(url)) => Box::new(PgStore::open(&url, key, *mode).unwrap()),
        _ => Box::new(Store::open(dir, key).unwrap()),
    };
    (a, b)
}

/// What one process enrols and erases reaches another through the template log: the in-memory index
/// of a `visage serve` next to a CLI on one SQLite file, or of replicas with encrypted templates.
fn template_log_follows_the_other_process(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = open_pair(&backend, dir.path());
    let start = b.template_log_position().unwrap();
    let none = b.template_changes(start).unwrap();
    assert!(none.added.is_empty() && none.removed.is_empty() && none.position == start);

    let alice = a
        .enroll("alice", None, &consent("door"), &[template(1, 0.0), template(2, 0.0)], "a", serde_json::json!({}))
        .unwrap();
    let bob = a.enroll("bob", None, &consent("door"), &[template(3, 0.0)], "a", serde_json::json!({})).unwrap();
    let after_enrol = b.template_log_position().unwrap();
    assert!(after_enrol > start);
    let c = b.template_changes(start).unwrap();
    assert_eq!(c.position, after_enrol);
    let added: Vec<(i64, &str)> = c.added.iter().map(|t| (t.id, t.subject_id.as_str())).collect();
    assert_eq!(added, [(alice[0], "alice"), (alice[1], "alice"), (bob[0], "bob")]);
    assert_eq!(c.added[2].embedding, embedding(3, 0.0), "decrypted as enrolled");
    assert!(c.removed.is_empty());

    // An erasure, and a template added then removed within one range (only its removal is reported).
    a.delete_subject("alice", "a").unwrap();
    let carol = a.enroll("carol", None, &consent("door"), &[template(4, 0.0)], "a", serde_json::json!({})).unwrap();
    a.revoke_consent("carol", None, "a").unwrap();
    let c = b.template_changes(after_enrol).unwrap();
    assert!(c.added.is_empty(), "{:?}", c.added.iter().map(|t| t.id).collect::<Vec<_>>());
    let mut removed = c.removed.clone();
    removed.sort();
    assert_eq!(removed, [alice[0], alice[1], carol[0]]);
    assert_eq!(c.position, b.template_log_position().unwrap());
    // The log holds template ids only: nothing of the erased person's biometric data or name.
    assert!(a.template_changes(0).unwrap().added.iter().all(|t| t.subject_id == "bob"));
}

#[test]
fn template_log_sqlite() {
    template_log_follows_the_other_process(Backend::Sqlite);
}

#[test]
fn template_log_postgres_plain() {
    template_log_follows_the_other_process(Backend::Postgres(TemplateMode::Plain));
}

#[test]
fn template_log_postgres_encrypted() {
    template_log_follows_the_other_process(Backend::Postgres(TemplateMode::Encrypted));
}

/// One store serves concurrent calls on several connections: while a writer waits for the audit head
/// (held by another session), a read on the same store still answers at once.
#[test]
fn a_waiting_writer_does_not_block_readers_of_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = visage_testkit::postgres_server().create_database("pool");
    let store =
        Arc::new(PgStore::open(&url, StoreKey::load_or_create(dir.path()).unwrap(), TemplateMode::Plain).unwrap());
    store.enroll("alice", None, &consent("door"), &[template(7, 0.0)], "t", serde_json::json!({})).unwrap();
    let db = url.rsplit('/').next().unwrap().to_string();
    let holder = std::thread::spawn(move || {
        visage_testkit::postgres_server()
            .psql(&db, "BEGIN; SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE; SELECT pg_sleep(3); COMMIT;")
            .unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(700));
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            store.audit(AuditEvent::new("t", "identify", "unknown")).unwrap();
            started.elapsed()
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(store.search(&embedding(7, 0.1), 1, "m1", None).unwrap()[0].0, "alice");
    assert_eq!(store.subjects().unwrap().len(), 1);
    let read = started.elapsed();
    let waited = writer.join().unwrap();
    holder.join().unwrap();
    assert!(waited > std::time::Duration::from_millis(1000), "the writer did wait for the head ({waited:?})");
    assert!(read < std::time::Duration::from_millis(1000), "reads went on meanwhile ({read:?})");
    assert!(store.verify_audit().unwrap().intact);
}

/// Eight writers on separate connections append at once (enrolments, audit entries, deletions): the
/// chain has every entry, in one unbroken sequence.
#[test]
fn audit_chain_stays_intact_under_parallel_writers() {
    let dir = tempfile::tempdir().unwrap();
    let key = StoreKey::load_or_create(dir.path()).unwrap();
    let url = visage_testkit::postgres_server().create_database("parallel");
    let (writers, each) = (8, 25);
    let stores: Vec<Arc<PgStore>> =
        (0..writers).map(|_| Arc::new(PgStore::open(&url, key.clone(), TemplateMode::Plain).unwrap())).collect();
    let handles: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(w, s)| {
            let s = Arc::clone(s);
            std::thread::spawn(move || {
                for i in 0..each {
                    let subject = format!("w{w}-{i}");
                    s.enroll(
                        &subject,
                        None,
                        &consent("door"),
                        &[template(w * 50 + i, 0.0)],
                        "t",
                        serde_json::json!({}),
                    )
                    .unwrap();
                    s.audit(AuditEvent::new(&format!("writer{w}"), "identify", "match").subject(&subject)).unwrap();
                    if i % 5 == 0 {
                        s.delete_subject(&subject, "t").unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let v = stores[0].verify_audit().unwrap();
    let deletions = writers * each.div_ceil(5);
    assert!(v.intact, "{v:?}");
    assert_eq!(v.entries as usize, writers * each * 2 + deletions, "{v:?}");
    assert_eq!(stores[1].subjects().unwrap().len(), writers * each - deletions);
}

#[test]
fn migrate_sqlite_to_postgres_copies_everything_and_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let key = StoreKey::load_or_create(dir.path()).unwrap();
    let sqlite = Store::open(dir.path(), key.clone()).unwrap();
    sqlite
        .enroll(
            "alice",
            Some("Alice"),
            &consent("door"),
            &[template(1, 0.0), template(1, 0.3)],
            "t",
            serde_json::json!({}),
        )
        .unwrap();
    sqlite.enroll("bob", None, &consent("door"), &[template(2, 0.0)], "t", serde_json::json!({})).unwrap();
    sqlite.revoke_consent("bob", None, "t").unwrap();
    sqlite.create_api_key(&["admin".into()], &[], None, "t").unwrap();
    let (_, kiosk) = sqlite.create_api_key(&["identify".into()], &[], Some("kiosk"), "t").unwrap();
    sqlite
        .audit(
            AuditEvent::new("t", "identify", "match").subject("alice").detail(serde_json::json!({"similarity": 0.71})),
        )
        .unwrap();
    let url = visage_testkit::postgres_server().create_database("migrate");
    let mut pg = PgStore::open(&url, key.clone(), TemplateMode::Plain).unwrap();
    let counts = migrate(&sqlite, &mut pg).unwrap();
    assert_eq!((counts.subjects, counts.templates, counts.consents, counts.api_keys), (2, 2, 2, 2));
    assert_eq!(counts.audit_entries as i64, sqlite.verify_audit().unwrap().entries);
    // The copy works as a gallery: search, keys, and new audit entries extend the copied chain.
    assert_eq!(pg.search(&embedding(1, 0.3), 1, "m1", None).unwrap()[0].0, "alice");
    assert_eq!(pg.authenticate(&kiosk).unwrap().unwrap().label.as_deref(), Some("kiosk"));
    pg.enroll("carol", None, &consent("door"), &[template(3, 0.0)], "t", serde_json::json!({})).unwrap();
    assert!(pg.verify_audit().unwrap().intact);
    assert!(pg.all_templates().unwrap().iter().any(|t| t.subject_id == "carol" && t.id > 2));
    // A second migration into the now non-empty target is refused, nothing changed.
    let err = migrate(&sqlite, &mut pg).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
    // And back, into a new SQLite store with the same key.
    let back_dir = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("visage.key"), back_dir.path().join("visage.key")).ok();
    let mut back = Store::open(back_dir.path(), key).unwrap();
    let counts_back = migrate(&pg, &mut back).unwrap();
    assert_eq!(counts_back.templates, 3);
    assert!(back.verify_audit().unwrap().intact);
}
