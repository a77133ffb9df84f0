//! The PostgreSQL gallery's `meta` records: the sealed secrets (see [`crate::secrets`]) and the
//! template mode the gallery was created with.

use crate::error::StoreError;
use crate::keys::StoreKey;
use crate::model::TemplateMode;
use crate::secrets::{self, AUDIT_KEY_NAME, KEY_CHECK_NAME};
use postgres::{Client, Transaction};
use zeroize::Zeroizing;

/// Checks the key and the template mode and returns the audit key (for a new gallery, creates one at
/// random and writes it, the key check and the template mode).
pub(super) fn unlock(
    client: &mut Client,
    key: &StoreKey,
    mode: TemplateMode,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock(7346552)", &[])?;
    let mut get = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(tx.query_opt("SELECT value FROM meta WHERE key = $1", &[&k])?.map(|r| r.get(0)))
    };
    let (check, sealed_audit, stored_mode) = (get(KEY_CHECK_NAME)?, get(AUDIT_KEY_NAME)?, get("template_mode")?);
    let audit_key = match secrets::unlock(key, check, sealed_audit)? {
        Some(audit_key) => {
            let stored = String::from_utf8_lossy(&stored_mode.unwrap_or_default()).to_string();
            if stored != mode.to_string() {
                return Err(StoreError::Invalid(format!(
                    "this PostgreSQL gallery keeps {stored} templates, but {mode} was asked for \
                     (set VISAGE_PG_TEMPLATES={stored}, or migrate into a new database)"
                )));
            }
            audit_key
        }
        None => {
            let audit_key = secrets::new_audit_key();
            put_secrets(&mut tx, key, &audit_key)?;
            put(&mut tx, "template_mode", mode.to_string().as_bytes())?;
            audit_key
        }
    };
    tx.commit()?;
    Ok(audit_key)
}

/// Writes the key check and the audit key sealed under `key`.
pub(super) fn put_secrets(tx: &mut Transaction<'_>, key: &StoreKey, audit_key: &[u8]) -> Result<(), StoreError> {
    for (name, blob) in secrets::sealed_records(key, audit_key) {
        put(tx, name, &blob)?;
    }
    Ok(())
}

/// Writes one `meta` record.
pub(super) fn put(tx: &mut Transaction<'_>, name: &str, value: &[u8]) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&name, &value],
    )?;
    Ok(())
}
