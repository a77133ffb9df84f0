//! Biometric data on disk is for its owner only: folders visage creates are mode 0700, database files
//! (with SQLite's `-wal` and `-shm`, which SQLite creates with the database's mode) are 0600, and an
//! existing folder that other users can enter or read is reported. The gallery and the photo library
//! both open their files through here.

use std::io;
use std::path::{Path, PathBuf};

/// Creates `dir` (and missing parents) readable by its owner only. An existing folder keeps its mode
/// (it may be shared on purpose) but a warning names it when group or others can access it.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        warn_if_open(dir);
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes the SQLite database `db` and its `-wal`/`-shm` files readable by their owner only: a missing
/// database is created empty with mode 0600 (SQLite then gives its side files the same mode), and
/// existing files that others could read are narrowed to 0600.
pub fn prepare_private_database(db: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(db)?;
    for file in [db.to_path_buf(), side_file(db, "-wal"), side_file(db, "-shm")] {
        restrict_file(&file)?;
    }
    Ok(())
}

fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(unix)]
fn restrict_file(file: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(file) else { return Ok(()) };
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!("{} was readable by other users: narrowed to mode 0600", file.display());
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_file(_file: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn warn_if_open(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} (mode {mode:o}) can be entered by other users; it holds biometric data: `chmod 700` it",
                dir.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_open(_dir: &Path) {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_folders_are_0700_and_databases_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("x.db");
        prepare_private_database(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn open_database_files_are_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("x.db");
        for f in [db.clone(), side_file(&db, "-wal"), side_file(&db, "-shm")] {
            std::fs::write(&f, b"").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        prepare_private_database(&db).unwrap();
        for f in [db.clone(), side_file(&db, "-wal"), side_file(&db, "-shm")] {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    }
}
