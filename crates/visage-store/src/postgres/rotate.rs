//! Key rotation of the PostgreSQL gallery: encrypted templates and secrets re-encrypted in one
//! transaction.

use super::secrets::put_secrets;
use super::store::PgStore;
use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::events;
use crate::keys::{PendingKey, StoreKey};

impl PgStore {
    /// Re-encrypts the encrypted templates and the secrets under `new_key` in one transaction, then
    /// saves the new key (see [`PendingKey`]).
    pub(super) fn rotate_key(&mut self, new_key: StoreKey, actor: &str) -> Result<StoreKey, StoreError> {
        let pending = PendingKey::stage(&self.key, new_key)?;
        let new_templates = Cipher::new(pending.key(), "templates");
        let (old_templates, audit_key, new_key) = (&self.templates, &self.audit_key, pending.key());
        self.write(|tx, audit| {
            let rows =
                tx.query("SELECT id, subject_id, nonce, ciphertext FROM templates WHERE ciphertext IS NOT NULL", &[])?;
            for r in &rows {
                let (id, subject): (i64, String) = (r.get(0), r.get(1));
                let sealed = old_templates.reseal_template(&new_templates, id, &subject, r.get(2), r.get(3))?;
                tx.execute(
                    "UPDATE templates SET nonce = $2, ciphertext = $3 WHERE id = $1",
                    &[&id, &sealed.nonce, &sealed.ciphertext],
                )?;
            }
            put_secrets(tx, new_key, audit_key)?;
            audit.append(tx, events::key_rotated(actor, rows.len()))?;
            Ok(())
        })?;
        let new_key = pending.install()?;
        self.templates = new_templates;
        self.key = new_key.clone();
        Ok(new_key)
    }
}
