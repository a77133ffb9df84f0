//! `library forget`: delete the whole library, and every file an export wrote from it.

use crate::db::Library;
use crate::error::{LibraryError, Result};
use std::path::{Path, PathBuf};

/// What was deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ForgetReport {
    /// Thumbnails and pages deleted.
    pub files: usize,
    /// Database files deleted (the library and its WAL journal).
    pub database_files: Vec<PathBuf>,
}

/// Deletes the library at `path` and the thumbnails and pages it recorded. Nothing at `path` is fine.
pub fn forget_library(path: &Path) -> Result<ForgetReport> {
    let mut report = ForgetReport::default();
    if path.is_file() {
        let library = Library::open(path)?;
        let files = recorded_files(&library)?;
        drop(library);
        report.files = remove_files(&files)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::remove_file(&file).map_err(LibraryError::io(&file))?;
            report.database_files.push(file);
        }
    }
    Ok(report)
}

fn recorded_files(library: &Library) -> Result<Vec<PathBuf>> {
    let mut stmt = library.conn().prepare("SELECT path FROM thumbnails")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.map(|r| r.map(PathBuf::from)).collect::<rusqlite::Result<_>>()?)
}

/// Removes files (already gone is fine) and then their folders if empty; returns how many it removed.
pub fn remove_files(files: &[PathBuf]) -> Result<usize> {
    let mut removed = 0;
    for f in files {
        match std::fs::remove_file(f) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(LibraryError::Io { path: f.clone(), source: e }),
        }
        if let Some(dir) = f.parent() {
            // Only succeeds on an empty folder, which is what is wanted.
            let _ = std::fs::remove_dir(dir);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_removes_the_database_and_recorded_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("lib.db");
        let thumb = dir.path().join("out/thumbs/face-1.jpg");
        std::fs::create_dir_all(thumb.parent().unwrap()).unwrap();
        std::fs::write(&thumb, b"jpeg").unwrap();
        let lib = Library::open(&db).unwrap();
        lib.conn().execute("INSERT INTO thumbnails (path, face_id) VALUES (?1, 1)", [thumb.to_string_lossy()]).unwrap();
        drop(lib);
        let report = forget_library(&db).unwrap();
        assert_eq!(report.files, 1);
        assert!(!db.exists() && !thumb.exists() && !thumb.parent().unwrap().exists());
        assert_eq!(forget_library(&db).unwrap(), ForgetReport::default());
    }
}
