//! Subjects in the SQLite store: enrolment, bulk import, lookup, erasure and export.

use super::store::{subject_exists, subject_template_ids, Store, ACTIVE};
use crate::error::StoreError;
use crate::events;
use crate::gallery::{self, refuse_unknown_subject};
use crate::model::{ConsentGrant, NewTemplate, Subject, SubjectExport, Template};
use crate::rules::{self, validate_subject_id};
use crate::time_util;
use rusqlite::{params, OptionalExtension};

impl Store {
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
        let now = time_util::now();
        rules::check_enrolment(subject_id, consent, templates, &now, None)?;
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
                ids.push(self.insert_template(tx, subject_id, t, &now)?);
            }
            w.audit(events::enrolled(actor, subject_id, detail, ids.len(), consent_id, &consent.purpose))?;
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
        rules::check_import(rows, consent, None)?;
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
            w.audit(events::bulk_imported(actor, rows.len(), seen.len(), &consent.purpose, None))?;
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
        let sealed = self.templates.seal_template(subject_id, &t.embedding);
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
            w.audit(events::erased(actor, subject_id, ids.len(), consents))?;
            // Crypto-shredding: the audit entries about the subject lose their link to it.
            super::pseudonyms::forget(tx, subject_id)?;
            Ok(Some(ids))
        })?;
        let Some(ids) = erased else {
            return Err(refuse_unknown_subject(self, actor, "delete", subject_id));
        };
        self.checkpoint()?;
        Ok(ids)
    }

    /// Everything about a subject, as JSON-ready data (templates' embeddings only if asked). Audited.
    pub fn export(&self, subject_id: &str, include_templates: bool, actor: &str) -> Result<SubjectExport, StoreError> {
        gallery::export(self, subject_id, include_templates, actor, || {
            self.subject_templates(subject_id, include_templates)
        })
    }

    /// A subject's templates, oldest first, with their embeddings when `include_embeddings`.
    fn subject_templates(&self, subject_id: &str, include_embeddings: bool) -> Result<Vec<Template>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, model_id, model_sha256, quality, created_at, nonce, ciphertext FROM templates
             WHERE subject_id = ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([subject_id])?;
        let mut templates = Vec::new();
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let embedding = match include_embeddings {
                true => Some(self.templates.open_template(
                    id,
                    subject_id,
                    &r.get::<_, Vec<u8>>(5)?,
                    &r.get::<_, Vec<u8>>(6)?,
                )?),
                false => None,
            };
            templates.push(Template {
                id,
                model_id: r.get(1)?,
                model_sha256: r.get(2)?,
                quality: r.get::<_, f64>(3)? as f32,
                created_at: r.get(4)?,
                embedding,
            });
        }
        Ok(templates)
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
