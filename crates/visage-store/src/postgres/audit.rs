//! The PostgreSQL gallery's audit log: entries on their own, listing and verification.

use super::chain::{self, COLUMNS};
use super::pseudonyms;
use super::store::PgStore;
use crate::audit::{AuditEntry, AuditEvent, AuditFilter, AuditVerification, ChainCheck};
use crate::error::StoreError;

impl PgStore {
    /// Appends an audit entry on its own.
    pub(super) fn audit(&self, event: AuditEvent) -> Result<i64, StoreError> {
        self.write(|tx, audit| audit.append(tx, event))
    }

    /// Entries matching the filter, oldest first (the newest `limit` when limited).
    pub(super) fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = filter.limit.map(|l| l as i64);
        self.with(|c| {
            // A subject's entries are stored under its pseudonym (older ones under its id).
            let pseudonym = match &filter.subject {
                Some(s) => pseudonyms::lookup(c, s)?,
                None => None,
            };
            let rows = c.query(
                &format!(
                    "SELECT {COLUMNS} FROM audit
                     WHERE ($1::text IS NULL OR subject = $1 OR subject = $5) AND ($2::text IS NULL OR action = $2)
                       AND ($3::text IS NULL OR time >= $3)
                     ORDER BY seq DESC LIMIT $4"
                ),
                &[&filter.subject, &filter.action, &filter.since, &limit, &pseudonym],
            )?;
            let mut entries: Vec<AuditEntry> = rows.iter().rev().map(|r| chain::from_row(r).entry()).collect();
            let known = pseudonyms::known(c, &crate::pseudonyms::found_in(&entries))?;
            crate::pseudonyms::resolve(&mut entries, &known);
            Ok(entries)
        })
    }

    /// Checks the whole chain in one snapshot (entries and head), so concurrent appends do not look like
    /// damage; rows are read in batches.
    pub(super) fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let key = &self.audit_key;
        self.with(|c| {
            let mut tx = c.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).start()?;
            let mut chain = ChainCheck::new(key);
            let portal = tx.bind(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"), &[])?;
            loop {
                let rows = tx.query_portal(&portal, 10_000)?;
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    if let Some(bad) = chain.push(&chain::from_row(r)) {
                        return Ok(bad);
                    }
                }
            }
            let head = chain::head(&mut tx)?;
            tx.commit()?;
            Ok(chain.finish(head))
        })
    }
}
