//! The store key: 32 random bytes, from `VISAGE_KEY` or a key file created with mode 0600.

use crate::error::StoreError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Environment variable holding the key (base64 of 32 bytes, or 64 hex digits). It wins over the file.
pub const KEY_ENV: &str = "VISAGE_KEY";
/// File name of the key inside the data dir.
pub const KEY_FILE: &str = "visage.key";

/// Where the key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File(PathBuf),
    /// Made in memory (tests, rotation before it is saved).
    Generated,
}

/// A 256-bit key. The bytes are wiped from memory when dropped.
#[derive(Clone)]
pub struct StoreKey {
    bytes: Zeroizing<[u8; 32]>,
    source: KeySource,
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreKey").field("source", &self.source).finish_non_exhaustive()
    }
}

impl StoreKey {
    /// A new random key.
    pub fn generate() -> StoreKey {
        use aes_gcm::aead::rand_core::RngCore;
        let mut bytes = Zeroizing::new([0u8; 32]);
        aes_gcm::aead::OsRng.fill_bytes(bytes.as_mut());
        StoreKey { bytes, source: KeySource::Generated }
    }

    /// The key from `VISAGE_KEY` if set, else from `<data_dir>/visage.key`, creating that file (mode
    /// 0600) with a new random key on first run.
    pub fn load_or_create(data_dir: &Path) -> Result<StoreKey, StoreError> {
        if let Some(value) = std::env::var_os(KEY_ENV).filter(|v| !v.is_empty()) {
            let text = value.to_string_lossy();
            return StoreKey::parse(&text, KeySource::Env);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => StoreKey::parse(&text, KeySource::File(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = StoreKey::generate();
                // Two processes starting at once must end up with one key: only one can create it.
                if create_key_file(&path, &key)? {
                    Ok(key.with_source(KeySource::File(path)))
                } else {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|source| StoreError::Io { path: path.clone(), source })?;
                    StoreKey::parse(&text, KeySource::File(path))
                }
            }
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Parses base64 (44 characters) or hex (64 digits), surrounding whitespace ignored.
    pub fn parse(text: &str, source: KeySource) -> Result<StoreKey, StoreError> {
        let origin = describe(&source);
        let text = text.trim();
        let decoded = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            B64.decode(text).ok()
        };
        let raw = decoded
            .ok_or_else(|| StoreError::InvalidKey { origin: origin.clone(), reason: "not base64 or hex".into() })?;
        let raw = Zeroizing::new(raw);
        if raw.len() != 32 {
            return Err(StoreError::InvalidKey { origin, reason: format!("{} bytes, expected 32", raw.len()) });
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&raw);
        Ok(StoreKey { bytes, source })
    }

    /// The key as base64, for printing once or writing to the key file.
    pub fn to_base64(&self) -> String {
        B64.encode(self.bytes.as_ref())
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Where the key came from, for messages.
    pub fn origin(&self) -> String {
        describe(&self.source)
    }

    /// A sub-key for one purpose (HMAC-SHA256 of the label), so one secret serves several uses without
    /// any two sharing a key.
    pub(crate) fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.bytes.as_ref()).expect("any key length");
        mac.update(label.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    pub(crate) fn with_source(mut self, source: KeySource) -> StoreKey {
        self.source = source;
        self
    }
}

/// A new store key on its way in. When the current key came from a key file, the new key is first
/// written beside it (`.key.new`) before the store is re-encrypted, and moved over it after the commit,
/// so a crash at any point leaves a key that opens the store.
pub(crate) struct PendingKey {
    key: StoreKey,
    /// The key file and the new key's file beside it.
    files: Option<(PathBuf, PathBuf)>,
}

impl PendingKey {
    /// Stages `new_key` to replace `current` (writing it beside `current`'s key file, if it has one).
    pub fn stage(current: &StoreKey, new_key: StoreKey) -> Result<PendingKey, StoreError> {
        let files = match current.source() {
            KeySource::File(file) => Some((file.clone(), file.with_extension("key.new"))),
            _ => None,
        };
        if let Some((_, pending)) = &files {
            write_key_file(pending, &new_key)?;
        }
        Ok(PendingKey { key: new_key, files })
    }

    /// The new key.
    pub fn key(&self) -> &StoreKey {
        &self.key
    }

    /// Once the store is re-encrypted: moves the new key over the key file; returns the key.
    pub fn install(self) -> Result<StoreKey, StoreError> {
        match self.files {
            Some((file, pending)) => {
                std::fs::rename(&pending, &file).map_err(|source| StoreError::Io { path: file.clone(), source })?;
                Ok(self.key.with_source(KeySource::File(file)))
            }
            None => Ok(self.key),
        }
    }
}

fn describe(source: &KeySource) -> String {
    match source {
        KeySource::Env => format!("from {KEY_ENV}"),
        KeySource::File(p) => format!("from {}", p.display()),
        KeySource::Generated => "generated".into(),
    }
}

/// Creates the key file only if none exists (complete, or not at all): the key goes to a private
/// temporary file that is then hard-linked into place, which fails if another process got there first.
/// Returns whether this call created it.
fn create_key_file(path: &Path, key: &StoreKey) -> Result<bool, StoreError> {
    let io = |source| StoreError::Io { path: path.to_path_buf(), source };
    let tmp = write_private_temp(path, key)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io(e)),
    }
}

/// Writes a key file readable by its owner only, atomically (a crash leaves the old file or none).
fn write_key_file(path: &Path, key: &StoreKey) -> Result<(), StoreError> {
    let tmp = write_private_temp(path, key)?;
    std::fs::rename(&tmp, path).map_err(|source| StoreError::Io { path: path.to_path_buf(), source })
}

/// The key in a new mode-0600 file beside `path`, synced to disk; returns its path.
fn write_private_temp(path: &Path, key: &StoreKey) -> Result<PathBuf, StoreError> {
    let io = |source| StoreError::Io { path: path.to_path_buf(), source };
    let dir = path.parent().expect("key file lives in a directory");
    crate::private_files::create_private_dir(dir).map_err(io)?;
    let unique =
        format!("{}.{}.{}.tmp", path.file_name().expect("a file name").to_string_lossy(), std::process::id(), {
            use aes_gcm::aead::rand_core::RngCore;
            aes_gcm::aead::OsRng.next_u32()
        });
    let tmp = dir.join(unique);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io)?;
    writeln!(file, "{}", key.to_base64()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_file_once_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = StoreKey::load_or_create(dir.path()).unwrap();
        let b = StoreKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.to_base64(), b.to_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn parses_base64_and_hex_and_refuses_bad_keys() {
        let k = StoreKey::generate();
        let again = StoreKey::parse(&k.to_base64(), KeySource::Env).unwrap();
        assert_eq!(again.to_base64(), k.to_base64());
        let hex_key = "00".repeat(32);
        assert!(StoreKey::parse(&hex_key, KeySource::Env).is_ok());
        for bad in ["", "short", &"00".repeat(16), "not base64 at all!!"] {
            assert!(matches!(StoreKey::parse(bad, KeySource::Env), Err(StoreError::InvalidKey { .. })), "{bad}");
        }
        assert_ne!(k.derive("a").as_ref(), k.derive("b").as_ref());
    }
}
