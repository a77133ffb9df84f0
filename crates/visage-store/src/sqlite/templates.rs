//! Templates of the SQLite store, decrypted for the in-memory search index, and the template log.

use super::store::{subject_template_ids, Store};
use crate::error::StoreError;
use crate::model::{TemplateChanges, TemplateModel, TemplateRecord};
use rusqlite::Connection;

impl Store {
    /// Every template, decrypted, for building the search index. A template that fails to decrypt
    /// (edited in the file, or moved to another subject) is an error, never silently skipped.
    pub fn all_templates(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        self.decrypted_templates(&self.conn(), "", [])
    }

    /// The embedding models of the templates (see [`crate::GalleryStore::template_models`]).
    pub fn template_models(&self) -> Result<Vec<TemplateModel>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(crate::gallery::TEMPLATE_MODELS)?;
        let rows = statement.query_map([], |r| {
            Ok(TemplateModel { model_id: r.get(0)?, model_sha256: r.get(1)?, templates: r.get::<_, i64>(2)? as usize })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let (id, subject_id): (i64, String) = (r.get(0)?, r.get(1)?);
            let embedding =
                self.templates.open_template(id, &subject_id, &r.get::<_, Vec<u8>>(2)?, &r.get::<_, Vec<u8>>(3)?)?;
            out.push(TemplateRecord { id, subject_id, model_sha256: r.get(4)?, embedding });
        }
        Ok(out)
    }

    /// Template ids of one subject.
    pub fn template_ids(&self, subject_id: &str) -> Result<Vec<i64>, StoreError> {
        subject_template_ids(&self.conn(), subject_id)
    }
}
