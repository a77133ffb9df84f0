//! Embeddings cached on disk per model and pipeline, so evaluations rerun in seconds.
//!
//! Layout: `<root>/<embedding model SHA-256>/<pipeline fingerprint>/embeddings.bin`, with the root
//! `$VISAGE_HOME/cache/embeddings` by default (`$VISAGE_CACHE_DIR` overrides it). The pipeline fingerprint hashes everything besides the
//! model that changes an embedding (detector and its options, detection size, flip, backend, which face
//! stands for the image). An entry is keyed by the image's absolute path, size and modification time:
//! an edited image is embedded again. The file is append-only: one record per image, written with one
//! `write` call, so a run that is killed loses at most its last record (a torn tail is ignored).

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;
use visage::{AnalyzerConfig, FaceAnalyzer, FaceChoice};

const MAGIC: &[u8; 8] = b"VSGEMB01";

/// What the cache holds for one image: its embedding, or the fact that it has no usable face.
#[derive(Debug, Clone, PartialEq)]
pub enum CachedEmbedding {
    Face(Vec<f32>),
    NoFace,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("embedding cache {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("embedding cache {path}: not a visage embedding cache (bad header)")]
    Header { path: PathBuf },
}

/// An on-disk embedding cache for one model and pipeline configuration. Shared between threads.
pub struct EmbeddingCache {
    path: PathBuf,
    entries: Mutex<HashMap<String, CachedEmbedding>>,
    file: Mutex<File>,
}

/// The default root: `$VISAGE_CACHE_DIR` if set, else `$VISAGE_HOME/cache/embeddings` (the model
/// home's `cache/embeddings`).
pub fn default_root() -> PathBuf {
    match std::env::var_os("VISAGE_CACHE_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => visage::models::ModelHome::from_env().root().join("cache").join("embeddings"),
    }
}

/// A stable fingerprint of everything besides the model weights that changes an embedding.
pub fn pipeline_fingerprint(config: &AnalyzerConfig, analyzer: &FaceAnalyzer, choice: FaceChoice) -> String {
    let description = format!(
        "detector={:?};options={:?};detect_max_side={};embedder={:?};backend={:?};choice={:?};max_pixels={}",
        analyzer.detector_kind(),
        config.detector_options,
        config.detect_max_side,
        config.embedder_options,
        analyzer.backend(),
        choice,
        config.load_options.max_pixels,
    );
    hex::encode(&Sha256::digest(description.as_bytes())[..8])
}

impl std::fmt::Debug for EmbeddingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingCache").field("path", &self.path).field("entries", &self.len()).finish()
    }
}

impl EmbeddingCache {
    /// Opens (creating if needed) the cache for `model_sha256` and `fingerprint` under `root`.
    pub fn open(root: &Path, model_sha256: &str, fingerprint: &str) -> Result<EmbeddingCache, CacheError> {
        let dir = root.join(model_sha256).join(fingerprint);
        let path = dir.join("embeddings.bin");
        let io = |source| CacheError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut entries = HashMap::new();
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        if bytes.is_empty() {
            file.write_all(MAGIC).map_err(io)?;
        } else if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(CacheError::Header { path });
        } else {
            parse_records(&bytes[MAGIC.len()..], &mut entries);
        }
        Ok(EmbeddingCache { path, entries: Mutex::new(entries), file: Mutex::new(file) })
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many images the cache knows.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached result for an image, if the image is unchanged since it was cached.
    pub fn get(&self, image: &Path) -> Option<CachedEmbedding> {
        let key = image_key(image)?;
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned()
    }

    /// Records an image's result (in memory and on disk).
    pub fn put(&self, image: &Path, value: CachedEmbedding) -> Result<(), CacheError> {
        let Some(key) = image_key(image) else { return Ok(()) };
        let record = encode_record(&key, &value);
        {
            let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
            file.write_all(&record).map_err(|source| CacheError::Io { path: self.path.clone(), source })?;
        }
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).insert(key, value);
        Ok(())
    }
}

/// `absolute path|size|mtime in ns`, or `None` when the file cannot be read (it is then not cached).
fn image_key(image: &Path) -> Option<String> {
    let absolute = std::fs::canonicalize(image).ok()?;
    let meta = std::fs::metadata(&absolute).ok()?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    Some(format!("{}|{}|{}", absolute.display(), meta.len(), mtime))
}

/// Record: key length (u32 LE), key, kind (1 face, 0 no face), then for a face the dimension (u32 LE)
/// and the values (f32 LE).
fn encode_record(key: &str, value: &CachedEmbedding) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 16 + 4 * 512);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    match value {
        CachedEmbedding::NoFace => out.push(0),
        CachedEmbedding::Face(e) => {
            out.push(1);
            out.extend_from_slice(&(e.len() as u32).to_le_bytes());
            for v in e {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    out
}

fn parse_records(mut bytes: &[u8], entries: &mut HashMap<String, CachedEmbedding>) {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if bytes.len() < n {
            return None;
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Some(head)
    }
    fn u32_of(b: &[u8]) -> usize {
        u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize
    }
    loop {
        let Some(len) = take(&mut bytes, 4).map(u32_of) else { return };
        let Some(key) = take(&mut bytes, len).and_then(|k| std::str::from_utf8(k).ok()) else { return };
        let value = match take(&mut bytes, 1) {
            Some([0]) => CachedEmbedding::NoFace,
            Some([1]) => {
                let Some(dim) = take(&mut bytes, 4).map(u32_of) else { return };
                let Some(raw) = take(&mut bytes, dim * 4) else { return };
                CachedEmbedding::Face(
                    raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
                )
            }
            _ => return,
        };
        entries.insert(key.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_survives_reopen_torn_tail_and_edits() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("a.jpg");
        std::fs::write(&image, b"pretend image").unwrap();
        let other = dir.path().join("b.jpg");
        std::fs::write(&other, b"another").unwrap();
        let root = dir.path().join("cache");
        {
            let cache = EmbeddingCache::open(&root, "abc", "f1").unwrap();
            assert!(cache.get(&image).is_none());
            cache.put(&image, CachedEmbedding::Face(vec![0.5, -0.25, 1.0])).unwrap();
            cache.put(&other, CachedEmbedding::NoFace).unwrap();
        }
        let path = root.join("abc/f1/embeddings.bin");
        // A torn record at the end (a killed run) is ignored.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, b'x']).unwrap();
        drop(f);
        let cache = EmbeddingCache::open(&root, "abc", "f1").unwrap();
        assert_eq!(cache.get(&image), Some(CachedEmbedding::Face(vec![0.5, -0.25, 1.0])));
        assert_eq!(cache.get(&other), Some(CachedEmbedding::NoFace));
        // Another model or pipeline has its own cache.
        assert!(EmbeddingCache::open(&root, "def", "f1").unwrap().get(&image).is_none());
        // An edited image is not served from the cache.
        std::fs::write(&image, b"a different, longer image").unwrap();
        assert!(cache.get(&image).is_none());
        // A foreign file is refused.
        std::fs::write(root.join("abc/f2/embeddings.bin"), b"garbage").unwrap_or_else(|_| {
            std::fs::create_dir_all(root.join("abc/f2")).unwrap();
            std::fs::write(root.join("abc/f2/embeddings.bin"), b"garbage").unwrap();
        });
        assert!(matches!(EmbeddingCache::open(&root, "abc", "f2"), Err(CacheError::Header { .. })));
    }
}
