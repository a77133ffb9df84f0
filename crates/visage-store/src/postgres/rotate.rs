//! Key rotation of the PostgreSQL gallery: encrypted templates and secrets re-encrypted in one
//! transaction.

use super::secrets::put_sealed;
use super::store::PgStore;
use crate::crypto::{Cipher, KEY_CHECK};
use crate::error::StoreError;
use crate::keys::{write_key_file, KeySource, StoreKey};
use zeroize::Zeroizing;

impl PgStore {
    pub(super) fn rotate_key(&mut self, new_key: StoreKey, actor: &str) -> Result<StoreKey, StoreError> {
        let key_file = match self.key.source() {
            KeySource::File(p) => Some(p.clone()),
            _ => None,
        };
        let pending = key_file.as_ref().map(|p| p.with_extension("key.new"));
        if let Some(p) = &pending {
            write_key_file(p, &new_key)?;
        }
        let new_templates = Cipher::new(&new_key, "templates");
        let new_meta = Cipher::new(&new_key, "meta");
        let old_templates = &self.templates;
        let audit_key = self.audit_key.clone();
        self.write(|tx, audit| {
            let rows =
                tx.query("SELECT id, subject_id, nonce, ciphertext FROM templates WHERE ciphertext IS NOT NULL", &[])?;
            for r in &rows {
                let (id, subject, nonce, ct): (i64, String, Vec<u8>, Vec<u8>) =
                    (r.get(0), r.get(1), r.get(2), r.get(3));
                let plain = Zeroizing::new(
                    old_templates.open(&nonce, &ct, subject.as_bytes()).ok_or(StoreError::TemplateTampered(id))?,
                );
                let sealed = new_templates.seal(&plain, subject.as_bytes());
                tx.execute(
                    "UPDATE templates SET nonce = $2, ciphertext = $3 WHERE id = $1",
                    &[&id, &sealed.nonce, &sealed.ciphertext],
                )?;
            }
            put_sealed(tx, &new_meta, "key_check", KEY_CHECK)?;
            put_sealed(tx, &new_meta, "audit_key", &audit_key)?;
            audit.append(tx, actor, "key-rotate", None, "ok", serde_json::json!({"templates": rows.len()}))?;
            Ok(())
        })?;
        let new_key = match (&key_file, &pending) {
            (Some(file), Some(p)) => {
                std::fs::rename(p, file).map_err(|source| StoreError::Io { path: file.clone(), source })?;
                new_key.with_source(KeySource::File(file.clone()))
            }
            _ => new_key,
        };
        self.templates = new_templates;
        self.key = new_key.clone();
        Ok(new_key)
    }
}
