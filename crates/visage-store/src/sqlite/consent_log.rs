//! The consent log of the SQLite store: which consents changed since a position, for processes that
//! filter searches by purpose in memory.

use super::store::Store;
use crate::error::StoreError;
use crate::model::{ActiveConsent, ConsentChanges};

impl Store {
    /// The consent log's position (see [`crate::GalleryStore::consent_log_position`]).
    pub fn consent_log_position(&self) -> Result<i64, StoreError> {
        Ok(self.conn().query_row("SELECT COALESCE(MAX(seq), 0) FROM consent_log", [], |r| r.get(0))?)
    }

    /// Consents changed after log position `since`, in one read transaction (a snapshot).
    pub fn consent_changes(&self, since: i64) -> Result<ConsentChanges, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let position: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM consent_log", [], |r| r.get(0))?;
        let changed = "SELECT consent_id FROM consent_log WHERE seq > ?1 AND seq <= ?2";
        let active = tx
            .prepare(&format!(
                "SELECT id, subject_id, purpose, expires_at FROM consents
                 WHERE revoked_at IS NULL AND id IN ({changed}) ORDER BY id"
            ))?
            .query_map([since, position], |r| {
                Ok(ActiveConsent { id: r.get(0)?, subject_id: r.get(1)?, purpose: r.get(2)?, expires_at: r.get(3)? })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let ended = tx
            .prepare(&format!(
                "SELECT DISTINCT consent_id FROM consent_log WHERE seq > ?1 AND seq <= ?2 AND consent_id NOT IN
                     (SELECT id FROM consents WHERE revoked_at IS NULL AND id IN ({changed}))"
            ))?
            .query_map([since, position], |r| r.get(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        tx.finish()?;
        Ok(ConsentChanges { position, active, ended })
    }
}
