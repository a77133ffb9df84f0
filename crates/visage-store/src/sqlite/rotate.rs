//! Key rotation of the SQLite store: every template and secret re-encrypted in one transaction.

use super::chain;
use super::secrets::put_sealed;
use super::store::Store;
use crate::crypto::{Cipher, KEY_CHECK};
use crate::error::StoreError;
use crate::keys::{write_key_file, KeySource, StoreKey};
use rusqlite::{params, TransactionBehavior};
use zeroize::Zeroizing;

impl Store {
    /// Re-encrypts every template and the store's secrets under `new_key` in one transaction, then
    /// saves the new key (to the key file, when the current key came from one). The new key is written
    /// beside the old file before the commit, so a crash at any point leaves a key that opens the store.
    pub fn rotate_key(&mut self, new_key: StoreKey, actor: &str) -> Result<StoreKey, StoreError> {
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
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<(i64, String, Vec<u8>, Vec<u8>)> = {
            let mut stmt = tx.prepare("SELECT id, subject_id, nonce, ciphertext FROM templates")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<Result<_, _>>()?;
            rows
        };
        for (id, subject, nonce, ct) in &rows {
            let plain = Zeroizing::new(
                self.templates.open(nonce, ct, subject.as_bytes()).ok_or(StoreError::TemplateTampered(*id))?,
            );
            let sealed = new_templates.seal(&plain, subject.as_bytes());
            tx.execute(
                "UPDATE templates SET nonce = ?2, ciphertext = ?3 WHERE id = ?1",
                params![id, sealed.nonce, sealed.ciphertext],
            )?;
        }
        put_sealed(&tx, &new_meta, "key_check", KEY_CHECK)?;
        put_sealed(&tx, &new_meta, "audit_key", &self.audit_key)?;
        chain::append(
            &tx,
            &self.audit_key,
            actor,
            "key-rotate",
            None,
            "ok",
            serde_json::json!({"templates": rows.len()}),
        )?;
        tx.commit()?;
        drop(conn);
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
