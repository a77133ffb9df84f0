//! API keys of the HTTP service. A key is `vsg_<id>_<secret>`; only the SHA-256 of the secret is
//! stored, so a stolen database does not hand out working keys, and the key is shown once at creation.
//! A key holds scopes (what it may do) and may be bound to purposes (what it may search for): both are
//! stored in the key's `scopes` column, purposes as `purpose:<name>` entries.

use crate::error::StoreError;
use crate::time_util;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a key may do.
pub const SCOPES: [&str; 3] = ["enroll", "identify", "admin"];

/// A stored key (without its secret).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub scopes: Vec<String>,
    /// The purposes the key is bound to: its identifications must name one of them. Empty: unbound
    /// (any purpose, or none).
    pub purposes: Vec<String>,
    pub label: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl ApiKey {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == "admin")
    }

    /// Whether the key may act for `purpose` (`None`: no purpose named): an unbound key may do anything,
    /// a bound one only for one of its purposes.
    pub fn allows_purpose(&self, purpose: Option<&str>) -> bool {
        self.purposes.is_empty() || purpose.is_some_and(|p| self.purposes.iter().any(|q| q == p))
    }

    /// What the `scopes` column stores: the scopes, then the purposes as `purpose:<name>`.
    pub(crate) fn stored_grants(&self) -> String {
        let purposes = self.purposes.iter().map(|p| format!("{PURPOSE_PREFIX}{p}"));
        self.scopes.iter().cloned().chain(purposes).collect::<Vec<_>>().join(",")
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

const PURPOSE_PREFIX: &str = "purpose:";

/// A new key: its record, the SHA-256 of its secret (what is stored) and its full text (shown once).
pub(crate) fn new_key(
    scopes: &[String],
    purposes: &[String],
    label: Option<&str>,
) -> Result<(ApiKey, String, String), StoreError> {
    if scopes.is_empty() {
        return Err(StoreError::Invalid(format!("a key needs at least one scope ({})", SCOPES.join(", "))));
    }
    if let Some(bad) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(StoreError::Invalid(format!("unknown scope '{bad}' (expected {})", SCOPES.join(", "))));
    }
    if let Some(bad) = purposes.iter().find(|p| p.trim().is_empty() || p.contains(',')) {
        return Err(StoreError::Invalid(format!(
            "invalid purpose '{bad}': a purpose is a non-empty name without commas"
        )));
    }
    // Ids use only letters and digits so the key text splits unambiguously at '_'.
    let id: String = random_token(9).chars().filter(|c| c.is_ascii_alphanumeric()).take(10).collect();
    let secret = random_token(32);
    let key = ApiKey {
        id: format!("k{id}"),
        scopes: scopes.to_vec(),
        purposes: purposes.to_vec(),
        label: label.map(str::to_string),
        created_at: time_util::now(),
        revoked_at: None,
    };
    let text = format!("vsg_{}_{secret}", key.id);
    Ok((key, secret_hash(&secret), text))
}

/// Scopes and purposes as stored (comma-separated; see [`ApiKey::stored_grants`]).
pub(crate) fn parse_grants(stored: &str) -> (Vec<String>, Vec<String>) {
    let (mut scopes, mut purposes) = (Vec::new(), Vec::new());
    for entry in stored.split(',').filter(|s| !s.is_empty()) {
        match entry.strip_prefix(PURPOSE_PREFIX) {
            Some(purpose) => purposes.push(purpose.to_string()),
            None => scopes.push(entry.to_string()),
        }
    }
    (scopes, purposes)
}

/// A presented key text's id and secret, if it has the key format.
pub(crate) fn split_presented(presented: &str) -> Option<(&str, &str)> {
    presented.strip_prefix("vsg_")?.split_once('_')
}

/// The stored key (with its secret hash) if it is active and the presented secret is its secret.
pub(crate) fn check_presented(row: Option<(ApiKey, String)>, secret: &str) -> Option<ApiKey> {
    row.filter(|(k, hash)| k.revoked_at.is_none() && same(hash, &secret_hash(secret))).map(|(k, _)| k)
}
