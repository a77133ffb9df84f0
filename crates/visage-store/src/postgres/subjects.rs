//! Subjects in the PostgreSQL gallery: enrolment, bulk import, lookup, erasure and export.

use super::store::{subject_exists, template_ids, PgStore, ACTIVE, INSERT_TEMPLATE};
use crate::error::StoreError;
use crate::events;
use crate::gallery::{self, refuse_unknown_subject};
use crate::model::{ConsentGrant, NewTemplate, Subject, SubjectExport, Template};
use crate::rules::{self, validate_subject_id};
use crate::time_util;
use postgres::Row;

impl PgStore {
    pub(super) fn enroll(
        &self,
        subject_id: &str,
        display_name: Option<&str>,
        consent: &ConsentGrant,
        templates: &[NewTemplate],
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<Vec<i64>, StoreError> {
        let now = time_util::now();
        rules::check_enrolment(subject_id, consent, templates, &now, self.vector_dim())?;
        let sealed: Vec<_> = templates.iter().map(|t| self.seal_or_plain(subject_id, &t.embedding)).collect();
        self.write(move |tx, audit| {
            tx.execute(
                "INSERT INTO subjects (id, display_name, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET display_name = COALESCE(EXCLUDED.display_name, subjects.display_name)",
                &[&subject_id, &display_name, &now],
            )?;
            let active = tx.query_opt(
                &format!("SELECT id FROM consents WHERE subject_id = $1 AND {ACTIVE} AND purpose = $3 LIMIT 1"),
                &[&subject_id, &now, &consent.purpose],
            )?;
            let consent_id: i64 = match active {
                Some(r) => r.get(0),
                None => tx
                    .query_one(
                        "INSERT INTO consents (subject_id, purpose, legal_basis, evidence, granted_at, expires_at)
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                        &[
                            &subject_id,
                            &consent.purpose,
                            &consent.legal_basis,
                            &consent.evidence,
                            &now,
                            &consent.expires_at,
                        ],
                    )?
                    .get(0),
            };
            let mut ids = Vec::with_capacity(templates.len());
            for (t, (v, n, c)) in templates.iter().zip(&sealed) {
                let row = tx.query_one(
                    INSERT_TEMPLATE,
                    &[&subject_id, v, n, c, &t.model_id, &t.model_sha256, &t.quality, &now],
                )?;
                ids.push(row.get(0));
            }
            audit.append(tx, events::enrolled(actor, subject_id, detail, ids.len(), consent_id, &consent.purpose))?;
            Ok(ids)
        })
    }

    pub(super) fn subject(&self, id: &str) -> Result<Option<Subject>, StoreError> {
        validate_subject_id(id)?;
        self.with(|c| {
            Ok(c.query_opt("SELECT id, display_name, metadata, created_at FROM subjects WHERE id = $1", &[&id])?
                .map(|r| row_to_subject(&r)))
        })
    }

    pub(super) fn subjects(&self) -> Result<Vec<(Subject, usize)>, StoreError> {
        self.with(|c| {
            Ok(c.query(
                "SELECT s.id, s.display_name, s.metadata, s.created_at, COUNT(t.id) FROM subjects s
                 LEFT JOIN templates t ON t.subject_id = s.id GROUP BY s.id ORDER BY s.id",
                &[],
            )?
            .iter()
            .map(|r| (row_to_subject(r), r.get::<_, i64>(4) as usize))
            .collect())
        })
    }

    pub(super) fn bulk_import(
        &self,
        rows: &[(String, NewTemplate)],
        consent: &ConsentGrant,
        actor: &str,
    ) -> Result<usize, StoreError> {
        rules::check_import(rows, consent, self.vector_dim())?;
        let now = time_util::now();
        let mode = self.mode;
        let sealed: Vec<_> = rows.iter().map(|(s, t)| self.seal_or_plain(s, &t.embedding)).collect();
        self.write(move |tx, audit| {
            let mut subjects: Vec<&str> = rows.iter().map(|(s, _)| s.as_str()).collect();
            subjects.sort_unstable();
            subjects.dedup();
            tx.execute(
                "INSERT INTO subjects (id, created_at) SELECT s, $2 FROM unnest($1::text[]) s ON CONFLICT (id) DO NOTHING",
                &[&subjects, &now],
            )?;
            tx.execute(
                "INSERT INTO consents (subject_id, purpose, legal_basis, evidence, granted_at, expires_at)
                 SELECT s, $3, $4, $5, $2, $6 FROM unnest($1::text[]) s WHERE NOT EXISTS
                     (SELECT 1 FROM consents WHERE subject_id = s AND purpose = $3 AND revoked_at IS NULL
                      AND (expires_at IS NULL OR expires_at > $2))",
                &[&subjects, &now, &consent.purpose, &consent.legal_basis, &consent.evidence, &consent.expires_at],
            )?;
            let stmt = tx.prepare(INSERT_TEMPLATE)?;
            for ((s, t), (v, n, c)) in rows.iter().zip(&sealed) {
                tx.query_one(&stmt, &[s, v, n, c, &t.model_id, &t.model_sha256, &t.quality, &now])?;
            }
            audit.append(tx, events::bulk_imported(actor, rows.len(), subjects.len(), &consent.purpose, Some(mode)))?;
            Ok(rows.len())
        })
    }

    pub(super) fn delete_subject(&self, subject_id: &str, actor: &str) -> Result<Vec<i64>, StoreError> {
        validate_subject_id(subject_id)?;
        let erased = self.write(|tx, audit| {
            if !subject_exists(tx, subject_id)? {
                return Ok(None);
            }
            let ids = template_ids(tx, subject_id)?;
            let consents: i64 =
                tx.query_one("SELECT COUNT(*) FROM consents WHERE subject_id = $1", &[&subject_id])?.get(0);
            tx.execute("DELETE FROM subjects WHERE id = $1", &[&subject_id])?;
            audit.append(tx, events::erased(actor, subject_id, ids.len(), consents))?;
            // Crypto-shredding: the audit entries about the subject lose their link to it.
            super::pseudonyms::forget(tx, subject_id)?;
            Ok(Some(ids))
        })?;
        erased.ok_or_else(|| refuse_unknown_subject(self, actor, "delete", subject_id))
    }

    pub(super) fn export(
        &self,
        subject_id: &str,
        include_templates: bool,
        actor: &str,
    ) -> Result<SubjectExport, StoreError> {
        gallery::export(self, subject_id, include_templates, actor, || {
            self.subject_templates(subject_id, include_templates)
        })
    }

    /// A subject's templates, oldest first, with their embeddings when `include_embeddings`.
    fn subject_templates(&self, subject_id: &str, include_embeddings: bool) -> Result<Vec<Template>, StoreError> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT id, model_id, model_sha256, quality, created_at, embedding, nonce, ciphertext FROM templates
                 WHERE subject_id = $1 ORDER BY id",
                &[&subject_id],
            )?)
        })?;
        let mut templates = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.get(0);
            templates.push(Template {
                id,
                model_id: r.get(1),
                model_sha256: r.get(2),
                quality: r.get(3),
                created_at: r.get(4),
                embedding: if include_embeddings { Some(self.embedding_of(id, subject_id, r, 5)?) } else { None },
            });
        }
        Ok(templates)
    }
}

fn row_to_subject(r: &Row) -> Subject {
    let metadata: String = r.get(2);
    Subject {
        id: r.get(0),
        display_name: r.get(1),
        metadata: serde_json::from_str(&metadata).unwrap_or(serde_json::Value::Null),
        created_at: r.get(3),
    }
}
