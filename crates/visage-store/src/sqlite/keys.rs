//! API keys in the SQLite store.

use super::store::Store;
use crate::api_keys::{check_presented, new_key, parse_grants, split_presented, ApiKey};
use crate::error::StoreError;
use crate::events;
use crate::time_util;
use rusqlite::{params, OptionalExtension};

impl Store {
    /// Creates a key with the given scopes, bound to `purposes` (none: unbound); returns it and the full key text, which is not stored.
    pub fn create_api_key(
        &self,
        scopes: &[String],
        purposes: &[String],
        label: Option<&str>,
        actor: &str,
    ) -> Result<(ApiKey, String), StoreError> {
        let (key, secret_hash, text) = new_key(scopes, purposes, label)?;
        self.write(|w| {
            w.tx.execute(
                "INSERT INTO api_keys (id, secret_sha256, scopes, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.id, secret_hash, key.stored_grants(), key.label, key.created_at],
            )?;
            w.audit(events::api_key_created(actor, &key))
        })?;
        Ok((key, text))
    }

    /// Every key, newest last.
    pub fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, scopes, label, created_at, revoked_at FROM api_keys ORDER BY rowid")?;
        let rows = stmt.query_map([], row_to_key)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes a key: it stops working at once.
    pub fn revoke_api_key(&self, id: &str, actor: &str) -> Result<(), StoreError> {
        let now = time_util::now();
        self.write(|w| {
            let n = w.tx.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now],
            )?;
            if n == 0 {
                return Err(StoreError::Invalid(format!("no active API key '{id}'")));
            }
            w.audit(events::api_key_revoked(actor, id))?;
            Ok(())
        })
    }

    /// The active key a presented key text belongs to, if any.
    pub fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, StoreError> {
        let Some((id, secret)) = split_presented(presented) else { return Ok(None) };
        let conn = self.conn();
        let row: Option<(ApiKey, String)> = conn
            .query_row(
                "SELECT id, scopes, label, created_at, revoked_at, secret_sha256 FROM api_keys WHERE id = ?1",
                [id],
                |r| Ok((row_to_key(r)?, r.get(5)?)),
            )
            .optional()?;
        Ok(check_presented(row, secret))
    }
}

/// A key from the columns `id, scopes, label, created_at, revoked_at`.
pub(super) fn row_to_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let (scopes, purposes) = parse_grants(&r.get::<_, String>(1)?);
    Ok(ApiKey { id: r.get(0)?, scopes, purposes, label: r.get(2)?, created_at: r.get(3)?, revoked_at: r.get(4)? })
}
