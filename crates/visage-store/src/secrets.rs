//! The store's secrets as every backend keeps them in its `meta` table: a key check (a known text
//! sealed under the store key, so a wrong key is refused before anything is read) and the audit key
//! (random, sealed under the store key). Backends only read and write the sealed bytes.

use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::keys::StoreKey;
use zeroize::Zeroizing;

/// The plaintext of the key check.
const KEY_CHECK: &[u8] = b"visage store key check v1";

/// The `meta` names of the two sealed records.
pub(crate) const KEY_CHECK_NAME: &str = "key_check";
pub(crate) const AUDIT_KEY_NAME: &str = "audit_key";

/// `value` sealed under the store key for the `meta` record `name` (bound to that name): nonce ‖ ciphertext.
pub(crate) fn seal(key: &StoreKey, name: &str, value: &[u8]) -> Vec<u8> {
    let sealed = Cipher::new(key, "meta").seal(value, name.as_bytes());
    let mut blob = sealed.nonce;
    blob.extend_from_slice(&sealed.ciphertext);
    blob
}

/// The sealed `meta` record `name` opened with the store key, if it opens.
fn open(key: &StoreKey, name: &str, blob: &[u8]) -> Option<Vec<u8>> {
    (blob.len() > 12).then(|| blob.split_at(12)).and_then(|(n, c)| Cipher::new(key, "meta").open(n, c, name.as_bytes()))
}

/// The records of a store's secrets under `key`: what a new store writes, and a key rotation rewrites.
pub(crate) fn sealed_records(key: &StoreKey, audit_key: &[u8]) -> [(&'static str, Vec<u8>); 2] {
    [(KEY_CHECK_NAME, seal(key, KEY_CHECK_NAME, KEY_CHECK)), (AUDIT_KEY_NAME, seal(key, AUDIT_KEY_NAME, audit_key))]
}

/// A new random audit key.
pub(crate) fn new_audit_key() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(StoreKey::generate().derive("audit").to_vec())
}

/// Checks `key` against the stored key check and opens the stored audit key; `None` for a new store
/// (neither record yet). A wrong key, a damaged audit key or one record without the other is an error.
pub(crate) fn unlock(
    key: &StoreKey,
    key_check: Option<Vec<u8>>,
    audit_key: Option<Vec<u8>>,
) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    match (key_check, audit_key) {
        (Some(check), Some(sealed_audit)) => {
            if open(key, KEY_CHECK_NAME, &check).as_deref() != Some(KEY_CHECK) {
                return Err(StoreError::WrongKey { origin: key.origin() });
            }
            let audit = open(key, AUDIT_KEY_NAME, &sealed_audit)
                .ok_or_else(|| StoreError::Invalid("the stored audit key is damaged".into()))?;
            Ok(Some(Zeroizing::new(audit)))
        }
        (None, None) => Ok(None),
        _ => Err(StoreError::Invalid("the store's key records are incomplete".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlocks_with_the_right_key_only() {
        let key = StoreKey::generate();
        let audit = new_audit_key();
        let [(_, check), (_, sealed)] = sealed_records(&key, &audit);
        let opened = unlock(&key, Some(check.clone()), Some(sealed.clone())).unwrap().unwrap();
        assert_eq!(opened.as_slice(), audit.as_slice());
        assert!(unlock(&key, None, None).unwrap().is_none());
        let other = StoreKey::generate();
        assert!(matches!(unlock(&other, Some(check.clone()), Some(sealed.clone())), Err(StoreError::WrongKey { .. })));
        assert!(unlock(&key, Some(check.clone()), None).is_err());
        // A record sealed for one name does not open as the other.
        assert!(unlock(&key, Some(sealed), Some(check)).is_err());
    }
}
