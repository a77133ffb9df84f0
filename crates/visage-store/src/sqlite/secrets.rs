//! The SQLite store's `meta` records: reading and writing the sealed secrets (see [`crate::secrets`]).

use crate::error::StoreError;
use crate::keys::StoreKey;
use crate::secrets::{self, AUDIT_KEY_NAME, KEY_CHECK_NAME};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use zeroize::Zeroizing;

/// Checks the key against the stored key check and returns the audit key (for a new store, creates
/// one at random and writes both records).
pub(super) fn unlock(conn: &mut Connection, key: &StoreKey) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let get = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(tx.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0)).optional()?)
    };
    let audit_key = match secrets::unlock(key, get(KEY_CHECK_NAME)?, get(AUDIT_KEY_NAME)?)? {
        Some(audit_key) => audit_key,
        None => {
            let audit_key = secrets::new_audit_key();
            put_secrets(&tx, key, &audit_key)?;
            audit_key
        }
    };
    tx.commit()?;
    Ok(audit_key)
}

/// Writes the key check and the audit key sealed under `key`.
pub(super) fn put_secrets(conn: &Connection, key: &StoreKey, audit_key: &[u8]) -> Result<(), StoreError> {
    for (name, blob) in secrets::sealed_records(key, audit_key) {
        put(conn, name, &blob)?;
    }
    Ok(())
}

/// Writes one `meta` record.
pub(super) fn put(conn: &Connection, name: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}
