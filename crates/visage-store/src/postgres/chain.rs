//! The audit chain's rows in the PostgreSQL gallery: append under the locked chain head, read, write as
//! they are (migration), and the head row. Building and checking rows is [`crate::audit`]'s job.

use crate::audit::{AuditEvent, AuditRow};
use crate::error::StoreError;
use postgres::{GenericClient, Row, Transaction};

/// The columns of an audit row, in [`AuditRow`]'s order.
pub(super) const COLUMNS: &str = "seq, time, actor, action, subject, outcome, detail, prev_hash, hash";

/// Appends audit entries inside a write transaction.
pub(super) struct Auditor<'k> {
    pub(super) key: &'k [u8],
}

impl Auditor<'_> {
    /// Appends `event` after the head row, which this transaction has locked (see `PgStore::write`),
    /// subjects stored as their pseudonyms; returns its sequence number.
    pub(super) fn append(&self, tx: &mut Transaction<'_>, event: AuditEvent) -> Result<i64, StoreError> {
        let event = crate::pseudonyms::pseudonymise(event, |s| super::pseudonyms::get_or_create(tx, s))?;
        let head = tx.query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?;
        let row = AuditRow::chained(event, self.key, head.get(0), head.get(1));
        insert(tx, std::slice::from_ref(&row))?;
        set_head(tx, &row)?;
        Ok(row.seq)
    }
}

/// Inserts rows exactly as given (one statement, prepared once).
pub(super) fn insert(tx: &mut Transaction<'_>, rows: &[AuditRow]) -> Result<(), StoreError> {
    let stmt = tx.prepare(&format!("INSERT INTO audit ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))?;
    for a in rows {
        tx.execute(
            &stmt,
            &[&a.seq, &a.time, &a.actor, &a.action, &a.subject, &a.outcome, &a.detail, &a.prev_hash, &a.hash],
        )?;
    }
    Ok(())
}

/// Records `last` as the head of the log.
pub(super) fn set_head(tx: &mut Transaction<'_>, last: &AuditRow) -> Result<(), StoreError> {
    tx.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &[&last.seq, &last.hash])?;
    Ok(())
}

/// The recorded head (`"seq:hash"`), `None` for an empty log.
pub(super) fn head(c: &mut impl GenericClient) -> Result<Option<String>, StoreError> {
    let head = c.query_one("SELECT seq, hash FROM audit_head WHERE id = 1", &[])?;
    let (seq, hash): (i64, String) = (head.get(0), head.get(1));
    Ok((seq > 0 || hash != crate::audit::GENESIS).then(|| format!("{seq}:{hash}")))
}

/// A row from the [`COLUMNS`], as stored.
pub(super) fn from_row(r: &Row) -> AuditRow {
    AuditRow {
        seq: r.get(0),
        time: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        subject: r.get(4),
        outcome: r.get(5),
        detail: r.get(6),
        prev_hash: r.get(7),
        hash: r.get(8),
    }
}
