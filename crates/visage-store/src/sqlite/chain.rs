//! The audit chain's rows in the SQLite store: append inside a write transaction, read, write as they
//! are (migration), and the recorded head. Building and checking rows is [`crate::audit`]'s job.

use crate::audit::{AuditEvent, AuditRow, GENESIS};
use crate::error::StoreError;
use rusqlite::{params, Connection, OptionalExtension};
use std::ops::ControlFlow;

/// The columns of an audit row, in [`AuditRow`]'s order.
const COLUMNS: &str = "seq, time, actor, action, subject, outcome, detail, prev_hash, hash";

/// Appends `event` inside the caller's (immediate) transaction, so the entry commits with the change it
/// records, and concurrent writers are serialised on the chain head; subjects are stored as their
/// pseudonyms. Returns its sequence number.
pub(super) fn append(conn: &Connection, key: &[u8], event: AuditEvent) -> Result<i64, StoreError> {
    let event = crate::pseudonyms::pseudonymise(event, |s| super::pseudonyms::get_or_create(conn, s))?;
    let last: Option<(i64, String)> = conn
        .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_string()));
    let row = AuditRow::chained(event, key, prev_seq, prev_hash);
    insert(conn, &row)?;
    set_head(conn, &row)?;
    Ok(row.seq)
}

/// Inserts a row exactly as given.
pub(super) fn insert(conn: &Connection, a: &AuditRow) -> Result<(), StoreError> {
    conn.prepare_cached(&format!("INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"))?
        .execute(params![a.seq, a.time, a.actor, a.action, a.subject, a.outcome, a.detail, a.prev_hash, a.hash])?;
    Ok(())
}

/// Records `last` as the head of the log.
pub(super) fn set_head(conn: &Connection, last: &AuditRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('audit_head', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![last.head()],
    )?;
    Ok(())
}

/// The recorded head (`"seq:hash"`), `None` for an empty log.
pub(super) fn head(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn.query_row("SELECT value FROM meta WHERE key = 'audit_head'", [], |r| r.get(0)).optional()?)
}

/// Calls `f` with each row matching `filter_sql` (a `WHERE ... ORDER BY ...` clause over `params`), as
/// stored, one at a time, until it breaks.
pub(super) fn each(
    conn: &Connection,
    filter_sql: &str,
    params: impl rusqlite::Params,
    mut f: impl FnMut(AuditRow) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM audit {filter_sql}"))?;
    let mut rows = stmt.query(params)?;
    while let Some(r) = rows.next()? {
        let row = AuditRow {
            seq: r.get(0)?,
            time: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            subject: r.get(4)?,
            outcome: r.get(5)?,
            detail: r.get(6)?,
            prev_hash: r.get(7)?,
            hash: r.get(8)?,
        };
        if f(row).is_break() {
            break;
        }
    }
    Ok(())
}

/// Every row matching `filter_sql` (see [`each`]).
pub(super) fn rows(
    conn: &Connection,
    filter_sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut out = Vec::new();
    each(conn, filter_sql, params, |row| {
        out.push(row);
        ControlFlow::Continue(())
    })?;
    Ok(out)
}
