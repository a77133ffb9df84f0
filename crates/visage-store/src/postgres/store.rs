//! The PostgreSQL [`PgStore`]: connecting, and the pooled connections and write transactions every job
//! runs in.

use super::chain::Auditor;
use super::pool::{off_runtime, pool_size, redact, Pool, SessionSettings};
use super::schema::migrate;
use super::secrets::unlock;
use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::keys::StoreKey;
use crate::model::TemplateMode;
use postgres::{Client, NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use zeroize::Zeroizing;

/// The embedding dimension of the `vector` column (ArcFace-style 512-d templates).
pub const DIM: usize = 512;

/// A new template (plain vector, or nonce and ciphertext); returns its id.
pub(super) const INSERT_TEMPLATE: &str =
    "INSERT INTO templates (subject_id, embedding, nonce, ciphertext, model_id, model_sha256, quality, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";

/// An active consent (`$2` is now).
pub(super) const ACTIVE: &str = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)";

/// A PostgreSQL gallery. Safe to share between threads; any number of processes may use one database.
pub struct PgStore {
    pool: Pool,
    pub(super) location: String,
    pub(super) key: StoreKey,
    pub(super) mode: TemplateMode,
    pub(super) templates: Cipher,
    pub(super) audit_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("location", &self.location).field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects, migrates the schema to this version, and checks the key (writing the key check and a
    /// new audit key into a new database). `mode` must be the one the gallery was created with.
    pub fn open(url: &str, key: StoreKey, mode: TemplateMode) -> Result<PgStore, StoreError> {
        let location = redact(url);
        let config: postgres::Config = url.parse().map_err(|e| StoreError::Postgres(format!("{location}: {e}")))?;
        // One connection first, so that a wrong address or password is reported at once (a pool would
        // keep retrying), and the schema is migrated before any other use.
        let mut client = off_runtime(|| config.connect(NoTls)).map_err(|e| StoreError::Postgres(e.to_string()))?;
        let audit_key = off_runtime(|| -> Result<_, StoreError> {
            migrate(&mut client, &location)?;
            unlock(&mut client, &key, mode)
        })?;
        drop(client);
        // Connections open on demand; a checkout waits at most 30 s for a free one.
        let pool = r2d2_postgres::r2d2::Pool::builder()
            .max_size(pool_size())
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_customizer(Box::new(SessionSettings))
            .build_unchecked(PostgresConnectionManager::new(config, NoTls));
        let templates = Cipher::new(&key, "templates");
        Ok(PgStore { pool, location, key, mode, templates, audit_key })
    }

    /// How this gallery keeps its templates.
    pub fn template_mode(&self) -> TemplateMode {
        self.mode
    }

    /// Runs `f` with a pooled connection. A connection the server closed is dropped by the pool when
    /// it comes back; the next one is taken instead.
    pub(super) fn with<T: Send>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| {
            let checkout = || self.pool.get().map_err(|e| StoreError::Postgres(format!("{}: {e}", self.location)));
            let mut client = checkout()?;
            if client.is_closed() {
                drop(client);
                client = checkout()?;
            }
            f(&mut client)
        })
    }

    /// Runs `f` in a transaction that first locks the audit chain's head, so every write (and its audit
    /// entries) is serialised with all others on this database, from any process.
    pub(super) fn write<T: Send>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &Auditor<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let auditor = Auditor { key: &self.audit_key };
        self.with(move |c| {
            let mut tx = c.transaction()?;
            tx.query_one("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", &[])?;
            let out = f(&mut tx, &auditor)?;
            tx.commit()?;
            Ok(out)
        })
    }
}

pub(super) fn template_ids(tx: &mut Transaction<'_>, subject_id: &str) -> Result<Vec<i64>, StoreError> {
    Ok(tx
        .query("SELECT id FROM templates WHERE subject_id = $1 ORDER BY id", &[&subject_id])?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

pub(super) fn subject_exists(tx: &mut Transaction<'_>, subject_id: &str) -> Result<bool, StoreError> {
    Ok(tx.query_one("SELECT EXISTS(SELECT 1 FROM subjects WHERE id = $1)", &[&subject_id])?.get(0))
}
