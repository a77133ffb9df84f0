//! The store's promises: consent before templates, encryption at rest, erasure, audit that finds tampering.

use rusqlite::Connection;
use serde_json::json;
use visage_store::{AuditEvent, AuditFilter, ConsentGrant, KeySource, NewTemplate, Store, StoreError, StoreKey};

fn consent(purpose: &str) -> ConsentGrant {
    ConsentGrant {
        purpose: purpose.into(),
        legal_basis: "consent".into(),
        evidence: "form-17".into(),
        expires_at: None,
    }
}

fn template(seed: f32) -> NewTemplate {
    let mut e: Vec<f32> = (0..512).map(|i| ((i as f32 + seed) * 0.37).sin()).collect();
    let n = e.iter().map(|v| v * v).sum::<f32>().sqrt();
    e.iter_mut().for_each(|v| *v /= n);
    NewTemplate { embedding: e, model_id: "arcface-mbf".into(), model_sha256: "abc".into(), quality: 0.9 }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StoreKey::load_or_create(dir).unwrap()).unwrap()
}

fn raw(dir: &std::path::Path) -> Connection {
    Connection::open(dir.join("visage.db")).unwrap()
}

#[test]
fn enrol_export_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids = store
        .enroll("alice", Some("Alice"), &consent("access"), &[template(1.0), template(2.0)], "cli", json!({}))
        .unwrap();
    assert_eq!(ids.len(), 2);
    store.enroll("bob", None, &consent("access"), &[template(3.0)], "cli", json!({})).unwrap();

    let all = store.all_templates().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].embedding, template(1.0).embedding, "templates decrypt to what was stored");

    let export = store.export("alice", false, "cli").unwrap();
    assert_eq!(export.subject.display_name.as_deref(), Some("Alice"));
    assert_eq!(export.consents.len(), 1);
    assert_eq!(export.templates.len(), 2);
    assert!(export.templates.iter().all(|t| t.embedding.is_none()));
    assert!(export.audit.iter().any(|e| e.action == "enroll"));
    let with = store.export("alice", true, "cli").unwrap();
    assert_eq!(with.templates[1].embedding.as_deref(), Some(&template(2.0).embedding[..]));

    let erased = store.delete_subject("alice", "cli").unwrap();
    assert_eq!(erased, ids);
    assert!(store.subject("alice").unwrap().is_none());
    assert_eq!(store.all_templates().unwrap().len(), 1);
    assert!(store.consents("alice").unwrap().is_empty());
    // The tombstone stays, without biometric data.
    let tomb = store
        .audit_entries(&AuditFilter {
            subject: Some("alice".into()),
            action: Some("delete".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(tomb.len(), 1);
    assert_eq!(tomb[0].detail["templates_erased"], 2);
    assert!(matches!(store.delete_subject("alice", "cli"), Err(StoreError::UnknownSubject(_))));
    assert!(store.verify_audit().unwrap().intact);
}

#[test]
fn erased_templates_are_gone_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.enroll("carol", None, &consent("access"), &[template(5.0)], "cli", json!({})).unwrap();
    let ct: Vec<u8> = raw(dir.path()).query_row("SELECT ciphertext FROM templates", [], |r| r.get(0)).unwrap();
    let needle = &ct[..32];
    let present = |file: &str| {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    };
    assert!(present("visage.db") || present("visage.db-wal"), "the template is on disk before erasure");
    store.delete_subject("carol", "cli").unwrap();
    drop(store);
    for file in ["visage.db", "visage.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{file} still holds the erased template");
    }
}

#[test]
fn templates_are_encrypted_at_rest_and_bound_to_their_subject() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.enroll("dave", None, &consent("access"), &[template(7.0)], "cli", json!({})).unwrap();
    store.enroll("erin", None, &consent("access"), &[template(8.0)], "cli", json!({})).unwrap();
    let db = std::fs::read(dir.path().join("visage.db")).unwrap();
    let plain: Vec<u8> = template(7.0).embedding.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert!(!db.windows(16).any(|w| w == &plain[..16]), "no plaintext embedding in the file");
    // Moving dave's template to erin is detected, not silently accepted.
    raw(dir.path()).execute("UPDATE templates SET subject_id = 'erin' WHERE subject_id = 'dave'", []).unwrap();
    assert!(matches!(store.all_templates(), Err(StoreError::TemplateTampered(_))));
}

#[test]
fn consent_revocation_and_expiry_remove_templates() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.enroll("frank", None, &consent("access"), &[template(1.0)], "cli", json!({})).unwrap();
    store.enroll("frank", None, &consent("payroll"), &[template(2.0)], "cli", json!({})).unwrap();
    // One of two purposes revoked: another active consent remains, templates stay.
    assert!(store.revoke_consent("frank", Some("payroll"), "cli").unwrap().is_empty());
    assert_eq!(store.template_ids("frank").unwrap().len(), 2);
    assert_eq!(store.revoke_consent("frank", None, "cli").unwrap().len(), 2);
    assert!(store.template_ids("frank").unwrap().is_empty());
    assert!(matches!(store.revoke_consent("frank", None, "cli"), Err(StoreError::NoConsent(..))));
    assert!(matches!(store.revoke_consent("nobody", None, "cli"), Err(StoreError::UnknownSubject(_))));

    let mut c = consent("access");
    c.expires_at = Some("2000-01-01T00:00:00Z".into());
    assert!(store.enroll("gina", None, &c, &[template(3.0)], "cli", json!({})).is_err(), "expired at enrolment");
    c.expires_at = Some(visage_store::time_util::parse_user_date("2100-01-01").unwrap());
    store.enroll("gina", None, &c, &[template(3.0)], "cli", json!({})).unwrap();
    let (report, _) = store.purge_expired("cli").unwrap();
    assert!(report.subjects.is_empty());
    // Make the consent expire (as time passes), then purge.
    raw(dir.path())
        .execute("UPDATE consents SET expires_at = '2001-01-01T00:00:00Z' WHERE subject_id = 'gina'", [])
        .unwrap();
    let (report, removed) = store.purge_expired("cli").unwrap();
    assert_eq!(report.subjects, ["gina"]);
    assert_eq!(removed.len(), 1);
    assert!(store.verify_audit().unwrap().intact);
}

#[test]
fn audit_verification_finds_edits_insertions_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for (i, who) in ["h1", "h2", "h3", "h4"].iter().enumerate() {
        store.enroll(who, None, &consent("access"), &[template(i as f32)], "cli", json!({})).unwrap();
    }
    assert_eq!(store.verify_audit().unwrap().entries, 4);
    let db = raw(dir.path());

    db.execute("UPDATE audit SET outcome = 'refused' WHERE seq = 2", []).unwrap();
    let v = store.verify_audit().unwrap();
    assert!(!v.intact);
    assert_eq!(v.first_bad, Some(2));
    db.execute("UPDATE audit SET outcome = 'ok' WHERE seq = 2", []).unwrap();
    assert!(store.verify_audit().unwrap().intact, "restoring the entry restores the chain");

    db.execute("UPDATE audit SET detail = '{\"templates\":9}' WHERE seq = 3", []).unwrap();
    assert_eq!(store.verify_audit().unwrap().first_bad, Some(3));

    let dir2 = tempfile::tempdir().unwrap();
    let store2 = open(dir2.path());
    for (i, who) in ["i1", "i2", "i3"].iter().enumerate() {
        store2.enroll(who, None, &consent("access"), &[template(i as f32)], "cli", json!({})).unwrap();
    }
    let db2 = raw(dir2.path());
    // Deleting from the middle.
    db2.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
    let v = store2.verify_audit().unwrap();
    assert_eq!(v.first_bad, Some(2));
    assert!(v.reason.unwrap().contains("missing"));

    let dir3 = tempfile::tempdir().unwrap();
    let store3 = open(dir3.path());
    for (i, who) in ["j1", "j2", "j3"].iter().enumerate() {
        store3.enroll(who, None, &consent("access"), &[template(i as f32)], "cli", json!({})).unwrap();
    }
    let db3 = raw(dir3.path());
    // Inserting a forged entry at the end (without the key the hash cannot be right).
    db3.execute(
        "INSERT INTO audit (seq, time, actor, action, subject, outcome, detail, prev_hash, hash)
         SELECT 4, time, actor, 'delete', 'j1', 'ok', '{}', hash, hash FROM audit WHERE seq = 3",
        [],
    )
    .unwrap();
    assert_eq!(store3.verify_audit().unwrap().first_bad, Some(4));
    db3.execute("DELETE FROM audit WHERE seq = 4", []).unwrap();
    assert!(store3.verify_audit().unwrap().intact);
    // Cutting the last entry off is found through the recorded head.
    db3.execute("DELETE FROM audit WHERE seq = 3", []).unwrap();
    let v = store3.verify_audit().unwrap();
    assert_eq!(v.first_bad, Some(3));
    assert!(v.reason.unwrap().contains("removed from the end"));
}

#[test]
fn details_with_floats_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .audit(
            AuditEvent::new("cli", "identify", "match")
                .subject("x")
                .detail(json!({"similarity": 0.933_222_35f32, "faces": 1})),
        )
        .unwrap();
    store
        .audit(AuditEvent::new("cli", "identify", "unknown").detail(json!({"similarity": null, "ratio": 1e-7})))
        .unwrap();
    assert!(store.verify_audit().unwrap().intact);
}

#[test]
fn wrong_corrupt_and_rotated_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store.enroll("kate", None, &consent("access"), &[template(1.0)], "cli", json!({})).unwrap();
    // Another key (a foreign key file): refused, nothing touched.
    let other = StoreKey::generate();
    let err = Store::open(dir.path(), other).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
    // A corrupt key file: a clear error naming it.
    let bad_dir = tempfile::tempdir().unwrap();
    std::fs::write(bad_dir.path().join("visage.key"), "garbage\n").unwrap();
    let err = StoreKey::load_or_create(bad_dir.path()).unwrap_err();
    assert!(err.to_string().contains("visage.key"), "{err}");

    // Rotation re-encrypts and replaces the key file; the old key no longer opens the store.
    let old = StoreKey::load_or_create(dir.path()).unwrap();
    let new = store.rotate_key(StoreKey::generate(), "cli").unwrap();
    assert!(matches!(new.source(), KeySource::File(_)));
    drop(store);
    assert!(matches!(Store::open(dir.path(), old), Err(StoreError::WrongKey { .. })));
    let store = open(dir.path());
    assert_eq!(store.all_templates().unwrap()[0].embedding, template(1.0).embedding);
    assert!(store.verify_audit().unwrap().intact, "the audit chain survives rotation");
    assert!(
        store.audit_entries(&AuditFilter { action: Some("key-rotate".into()), ..Default::default() }).unwrap().len()
            == 1
    );
}

#[test]
fn a_store_from_a_newer_visage_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    raw(dir.path()).pragma_update(None, "user_version", 99).unwrap();
    let before = std::fs::read(dir.path().join("visage.db")).unwrap();
    let err = Store::open(dir.path(), StoreKey::load_or_create(dir.path()).unwrap()).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("newer visage"));
    assert_eq!(std::fs::read(dir.path().join("visage.db")).unwrap(), before);
}

#[test]
fn bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for bad in ["", "../x", "a/b", "with space"] {
        assert!(matches!(
            store.enroll(bad, None, &consent("access"), &[template(1.0)], "cli", json!({})),
            Err(StoreError::InvalidSubjectId(_))
        ));
    }
    let mut no_evidence = consent("access");
    no_evidence.evidence = " ".into();
    assert!(store.enroll("x", None, &no_evidence, &[template(1.0)], "cli", json!({})).is_err());
    assert!(store.enroll("x", None, &consent("access"), &[], "cli", json!({})).is_err());
    let mut nan = template(1.0);
    nan.embedding[3] = f32::NAN;
    assert!(store.enroll("x", None, &consent("access"), &[nan], "cli", json!({})).is_err());
    assert!(store.subject("x").unwrap().is_none(), "a refused enrolment leaves nothing behind");
    assert!(matches!(store.export("nobody", false, "cli"), Err(StoreError::UnknownSubject(_))));
}

#[test]
fn two_writers_at_once_keep_every_enrolment_and_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let threads: Vec<_> = (0..2)
        .map(|w| {
            let path = dir.path().to_path_buf();
            std::thread::spawn(move || {
                // Separate connections, as two processes would have.
                let store = open(&path);
                for i in 0..15 {
                    store
                        .enroll(&format!("w{w}-{i}"), None, &consent("access"), &[template(i as f32)], "cli", json!({}))
                        .unwrap();
                    store.audit(AuditEvent::ok("cli", "identify").detail(json!({"faces": 1}))).unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let store = open(dir.path());
    assert_eq!(store.subjects().unwrap().len(), 30);
    let v = store.verify_audit().unwrap();
    assert!(v.intact, "{v:?}");
    assert_eq!(v.entries, 60);
}

#[test]
fn api_keys_are_hashed_scoped_and_revocable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (key, text) = store.create_api_key(&["identify".into()], &[], Some("door"), "cli").unwrap();
    assert!(text.starts_with(&format!("vsg_{}_", key.id)));
    let found = store.authenticate(&text).unwrap().expect("valid key");
    assert_eq!(found.id, key.id);
    assert!(found.has_scope("identify") && !found.has_scope("enroll"));
    // Only a hash is stored: the secret is nowhere in the file.
    // The secret is everything after the id (it may itself contain '_').
    let secret = text.strip_prefix(&format!("vsg_{}_", key.id)).unwrap();
    let db = std::fs::read(dir.path().join("visage.db")).unwrap();
    let wal = std::fs::read(dir.path().join("visage.db-wal")).unwrap_or_default();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()));
    assert!(!wal.windows(secret.len()).any(|w| w == secret.as_bytes()));

    let mut wrong = text.clone();
    wrong.pop();
    wrong.push(if text.ends_with('A') { 'B' } else { 'A' });
    for bad in [wrong.as_str(), "", "vsg_", "Bearer x", &format!("vsg_{}_", key.id)] {
        assert!(store.authenticate(bad).unwrap().is_none(), "{bad:?}");
    }
    store.revoke_api_key(&key.id, "cli").unwrap();
    assert!(store.authenticate(&text).unwrap().is_none(), "revoked keys stop working");
    assert!(store.revoke_api_key(&key.id, "cli").is_err());
    assert!(store.create_api_key(&["root".into()], &[], None, "cli").is_err());
    assert!(store.create_api_key(&[], &[], None, "cli").is_err());
    let (admin, admin_text) = store.create_api_key(&["admin".into()], &[], None, "cli").unwrap();
    assert!(store.authenticate(&admin_text).unwrap().unwrap().has_scope("enroll"), "admin implies every scope");
    assert_eq!(store.api_keys().unwrap().len(), 2);
    assert_eq!(store.api_keys().unwrap()[1].id, admin.id);
    let actions: Vec<String> =
        store.audit_entries(&AuditFilter::default()).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["key-create", "key-revoke", "key-create"]);
    assert!(store.verify_audit().unwrap().intact);
}

#[test]
fn a_version_1_store_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.enroll("old", None, &consent("access"), &[template(1.0)], "cli", json!({})).unwrap();
    drop(store);
    let db = raw(dir.path());
    // What a version 1 file looked like: no API keys (2), no template log (3).
    db.execute_batch(
        "DROP TABLE api_keys; DROP TRIGGER template_log_added; DROP TRIGGER template_log_removed;
         DROP TABLE template_log; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(db);
    let store = open(dir.path());
    assert_eq!(store.all_templates().unwrap().len(), 1, "data kept");
    assert!(store.create_api_key(&["admin".into()], &[], None, "cli").is_ok(), "the new table exists");
    assert_eq!(store.template_log_position().unwrap(), 0);
    store.enroll("new", None, &consent("access"), &[template(2.0)], "cli", json!({})).unwrap();
    let changes = store.template_changes(0).unwrap();
    assert_eq!(changes.added.iter().map(|t| t.subject_id.as_str()).collect::<Vec<_>>(), ["new"], "the log runs");
}

/// Defect 2 of the security review: the data dir was 0755 and the database, -wal and -shm 0644.
#[cfg(unix)]
#[test]
fn the_data_dir_and_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let store = open(&dir);
    store.enroll("alice", None, &consent("access"), &[template(1.0)], "cli", json!({})).unwrap();
    assert_eq!(mode(&dir), 0o700);
    for name in ["visage.db", "visage.db-wal", "visage.db-shm", "visage.key"] {
        let file = dir.join(name);
        assert!(file.exists(), "{name} missing");
        assert_eq!(mode(&file), 0o600, "{name}");
    }
    drop(store);
    // An existing database that others could read is narrowed when opened.
    std::fs::set_permissions(dir.join("visage.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = open(&dir);
    assert_eq!(mode(&dir.join("visage.db")), 0o600);
}
