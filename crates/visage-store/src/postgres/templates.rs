//! Templates of the PostgreSQL gallery, plain or encrypted, and the template log.

use super::store::PgStore;
use crate::error::StoreError;
use crate::model::{TemplateChanges, TemplateMode, TemplateModel, TemplateRecord};
use pgvector::Vector;
use postgres::{IsolationLevel, Row};

impl PgStore {
    /// Template records from rows of `id, subject_id, model_sha256, embedding, nonce, ciphertext`.
    pub(super) fn template_records(&self, rows: &[Row]) -> Result<Vec<TemplateRecord>, StoreError> {
        rows.iter()
            .map(|r| {
                let (id, subject_id): (i64, String) = (r.get(0), r.get(1));
                let embedding = self.embedding_of(id, &subject_id, r, 3)?;
                Ok(TemplateRecord { id, subject_id, model_sha256: r.get(2), embedding })
            })
            .collect()
    }

    /// An embedding as stored in this gallery's mode: the `embedding`, `nonce` and `ciphertext` columns.
    pub(super) fn seal_or_plain(
        &self,
        subject_id: &str,
        e: &[f32],
    ) -> (Option<Vector>, Option<Vec<u8>>, Option<Vec<u8>>) {
        match self.mode {
            TemplateMode::Plain => (Some(Vector::from(e.to_vec())), None, None),
            TemplateMode::Encrypted => {
                let sealed = self.templates.seal_template(subject_id, e);
                (None, Some(sealed.nonce), Some(sealed.ciphertext))
            }
        }
    }

    /// A template's embedding from its row (plain or decrypted).
    pub(super) fn embedding_of(&self, id: i64, subject: &str, row: &Row, col: usize) -> Result<Vec<f32>, StoreError> {
        if let Some(v) = row.get::<_, Option<Vector>>(col) {
            return Ok(v.to_vec());
        }
        let nonce: Option<Vec<u8>> = row.get(col + 1);
        let ct: Option<Vec<u8>> = row.get(col + 2);
        match (nonce, ct) {
            (Some(n), Some(c)) => self.templates.open_template(id, subject, &n, &c),
            _ => Err(StoreError::TemplateTampered(id)),
        }
    }

    pub(super) fn template_ids(&self, subject_id: &str) -> Result<Vec<i64>, StoreError> {
        self.with(|c| {
            Ok(c.query("SELECT id FROM templates WHERE subject_id = $1 ORDER BY id", &[&subject_id])?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    pub(super) fn all_templates(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        let rows = self.with(|c| {
            Ok(c.query(
                "SELECT id, subject_id, model_sha256, embedding, nonce, ciphertext FROM templates ORDER BY id",
                &[],
            )?)
        })?;
        self.template_records(&rows)
    }

    /// The embedding models of the templates (see [`crate::GalleryStore::template_models`]).
    pub(super) fn template_models(&self) -> Result<Vec<TemplateModel>, StoreError> {
        let rows = self.with(|c| Ok(c.query(crate::gallery::TEMPLATE_MODELS, &[])?))?;
        Ok(rows
            .iter()
            .map(|r| TemplateModel {
                model_id: r.get(0),
                model_sha256: r.get(1),
                templates: r.get::<_, i64>(2) as usize,
            })
            .collect())
    }

    /// The one embedding length plain templates can have (pgvector's `vector(512)` column); encrypted
    /// templates have any.
    pub(super) fn vector_dim(&self) -> Option<usize> {
        (self.mode == TemplateMode::Plain).then_some(super::store::DIM)
    }

    pub(super) fn template_log_position(&self) -> Result<i64, StoreError> {
        self.with(|c| Ok(c.query_one("SELECT COALESCE(MAX(seq), 0) FROM template_log", &[])?.get(0)))
    }

    pub(super) fn template_changes(&self, since: i64) -> Result<TemplateChanges, StoreError> {
        let (position, removed, rows) = self.with(|c| {
            // One snapshot for the position and the rows it covers.
            let mut tx =
                c.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start()?;
            let position: i64 = tx.query_one("SELECT COALESCE(MAX(seq), 0) FROM template_log", &[])?.get(0);
            let removed: Vec<i64> = tx
                .query(
                    "SELECT DISTINCT template_id FROM template_log WHERE seq > $1 AND seq <= $2 AND NOT added",
                    &[&since, &position],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let rows = tx.query(
                "SELECT id, subject_id, model_sha256, embedding, nonce, ciphertext FROM templates WHERE id IN
                     (SELECT template_id FROM template_log WHERE seq > $1 AND seq <= $2 AND added) ORDER BY id",
                &[&since, &position],
            )?;
            tx.commit()?;
            Ok((position, removed, rows))
        })?;
        Ok(TemplateChanges { position, added: self.template_records(&rows)?, removed })
    }
}
