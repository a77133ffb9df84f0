//! The audit log: append-only, hash-chained with an HMAC under a key only the store holds.
//!
//! Each entry's hash is `HMAC(audit key, previous hash ‖ its own fields)`. Editing an entry breaks its
//! hash; inserting or deleting one breaks the sequence or the next entry's link; and without the key no
//! one can compute a new valid chain. The latest sequence number and hash are also kept by the backend
//! (the "head"), so cutting entries off the end is found too (unless the head is rolled back with them,
//! which restores an earlier, consistent log: keep backups of the key elsewhere to anchor it).
//!
//! This module is the chain's one definition for every backend: [`AuditEvent`] is what a caller
//! records, [`AuditRow`] the row a backend stores (built, numbered and hashed only here), and
//! [`ChainCheck`] the verification. Backends only move rows in and out of their tables.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// The `prev_hash` of the first entry, and the head of an empty log.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something to record in the audit log: who did what, to which subject, how it ended, and facts as JSON
/// (counts, similarity, reasons; never biometric data).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Who acted (`cli`, `svc:<key id>`, ...).
    pub actor: String,
    /// What was done (`enroll`, `identify`, `delete`, ...).
    pub action: String,
    /// The subject concerned, if one is.
    pub subject: Option<String>,
    /// How it ended (`ok`, `match`, `unknown`, `refused-spoof`, ...).
    pub outcome: String,
    /// Extra facts; `{}` when there are none.
    pub detail: serde_json::Value,
    /// The keys of `detail` whose values are subject ids (stored as pseudonyms, see
    /// [`crate::pseudonyms`]).
    pub names: Vec<String>,
}

impl AuditEvent {
    /// An event with the given outcome, about no subject, with no detail (`{}`).
    pub fn new(actor: &str, action: &str, outcome: &str) -> AuditEvent {
        AuditEvent {
            actor: actor.to_string(),
            action: action.to_string(),
            subject: None,
            outcome: outcome.to_string(),
            detail: serde_json::json!({}),
            names: Vec::new(),
        }
    }

    /// An event that ended `ok`.
    pub fn ok(actor: &str, action: &str) -> AuditEvent {
        AuditEvent::new(actor, action, "ok")
    }

    /// The same event about `subject`.
    pub fn subject(mut self, subject: &str) -> AuditEvent {
        self.subject = Some(subject.to_string());
        self
    }

    /// The same event about `subject` when there is one.
    pub fn subject_opt(mut self, subject: Option<&str>) -> AuditEvent {
        self.subject = subject.map(str::to_string);
        self
    }

    /// The same event with `detail` as its facts (set before [`AuditEvent::naming`]).
    pub fn detail(mut self, detail: serde_json::Value) -> AuditEvent {
        self.detail = detail;
        self
    }

    /// The same event with `detail[key]` naming another subject (stored as its pseudonym).
    pub fn naming(mut self, key: &str, subject: &str) -> AuditEvent {
        if let Some(map) = self.detail.as_object_mut() {
            map.insert(key.to_string(), subject.into());
            self.names.push(key.to_string());
        }
        self
    }
}

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

/// An audit row exactly as every backend stores it: the detail as text, so no number is re-formatted
/// between writing and checking, and its link to the previous entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AuditRow {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub outcome: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    /// The row recording `event` after the chain's head (`prev_seq`, `prev_hash`; 0 and [`GENESIS`]
    /// for an empty log): numbered, timed now and hashed.
    pub fn chained(event: AuditEvent, key: &[u8], prev_seq: i64, prev_hash: String) -> AuditRow {
        let mut row = AuditRow {
            seq: prev_seq + 1,
            time: crate::time_util::now(),
            actor: event.actor,
            action: event.action,
            subject: event.subject,
            outcome: event.outcome,
            detail: event.detail.to_string(),
            prev_hash,
            hash: String::new(),
        };
        row.hash = row.expected_hash(key);
        row
    }

    /// The HMAC of the row's fields and its link. A JSON array is an unambiguous encoding of the fields
    /// (no separator can be forged); its bytes are those every existing log was written with.
    fn expected_hash(&self, key: &[u8]) -> String {
        let fields = serde_json::json!([
            self.prev_hash,
            self.seq,
            self.time,
            self.actor,
            self.action,
            self.subject,
            self.outcome,
            self.detail
        ]);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        mac.update(fields.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The entry as shown to users (the detail parsed back into JSON).
    pub fn entry(&self) -> AuditEntry {
        AuditEntry {
            seq: self.seq,
            time: self.time.clone(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            subject: self.subject.clone(),
            outcome: self.outcome.clone(),
            detail: serde_json::from_str(&self.detail)
                .unwrap_or_else(|_| serde_json::Value::String(self.detail.clone())),
            hash: self.hash.clone(),
        }
    }

    /// The head of a log ending with this row, as recorded (`"seq:hash"`).
    pub fn head(&self) -> String {
        format!("{}:{}", self.seq, self.hash)
    }
}

/// Checks a chain row by row, oldest first, whatever the backend reads it from.
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

    /// Checks the next row as stored; the verdict if it is bad.
    pub fn push(&mut self, row: &AuditRow) -> Option<AuditVerification> {
        self.count += 1;
        if row.seq != self.expected_seq {
            let expected = self.expected_seq;
            return Some(self.bad(expected, format!("entry {expected} is missing (next is {})", row.seq)));
        }
        if row.prev_hash != self.prev {
            return Some(self.bad(row.seq, "its link to the previous entry is broken".into()));
        }
        if row.expected_hash(self.key) != row.hash {
            return Some(self.bad(row.seq, "its content does not match its hash (edited)".into()));
        }
        self.prev = row.hash.clone();
        self.expected_seq += 1;
        None
    }

    /// The verdict once every row was pushed, given the recorded head (`"seq:hash"`, `None` if empty).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, prev_hash: &str, detail: &str) -> AuditRow {
        AuditRow {
            seq,
            time: "2026-12-01T10:00:00Z".into(),
            actor: "cli".into(),
            action: "identify".into(),
            subject: (seq == 1).then(|| "alice".to_string()),
            outcome: "match".into(),
            detail: detail.into(),
            prev_hash: prev_hash.into(),
            hash: String::new(),
        }
    }

    /// The hashes of a fixed chain, computed outside Rust (Python's `hmac` over the compact JSON array
    /// `[prev, seq, time, actor, action, subject, outcome, detail]`, the encoding every existing log was
    /// written with): a change to the hashed bytes would make every existing log fail to verify.
    #[test]
    fn hashes_are_those_of_existing_logs() {
        let key = [7u8; 32];
        let mut first = row(1, GENESIS, r#"{"faces":1,"similarity":0.9332224}"#);
        first.hash = first.expected_hash(&key);
        let mut second = row(2, &first.hash, r#"{"name":"é\"\\","ratio":1e-7}"#);
        second.hash = second.expected_hash(&key);
        assert_eq!(first.hash, "47dd21c09975312ba776a9e4c60bba96e009033caf818804d3b488c08a8f9d51");
        assert_eq!(second.hash, "d6f688dbd2f1cf2fbd5e30ef2ac6030e48f807f980ced73a3fa4500a3286e52a");
        let mut chain = ChainCheck::new(&key);
        assert_eq!(chain.push(&first), None);
        assert_eq!(chain.push(&second), None);
        assert!(chain.finish(Some(second.head())).intact);
    }

    #[test]
    fn chained_rows_link_and_verify_and_edits_are_found() {
        let key = b"k";
        let a = AuditRow::chained(AuditEvent::ok("cli", "enroll").subject("bob"), key, 0, GENESIS.into());
        let b = AuditRow::chained(
            AuditEvent::new("cli", "identify", "unknown").detail(serde_json::json!({"faces": 2})),
            key,
            a.seq,
            a.hash.clone(),
        );
        assert_eq!((a.seq, b.seq, a.detail.as_str(), b.prev_hash.as_str()), (1, 2, "{}", a.hash.as_str()));
        assert_eq!(b.entry().detail, serde_json::json!({"faces": 2}));
        let mut chain = ChainCheck::new(key);
        assert!(chain.push(&a).is_none() && chain.push(&b).is_none());
        assert!(chain.finish(Some(b.head())).intact);
        let mut edited = b.clone();
        edited.outcome = "match".into();
        let mut chain = ChainCheck::new(key);
        chain.push(&a);
        assert_eq!(chain.push(&edited).and_then(|v| v.first_bad), Some(2));
    }
}
