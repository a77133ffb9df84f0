//! The audit chain's SQL in the SQLite store: append inside a write transaction, list, verify.

use crate::audit::{entry_hash, AuditEntry, AuditFilter, AuditVerification, ChainCheck, GENESIS};
use crate::error::StoreError;
use rusqlite::{params, OptionalExtension, Transaction};

/// Appends an entry inside the caller's (immediate) transaction, so the entry commits with the change it
/// records, and concurrent writers are serialised on the chain head.
pub(super) fn append(
    tx: &Transaction<'_>,
    key: &[u8],
    actor: &str,
    action: &str,
    subject: Option<&str>,
    outcome: &str,
    detail: serde_json::Value,
) -> Result<i64, StoreError> {
    let last: Option<(i64, String)> = tx
        .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_string()));
    let mut entry = AuditEntry {
        seq: prev_seq + 1,
        time: crate::time_util::now(),
        actor: actor.to_string(),
        action: action.to_string(),
        subject: subject.map(str::to_string),
        outcome: outcome.to_string(),
        detail,
        hash: String::new(),
    };
    let detail_text = entry.detail.to_string();
    entry.hash = entry_hash(key, &prev_hash, &entry, &detail_text);
    tx.execute(
        "INSERT INTO audit (seq, time, actor, action, subject, outcome, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            entry.seq,
            entry.time,
            entry.actor,
            entry.action,
            entry.subject,
            entry.outcome,
            detail_text,
            prev_hash,
            entry.hash
        ],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('audit_head', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![format!("{}:{}", entry.seq, entry.hash)],
    )?;
    Ok(entry.seq)
}

pub(crate) fn row_to_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<(AuditEntry, String)> {
    let detail: String = r.get(6)?;
    Ok((
        AuditEntry {
            seq: r.get(0)?,
            time: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            subject: r.get(4)?,
            outcome: r.get(5)?,
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
            hash: r.get(8)?,
        },
        r.get(7)?,
    ))
}

/// Walks the whole chain and reports the first entry that does not verify.
pub(super) fn verify(conn: &rusqlite::Connection, key: &[u8]) -> Result<AuditVerification, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT seq, time, actor, action, subject, outcome, detail, prev_hash, hash FROM audit ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut chain = ChainCheck::new(key);
    while let Some(row) = rows.next()? {
        // The detail is re-read exactly as stored so an edit to its text is caught.
        let stored_detail: String = row.get(6)?;
        let (entry, prev_hash) = row_to_entry(row)?;
        if let Some(bad) = chain.push(entry, &prev_hash, &stored_detail) {
            return Ok(bad);
        }
    }
    let head: Option<String> =
        conn.query_row("SELECT value FROM meta WHERE key = 'audit_head'", [], |r| r.get(0)).optional()?;
    Ok(chain.finish(head))
}

/// Entries matching the filter, oldest first (the newest `limit` when limited).
pub(super) fn list(conn: &rusqlite::Connection, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT seq, time, actor, action, subject, outcome, detail, prev_hash, hash FROM audit
         WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR action = ?2) AND (?3 IS NULL OR time >= ?3)
         ORDER BY seq DESC LIMIT ?4",
    )?;
    let limit = filter.limit.map_or(-1, |l| l as i64);
    let mut entries: Vec<AuditEntry> = stmt
        .query_map(params![filter.subject, filter.action, filter.since, limit], |r| row_to_entry(r).map(|(e, _)| e))?
        .collect::<Result<_, _>>()?;
    entries.reverse();
    Ok(entries)
}
