//! The audit log: append-only, hash-chained with an HMAC under a key only the store holds.
//!
//! Each entry's hash is `HMAC(audit key, previous hash ‖ its own fields)`. Editing an entry breaks its
//! hash; inserting or deleting one breaks the sequence or the next entry's link; and without the key no
//! one can compute a new valid chain. The latest sequence number and hash are also kept in `meta`, so
//! cutting entries off the end is found too (unless `meta` is rolled back with them, which restores an
//! earlier, consistent log: keep backups of the key elsewhere to anchor it).

use hmac::{Hmac, Mac};
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
