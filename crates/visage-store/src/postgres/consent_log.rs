//! The consent log of the PostgreSQL store: which consents changed since a position, for processes that
//! filter searches by purpose in memory.

use super::store::PgStore;
use crate::error::StoreError;
use crate::model::{ActiveConsent, ConsentChanges};
use postgres::IsolationLevel;

impl PgStore {
    pub(super) fn consent_log_position(&self) -> Result<i64, StoreError> {
        self.with(|c| Ok(c.query_one("SELECT COALESCE(MAX(seq), 0) FROM consent_log", &[])?.get(0)))
    }

    pub(super) fn consent_changes(&self, since: i64) -> Result<ConsentChanges, StoreError> {
        self.with(|c| {
            // One snapshot for the position and the rows it covers.
            let mut tx =
                c.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start()?;
            let position: i64 = tx.query_one("SELECT COALESCE(MAX(seq), 0) FROM consent_log", &[])?.get(0);
            let changed = "SELECT consent_id FROM consent_log WHERE seq > $1 AND seq <= $2";
            let active = tx
                .query(
                    &format!(
                        "SELECT id, subject_id, purpose, expires_at FROM consents
                         WHERE revoked_at IS NULL AND id IN ({changed}) ORDER BY id"
                    ),
                    &[&since, &position],
                )?
                .iter()
                .map(|r| ActiveConsent { id: r.get(0), subject_id: r.get(1), purpose: r.get(2), expires_at: r.get(3) })
                .collect::<Vec<_>>();
            let ended = tx
                .query(
                    &format!(
                        "SELECT DISTINCT consent_id FROM consent_log WHERE seq > $1 AND seq <= $2 AND consent_id NOT IN
                             (SELECT id FROM consents WHERE revoked_at IS NULL AND id IN ({changed}))"
                    ),
                    &[&since, &position],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            tx.commit()?;
            Ok(ConsentChanges { position, active, ended })
        })
    }
}
