//! The audit log: append-only, hash-chained with an HMAC under a key only the store holds.
//!
//! Each entry's hash is `HMAC(audit key, previous hash ‖ its own fields)`. Editing an entry breaks its
//! hash; inserting or deleting one breaks the sequence or the next entry's link; and without the key no
//! one can compute a new valid chain. The latest sequence number and hash are also kept in `meta`, so
//! cutting entries off the end is found too (unless `meta` is rolled back with them, which restores an
//! earlier, consistent log: keep backups of the key elsewhere to anchor it).

use crate::StoreError;
use hmac::{Hmac, Mac};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;
use sha2::Sha256;

pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry. Never holds biometric data: ids, actions and outcomes only.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub action: String,
    #[schema(required = true)]
    pub subject: Option<String>,
    pub outcome: String,
    /// Extra facts as JSON (counts, similarity, reasons).
    pub detail: serde_json::Value,
    pub hash: String,
}

/// Which entries `visage audit show` lists.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub subject: Option<String>,
    pub action: Option<String>,
    /// Stored-format time; entries at or after it.
    pub since: Option<String>,
    pub limit: Option<usize>,
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditVerification {
    pub entries: i64,
    pub intact: bool,
    /// The first entry that does not verify, and why.
    #[schema(required = true)]
    pub first_bad: Option<i64>,
    #[schema(required = true)]
    pub reason: Option<String>,
}

/// The entry's HMAC over its fields, with `detail` exactly as stored (text, so no number is re-formatted
/// between writing and checking).
pub(crate) fn entry_hash(key: &[u8], prev: &str, e: &AuditEntry, detail_text: &str) -> String {
    // A JSON array is an unambiguous encoding of the fields (no separator can be forged).
    let fields = serde_json::json!([prev, e.seq, e.time, e.actor, e.action, e.subject, e.outcome, detail_text]);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(fields.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Appends an entry inside the caller's (immediate) transaction, so the entry commits with the change it
/// records, and concurrent writers are serialised on the chain head.
pub(crate) fn append(
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
pub(crate) fn verify(conn: &rusqlite::Connection, key: &[u8]) -> Result<AuditVerification, StoreError> {
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

/// Checks a chain entry by entry, oldest first, whatever the backend reads it from.
pub(crate) struct ChainCheck<'k> {
    key: &'k [u8],
    expected_seq: i64,
    prev: String,
    count: i64,
}

impl<'k> ChainCheck<'k> {
    pub fn new(key: &'k [u8]) -> Self {
        ChainCheck { key, expected_seq: 1, prev: GENESIS.to_string(), count: 0 }
    }

    fn bad(&self, seq: i64, reason: String) -> AuditVerification {
        AuditVerification { entries: self.count, intact: false, first_bad: Some(seq), reason: Some(reason) }
    }

    /// Checks the next entry (its hash as stored in `entry.hash`, its detail as stored text); the
    /// verdict if it is bad.
    pub fn push(&mut self, mut entry: AuditEntry, prev_hash: &str, stored_detail: &str) -> Option<AuditVerification> {
        self.count += 1;
        if entry.seq != self.expected_seq {
            let expected = self.expected_seq;
            return Some(self.bad(expected, format!("entry {expected} is missing (next is {})", entry.seq)));
        }
        if prev_hash != self.prev {
            return Some(self.bad(entry.seq, "its link to the previous entry is broken".into()));
        }
        let claimed = std::mem::take(&mut entry.hash);
        if entry_hash(self.key, &self.prev, &entry, stored_detail) != claimed {
            return Some(self.bad(entry.seq, "its content does not match its hash (edited)".into()));
        }
        self.prev = claimed;
        self.expected_seq += 1;
        None
    }

    /// The verdict once every entry was pushed, given the recorded head (`"seq:hash"`, `None` if empty).
    pub fn finish(self, head: Option<String>) -> AuditVerification {
        let last = self.expected_seq - 1;
        let expected_head = if last == 0 { None } else { Some(format!("{last}:{}", self.prev)) };
        if head != expected_head {
            let head_seq = head.as_deref().and_then(|h| h.split(':').next()).and_then(|s| s.parse::<i64>().ok());
            let reason = match head_seq {
                Some(h) if h > last => format!("entries {} to {h} were removed from the end", last + 1),
                _ => "the recorded head of the log does not match its last entry".into(),
            };
            return self.bad(last + 1, reason);
        }
        AuditVerification { entries: self.count, intact: true, first_bad: None, reason: None }
    }
}

/// Entries matching the filter, oldest first (the newest `limit` when limited).
pub(crate) fn list(conn: &rusqlite::Connection, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
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
