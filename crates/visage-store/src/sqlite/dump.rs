//! The dump and load of `visage store migrate` for the SQLite store.

use super::consent::consent_from_row;
use super::secrets::put_sealed;
use super::store::Store;
use crate::api_keys::ApiKey;
use crate::crypto::{embedding_bytes, embedding_from_bytes, Cipher};
use crate::error::StoreError;
use crate::model::{DumpedAudit, DumpedTemplate, GalleryDump, Subject};
use rusqlite::params;
use zeroize::Zeroizing;

impl Store {
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
                let id: i64 = r.get(0)?;
                let subject_id: String = r.get(1)?;
                let (nonce, ct): (Vec<u8>, Vec<u8>) = (r.get(2)?, r.get(3)?);
                let plain = Zeroizing::new(
                    self.templates.open(&nonce, &ct, subject_id.as_bytes()).ok_or(StoreError::TemplateTampered(id))?,
                );
                templates.push(DumpedTemplate {
                    id,
                    subject_id,
                    embedding: Zeroizing::new(embedding_from_bytes(&plain)),
                    model_id: r.get(4)?,
                    model_sha256: r.get(5)?,
                    quality: r.get::<_, f64>(6)? as f32,
                    created_at: r.get(7)?,
                });
            }
        }
        let mut api_keys = Vec::new();
        {
            let mut stmt = conn.prepare(
                "SELECT id, scopes, label, created_at, revoked_at, secret_sha256 FROM api_keys ORDER BY rowid",
            )?;
            let rows = stmt.query_map([], |r| {
                let scopes: String = r.get(1)?;
                Ok((
                    ApiKey {
                        id: r.get(0)?,
                        scopes: scopes.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                        label: r.get(2)?,
                        created_at: r.get(3)?,
                        revoked_at: r.get(4)?,
                    },
                    r.get::<_, String>(5)?,
                ))
            })?;
            for row in rows {
                api_keys.push(row?);
            }
        }
        let mut audit = Vec::new();
        {
            let mut stmt = conn.prepare(
                "SELECT seq, time, actor, action, subject, outcome, detail, prev_hash, hash FROM audit ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(DumpedAudit {
                    seq: r.get(0)?,
                    time: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    subject: r.get(4)?,
                    outcome: r.get(5)?,
                    detail: r.get(6)?,
                    prev_hash: r.get(7)?,
                    hash: r.get(8)?,
                })
            })?;
            for row in rows {
                audit.push(row?);
            }
        }
        Ok(GalleryDump { subjects, consents, templates, api_keys, audit, audit_key: self.audit_key.clone() })
    }

    pub(super) fn load(&mut self, dump: &GalleryDump) -> Result<(), StoreError> {
        let meta = Cipher::new(self.key(), "meta");
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
                let sealed = templates.seal(&embedding_bytes(&t.embedding), t.subject_id.as_bytes());
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
                    params![k.id, hash, k.scopes.join(","), k.label, k.created_at, k.revoked_at],
                )?;
            }
            for a in &dump.audit {
                tx.execute(
                    "INSERT INTO audit (seq, time, actor, action, subject, outcome, detail, prev_hash, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![a.seq, a.time, a.actor, a.action, a.subject, a.outcome, a.detail, a.prev_hash, a.hash],
                )?;
            }
            if let Some(last) = dump.audit.last() {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('audit_head', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![format!("{}:{}", last.seq, last.hash)],
                )?;
            }
            put_sealed(&tx, &meta, "audit_key", &dump.audit_key)?;
            tx.commit()?;
        }
        self.audit_key = dump.audit_key.clone();
        Ok(())
    }
}
