//! The SQLite store's audit log: entries on their own, listing and verification.

use super::store::Store;
use super::{chain, pseudonyms};
use crate::audit::{AuditEntry, AuditEvent, AuditFilter, AuditVerification, ChainCheck};
use crate::error::StoreError;
use rusqlite::params;
use std::ops::ControlFlow;

impl Store {
    /// Appends an audit entry on its own (reads such as identify and verify, refusals).
    pub fn audit(&self, event: AuditEvent) -> Result<i64, StoreError> {
        self.write(|w| w.audit(event))
    }

    /// Entries matching the filter, oldest first (the newest `limit` when limited), subjects named by
    /// their ids where still known (erased ones stay pseudonyms).
    pub fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = filter.limit.map_or(-1, |l| l as i64);
        let conn = self.conn();
        // A subject's entries are stored under its pseudonym (older ones under its id).
        let pseudonym = match &filter.subject {
            Some(s) => pseudonyms::lookup(&conn, s)?,
            None => None,
        };
        let rows = chain::rows(
            &conn,
            "WHERE (?1 IS NULL OR subject = ?1 OR subject = ?5) AND (?2 IS NULL OR action = ?2)
               AND (?3 IS NULL OR time >= ?3)
             ORDER BY seq DESC LIMIT ?4",
            params![filter.subject, filter.action, filter.since, limit, pseudonym],
        )?;
        let mut entries: Vec<AuditEntry> = rows.iter().rev().map(|r| r.entry()).collect();
        let known = pseudonyms::known(&conn, &crate::pseudonyms::found_in(&entries))?;
        crate::pseudonyms::resolve(&mut entries, &known);
        Ok(entries)
    }

    /// Checks the whole audit chain, in one read transaction (a snapshot).
    pub fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut chain = ChainCheck::new(&self.audit_key);
        let mut bad = None;
        chain::each(&tx, "ORDER BY seq", [], |row| {
            bad = chain.push(&row);
            if bad.is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        let verdict = match bad {
            Some(bad) => bad,
            None => chain.finish(chain::head(&tx)?),
        };
        tx.finish()?;
        Ok(verdict)
    }
}
