//! The audit chain's SQL in the PostgreSQL gallery: append under the locked chain head.

use crate::audit::{entry_hash, AuditEntry};
use crate::error::StoreError;
use crate::time_util;
use postgres::{Row, Transaction};

/// Appends audit entries inside a write transaction.
pub(super) struct Auditor<'k> {
    pub(super) key: &'k [u8],
}

impl Auditor<'_> {
    pub(super) fn append(
        &self,
        tx: &mut Transaction<'_>,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<i64, StoreError> {
        // The head row is locked by this transaction (see PgStore::write).
        let head = tx.query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?;
        let (prev_seq, prev_hash): (i64, String) = (head.get(0), head.get(1));
        let mut entry = AuditEntry {
            seq: prev_seq + 1,
            time: time_util::now(),
            actor: actor.to_string(),
            action: action.to_string(),
            subject: subject.map(str::to_string),
            outcome: outcome.to_string(),
            detail,
            hash: String::new(),
        };
        let detail_text = entry.detail.to_string();
        entry.hash = entry_hash(self.key, &prev_hash, &entry, &detail_text);
        tx.execute(
            "INSERT INTO audit (seq, time, actor, action, subject, outcome, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &entry.seq,
                &entry.time,
                &entry.actor,
                &entry.action,
                &entry.subject,
                &entry.outcome,
                &detail_text,
                &prev_hash,
                &entry.hash,
            ],
        )?;
        tx.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[&entry.seq, &entry.hash])?;
        Ok(entry.seq)
    }
}

pub(super) fn row_to_audit(r: &Row) -> (AuditEntry, String, String) {
    let detail: String = r.get(6);
    (
        AuditEntry {
            seq: r.get(0),
            time: r.get(1),
            actor: r.get(2),
            action: r.get(3),
            subject: r.get(4),
            outcome: r.get(5),
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail.clone())),
            hash: r.get(8),
        },
        r.get(7),
        detail,
    )
}
