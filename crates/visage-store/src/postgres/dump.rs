//! The dump and load of `visage store migrate` for the PostgreSQL gallery.

use super::chain::{self, COLUMNS};
use super::consent::row_to_consent;
use super::keys::row_to_key;
use super::pseudonyms;
use super::secrets::put;
use super::store::PgStore;
use crate::error::StoreError;
use crate::model::{DumpedTemplate, GalleryDump, Subject};
use crate::secrets::{self, AUDIT_KEY_NAME};
use zeroize::Zeroizing;

impl PgStore {
    /// Everything in the gallery, decrypted (see [`crate::GalleryStore::dump`]).
    pub(super) fn dump(&self) -> Result<GalleryDump, StoreError> {
        let subjects: Vec<Subject> = self.subjects()?.into_iter().map(|(s, _)| s).collect();
        let (consent_rows, template_rows, key_rows, audit_rows) = self.with(|c| {
            Ok((
                c.query(
                    "SELECT id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at, subject_id
                     FROM consents ORDER BY id",
                    &[],
                )?,
                c.query(
                    "SELECT id, subject_id, model_id, model_sha256, quality, created_at, embedding, nonce, ciphertext
                     FROM templates ORDER BY id",
                    &[],
                )?,
                c.query(
                    "SELECT id, scopes, label, created_at, revoked_at, secret_sha256 FROM api_keys ORDER BY ord",
                    &[],
                )?,
                c.query(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"), &[])?,
            ))
        })?;
        let consents = consent_rows.iter().map(|r| (r.get(7), row_to_consent(r))).collect();
        let templates = template_rows
            .iter()
            .map(|r| {
                let (id, subject_id): (i64, String) = (r.get(0), r.get(1));
                Ok(DumpedTemplate {
                    id,
                    embedding: Zeroizing::new(self.embedding_of(id, &subject_id, r, 6)?),
                    subject_id,
                    model_id: r.get(2),
                    model_sha256: r.get(3),
                    quality: r.get(4),
                    created_at: r.get(5),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let api_keys = key_rows.iter().map(|r| (row_to_key(r), r.get(5))).collect();
        let audit = audit_rows.iter().map(chain::from_row).collect();
        let pseudonyms = self.with(pseudonyms::all)?;
        Ok(GalleryDump {
            subjects,
            consents,
            templates,
            api_keys,
            audit,
            pseudonyms,
            audit_key: self.audit_key.clone(),
        })
    }

    /// Loads a dump into this empty gallery (see [`crate::GalleryStore::load`]).
    pub(super) fn load(&mut self, dump: &GalleryDump) -> Result<(), StoreError> {
        if let Some(dim) = self.vector_dim() {
            if let Some(t) = dump.templates.iter().find(|t| t.embedding.len() != dim) {
                return Err(StoreError::Invalid(format!(
                    "template {} has {} values; plain PostgreSQL templates are {dim}-d vectors (encrypted ones \
                     have any length)",
                    t.id,
                    t.embedding.len()
                )));
            }
        }
        let sealed_audit_key = secrets::seal(&self.key, AUDIT_KEY_NAME, &dump.audit_key);
        let sealed: Vec<_> = dump.templates.iter().map(|t| self.seal_or_plain(&t.subject_id, &t.embedding)).collect();
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.query_one("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", &[])?;
            let used: i64 = tx
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM subjects) + (SELECT COUNT(*) FROM audit) + (SELECT COUNT(*) FROM api_keys)",
                    &[],
                )?
                .get(0);
            if used > 0 {
                return Err(StoreError::Invalid("the target database is not empty; migrate into a new database".into()));
            }
            let stmt = tx.prepare(
                "INSERT INTO subjects (id, display_name, metadata, created_at) VALUES ($1, $2, $3, $4)",
            )?;
            for s in &dump.subjects {
                tx.execute(&stmt, &[&s.id, &s.display_name, &s.metadata.to_string(), &s.created_at])?;
            }
            let stmt = tx.prepare(
                "INSERT INTO consents (id, subject_id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )?;
            for (s, c) in &dump.consents {
                tx.execute(
                    &stmt,
                    &[&c.id, s, &c.purpose, &c.legal_basis, &c.evidence, &c.granted_at, &c.expires_at, &c.revoked_at],
                )?;
            }
            let stmt = tx.prepare(
                "INSERT INTO templates (id, subject_id, embedding, nonce, ciphertext, model_id, model_sha256, quality, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )?;
            for (t, (v, n, ct)) in dump.templates.iter().zip(&sealed) {
                tx.execute(
                    &stmt,
                    &[&t.id, &t.subject_id, v, n, ct, &t.model_id, &t.model_sha256, &t.quality, &t.created_at],
                )?;
            }
            let stmt = tx.prepare(
                "INSERT INTO api_keys (id, secret_sha256, scopes, label, created_at, revoked_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )?;
            for (k, hash) in &dump.api_keys {
                tx.execute(&stmt, &[&k.id, hash, &k.stored_grants(), &k.label, &k.created_at, &k.revoked_at])?;
            }
            chain::insert(&mut tx, &dump.audit)?;
            for (subject, pseudonym) in &dump.pseudonyms {
                tx.execute(
                    "INSERT INTO subject_pseudonyms (subject_id, pseudonym) VALUES ($1, $2)",
                    &[subject, pseudonym],
                )?;
            }
            if let Some(last) = dump.audit.last() {
                chain::set_head(&mut tx, last)?;
            }
            // Identity columns continue after the copied ids.
            tx.batch_execute(
                "SELECT setval(pg_get_serial_sequence('templates', 'id'), COALESCE((SELECT MAX(id) FROM templates), 0) + 1, false);
                 SELECT setval(pg_get_serial_sequence('consents', 'id'), COALESCE((SELECT MAX(id) FROM consents), 0) + 1, false);",
            )?;
            put(&mut tx, AUDIT_KEY_NAME, &sealed_audit_key)?;
            tx.commit()?;
            Ok(())
        })?;
        self.audit_key = dump.audit_key.clone();
        Ok(())
    }
}
