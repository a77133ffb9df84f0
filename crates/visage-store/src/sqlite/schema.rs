//! Versioned migrations, applied in order; the version lives in `PRAGMA user_version`.

use crate::error::StoreError;
use rusqlite::Connection;
use std::path::Path;

/// Each entry upgrades the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE subjects (
         id TEXT PRIMARY KEY,
         display_name TEXT,
         metadata TEXT NOT NULL DEFAULT '{}',
         created_at TEXT NOT NULL
     );
     -- AUTOINCREMENT: a template id is never reused, so an index entry can never point at a new face.
     CREATE TABLE templates (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
         nonce BLOB NOT NULL,
         ciphertext BLOB NOT NULL,
         model_id TEXT NOT NULL,
         model_sha256 TEXT NOT NULL,
         quality REAL NOT NULL,
         created_at TEXT NOT NULL
     );
     CREATE INDEX templates_subject ON templates(subject_id);
     CREATE TABLE consents (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
         purpose TEXT NOT NULL,
         legal_basis TEXT NOT NULL,
         evidence TEXT NOT NULL,
         granted_at TEXT NOT NULL,
         expires_at TEXT,
         revoked_at TEXT
     );
     CREATE INDEX consents_subject ON consents(subject_id);
     CREATE TABLE audit (
         seq INTEGER PRIMARY KEY,
         time TEXT NOT NULL,
         actor TEXT NOT NULL,
         action TEXT NOT NULL,
         subject TEXT,
         outcome TEXT NOT NULL,
         detail TEXT NOT NULL,
         prev_hash TEXT NOT NULL,
         hash TEXT NOT NULL
     );
     CREATE INDEX audit_subject ON audit(subject);",
    // 2: API keys of the HTTP service, stored as SHA-256 hashes of their secrets.
    "CREATE TABLE api_keys (
         id TEXT PRIMARY KEY,
         secret_sha256 TEXT NOT NULL,
         scopes TEXT NOT NULL,
         label TEXT,
         created_at TEXT NOT NULL,
         revoked_at TEXT
     );",
    // 3: the template log: one row per template added or removed (by triggers, so no write path can
    // forget it), which lets every process holding an in-memory index follow the others' enrolments
    // and erasures. Template ids only: no biometric data, no subject.
    "CREATE TABLE template_log (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         template_id INTEGER NOT NULL,
         added INTEGER NOT NULL
     );
     CREATE TRIGGER template_log_added AFTER INSERT ON templates
     BEGIN INSERT INTO template_log (template_id, added) VALUES (NEW.id, 1); END;
     CREATE TRIGGER template_log_removed AFTER DELETE ON templates
     BEGIN INSERT INTO template_log (template_id, added) VALUES (OLD.id, 0); END;",
    // 4: the consent log, the template log's twin for consents (granted, revoked, erased with their
    // subject): processes that filter searches by purpose in memory follow it. Consent ids only. The
    // consents that exist already are entered once.
    "CREATE TABLE consent_log (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         consent_id INTEGER NOT NULL
     );
     INSERT INTO consent_log (consent_id) SELECT id FROM consents ORDER BY id;
     CREATE TRIGGER consent_log_insert AFTER INSERT ON consents
     BEGIN INSERT INTO consent_log (consent_id) VALUES (NEW.id); END;
     CREATE TRIGGER consent_log_update AFTER UPDATE ON consents
     BEGIN INSERT INTO consent_log (consent_id) VALUES (NEW.id); END;
     CREATE TRIGGER consent_log_delete AFTER DELETE ON consents
     BEGIN INSERT INTO consent_log (consent_id) VALUES (OLD.id); END;",
    // 5: subject pseudonyms: audit entries name subjects by a random pseudonym, and erasure deletes
    // the subject's row here, so its entries can no longer be linked to it (see `crate::pseudonyms`).
    "CREATE TABLE subject_pseudonyms (
         subject_id TEXT PRIMARY KEY,
         pseudonym TEXT NOT NULL UNIQUE
     );",
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`VERSION`], each step in its own transaction. Refuses a newer database.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Err(StoreError::NewerSchema { path: path.to_path_buf(), found, known: VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the lock.
        let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if now > i as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
        tracing::info!("store schema migrated to version {}", i + 1);
    }
    Ok(())
}
