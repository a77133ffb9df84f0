//! Scanning folders: walk them, skip unchanged files, find and embed the faces of the others, and
//! commit each image in its own transaction, in input order.
//!
//! A file is unchanged when its path, size and modification time match the library (no read at all),
//! or when its content hash matches (the file was touched or copied back). A file whose content is
//! already in the library under a path that no longer exists was moved: its faces, and every
//! correction made to them, follow it. A file that cannot be decoded is recorded with the reason, so it
//! is reported once and not retried until it changes.

use crate::db::{embedding_to_blob, log_event, unix_now, Library};
use crate::error::{LibraryError, Result};
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// File name extensions the scan reads (compared without case).
pub const EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "tif", "tiff"];

/// One face found in an image.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundFace {
    /// `[x1, y1, x2, y2]` in pixels of the decoded image.
    pub bbox: [f32; 4],
    /// Detector confidence.
    pub score: f32,
    /// 0 to 1: face size and sharpness (see `visage::quality`).
    pub quality: f32,
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
}

/// What was found in one image.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundImage {
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FoundFace>,
}

/// Finds and embeds the faces of an encoded image. Implemented by [`crate::finder::AnalyzerFinder`]
/// over visage's models; tests use a fake.
pub trait FaceFinder: Sync {
    /// Every usable face of the image in `bytes` (`name` is for messages). An error means the file is
    /// bad (not an image, truncated, too large) and is reported, never fatal.
    fn find(&self, bytes: &[u8], name: &Path) -> std::result::Result<FoundImage, String>;
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanEvent {
    /// Decoded and its faces stored (new, or its content changed).
    Added { path: PathBuf, faces: usize },
    /// Already in the library as it is.
    Unchanged { path: PathBuf },
    /// Its content was in the library under `from`, which no longer exists.
    Moved { path: PathBuf, from: PathBuf },
    /// Could not be read as an image: recorded and skipped.
    Bad { path: PathBuf, error: String },
}

/// Totals of one scan.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ScanSummary {
    pub files: usize,
    pub added: usize,
    pub unchanged: usize,
    pub moved: usize,
    pub faces: usize,
    pub bad: Vec<(PathBuf, String)>,
}

impl ScanSummary {
    fn count(&mut self, event: &ScanEvent) {
        self.files += 1;
        match event {
            ScanEvent::Added { faces, .. } => {
                self.added += 1;
                self.faces += faces;
            }
            ScanEvent::Unchanged { .. } => self.unchanged += 1,
            ScanEvent::Moved { .. } => self.moved += 1,
            ScanEvent::Bad { path, error } => self.bad.push((path.clone(), error.clone())),
        }
    }
}

/// Every image file under `roots` (recursively; a root may also be a file), absolute, sorted, without
/// duplicates. A root that does not exist is an error; unreadable sub-folders are skipped.
pub fn collect_files(roots: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for root in roots {
        let root = root.canonicalize().map_err(LibraryError::io(root))?;
        for entry in walkdir::WalkDir::new(&root).follow_links(true).into_iter().filter_map(|e| e.ok()) {
            if entry.file_type().is_file() && has_image_extension(entry.path()) {
                files.push(entry.into_path());
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn has_image_extension(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

/// A file's size and modification time (ns since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: i64,
    mtime_ns: i64,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta.modified()?.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
    Ok(Stamp { size: meta.len() as i64, mtime_ns: mtime })
}

/// What the library knew of a file's content at the start of the scan.
#[derive(Debug, Clone)]
struct Known {
    id: i64,
    path: PathBuf,
    stamp: Stamp,
}

/// The work a worker did on one file that the library does not know as it is.
enum Outcome {
    /// Same path, same content: only its time stamp changed.
    Touched { id: i64, stamp: Stamp },
    /// Same content as a file that is gone.
    Moved { id: i64, from: PathBuf, stamp: Stamp },
    /// Decoded (or failed to decode) and ready to store.
    Analysed { sha256: String, stamp: Stamp, found: std::result::Result<FoundImage, String> },
}

/// Scans `roots` into the library with `workers` threads. `on_event` sees every file in input order
/// after its change is committed, so whatever it reports survives a kill.
pub fn scan(
    library: &mut Library,
    finder: &dyn FaceFinder,
    roots: &[PathBuf],
    workers: usize,
    mut on_event: impl FnMut(&ScanEvent),
) -> Result<ScanSummary> {
    let files = collect_files(roots)?;
    let (by_path, by_hash) = known_images(library)?;
    let mut summary = ScanSummary::default();
    let mut pending = Vec::new();
    for path in files {
        match stamp(&path) {
            Ok(s) if by_path.get(&path).is_some_and(|k| k.stamp == s) => {
                let event = ScanEvent::Unchanged { path };
                summary.count(&event);
                on_event(&event);
            }
            _ => pending.push(path),
        }
    }
    let mut failure = None;
    visage::parallel::map_ordered(
        &pending,
        workers,
        |path| examine(path, finder, &by_path, &by_hash),
        |i, outcome| {
            if failure.is_some() {
                return;
            }
            match store(library, &pending[i], outcome) {
                Ok(event) => {
                    summary.count(&event);
                    on_event(&event);
                }
                Err(e) => failure = Some(e),
            }
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
    library.log(
        "scan",
        serde_json::json!({"roots": roots, "added": summary.added, "moved": summary.moved,
                                           "bad": summary.bad.len(), "faces": summary.faces}),
    )?;
    Ok(summary)
}

type KnownMaps = (HashMap<PathBuf, Known>, HashMap<String, Vec<Known>>);

fn known_images(library: &Library) -> Result<KnownMaps> {
    let mut stmt = library.conn().prepare("SELECT id, path, size, mtime_ns, sha256 FROM images")?;
    let rows = stmt.query_map([], |r| {
        let known = Known {
            id: r.get(0)?,
            path: PathBuf::from(r.get::<_, String>(1)?),
            stamp: Stamp { size: r.get(2)?, mtime_ns: r.get(3)? },
        };
        Ok((known, r.get::<_, String>(4)?))
    })?;
    let (mut by_path, mut by_hash) = (HashMap::new(), HashMap::<String, Vec<Known>>::new());
    for row in rows {
        let (known, sha) = row?;
        by_hash.entry(sha).or_default().push(known.clone());
        by_path.insert(known.path.clone(), known);
    }
    Ok((by_path, by_hash))
}

/// Runs on a worker: reads and hashes the file, and decodes it only if its content is new.
fn examine(
    path: &Path,
    finder: &dyn FaceFinder,
    by_path: &HashMap<PathBuf, Known>,
    by_hash: &HashMap<String, Vec<Known>>,
) -> Outcome {
    let read = stamp(path).and_then(|s| Ok((s, std::fs::read(path)?)));
    let (stamp, bytes) = match read {
        Ok(x) => x,
        Err(e) => {
            let stamp = Stamp { size: 0, mtime_ns: 0 };
            return Outcome::Analysed { sha256: String::new(), stamp, found: Err(e.to_string()) };
        }
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let same_content = by_hash.get(&sha256).map(Vec::as_slice).unwrap_or_default();
    if let Some(k) = same_content.iter().find(|k| k.path == path) {
        return Outcome::Touched { id: k.id, stamp };
    }
    if !by_path.contains_key(path) {
        if let Some(k) = same_content.iter().find(|k| !k.path.exists()) {
            return Outcome::Moved { id: k.id, from: k.path.clone(), stamp };
        }
    }
    Outcome::Analysed { sha256, stamp, found: finder.find(&bytes, path) }
}

/// Runs on the calling thread: commits one file's outcome in one transaction.
fn store(library: &mut Library, path: &Path, outcome: Outcome) -> Result<ScanEvent> {
    let tx = library.transaction()?;
    let text = path.to_string_lossy();
    let event = match outcome {
        Outcome::Touched { id, stamp } => {
            tx.execute(
                "UPDATE images SET size = ?2, mtime_ns = ?3 WHERE id = ?1",
                params![id, stamp.size, stamp.mtime_ns],
            )?;
            ScanEvent::Unchanged { path: path.to_path_buf() }
        }
        Outcome::Moved { id, from, stamp } => {
            // Another file may already have claimed the vanished one (two copies of it appeared).
            let claimed = tx.execute(
                "UPDATE images SET path = ?2, size = ?3, mtime_ns = ?4 WHERE id = ?1 AND path = ?5",
                params![id, text, stamp.size, stamp.mtime_ns, from.to_string_lossy()],
            )?;
            if claimed == 0 {
                return Err(LibraryError::Invalid(format!("{}: its content moved twice; scan again", path.display())));
            }
            log_event(&tx, "moved", serde_json::json!({"from": from, "to": path}))?;
            ScanEvent::Moved { path: path.to_path_buf(), from }
        }
        Outcome::Analysed { sha256, stamp, found } => {
            let existing: Option<i64> =
                tx.query_row("SELECT id FROM images WHERE path = ?1", [&text], |r| r.get(0)).optional()?;
            if let Some(id) = existing {
                // New content at a known path: its old faces (and their corrections) go.
                tx.execute("DELETE FROM images WHERE id = ?1", [id])?;
            }
            let (width, height, error) = match &found {
                Ok(f) => (Some(f.width), Some(f.height), None),
                Err(e) => (None, None, Some(e.clone())),
            };
            tx.execute(
                "INSERT INTO images (path, size, mtime_ns, sha256, width, height, error, scanned_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![text, stamp.size, stamp.mtime_ns, sha256, width, height, error, unix_now()],
            )?;
            let image_id = tx.last_insert_rowid();
            match found {
                Ok(f) => {
                    insert_faces(&tx, image_id, &f.faces)?;
                    ScanEvent::Added { path: path.to_path_buf(), faces: f.faces.len() }
                }
                Err(error) => ScanEvent::Bad { path: path.to_path_buf(), error },
            }
        }
    };
    tx.commit()?;
    Ok(event)
}

fn insert_faces(tx: &rusqlite::Transaction<'_>, image_id: i64, faces: &[FoundFace]) -> Result<()> {
    let mut stmt = tx.prepare(
        "INSERT INTO faces (image_id, x1, y1, x2, y2, score, quality, embedding) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for f in faces {
        let [x1, y1, x2, y2] = f.bbox;
        stmt.execute(params![image_id, x1, y1, x2, y2, f.score, f.quality, embedding_to_blob(&f.embedding)])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fake finder: one face per file whose embedding is the file's first byte, "bad" files fail.
    struct Fake {
        calls: AtomicUsize,
    }

    impl FaceFinder for Fake {
        fn find(&self, bytes: &[u8], name: &Path) -> std::result::Result<FoundImage, String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if bytes.starts_with(b"bad") {
                return Err(format!("{}: not an image", name.display()));
            }
            let face =
                FoundFace { bbox: [0.0, 0.0, 10.0, 10.0], score: 0.9, quality: 0.5, embedding: vec![bytes[0] as f32] };
            Ok(FoundImage { width: 10, height: 10, faces: vec![face] })
        }
    }

    fn setup() -> (tempfile::TempDir, Library, Fake) {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::open(&dir.path().join("lib.db")).unwrap();
        std::fs::create_dir_all(dir.path().join("photos/sub")).unwrap();
        (dir, lib, Fake { calls: AtomicUsize::new(0) })
    }

    fn run(lib: &mut Library, fake: &Fake, root: &Path) -> ScanSummary {
        scan(lib, fake, &[root.to_path_buf()], 3, |_| {}).unwrap()
    }

    #[test]
    fn a_rescan_reads_only_new_and_changed_files() {
        let (dir, mut lib, fake) = setup();
        let photos = dir.path().join("photos");
        std::fs::write(photos.join("a.jpg"), b"a1").unwrap();
        std::fs::write(photos.join("sub/b.PNG"), b"b1").unwrap();
        std::fs::write(photos.join("notes.txt"), b"not a photo").unwrap();
        let first = run(&mut lib, &fake, &photos);
        assert_eq!((first.files, first.added, first.faces), (2, 2, 2));
        let again = run(&mut lib, &fake, &photos);
        assert_eq!((again.added, again.unchanged), (0, 2));
        assert_eq!(fake.calls.load(Ordering::SeqCst), 2, "unchanged files were decoded again");
        std::fs::write(photos.join("c.webp"), b"c1").unwrap();
        std::fs::write(photos.join("a.jpg"), b"a2-longer").unwrap();
        let third = run(&mut lib, &fake, &photos);
        assert_eq!((third.added, third.unchanged), (2, 1));
        let faces: i64 = lib.conn().query_row("SELECT COUNT(*) FROM faces", [], |r| r.get(0)).unwrap();
        assert_eq!(faces, 3, "the changed file's old face was not replaced");
    }

    #[test]
    fn a_moved_file_keeps_its_faces() {
        let (dir, mut lib, fake) = setup();
        let photos = dir.path().join("photos");
        std::fs::write(photos.join("a.jpg"), b"a1").unwrap();
        run(&mut lib, &fake, &photos);
        let before: i64 = lib.conn().query_row("SELECT id FROM faces", [], |r| r.get(0)).unwrap();
        std::fs::rename(photos.join("a.jpg"), photos.join("sub/moved.jpg")).unwrap();
        let s = run(&mut lib, &fake, &photos);
        assert_eq!((s.moved, s.added), (1, 0));
        let after: i64 = lib.conn().query_row("SELECT id FROM faces", [], |r| r.get(0)).unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn bad_files_are_reported_once_and_never_fatal() {
        let (dir, mut lib, fake) = setup();
        let photos = dir.path().join("photos");
        std::fs::write(photos.join("bad.jpg"), b"bad bytes").unwrap();
        std::fs::write(photos.join("good.jpg"), b"good").unwrap();
        let s = run(&mut lib, &fake, &photos);
        assert_eq!(s.added, 1);
        assert_eq!(s.bad.len(), 1);
        assert!(s.bad[0].1.contains("not an image"));
        let again = run(&mut lib, &fake, &photos);
        assert_eq!((again.bad.len(), again.unchanged), (0, 2));
    }

    #[test]
    fn events_come_in_path_order() {
        let (dir, mut lib, fake) = setup();
        let photos = dir.path().join("photos");
        for i in 0..20 {
            std::fs::write(photos.join(format!("{i:02}.jpg")), [b'x', i]).unwrap();
        }
        let mut seen = Vec::new();
        scan(&mut lib, &fake, std::slice::from_ref(&photos), 4, |e| {
            if let ScanEvent::Added { path, .. } = e {
                seen.push(path.clone())
            }
        })
        .unwrap();
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen.len(), 20);
        assert_eq!(seen, sorted);
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let (dir, mut lib, fake) = setup();
        let err = scan(&mut lib, &fake, &[dir.path().join("nope")], 1, |_| {}).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
