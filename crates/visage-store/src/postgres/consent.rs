//! Consent in the PostgreSQL gallery: records, grants, revocations and the purge of expired consent.

use super::store::{subject_exists, template_ids, PgStore, ACTIVE};
use crate::error::StoreError;
use crate::events;
use crate::model::{Consent, ConsentGrant, PurgeReport};
use crate::rules::{self, validate_subject_id};
use crate::time_util;
use postgres::{Row, Transaction};

impl PgStore {
    pub(super) fn consents(&self, subject_id: &str) -> Result<Vec<Consent>, StoreError> {
        self.with(|c| {
            Ok(c.query(
                "SELECT id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at FROM consents
                 WHERE subject_id = $1 ORDER BY id",
                &[&subject_id],
            )?
            .iter()
            .map(row_to_consent)
            .collect())
        })
    }

    pub(super) fn grant_consent(
        &self,
        subject_id: &str,
        consent: &ConsentGrant,
        actor: &str,
    ) -> Result<Consent, StoreError> {
        validate_subject_id(subject_id)?;
        rules::check_grant(consent)?;
        let now = time_util::now();
        self.write(|tx, audit| {
            if !subject_exists(tx, subject_id)? {
                return Err(StoreError::UnknownSubject(subject_id.to_string()));
            }
            let active: bool = tx
                .query_one(
                    &format!(
                        "SELECT EXISTS(SELECT 1 FROM consents WHERE subject_id = $1 AND {ACTIVE} AND purpose = $3)"
                    ),
                    &[&subject_id, &now, &consent.purpose],
                )?
                .get(0);
            if active {
                return Err(rules::already_granted(subject_id, &consent.purpose));
            }
            let row = tx.query_one(
                "INSERT INTO consents (subject_id, purpose, legal_basis, evidence, granted_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 RETURNING id, purpose, legal_basis, evidence, granted_at, expires_at, revoked_at",
                &[&subject_id, &consent.purpose, &consent.legal_basis, &consent.evidence, &now, &consent.expires_at],
            )?;
            let granted = row_to_consent(&row);
            audit.append(tx, events::consent_granted(actor, subject_id, granted.id, consent))?;
            Ok(granted)
        })
    }

    pub(super) fn revoke_consent(
        &self,
        subject_id: &str,
        purpose: Option<&str>,
        actor: &str,
    ) -> Result<Vec<i64>, StoreError> {
        validate_subject_id(subject_id)?;
        let now = time_util::now();
        self.write(|tx, audit| {
            if !subject_exists(tx, subject_id)? {
                return Err(StoreError::UnknownSubject(subject_id.to_string()));
            }
            let revoked = tx.execute(
                &format!(
                    "UPDATE consents SET revoked_at = $2 WHERE subject_id = $1 AND {ACTIVE}
                     AND ($3::text IS NULL OR purpose = $3)"
                ),
                &[&subject_id, &now, &purpose],
            )?;
            if revoked == 0 {
                return Err(StoreError::NoConsent(subject_id.to_string(), purpose.unwrap_or("any").to_string()));
            }
            let removed = remove_templates_without_consent(tx, subject_id, &now)?;
            audit.append(tx, events::consent_revoked(actor, subject_id, purpose, revoked, removed.len()))?;
            Ok(removed)
        })
    }

    pub(super) fn purge_expired(&self, actor: &str) -> Result<(PurgeReport, Vec<i64>), StoreError> {
        let now = time_util::now();
        let (subjects, removed) = self.write(|tx, audit| {
            let subjects: Vec<String> = tx
                .query(
                    &format!(
                        "SELECT DISTINCT t.subject_id FROM templates t WHERE NOT EXISTS
                         (SELECT 1 FROM consents WHERE subject_id = t.subject_id AND {}) ORDER BY 1",
                        ACTIVE.replace("$2", "$1")
                    ),
                    &[&now],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let mut removed = Vec::new();
            for s in &subjects {
                let ids = remove_templates_without_consent(tx, s, &now)?;
                audit.append(tx, events::purged(actor, s, ids.len()))?;
                removed.extend(ids);
            }
            Ok((subjects, removed))
        })?;
        Ok((PurgeReport { subjects, templates_removed: removed.len() }, removed))
    }
}

pub(super) fn row_to_consent(r: &Row) -> Consent {
    Consent {
        id: r.get(0),
        purpose: r.get(1),
        legal_basis: r.get(2),
        evidence: r.get(3),
        granted_at: r.get(4),
        expires_at: r.get(5),
        revoked_at: r.get(6),
    }
}

/// Deletes a subject's templates if it has no active consent left; returns their ids.
fn remove_templates_without_consent(
    tx: &mut Transaction<'_>,
    subject_id: &str,
    now: &str,
) -> Result<Vec<i64>, StoreError> {
    let active: bool = tx
        .query_one(
            &format!("SELECT EXISTS(SELECT 1 FROM consents WHERE subject_id = $1 AND {ACTIVE})"),
            &[&subject_id, &now],
        )?
        .get(0);
    if active {
        return Ok(Vec::new());
    }
    let ids = template_ids(tx, subject_id)?;
    tx.execute("DELETE FROM templates WHERE subject_id = $1", &[&subject_id])?;
    Ok(ids)
}
