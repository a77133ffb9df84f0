//! The PostgreSQL store's subject pseudonyms (see [`crate::pseudonyms`]): get or create one inside a
//! write transaction, find the subjects of pseudonyms, and forget one at erasure.

use crate::error::StoreError;
use crate::pseudonyms::new_pseudonym;
use postgres::GenericClient;
use std::collections::HashMap;

/// The subject's pseudonym, created if it has none (write transactions are serialised on the audit
/// head, so two cannot create one for the same subject at once).
pub(super) fn get_or_create(c: &mut impl GenericClient, subject: &str) -> Result<String, StoreError> {
    if let Some(p) = lookup(c, subject)? {
        return Ok(p);
    }
    let p = new_pseudonym();
    c.execute("INSERT INTO subject_pseudonyms (subject_id, pseudonym) VALUES ($1, $2)", &[&subject, &p])?;
    Ok(p)
}

/// The subject's pseudonym, if it has one.
pub(super) fn lookup(c: &mut impl GenericClient, subject: &str) -> Result<Option<String>, StoreError> {
    let row = c.query_opt("SELECT pseudonym FROM subject_pseudonyms WHERE subject_id = $1", &[&subject])?;
    Ok(row.map(|r| r.get(0)))
}

/// Pseudonym → subject id for those of `pseudonyms` whose subject is still known.
pub(super) fn known(c: &mut impl GenericClient, pseudonyms: &[String]) -> Result<HashMap<String, String>, StoreError> {
    let rows =
        c.query("SELECT pseudonym, subject_id FROM subject_pseudonyms WHERE pseudonym = ANY($1)", &[&pseudonyms])?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Destroys the link between the subject and its audit entries (erasure).
pub(super) fn forget(c: &mut impl GenericClient, subject: &str) -> Result<(), StoreError> {
    c.execute("DELETE FROM subject_pseudonyms WHERE subject_id = $1", &[&subject])?;
    Ok(())
}

/// Every (subject id, pseudonym), for a migration to another store.
pub(super) fn all(c: &mut impl GenericClient) -> Result<Vec<(String, String)>, StoreError> {
    let rows = c.query("SELECT subject_id, pseudonym FROM subject_pseudonyms ORDER BY subject_id", &[])?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
