//! API keys of the HTTP service. A key is `vsg_<id>_<secret>`; only the SHA-256 of the secret is
//! stored, so a stolen database does not hand out working keys, and the key is shown once at creation.

use crate::store::Store;
use crate::{time_util, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a key may do.
pub const SCOPES: [&str; 3] = ["enroll", "identify", "admin"];

/// A stored key (without its secret).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub scopes: Vec<String>,
    pub label: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl ApiKey {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == "admin")
    }
}

fn random_token(bytes: usize) -> String {
    use aes_gcm::aead::rand_core::RngCore;
    let mut buf = vec![0u8; bytes];
    aes_gcm::aead::OsRng.fill_bytes(&mut buf);
    B64URL.encode(buf)
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time comparison, so response timing does not leak how much of a secret was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new key: its record, the SHA-256 of its secret (what is stored) and its full text (shown once).
pub(crate) fn new_key(scopes: &[String], label: Option<&str>) -> Result<(ApiKey, String, String), StoreError> {
    if scopes.is_empty() {
        return Err(StoreError::Invalid(format!("a key needs at least one scope ({})", SCOPES.join(", "))));
    }
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(StoreError::Invalid(format!("unknown scope '{bad}' (expected {})", SCOPES.join(", "))));
    }
    // Ids use only letters and digits so the key text splits unambiguously at '_'.
    let id: String = random_token(9).chars().filter(|c| c.is_ascii_alphanumeric()).take(10).collect();
    let secret = random_token(32);
    let key = ApiKey {
        id: format!("k{id}"),
        scopes: scopes.to_vec(),
        label: label.map(str::to_string),
        created_at: time_util::now(),
        revoked_at: None,
    };
    let text = format!("vsg_{}_{secret}", key.id);
    Ok((key, secret_hash(&secret), text))
}

/// A presented key text's id and secret, if it has the key format.
pub(crate) fn split_presented(presented: &str) -> Option<(&str, &str)> {
    presented.strip_prefix("vsg_")?.split_once('_')
}

/// The stored key (with its secret hash) if it is active and the presented secret is its secret.
pub(crate) fn check_presented(row: Option<(ApiKey, String)>, secret: &str) -> Option<ApiKey> {
    row.filter(|(k, hash)| k.revoked_at.is_none() && same(hash, &secret_hash(secret))).map(|(k, _)| k)
}

impl Store {
    /// Creates a key with the given scopes; returns it and the full key text, which is not stored.
    pub fn create_api_key(
        &self,
        scopes: &[String],
        label: Option<&str>,
        actor: &str,
    ) -> Result<(ApiKey, String), StoreError> {
        let (key, secret_hash, text) = new_key(scopes, label)?;
        self.write(|w| {
            w.tx.execute(
                "INSERT INTO api_keys (id, secret_sha256, scopes, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.id, secret_hash, key.scopes.join(","), key.label, key.created_at],
            )?;
            w.audit(actor, "key-create", None, "ok", serde_json::json!({"key": key.id, "scopes": key.scopes}))
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
            w.audit(actor, "key-revoke", None, "ok", serde_json::json!({"key": id}))?;
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

fn row_to_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let scopes: String = r.get(1)?;
    Ok(ApiKey {
        id: r.get(0)?,
        scopes: scopes.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        label: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}
