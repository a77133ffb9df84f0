//! The dump and load of `visage store migrate` for the SQLite store.

use super::consent::consent_from_row;
use super::keys::row_to_key;
use super::secrets::put;
use super::store::Store;
use super::{chain, pseudonyms};
use crate::error::StoreError;
use crate::model::{DumpedTemplate, GalleryDump, Subject};
use crate::secrets::{self, AUDIT_KEY_NAME};
use rusqlite::params;
use zeroize::Zeroizing;

impl Store {
    /// Everything in the store, decrypted (see [`crate::GalleryStore::dump`]).
    pub(super) fn dump(&self) -> Result<GalleryDump, StoreError> {
        let subjects: Vec<Subject> = self.subjects()?.into_iter().map(|(s, _)| s).collect();
        let conn = self.conn();
        let mut consents = Vec::new();
        {
            let mut stmt = conn.prepare(
                "SELECT subject_id, id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at
                 FROM consents ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, consent_from_row(r, 1)?)))?;
            for row in rows {
                consents.push(row?);
            }
        }
        let mut templates = Vec::new();
        {
            let mut stmt = conn.prepare(
                "SELECT id, subject_id, nonce, ciphertext, model_id, model_sha256, quality, created_at
                 FROM templates ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (id, subject_id): (i64, String) = (r.get(0)?, r.get(1)?);
                let embedding = self.templates.open_template(
                    id,
                    &subject_id,
                    &r.get::<_, Vec<u8>>(2)?,
                    &r.get::<_, Vec<u8>>(3)?,
                )?;
                templates.push(DumpedTemplate {
                    id,
                    subject_id,
                    embedding: Zeroizing::new(embedding),
                    model_id: r.get(4)?,
                    model_sha256: r.get(5)?,
                    quality: r.get::<_, f64>(6)? as f32,
                    created_at: r.get(7)?,
                });
            }
        }
        let api_keys = conn
            .prepare("SELECT id, scopes, label, created_at, revoked_at, secret_sha256 FROM api_keys ORDER BY rowid")?
            .query_map([], |r| Ok((row_to_key(r)?, r.get::<_, String>(5)?)))?
            .collect::<Result<_, _>>()?;
        let audit = chain::rows(&conn, "ORDER BY seq", [])?;
        let pseudonyms = pseudonyms::all(&conn)?;
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

    /// Loads a dump into this empty store (see [`crate::GalleryStore::load`]).
    pub(super) fn load(&mut self, dump: &GalleryDump) -> Result<(), StoreError> {
        let sealed_audit_key = secrets::seal(&self.key, AUDIT_KEY_NAME, &dump.audit_key);
        let templates = &self.templates;
        {
            let mut conn = self.conn();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let used: i64 = tx.query_row(
                "SELECT (SELECT COUNT(*) FROM subjects) + (SELECT COUNT(*) FROM audit) + (SELECT COUNT(*) FROM api_keys)",
                [],
                |r| r.get(0),
            )?;
            if used > 0 {
                return Err(StoreError::Invalid("the target store is not empty; migrate into a new store".into()));
            }
            for s in &dump.subjects {
                tx.execute(
                    "INSERT INTO subjects (id, display_name, metadata, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![s.id, s.display_name, s.metadata.to_string(), s.created_at],
                )?;
            }
            for (subject, c) in &dump.consents {
                tx.execute(
                    "INSERT INTO consents (id, subject_id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![c.id, subject, c.purpose, c.legal_basis, c.evidence, c.granted_at, c.expires_at, c.revoked_at],
                )?;
            }
            for t in &dump.templates {
                let sealed = templates.seal_template(&t.subject_id, &t.embedding);
                tx.execute(
                    "INSERT INTO templates (id, subject_id, nonce, ciphertext, model_id, model_sha256, quality, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        t.id,
                        t.subject_id,
                        sealed.nonce,
                        sealed.ciphertext,
                        t.model_id,
                        t.model_sha256,
                        t.quality,
                        t.created_at
                    ],
                )?;
            }
            for (k, hash) in &dump.api_keys {
                tx.execute(
                    "INSERT INTO api_keys (id, secret_sha256, scopes, label, created_at, revoked_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![k.id, hash, k.stored_grants(), k.label, k.created_at, k.revoked_at],
                )?;
            }
            for row in &dump.audit {
                chain::insert(&tx, row)?;
            }
            for (subject, pseudonym) in &dump.pseudonyms {
                tx.execute(
                    "INSERT INTO subject_pseudonyms (subject_id, pseudonym) VALUES (?1, ?2)",
                    [subject, pseudonym],
                )?;
            }
            if let Some(last) = dump.audit.last() {
                chain::set_head(&tx, last)?;
            }
            put(&tx, AUDIT_KEY_NAME, &sealed_audit_key)?;
            tx.commit()?;
        }
        self.audit_key = dump.audit_key.clone();
        Ok(())
    }
}
