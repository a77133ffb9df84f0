//! The SQLite store's secrets in `meta`: the key check and the audit key.

use crate::crypto::{split, Cipher, KEY_CHECK};
use crate::error::StoreError;
use crate::keys::StoreKey;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use zeroize::Zeroizing;

/// Checks the key against the stored key check (writing one for a new store) and returns the audit
/// key (created at random for a new store, kept encrypted under the store key).
pub(super) fn unlock(conn: &mut Connection, key: &StoreKey) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let meta = Cipher::new(key, "meta");
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let get = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(tx.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get(0)).optional()?)
    };
    let (check, audit_key) = (get("key_check")?, get("audit_key")?);
    let result = match (check, audit_key) {
        (Some(check), Some(sealed_audit)) => {
            let opened = split(&check).and_then(|(n, c)| meta.open(n, c, b"key_check"));
            if opened.as_deref() != Some(KEY_CHECK) {
                return Err(StoreError::WrongKey { origin: key.origin() });
            }
            let audit = split(&sealed_audit)
                .and_then(|(n, c)| meta.open(n, c, b"audit_key"))
                .ok_or_else(|| StoreError::Invalid("the stored audit key is damaged".into()))?;
            Zeroizing::new(audit)
        }
        (None, None) => {
            let audit = Zeroizing::new(StoreKey::generate().derive("audit").to_vec());
            put_sealed(&tx, &meta, "key_check", KEY_CHECK)?;
            put_sealed(&tx, &meta, "audit_key", &audit)?;
            audit
        }
        _ => return Err(StoreError::Invalid("the store's key records are incomplete".into())),
    };
    tx.commit()?;
    Ok(result)
}

pub(crate) fn put_sealed(
    tx: &rusqlite::Transaction<'_>,
    cipher: &Cipher,
    name: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    let sealed = cipher.seal(value, name.as_bytes());
    let mut blob = sealed.nonce;
    blob.extend_from_slice(&sealed.ciphertext);
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![name, blob],
    )?;
    Ok(())
}
