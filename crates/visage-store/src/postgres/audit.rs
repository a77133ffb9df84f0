//! The PostgreSQL gallery's audit log: entries on their own, listing and verification.

use super::chain::row_to_audit;
use super::store::PgStore;
use crate::audit::{AuditEntry, AuditFilter, AuditVerification, ChainCheck, GENESIS};
use crate::error::StoreError;

impl PgStore {
    pub(super) fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<i64, StoreError> {
        self.write(|tx, audit| audit.append(tx, actor, action, subject, outcome, detail))
    }

    pub(super) fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = filter.limit.map(|l| l as i64);
        self.with(|c| {
            let rows = c.query(
                "SELECT seq, time, actor, action, subject, outcome, detail, prev_hash, hash FROM audit
                 WHERE ($1::text IS NULL OR subject = $1) AND ($2::text IS NULL OR action = $2)
                   AND ($3::text IS NULL OR time >= $3)
                 ORDER BY seq DESC LIMIT $4",
                &[&filter.subject, &filter.action, &filter.since, &limit],
            )?;
            let mut entries: Vec<AuditEntry> = rows.iter().map(|r| row_to_audit(r).0).collect();
            entries.reverse();
            Ok(entries)
        })
    }

    pub(super) fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let key = &self.audit_key;
        self.with(|c| {
            // One snapshot for the entries and the head, so concurrent appends do not look like damage.
            let mut tx = c.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).start()?;
            let mut chain = ChainCheck::new(key);
            let portal = tx.bind(
                "SELECT seq, time, actor, action, subject, outcome, detail, prev_hash, hash FROM audit ORDER BY seq",
                &[],
            )?;
            loop {
                let rows = tx.query_portal(&portal, 10_000)?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    let (entry, prev, detail) = row_to_audit(r);
                    if let Some(bad) = chain.push(entry, &prev, &detail) {
                        return Ok(bad);
                    }
                }
            }
            let head = tx.query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?;
            let (seq, hash): (i64, String) = (head.get(0), head.get(1));
            tx.commit()?;
            Ok(chain.finish((seq > 0 || hash != GENESIS).then(|| format!("{seq}:{hash}"))))
        })
    }
}
