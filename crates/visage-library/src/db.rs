//! The library's own SQLite file: schema migrations, WAL, and the small shared queries.
//!
//! The file is separate from the consent gallery. Every change is one transaction, so a process killed
//! at any moment leaves either the change or nothing (WAL journal: readers never see half a write).

use crate::error::{LibraryError, Result};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    error TEXT,
    scanned_at INTEGER NOT NULL
);
CREATE INDEX images_sha256 ON images(sha256);
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT,
    confirmed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE faces (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    score REAL NOT NULL,
    quality REAL NOT NULL,
    embedding BLOB NOT NULL,
    person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
    pinned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX faces_person ON faces(person_id);
CREATE INDEX faces_image ON faces(image_id);
CREATE TABLE not_person (
    face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
    person_id INTEGER NOT NULL,
    PRIMARY KEY (face_id, person_id)
);
CREATE TABLE thumbnails (path TEXT PRIMARY KEY, face_id INTEGER NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
"#];

/// An open photo library.
pub struct Library {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library").field("path", &self.path).finish()
    }
}

/// The default library file: `library.db` in the data dir (beside, never inside, the gallery).
pub fn default_path() -> PathBuf {
    visage::system::default_data_dir().join("library.db")
}

impl Library {
    /// Opens the library at `path`, creating it (and its folder) and migrating its schema as needed.
    pub fn open(path: &Path) -> Result<Library> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            visage::store::private_files::create_private_dir(dir).map_err(LibraryError::io(dir))?;
        }
        visage::store::private_files::prepare_private_database(path).map_err(LibraryError::io(path))?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut library = Library { conn, path: path.to_path_buf() };
        library.migrate()?;
        Ok(library)
    }

    /// Opens an existing library; an error naming the path if there is none yet.
    pub fn open_existing(path: &Path) -> Result<Library> {
        if !path.is_file() {
            return Err(LibraryError::Invalid(format!(
                "no library at {} (run `visage library scan DIR` first)",
                path.display()
            )));
        }
        Library::open(path)
    }

    fn migrate(&mut self) -> Result<()> {
        let done: usize = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the library's modules.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Starts a transaction: a change commits whole or not at all.
    pub(crate) fn transaction(&mut self) -> Result<Transaction<'_>> {
        Ok(self.conn.transaction()?)
    }

    /// Checks that the library's faces were embedded by `model_sha256` (recording it on first use).
    pub fn check_model(&mut self, model_sha256: &str) -> Result<()> {
        let stored: Option<String> =
            self.conn.query_row("SELECT value FROM meta WHERE key = 'model'", [], |r| r.get(0)).optional()?;
        match stored {
            Some(s) if s != model_sha256 => {
                Err(LibraryError::ModelChanged { stored: s, current: model_sha256.to_string() })
            }
            Some(_) => Ok(()),
            None => {
                self.conn.execute("INSERT INTO meta (key, value) VALUES ('model', ?1)", [model_sha256])?;
                Ok(())
            }
        }
    }

    /// Appends an entry to the library's event log (what was done to the biometric data, and when).
    pub fn log(&self, action: &str, detail: serde_json::Value) -> Result<()> {
        log_event(&self.conn, action, detail)
    }

    /// The event log, oldest first: `(unix seconds, action, detail)`.
    pub fn events(&self) -> Result<Vec<(i64, String, serde_json::Value)>> {
        let mut stmt = self.conn.prepare("SELECT at, action, detail FROM events ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (at, action, detail) = row?;
            out.push((at, action, serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null)));
        }
        Ok(out)
    }

    /// Whether person `id` exists.
    pub fn person_exists(&self, id: i64) -> Result<bool> {
        Ok(self.conn.query_row("SELECT 1 FROM people WHERE id = ?1", [id], |_| Ok(())).optional()?.is_some())
    }

    /// The person a face belongs to (`None`: not yet clustered), or an error if there is no such face.
    pub fn face_person(&self, face: i64) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT person_id FROM faces WHERE id = ?1", [face], |r| r.get(0))
            .optional()?
            .ok_or(LibraryError::NoFace(face))
    }
}

/// Appends an event inside any connection or transaction.
pub(crate) fn log_event(conn: &Connection, action: &str, detail: serde_json::Value) -> Result<()> {
    conn.execute(
        "INSERT INTO events (at, action, detail) VALUES (?1, ?2, ?3)",
        params![unix_now(), action, detail.to_string()],
    )?;
    Ok(())
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// An embedding as stored: little-endian f32s.
pub(crate) fn embedding_to_blob(e: &[f32]) -> Vec<u8> {
    e.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The inverse of [`embedding_to_blob`].
pub(crate) fn blob_to_embedding(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_twice_keeps_the_schema_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/lib.db");
        let lib = Library::open(&path).unwrap();
        lib.log("test", serde_json::json!({"n": 1})).unwrap();
        drop(lib);
        let lib = Library::open(&path).unwrap();
        assert_eq!(lib.events().unwrap().len(), 1);
        let version: usize = lib.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len());
    }

    #[test]
    fn another_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut lib = Library::open(&dir.path().join("lib.db")).unwrap();
        lib.check_model("aaa").unwrap();
        lib.check_model("aaa").unwrap();
        assert!(matches!(lib.check_model("bbb"), Err(LibraryError::ModelChanged { .. })));
    }

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Library::open_existing(&dir.path().join("none.db")).unwrap_err();
        assert!(err.to_string().contains("visage library scan"), "{err}");
    }

    #[test]
    fn embeddings_round_trip() {
        let e = vec![0.5f32, -1.25, 3.0];
        assert_eq!(blob_to_embedding(&embedding_to_blob(&e)), e);
    }
}
