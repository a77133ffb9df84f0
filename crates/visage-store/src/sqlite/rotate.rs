//! Key rotation of the SQLite store: every template and secret re-encrypted in one transaction.

use super::secrets::put_secrets;
use super::store::Store;
use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::events;
use crate::keys::{PendingKey, StoreKey};
use rusqlite::params;

impl Store {
    /// Re-encrypts every template and the store's secrets under `new_key` in one transaction, then
    /// saves the new key (to the key file, when the current key came from one; see [`PendingKey`]).
    pub fn rotate_key(&mut self, new_key: StoreKey, actor: &str) -> Result<StoreKey, StoreError> {
        let pending = PendingKey::stage(&self.key, new_key)?;
        let new_templates = Cipher::new(pending.key(), "templates");
        self.write(|w| {
            let rows: Vec<(i64, String, Vec<u8>, Vec<u8>)> = {
                let mut stmt = w.tx.prepare("SELECT id, subject_id, nonce, ciphertext FROM templates")?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?;
                rows
            };
            for (id, subject, nonce, ct) in &rows {
                let sealed = self.templates.reseal_template(&new_templates, *id, subject, nonce, ct)?;
                w.tx.execute(
                    "UPDATE templates SET nonce = ?2, ciphertext = ?3 WHERE id = ?1",
                    params![id, sealed.nonce, sealed.ciphertext],
                )?;
            }
            put_secrets(&w.tx, pending.key(), &self.audit_key)?;
            w.audit(events::key_rotated(actor, rows.len()))
        })?;
        let new_key = pending.install()?;
        self.templates = new_templates;
        self.key = new_key.clone();
        Ok(new_key)
    }
}
