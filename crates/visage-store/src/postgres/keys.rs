//! API keys in the PostgreSQL gallery.

use super::store::PgStore;
use crate::api_keys::{self, ApiKey};
use crate::error::StoreError;
use crate::events;
use crate::time_util;
use postgres::Row;

impl PgStore {
    pub(super) fn create_api_key(
        &self,
        scopes: &[String],
        purposes: &[String],
        label: Option<&str>,
        actor: &str,
    ) -> Result<(ApiKey, String), StoreError> {
        let (key, secret_hash, text) = api_keys::new_key(scopes, purposes, label)?;
        self.write(|tx, audit| {
            tx.execute(
                "INSERT INTO api_keys (id, secret_sha256, scopes, label, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&key.id, &secret_hash, &key.stored_grants(), &key.label, &key.created_at],
            )?;
            audit.append(tx, events::api_key_created(actor, &key))
        })?;
        Ok((key, text))
    }

    pub(super) fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.with(|c| {
            Ok(c.query("SELECT id, scopes, label, created_at, revoked_at FROM api_keys ORDER BY ord", &[])?
                .iter()
                .map(row_to_key)
                .collect())
        })
    }

    pub(super) fn revoke_api_key(&self, id: &str, actor: &str) -> Result<(), StoreError> {
        let now = time_util::now();
        self.write(|tx, audit| {
            let n =
                tx.execute("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id, &now])?;
            if n == 0 {
                return Err(StoreError::Invalid(format!("no active API key '{id}'")));
            }
            audit.append(tx, events::api_key_revoked(actor, id))?;
            Ok(())
        })
    }

    pub(super) fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, StoreError> {
        let Some((id, secret)) = api_keys::split_presented(presented) else { return Ok(None) };
        let row = self.with(|c| {
            Ok(c.query_opt(
                "SELECT id, scopes, label, created_at, revoked_at, secret_sha256 FROM api_keys WHERE id = $1",
                &[&id],
            )?
            .map(|r| (row_to_key(&r), r.get::<_, String>(5))))
        })?;
        Ok(api_keys::check_presented(row, secret))
    }
}

/// A key from the columns `id, scopes, label, created_at, revoked_at`.
pub(super) fn row_to_key(r: &Row) -> ApiKey {
    let (scopes, purposes) = api_keys::parse_grants(r.get(1));
    ApiKey { id: r.get(0), scopes, purposes, label: r.get(2), created_at: r.get(3), revoked_at: r.get(4) }
}
