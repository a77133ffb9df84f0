//! The store: subjects, encrypted templates, consent and audit in one SQLite file.

use crate::audit::{self, AuditEntry, AuditFilter, AuditVerification};
use crate::crypto::{embedding_bytes, embedding_from_bytes, Cipher};
use crate::gallery::TemplateChanges;
use crate::keys::{write_key_file, KeySource, StoreKey};
use crate::{schema, time_util, validate_subject_id, StoreError};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "visage.db";
pub(crate) const KEY_CHECK: &[u8] = b"visage store key check v1";

/// A person known to the gallery.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Subject {
    pub id: String,
    #[schema(required = true)]
    pub display_name: Option<String>,
    pub metadata: serde_json::Value,
    pub created_at: String,
}

/// A consent to record with an enrolment.
#[derive(Debug, Clone)]
pub struct ConsentGrant {
    pub purpose: String,
    /// E.g. "consent" (GDPR art. 6(1)(a) / 9(2)(a)).
    pub legal_basis: String,
    /// Where the proof of consent is kept (a form id, a document reference).
    pub evidence: String,
    /// Stored-format time (see [`crate::time_util`]); `None`: no expiry.
    pub expires_at: Option<String>,
}

/// A consent record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Consent {
    pub id: i64,
    pub purpose: String,
    pub legal_basis: String,
    pub evidence: String,
    pub granted_at: String,
    #[schema(required = true)]
    pub expires_at: Option<String>,
    #[schema(required = true)]
    pub revoked_at: Option<String>,
}

/// A template to store.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub embedding: Vec<f32>,
    pub model_id: String,
    pub model_sha256: String,
    pub quality: f32,
}

/// A stored template's metadata (no embedding).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: i64,
    pub model_id: String,
    pub model_sha256: String,
    pub quality: f32,
    pub created_at: String,
    /// Only in exports that ask for templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

/// A decrypted template, for building the search index.
#[derive(Debug, Clone)]
pub struct TemplateRecord {
    pub id: i64,
    pub subject_id: String,
    pub model_sha256: String,
    pub embedding: Vec<f32>,
}

/// Everything the store holds about one subject (the right of access).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubjectExport {
    pub subject: Subject,
    pub consents: Vec<Consent>,
    pub templates: Vec<Template>,
    pub audit: Vec<AuditEntry>,
}

/// What `purge_expired` removed.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct PurgeReport {
    /// Subjects whose templates were removed (no active consent left).
    pub subjects: Vec<String>,
    pub templates_removed: usize,
}

/// The gallery store. Safe to share between threads; several processes may open the same file.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    key: StoreKey,
    pub(crate) templates: Cipher,
    pub(crate) audit_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// A write transaction and the means to audit inside it.
pub(crate) struct Write<'a> {
    pub tx: rusqlite::Transaction<'a>,
    audit_key: &'a [u8],
}

impl Write<'_> {
    /// Appends an audit entry that commits (or not) with the transaction.
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<i64, StoreError> {
        audit::append(&self.tx, self.audit_key, actor, action, subject, outcome, detail)
    }
}

/// An active consent: granted, not revoked, not expired (at `now`).
const ACTIVE: &str = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)";

impl Store {
    /// Opens (creating if needed) the store in `dir`, migrating it to this version's schema, and checks
    /// that `key` is the key it was created with.
    pub fn open(dir: &Path, key: StoreKey) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_path_buf(), source })?;
        let path = dir.join(DB_FILE);
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        enable_wal(&conn)?;
        // FULL: a commit is on disk before visage reports it, even if the machine loses power.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Freed pages are overwritten, so erased templates do not linger in the file.
        conn.pragma_update(None, "secure_delete", true)?;
        schema::migrate(&mut conn, &path)?;
        let audit_key = Self::unlock(&mut conn, &key)?;
        let templates = Cipher::new(&key, "templates");
        Ok(Store { conn: Mutex::new(conn), path, key, templates, audit_key })
    }

    /// Checks the key against the stored key check (writing one for a new store) and returns the audit
    /// key (created at random for a new store, kept encrypted under the store key).
    fn unlock(conn: &mut Connection, key: &StoreKey) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let meta = Cipher::new(key, "meta");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let get = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
            Ok(tx.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0)).optional()?)
        };
        let (check, audit_key) = (get("key_check")?, get("audit_key")?);
        let result = match (check, audit_key) {
            (Some(check), Some(sealed_audit)) => {
                let opened = split(&check).and_then(|(n, c)| meta.open(n, c, b"key_check"));
                if opened.as_deref() != Some(KEY_CHECK) {
                    return Err(StoreError::WrongKey { origin: key.origin() });
                }
                let audit = split(&sealed_audit)
                    .and_then(|(n, c)| meta.open(n, c, b"audit_key"))
                    .ok_or_else(|| StoreError::Invalid("the stored audit key is damaged".into()))?;
                Zeroizing::new(audit)
            }
            (None, None) => {
                let audit = Zeroizing::new(StoreKey::generate().derive("audit").to_vec());
                put_sealed(&tx, &meta, "key_check", KEY_CHECK)?;
                put_sealed(&tx, &meta, "audit_key", &audit)?;
                audit
            }
            _ => return Err(StoreError::Invalid("the store's key records are incomplete".into())),
        };
        tx.commit()?;
        Ok(result)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn key(&self) -> &StoreKey {
        &self.key
    }

    /// Runs `f` in an immediate transaction (committed if `f` succeeds), which it may audit into.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Write<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let write =
            Write { tx: conn.transaction_with_behavior(TransactionBehavior::Immediate)?, audit_key: &self.audit_key };
        let out = f(&write)?;
        write.tx.commit()?;
        Ok(out)
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Enrols: creates or updates the subject, records the consent (or reuses an active one for the
    /// same purpose), stores the templates, and audits it, all in one transaction: a crash leaves all of
    /// it or none. Returns the new template ids.
    pub fn enroll(
        &self,
        subject_id: &str,
        display_name: Option<&str>,
        consent: &ConsentGrant,
        templates: &[NewTemplate],
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<Vec<i64>, StoreError> {
        validate_subject_id(subject_id)?;
        if consent.purpose.trim().is_empty() || consent.evidence.trim().is_empty() {
            return Err(StoreError::Invalid("consent needs a purpose and an evidence reference".into()));
        }
        if templates.is_empty() {
            return Err(StoreError::Invalid("nothing to enrol: no templates".into()));
        }
        let now = time_util::now();
        if consent.expires_at.as_deref().is_some_and(|e| e <= now.as_str()) {
            return Err(StoreError::Invalid("the consent has already expired".into()));
        }
        self.write(|w| {
            let tx = &w.tx;
            tx.execute(
                "INSERT INTO subjects (id, display_name, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET display_name = COALESCE(excluded.display_name, display_name)",
                params![subject_id, display_name, now],
            )?;
            let consent_id = active_or_granted(tx, subject_id, consent, &now)?;
            let mut ids = Vec::with_capacity(templates.len());
            for t in templates {
                if t.embedding.iter().any(|v| !v.is_finite()) {
                    return Err(StoreError::Invalid("embedding has non-finite values".into()));
                }
                ids.push(self.insert_template(tx, subject_id, t, &now)?);
            }
            let mut detail = detail;
            if let Some(obj) = detail.as_object_mut() {
                obj.insert("templates".into(), ids.len().into());
                obj.insert("consent".into(), consent_id.into());
                obj.insert("purpose".into(), consent.purpose.clone().into());
            }
            w.audit(actor, "enroll", Some(subject_id), "ok", detail)?;
            Ok(ids)
        })
    }

    /// Bulk import (see [`crate::GalleryStore::bulk_import`]).
    pub fn bulk_import(
        &self,
        rows: &[(String, NewTemplate)],
        consent: &ConsentGrant,
        actor: &str,
    ) -> Result<usize, StoreError> {
        crate::gallery::check_import(rows, consent, None)?;
        let now = time_util::now();
        self.write(|w| {
            let tx = &w.tx;
            let mut subject =
                tx.prepare("INSERT INTO subjects (id, created_at) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING")?;
            let mut seen = std::collections::HashSet::new();
            for (subject_id, t) in rows {
                if seen.insert(subject_id.as_str()) {
                    subject.execute(params![subject_id, now])?;
                    active_or_granted(tx, subject_id, consent, &now)?;
                }
                self.insert_template(tx, subject_id, t, &now)?;
            }
            let detail =
                serde_json::json!({"templates": rows.len(), "subjects": seen.len(), "purpose": consent.purpose});
            w.audit(actor, "bulk-import", None, "ok", detail)?;
            Ok(rows.len())
        })
    }

    /// Seals one template under the store key, bound to its subject, and inserts it; returns its id.
    fn insert_template(
        &self,
        tx: &rusqlite::Transaction<'_>,
        subject_id: &str,
        t: &NewTemplate,
        now: &str,
    ) -> Result<i64, StoreError> {
        let sealed = self.templates.seal(&embedding_bytes(&t.embedding), subject_id.as_bytes());
        tx.prepare_cached(
            "INSERT INTO templates (subject_id, nonce, ciphertext, model_id, model_sha256, quality, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            subject_id,
            sealed.nonce,
            sealed.ciphertext,
            t.model_id,
            t.model_sha256,
            t.quality,
            now
        ])?;
        Ok(tx.last_insert_rowid())
    }

    /// One subject, if known.
    pub fn subject(&self, id: &str) -> Result<Option<Subject>, StoreError> {
        validate_subject_id(id)?;
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT id, display_name, metadata, created_at FROM subjects WHERE id = ?1",
                [id],
                row_to_subject,
            )
            .optional()?)
    }

    /// Every subject with its number of templates.
    pub fn subjects(&self) -> Result<Vec<(Subject, usize)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT s.id, s.display_name, s.metadata, s.created_at, COUNT(t.id) FROM subjects s
             LEFT JOIN templates t ON t.subject_id = s.id GROUP BY s.id ORDER BY s.id",
        )?;
        let rows = stmt.query_map([], |r| Ok((row_to_subject(r)?, r.get::<_, i64>(4)? as usize)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every template, decrypted, for building the search index. A template that fails to decrypt
    /// (edited in the file, or moved to another subject) is an error, never silently skipped.
    pub fn all_templates(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        self.decrypted_templates(&self.conn(), "", [])
    }

    /// The template log's position (see [`crate::GalleryStore::template_log_position`]).
    pub fn template_log_position(&self) -> Result<i64, StoreError> {
        Ok(self.conn().query_row("SELECT COALESCE(MAX(seq), 0) FROM template_log", [], |r| r.get(0))?)
    }

    /// Templates added and removed after log position `since`, in one read transaction (a snapshot).
    pub fn template_changes(&self, since: i64) -> Result<TemplateChanges, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let position: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM template_log", [], |r| r.get(0))?;
        let removed = tx
            .prepare("SELECT DISTINCT template_id FROM template_log WHERE seq > ?1 AND seq <= ?2 AND added = 0")?
            .query_map([since, position], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        let added = self.decrypted_templates(
            &tx,
            "WHERE id IN (SELECT template_id FROM template_log WHERE seq > ?1 AND seq <= ?2 AND added = 1)",
            [since, position],
        )?;
        tx.finish()?;
        Ok(TemplateChanges { position, added, removed })
    }

    fn decrypted_templates(
        &self,
        conn: &Connection,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<TemplateRecord>, StoreError> {
        let mut stmt = conn.prepare(&format!(
            "SELECT id, subject_id, nonce, ciphertext, model_sha256 FROM templates {filter} ORDER BY id"
        ))?;
        let rows = stmt.query_map(params, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, subject_id, nonce, ct, model_sha256) = row?;
            let plain =
                self.templates.open(&nonce, &ct, subject_id.as_bytes()).ok_or(StoreError::TemplateTampered(id))?;
            out.push(TemplateRecord { id, subject_id, model_sha256, embedding: embedding_from_bytes(&plain) });
        }
        Ok(out)
    }

    /// Template ids of one subject.
    pub fn template_ids(&self, subject_id: &str) -> Result<Vec<i64>, StoreError> {
        subject_template_ids(&self.conn(), subject_id)
    }

    /// Erases a subject: templates, consent records and the subject itself, then checkpoints the WAL so
    /// no copy of the templates is left in the files. The audit log keeps a tombstone (the id, the time,
    /// how many templates were erased). Returns the erased template ids (to remove from indexes).
    pub fn delete_subject(&self, subject_id: &str, actor: &str) -> Result<Vec<i64>, StoreError> {
        validate_subject_id(subject_id)?;
        let erased = self.write(|w| {
            let tx = &w.tx;
            if !subject_exists(tx, subject_id)? {
                return Ok(None);
            }
            let ids = subject_template_ids(tx, subject_id)?;
            let consents: i64 =
                tx.query_row("SELECT COUNT(*) FROM consents WHERE subject_id = ?1", [subject_id], |r| r.get(0))?;
            tx.execute("DELETE FROM subjects WHERE id = ?1", [subject_id])?;
            w.audit(
                actor,
                "delete",
                Some(subject_id),
                "ok",
                serde_json::json!({"templates_erased": ids.len(), "consents_erased": consents}),
            )?;
            Ok(Some(ids))
        })?;
        let Some(ids) = erased else {
            self.audit(actor, "delete", Some(subject_id), "unknown-subject", serde_json::json!({}))?;
            return Err(StoreError::UnknownSubject(subject_id.to_string()));
        };
        self.checkpoint()?;
        Ok(ids)
    }

    /// Moves committed pages into the main file (where `secure_delete` zeroed the freed ones) and empties
    /// the WAL, which still holds copies of deleted rows.
    fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Everything about a subject, as JSON-ready data (templates' embeddings only if asked). Audited.
    pub fn export(&self, subject_id: &str, include_templates: bool, actor: &str) -> Result<SubjectExport, StoreError> {
        let subject = match self.subject(subject_id)? {
            Some(s) => s,
            None => {
                self.audit(actor, "export", Some(subject_id), "unknown-subject", serde_json::json!({}))?;
                return Err(StoreError::UnknownSubject(subject_id.to_string()));
            }
        };
        self.audit(
            actor,
            "export",
            Some(subject_id),
            "ok",
            serde_json::json!({"include_templates": include_templates}),
        )?;
        let consents = self.consents(subject_id)?;
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, model_id, model_sha256, quality, created_at, nonce, ciphertext FROM templates
             WHERE subject_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([subject_id], |r| {
            Ok((
                Template {
                    id: r.get(0)?,
                    model_id: r.get(1)?,
                    model_sha256: r.get(2)?,
                    quality: r.get::<_, f64>(3)? as f32,
                    created_at: r.get(4)?,
                    embedding: None,
                },
                r.get::<_, Vec<u8>>(5)?,
                r.get::<_, Vec<u8>>(6)?,
            ))
        })?;
        let mut templates = Vec::new();
        for row in rows {
            let (mut t, nonce, ct) = row?;
            if include_templates {
                let plain = self
                    .templates
                    .open(&nonce, &ct, subject_id.as_bytes())
                    .ok_or(StoreError::TemplateTampered(t.id))?;
                t.embedding = Some(embedding_from_bytes(&plain));
            }
            templates.push(t);
        }
        drop(stmt);
        let audit = audit::list(&conn, &AuditFilter { subject: Some(subject_id.to_string()), ..Default::default() })?;
        Ok(SubjectExport { subject, consents, templates, audit })
    }

    /// A subject's consent records, oldest first.
    pub fn consents(&self, subject_id: &str) -> Result<Vec<Consent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at FROM consents
             WHERE subject_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([subject_id], |r| consent_from_row(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a further consent for an enrolled subject (audited as `consent-grant`).
    pub fn grant_consent(&self, subject_id: &str, consent: &ConsentGrant, actor: &str) -> Result<Consent, StoreError> {
        validate_subject_id(subject_id)?;
        crate::gallery::check_grant(consent)?;
        let now = time_util::now();
        let id = self.write(|w| {
            let tx = &w.tx;
            if !subject_exists(tx, subject_id)? {
                return Err(StoreError::UnknownSubject(subject_id.to_string()));
            }
            let active: bool = tx.query_row(
                &format!("SELECT EXISTS(SELECT 1 FROM consents WHERE subject_id = ?1 AND {ACTIVE} AND purpose = ?3)"),
                params![subject_id, now, consent.purpose],
                |r| r.get(0),
            )?;
            if active {
                return Err(crate::gallery::already_granted(subject_id, &consent.purpose));
            }
            tx.execute(
                "INSERT INTO consents (subject_id, purpose, legal_basis, evidence, granted_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![subject_id, consent.purpose, consent.legal_basis, consent.evidence, now, consent.expires_at],
            )?;
            let id = tx.last_insert_rowid();
            w.audit(actor, "consent-grant", Some(subject_id), "ok", crate::gallery::grant_detail(id, consent))?;
            Ok(id)
        })?;
        self.consents(subject_id)?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| StoreError::Invalid(format!("consent {id} vanished after it was written")))
    }

    /// Revokes a subject's consent (for one purpose, or all). Templates go when no active consent is
    /// left. Returns the removed template ids.
    pub fn revoke_consent(&self, subject_id: &str, purpose: Option<&str>, actor: &str) -> Result<Vec<i64>, StoreError> {
        validate_subject_id(subject_id)?;
        let now = time_util::now();
        let removed = self.write(|w| {
        let tx = &w.tx;
        if !subject_exists(tx, subject_id)? {
            return Err(StoreError::UnknownSubject(subject_id.to_string()));
        }
        let revoked = tx.execute(
            &format!("UPDATE consents SET revoked_at = ?2 WHERE subject_id = ?1 AND {ACTIVE} AND (?3 IS NULL OR purpose = ?3)"),
            params![subject_id, now, purpose],
        )?;
        if revoked == 0 {
            return Err(StoreError::NoConsent(subject_id.to_string(), purpose.unwrap_or("any").to_string()));
        }
        let removed = remove_templates_without_consent(tx, subject_id, &now)?;
        w.audit(
            actor,
            "consent-revoke",
            Some(subject_id),
            "ok",
            serde_json::json!({"purpose": purpose, "consents_revoked": revoked, "templates_removed": removed.len()}),
        )?;
        Ok(removed)
        })?;
        if !removed.is_empty() {
            self.checkpoint()?;
        }
        Ok(removed)
    }

    /// Removes the templates of every subject whose consents have all expired or been revoked.
    pub fn purge_expired(&self, actor: &str) -> Result<(PurgeReport, Vec<i64>), StoreError> {
        let now = time_util::now();
        let (subjects, removed) = self.write(|w| {
            let tx = &w.tx;
            let subjects: Vec<String> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT DISTINCT t.subject_id FROM templates t WHERE NOT EXISTS
                 (SELECT 1 FROM consents WHERE subject_id = t.subject_id AND {})",
                    ACTIVE.replace("?2", "?1")
                ))?;
                let rows = stmt.query_map([&now], |r| r.get(0))?.collect::<Result<_, _>>()?;
                rows
            };
            let mut removed = Vec::new();
            for s in &subjects {
                let ids = remove_templates_without_consent(tx, s, &now)?;
                w.audit(actor, "purge-expired", Some(s), "ok", serde_json::json!({"templates_removed": ids.len()}))?;
                removed.extend(ids);
            }
            Ok((subjects, removed))
        })?;
        if !removed.is_empty() {
            self.checkpoint()?;
        }
        Ok((PurgeReport { subjects, templates_removed: removed.len() }, removed))
    }

    /// Re-encrypts every template and the store's secrets under `new_key` in one transaction, then
    /// saves the new key (to the key file, when the current key came from one). The new key is written
    /// beside the old file before the commit, so a crash at any point leaves a key that opens the store.
    pub fn rotate_key(&mut self, new_key: StoreKey, actor: &str) -> Result<StoreKey, StoreError> {
        let key_file = match self.key.source() {
            KeySource::File(p) => Some(p.clone()),
            _ => None,
        };
        let pending = key_file.as_ref().map(|p| p.with_extension("key.new"));
        if let Some(p) = &pending {
            write_key_file(p, &new_key)?;
        }
        let new_templates = Cipher::new(&new_key, "templates");
        let new_meta = Cipher::new(&new_key, "meta");
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<(i64, String, Vec<u8>, Vec<u8>)> = {
            let mut stmt = tx.prepare("SELECT id, subject_id, nonce, ciphertext FROM templates")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<_, _>>()?;
            rows
        };
        for (id, subject, nonce, ct) in &rows {
            let plain = Zeroizing::new(
                self.templates.open(nonce, ct, subject.as_bytes()).ok_or(StoreError::TemplateTampered(*id))?,
            );
            let sealed = new_templates.seal(&plain, subject.as_bytes());
            tx.execute(
                "UPDATE templates SET nonce = ?2, ciphertext = ?3 WHERE id = ?1",
                params![id, sealed.nonce, sealed.ciphertext],
            )?;
        }
        put_sealed(&tx, &new_meta, "key_check", KEY_CHECK)?;
        put_sealed(&tx, &new_meta, "audit_key", &self.audit_key)?;
        audit::append(
            &tx,
            &self.audit_key,
            actor,
            "key-rotate",
            None,
            "ok",
            serde_json::json!({"templates": rows.len()}),
        )?;
        tx.commit()?;
        drop(conn);
        let new_key = match (&key_file, &pending) {
            (Some(file), Some(p)) => {
                std::fs::rename(p, file).map_err(|source| StoreError::Io { path: file.clone(), source })?;
                new_key.with_source(KeySource::File(file.clone()))
            }
            _ => new_key,
        };
        self.templates = new_templates;
        self.key = new_key.clone();
        Ok(new_key)
    }

    /// Appends an audit entry on its own (reads such as identify and verify, refusals).
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<i64, StoreError> {
        self.write(|w| w.audit(actor, action, subject, outcome, detail))
    }

    pub fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        audit::list(&self.conn(), filter)
    }

    /// Checks the whole audit chain.
    pub fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        audit::verify(&self.conn(), &self.audit_key)
    }
}

fn row_to_subject(r: &rusqlite::Row<'_>) -> rusqlite::Result<Subject> {
    let metadata: String = r.get(2)?;
    Ok(Subject {
        id: r.get(0)?,
        display_name: r.get(1)?,
        metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
        created_at: r.get(3)?,
    })
}

/// Ids of a subject's templates, oldest first.
fn subject_template_ids(conn: &Connection, subject_id: &str) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare("SELECT id FROM templates WHERE subject_id = ?1 ORDER BY id")?;
    let ids = stmt.query_map([subject_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Switches a connection to WAL. Two processes creating the same new store at once can both ask, and
/// SQLite answers that pragma with "database is locked" at once instead of waiting for the other
/// (the busy timeout does not cover it), so it is retried for up to 30 s.
fn enable_wal(conn: &Connection) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

/// A consent from the columns `id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at`,
/// starting at column `first`.
pub(crate) fn consent_from_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Consent> {
    Ok(Consent {
        id: r.get(first)?,
        purpose: r.get(first + 1)?,
        legal_basis: r.get(first + 2)?,
        evidence: r.get(first + 3)?,
        granted_at: r.get(first + 4)?,
        expires_at: r.get(first + 5)?,
        revoked_at: r.get(first + 6)?,
    })
}

fn subject_exists(conn: &Connection, subject_id: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row("SELECT EXISTS(SELECT 1 FROM subjects WHERE id = ?1)", [subject_id], |r| r.get(0))?)
}

pub(crate) fn split(sealed: &[u8]) -> Option<(&[u8], &[u8])> {
    (sealed.len() > 12).then(|| sealed.split_at(12))
}

pub(crate) fn put_sealed(
    tx: &rusqlite::Transaction<'_>,
    cipher: &Cipher,
    name: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    let sealed = cipher.seal(value, name.as_bytes());
    let mut blob = sealed.nonce;
    blob.extend_from_slice(&sealed.ciphertext);
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![name, blob],
    )?;
    Ok(())
}

/// The id of the subject's active consent for `consent.purpose`, recording `consent` when there is none.
fn active_or_granted(
    tx: &rusqlite::Transaction<'_>,
    subject_id: &str,
    consent: &ConsentGrant,
    now: &str,
) -> Result<i64, StoreError> {
    let active: Option<i64> = tx
        .prepare_cached(&format!("SELECT id FROM consents WHERE subject_id = ?1 AND {ACTIVE} AND purpose = ?3"))?
        .query_row(params![subject_id, now, consent.purpose], |r| r.get(0))
        .optional()?;
    if let Some(id) = active {
        return Ok(id);
    }
    tx.prepare_cached(
        "INSERT INTO consents (subject_id, purpose, legal_basis, evidence, granted_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        subject_id,
        consent.purpose,
        consent.legal_basis,
        consent.evidence,
        now,
        consent.expires_at
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Deletes a subject's templates if it has no active consent left; returns their ids.
fn remove_templates_without_consent(
    tx: &rusqlite::Transaction<'_>,
    subject_id: &str,
    now: &str,
) -> Result<Vec<i64>, StoreError> {
    let active: bool = tx.query_row(
        &format!("SELECT EXISTS(SELECT 1 FROM consents WHERE subject_id = ?1 AND {ACTIVE})"),
        params![subject_id, now],
        |r| r.get(0),
    )?;
    if active {
        return Ok(Vec::new());
    }
    let ids = subject_template_ids(tx, subject_id)?;
    tx.execute("DELETE FROM templates WHERE subject_id = ?1", [subject_id])?;
    Ok(ids)
}
