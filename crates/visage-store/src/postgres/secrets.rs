//! The PostgreSQL gallery's secrets in `meta`: the key check, the audit key and the template mode.

use crate::crypto::{split, Cipher, KEY_CHECK};
use crate::error::StoreError;
use crate::keys::StoreKey;
use crate::model::TemplateMode;
use postgres::{Client, Transaction};
use zeroize::Zeroizing;

/// Checks the key (or writes the key check, the audit key and the template mode into a new gallery).
pub(super) fn unlock(
    client: &mut Client,
    key: &StoreKey,
    mode: TemplateMode,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let meta = Cipher::new(key, "meta");
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock(7346552)", &[])?;
    let mut get = |k: &str| -> Result<Option<Vec<u8>>, StoreError> {
        Ok(tx.query_opt("SELECT value FROM meta WHERE key = $1", &[&k])?.map(|r| r.get(0)))
    };
    let (check, audit_key, stored_mode) = (get("key_check")?, get("audit_key")?, get("template_mode")?);
    let result = match (check, audit_key) {
        (Some(check), Some(sealed_audit)) => {
            let opened = split(&check).and_then(|(n, c)| meta.open(n, c, b"key_check"));
            if opened.as_deref() != Some(KEY_CHECK) {
                return Err(StoreError::WrongKey { origin: key.origin() });
            }
            let stored = String::from_utf8_lossy(&stored_mode.unwrap_or_default()).to_string();
            if stored != mode.to_string() {
                return Err(StoreError::Invalid(format!(
                    "this PostgreSQL gallery keeps {stored} templates, but {mode} was asked for \
                     (set VISAGE_PG_TEMPLATES={stored}, or migrate into a new database)"
                )));
            }
            let audit = split(&sealed_audit)
                .and_then(|(n, c)| meta.open(n, c, b"audit_key"))
                .ok_or_else(|| StoreError::Invalid("the stored audit key is damaged".into()))?;
            Zeroizing::new(audit)
        }
        (None, None) => {
            let audit = Zeroizing::new(StoreKey::generate().derive("audit").to_vec());
            put_sealed(&mut tx, &meta, "key_check", KEY_CHECK)?;
            put_sealed(&mut tx, &meta, "audit_key", &audit)?;
            put(&mut tx, "template_mode", mode.to_string().as_bytes())?;
            audit
        }
        _ => return Err(StoreError::Invalid("the store's key records are incomplete".into())),
    };
    tx.commit()?;
    Ok(result)
}

fn put(tx: &mut Transaction<'_>, name: &str, value: &[u8]) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&name, &value],
    )?;
    Ok(())
}

pub(super) fn put_sealed(
    tx: &mut Transaction<'_>,
    cipher: &Cipher,
    name: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    let sealed = cipher.seal(value, name.as_bytes());
    let mut blob = sealed.nonce;
    blob.extend_from_slice(&sealed.ciphertext);
    put(tx, name, &blob)
}
