//! Erased subjects are unlinkable in the audit log (crypto-shredding). The log never stores a subject
//! id: each subject gets a random pseudonym the first time an entry names it, kept in the store's
//! `subject_pseudonyms` table, and entries store the pseudonym (in their `subject` column and wherever
//! their detail names a subject). Reading the log puts the ids back while the subject exists. Erasure
//! deletes the subject's pseudonym row in the erasure's own transaction: from then on nothing links the
//! entries to the person, yet every entry is unchanged, so `audit verify` still passes. An auditor can
//! still see that one unnamed subject was enrolled, identified, exported and erased, when, by whom and
//! with what outcome. Entries written before this (schema versions without the table) keep the ids.
//!
//! This module holds the rules; each backend holds its table's SQL.

use crate::audit::{AuditEntry, AuditEvent};
use crate::error::StoreError;
use std::collections::HashMap;

/// Every pseudonym starts so: `subj-` and 32 hex digits of randomness.
const PREFIX: &str = "subj-";

/// A new random pseudonym (128 bits, so guessing one is hopeless and two never collide).
pub(crate) fn new_pseudonym() -> String {
    use aes_gcm::aead::rand_core::RngCore;
    let mut bytes = [0u8; 16];
    aes_gcm::aead::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

fn is_pseudonym(text: &str) -> bool {
    text.len() == PREFIX.len() + 32
        && text.starts_with(PREFIX)
        && text[PREFIX.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The event as it is stored: its subject, and each subject its detail names, replaced by the
/// pseudonym `of` gives (a backend's get-or-create inside the event's own transaction).
pub(crate) fn pseudonymise(
    mut event: AuditEvent,
    mut of: impl FnMut(&str) -> Result<String, StoreError>,
) -> Result<AuditEvent, StoreError> {
    if let Some(subject) = event.subject.take() {
        event.subject = Some(of(&subject)?);
    }
    for key in std::mem::take(&mut event.names) {
        let Some(value) = event.detail.get_mut(&key) else { continue };
        for slot in strings_mut(value) {
            if let Some(subject) = slot.as_str() {
                *slot = of(subject)?.into();
            }
        }
    }
    Ok(event)
}

/// A detail value's subject slots: the value itself, or the items of a list.
fn strings_mut(value: &mut serde_json::Value) -> Vec<&mut serde_json::Value> {
    match value {
        serde_json::Value::Array(items) => items.iter_mut().filter(|v| v.is_string()).collect(),
        v if v.is_string() => vec![v],
        _ => Vec::new(),
    }
}

/// The strings of a detail's top-level values and lists.
fn detail_strings(detail: &serde_json::Value) -> impl Iterator<Item = &str> {
    detail.as_object().into_iter().flat_map(|m| m.values()).flat_map(|v| match v {
        serde_json::Value::Array(items) => items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>(),
        other => other.as_str().into_iter().collect(),
    })
}

/// The pseudonyms that entries hold (subject column, top-level detail values and lists).
pub(crate) fn found_in(entries: &[AuditEntry]) -> Vec<String> {
    let mut out: Vec<String> = entries
        .iter()
        .flat_map(|e| e.subject.as_deref().into_iter().chain(detail_strings(&e.detail)))
        .filter(|t| is_pseudonym(t))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Entries as shown: each pseudonym of a subject that still exists (`known`: pseudonym → id) replaced by
/// the subject's id; those of erased subjects stay as they are.
pub(crate) fn resolve(entries: &mut [AuditEntry], known: &HashMap<String, String>) {
    for e in entries {
        if let Some(id) = e.subject.as_ref().and_then(|s| known.get(s)) {
            e.subject = Some(id.clone());
        }
        if let Some(map) = e.detail.as_object_mut() {
            for slot in map.values_mut().flat_map(strings_mut) {
                if let Some(id) = slot.as_str().and_then(|s| known.get(s)) {
                    *slot = id.clone().into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_stored_under_pseudonyms_and_read_back_while_known() {
        let p = new_pseudonym();
        assert!(is_pseudonym(&p) && p != new_pseudonym());
        let event = AuditEvent::new("cli", "enroll", "refused-duplicate")
            .subject("alice")
            .detail(serde_json::json!({"similarity": 0.9, "overridden": ["bob", "alice"]}))
            .naming("matches", "bob");
        let event = AuditEvent { names: vec!["overridden".into(), "matches".into()], ..event };
        let table: HashMap<&str, String> = [("alice", new_pseudonym()), ("bob", new_pseudonym())].into();
        let stored = pseudonymise(event, |s| Ok(table[s].clone())).unwrap();
        assert_eq!(stored.subject.as_deref(), Some(table["alice"].as_str()));
        assert_eq!(stored.detail["matches"], table["bob"]);
        assert_eq!(stored.detail["overridden"], serde_json::json!([table["bob"], table["alice"]]));
        let entry = AuditEntry {
            seq: 1,
            time: String::new(),
            actor: "cli".into(),
            action: "enroll".into(),
            subject: stored.subject.clone(),
            outcome: "refused-duplicate".into(),
            detail: stored.detail.clone(),
            hash: String::new(),
        };
        let mut entries = vec![entry];
        assert_eq!(found_in(&entries).len(), 2);
        // Bob was erased: only Alice's pseudonym is still known.
        resolve(&mut entries, &[(table["alice"].clone(), "alice".to_string())].into());
        assert_eq!(entries[0].subject.as_deref(), Some("alice"));
        assert_eq!(entries[0].detail["matches"], table["bob"], "an erased subject stays unnamed");
        assert_eq!(entries[0].detail["overridden"], serde_json::json!([table["bob"], "alice"]));
    }
}
