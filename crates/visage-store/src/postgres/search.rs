//! Search in the database: the HNSW index over plain templates and the nearest-subject query.

use super::store::{PgStore, DIM};
use crate::error::StoreError;
use crate::model::TemplateMode;
use pgvector::Vector;

impl PgStore {
    /// Drops the HNSW index (before a bulk load; searches are exact and slow until it is rebuilt).
    pub fn drop_search_index(&self) -> Result<(), StoreError> {
        self.with(|c| Ok(c.batch_execute("DROP INDEX IF EXISTS templates_embedding")?))
    }

    /// (Re)creates the HNSW index over the plain templates, with the memory and workers to do it fast:
    /// the graph is built in memory when `maintenance_work_mem` holds it (about 3 KB per 512-d
    /// template), much more slowly on disk otherwise.
    pub fn create_search_index(&self) -> Result<(), StoreError> {
        self.with(|c| {
            let rows: i64 = c.query_one("SELECT COUNT(*) FROM templates WHERE embedding IS NOT NULL", &[])?.get(0);
            let mb = (rows * 4 / 1024).clamp(1024, 16 * 1024);
            Ok(c.batch_execute(&format!(
                "SET maintenance_work_mem = '{mb}MB'; SET max_parallel_maintenance_workers = 2;
                 CREATE INDEX IF NOT EXISTS templates_embedding ON templates USING hnsw (embedding vector_cosine_ops);
                 RESET maintenance_work_mem; RESET max_parallel_maintenance_workers;",
            ))?)
        })
    }

    pub(super) fn searches_in_database(&self) -> bool {
        self.mode == TemplateMode::Plain
    }

    pub(super) fn search(
        &self,
        query: &[f32],
        k: usize,
        model_sha256: &str,
        purpose: Option<&str>,
    ) -> Result<Vec<(String, f32)>, StoreError> {
        if self.mode != TemplateMode::Plain {
            return Err(StoreError::Invalid("encrypted templates are searched in memory, not in the database".into()));
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        if query.len() != DIM {
            return Err(StoreError::Invalid(format!("query has {} values, expected {DIM}", query.len())));
        }
        // Several templates per subject: take more nearest templates than k, then keep each subject's best.
        let want = (k * 8 + 32) as i64;
        let (k, q) = (k as i64, Vector::from(query.to_vec()));
        let now = crate::time_util::now();
        self.with(move |c| {
            // The planner prices an HNSW scan by ef_search and picks an exact sequential scan above a
            // few hundred (seconds at a million templates): keep the index for this statement. With a
            // purpose, the graph walk filters as it goes and, when too few nearest templates belong to
            // consented subjects, goes on walking (pgvector's iterative scan) instead of returning less.
            let mut tx = c.transaction()?;
            tx.batch_execute("SET LOCAL enable_seqscan = off")?;
            if purpose.is_some() {
                tx.batch_execute("SET LOCAL hnsw.iterative_scan = relaxed_order")?;
            }
            let rows = tx.query(
                "WITH nearest AS (
                     SELECT subject_id, embedding <=> $1 AS distance FROM templates
                     WHERE model_sha256 = $3 AND embedding IS NOT NULL
                       AND ($5::text IS NULL OR subject_id IN (
                           SELECT subject_id FROM consents WHERE purpose = $5 AND revoked_at IS NULL
                             AND (expires_at IS NULL OR expires_at > $6)))
                     ORDER BY embedding <=> $1 LIMIT $2)
                 SELECT subject_id, (1 - MIN(distance))::real FROM nearest
                 GROUP BY subject_id ORDER BY MIN(distance), subject_id LIMIT $4",
                &[&q, &want, &model_sha256, &k, &purpose, &now],
            )?;
            tx.commit()?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}
