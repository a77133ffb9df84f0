//! The SQLite store's subject pseudonyms (see [`crate::pseudonyms`]): get or create one inside a write
//! transaction, find the subjects of pseudonyms, and forget one at erasure.

use crate::error::StoreError;
use crate::pseudonyms::new_pseudonym;
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;

/// The subject's pseudonym, created if it has none.
pub(super) fn get_or_create(conn: &Connection, subject: &str) -> Result<String, StoreError> {
    if let Some(p) = lookup(conn, subject)? {
        return Ok(p);
    }
    let p = new_pseudonym();
    conn.prepare_cached("INSERT INTO subject_pseudonyms (subject_id, pseudonym) VALUES (?1, ?2)")?
        .execute([subject, &p])?;
    Ok(p)
}

/// The subject's pseudonym, if it has one.
pub(super) fn lookup(conn: &Connection, subject: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT pseudonym FROM subject_pseudonyms WHERE subject_id = ?1")?
        .query_row([subject], |r| r.get(0))
        .optional()?)
}

/// Pseudonym → subject id for those of `pseudonyms` whose subject is still known.
pub(super) fn known(conn: &Connection, pseudonyms: &[String]) -> Result<HashMap<String, String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT subject_id FROM subject_pseudonyms WHERE pseudonym = ?1")?;
    let mut out = HashMap::new();
    for p in pseudonyms {
        if let Some(id) = stmt.query_row([p], |r| r.get::<_, String>(0)).optional()? {
            out.insert(p.clone(), id);
        }
    }
    Ok(out)
}

/// Destroys the link between the subject and its audit entries (erasure).
pub(super) fn forget(conn: &Connection, subject: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM subject_pseudonyms WHERE subject_id = ?1", [subject])?;
    Ok(())
}

/// Every (subject id, pseudonym), for a migration to another store.
pub(super) fn all(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare("SELECT subject_id, pseudonym FROM subject_pseudonyms ORDER BY subject_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    Ok(rows)
}
