//! Consent in the SQLite store: records, grants, revocations and the purge of expired consent.

use super::store::{subject_exists, subject_template_ids, Store, ACTIVE};
use crate::error::StoreError;
use crate::events;
use crate::model::{Consent, ConsentGrant, PurgeReport};
use crate::rules::{self, validate_subject_id};
use crate::time_util;
use rusqlite::params;

impl Store {
    /// A subject's consent records, oldest first.
    pub fn consents(&self, subject_id: &str) -> Result<Vec<Consent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at FROM consents
             WHERE subject_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([subject_id], |r| consent_from_row(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a further consent for an enrolled subject (audited as `consent-grant`).
    pub fn grant_consent(&self, subject_id: &str, consent: &ConsentGrant, actor: &str) -> Result<Consent, StoreError> {
        validate_subject_id(subject_id)?;
        rules::check_grant(consent)?;
        let now = time_util::now();
        let id = self.write(|w| {
            let tx = &w.tx;
            if !subject_exists(tx, subject_id)? {
                return Err(StoreError::UnknownSubject(subject_id.to_string()));
            }
            let active: bool = tx.query_row(
                &format!("SELECT EXISTS(SELECT 1 FROM consents WHERE subject_id = ?1 AND {ACTIVE} AND purpose = ?3)"),
                params![subject_id, now, consent.purpose],
                |r| r.get(0),
            )?;
            if active {
                return Err(rules::already_granted(subject_id, &consent.purpose));
            }
            tx.execute(
                "INSERT INTO consents (subject_id, purpose, legal_basis, evidence, granted_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![subject_id, consent.purpose, consent.legal_basis, consent.evidence, now, consent.expires_at],
            )?;
            let id = tx.last_insert_rowid();
            w.audit(events::consent_granted(actor, subject_id, id, consent))?;
            Ok(id)
        })?;
        self.consents(subject_id)?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| StoreError::Invalid(format!("consent {id} vanished after it was written")))
    }

    /// Revokes a subject's consent (for one purpose, or all). Templates go when no active consent is
    /// left. Returns the removed template ids.
    pub fn revoke_consent(&self, subject_id: &str, purpose: Option<&str>, actor: &str) -> Result<Vec<i64>, StoreError> {
        validate_subject_id(subject_id)?;
        let now = time_util::now();
        let removed = self.write(|w| {
            let tx = &w.tx;
            if !subject_exists(tx, subject_id)? {
                return Err(StoreError::UnknownSubject(subject_id.to_string()));
            }
            let revoked = tx.execute(
                &format!(
                    "UPDATE consents SET revoked_at = ?2 WHERE subject_id = ?1 AND {ACTIVE} AND (?3 IS NULL OR purpose = ?3)"
                ),
                params![subject_id, now, purpose],
            )?;
            if revoked == 0 {
                return Err(StoreError::NoConsent(subject_id.to_string(), purpose.unwrap_or("any").to_string()));
            }
            let removed = remove_templates_without_consent(tx, subject_id, &now)?;
            w.audit(events::consent_revoked(actor, subject_id, purpose, revoked as u64, removed.len()))?;
            Ok(removed)
        })?;
        if !removed.is_empty() {
            self.checkpoint()?;
        }
        Ok(removed)
    }

    /// Removes the templates of every subject whose consents have all expired or been revoked.
    pub fn purge_expired(&self, actor: &str) -> Result<(PurgeReport, Vec<i64>), StoreError> {
        let now = time_util::now();
        let (subjects, removed) = self.write(|w| {
            let tx = &w.tx;
            let subjects: Vec<String> = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT DISTINCT t.subject_id FROM templates t WHERE NOT EXISTS
                 (SELECT 1 FROM consents WHERE subject_id = t.subject_id AND {})",
                    ACTIVE.replace("?2", "?1")
                ))?;
                let rows = stmt.query_map([&now], |r| r.get(0))?.collect::<Result<_, _>>()?;
                rows
            };
            let mut removed = Vec::new();
            for s in &subjects {
                let ids = remove_templates_without_consent(tx, s, &now)?;
                w.audit(events::purged(actor, s, ids.len()))?;
                removed.extend(ids);
            }
            Ok((subjects, removed))
        })?;
        if !removed.is_empty() {
            self.checkpoint()?;
        }
        Ok((PurgeReport { subjects, templates_removed: removed.len() }, removed))
    }
}

/// A consent from the columns `id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at`,
/// starting at column `first`.
pub(crate) fn consent_from_row(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Consent> {
    Ok(Consent {
        id: r.get(first)?,
        purpose: r.get(first + 1)?,
        legal_basis: r.get(first + 2)?,
        evidence: r.get(first + 3)?,
        granted_at: r.get(first + 4)?,
        expires_at: r.get(first + 5)?,
        revoked_at: r.get(first + 6)?,
    })
}

/// Deletes a subject's templates if it has no active consent left; returns their ids.
fn remove_templates_without_consent(
    tx: &rusqlite::Transaction<'_>,
    subject_id: &str,
    now: &str,
) -> Result<Vec<i64>, StoreError> {
    let active: bool = tx.query_row(
        &format!("SELECT EXISTS(SELECT 1 FROM consents WHERE subject_id = ?1 AND {ACTIVE})"),
        params![subject_id, now],
        |r| r.get(0),
    )?;
    if active {
        return Ok(Vec::new());
    }
    let ids = subject_template_ids(tx, subject_id)?;
    tx.execute("DELETE FROM templates WHERE subject_id = ?1", [subject_id])?;
    Ok(ids)
}
