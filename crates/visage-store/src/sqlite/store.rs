//! The SQLite [`Store`]: opening the file, and the write transactions every job runs in.

use super::{chain, schema, secrets};
use crate::audit::AuditEvent;
use crate::crypto::Cipher;
use crate::error::StoreError;
use crate::keys::StoreKey;
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "visage.db";

/// The gallery store. Safe to share between threads; several processes may open the same file.
pub struct Store {
    pub(super) conn: Mutex<Connection>,
    path: PathBuf,
    pub(super) key: StoreKey,
    pub(super) templates: Cipher,
    pub(super) audit_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// A write transaction and the means to audit inside it.
pub(super) struct Write<'a> {
    pub tx: rusqlite::Transaction<'a>,
    audit_key: &'a [u8],
}

impl Write<'_> {
    /// Appends an audit entry that commits (or not) with the transaction.
    pub fn audit(&self, event: AuditEvent) -> Result<i64, StoreError> {
        chain::append(&self.tx, self.audit_key, event)
    }
}

/// An active consent: granted, not revoked, not expired (at `now`).
pub(super) const ACTIVE: &str = "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)";

impl Store {
    /// Opens (creating if needed) the store in `dir`, migrating it to this version's schema, and checks
    /// that `key` is the key it was created with.
    pub fn open(dir: &Path, key: StoreKey) -> Result<Store, StoreError> {
        let io = |path: &Path, source| StoreError::Io { path: path.to_path_buf(), source };
        crate::private_files::create_private_dir(dir).map_err(|e| io(dir, e))?;
        let path = dir.join(DB_FILE);
        crate::private_files::prepare_private_database(&path).map_err(|e| io(&path, e))?;
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        enable_wal(&conn)?;
        // FULL: a commit is on disk before visage reports it, even if the machine loses power.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Freed pages are overwritten, so erased templates do not linger in the file.
        conn.pragma_update(None, "secure_delete", true)?;
        schema::migrate(&mut conn, &path)?;
        let audit_key = secrets::unlock(&mut conn, &key)?;
        let templates = Cipher::new(&key, "templates");
        Ok(Store { conn: Mutex::new(conn), path, key, templates, audit_key })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in an immediate transaction (committed if `f` succeeds), which it may audit into.
    pub(super) fn write<T>(&self, f: impl FnOnce(&Write<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let write =
            Write { tx: conn.transaction_with_behavior(TransactionBehavior::Immediate)?, audit_key: &self.audit_key };
        let out = f(&write)?;
        write.tx.commit()?;
        Ok(out)
    }

    pub(super) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves committed pages into the main file (where `secure_delete` zeroed the freed ones) and empties
    /// the WAL, which still holds copies of deleted rows.
    pub(super) fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// Switches a connection to WAL. Two processes creating the same new store at once can both ask, and
/// SQLite answers that pragma with "database is locked" at once instead of waiting for the other
/// (the busy timeout does not cover it), so it is retried for up to 30 s.
fn enable_wal(conn: &Connection) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

pub(super) fn subject_exists(conn: &Connection, subject_id: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row("SELECT EXISTS(SELECT 1 FROM subjects WHERE id = ?1)", [subject_id], |r| r.get(0))?)
}

/// Ids of a subject's templates, oldest first.
pub(super) fn subject_template_ids(conn: &Connection, subject_id: &str) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare("SELECT id FROM templates WHERE subject_id = ?1 ORDER BY id")?;
    let ids = stmt.query_map([subject_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(ids)
}
