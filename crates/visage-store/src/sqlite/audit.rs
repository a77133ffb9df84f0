//! The SQLite store's audit log: entries on their own, listing and verification.

use super::chain::{list, verify};
use super::store::Store;
use crate::audit::{AuditEntry, AuditFilter, AuditVerification};
use crate::error::StoreError;

impl Store {
    /// Appends an audit entry on its own (reads such as identify and verify, refusals).
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<i64, StoreError> {
        self.write(|w| w.audit(actor, action, subject, outcome, detail))
    }

    pub fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        list(&self.conn(), filter)
    }

    /// Checks the whole audit chain.
    pub fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        verify(&self.conn(), &self.audit_key)
    }
}
