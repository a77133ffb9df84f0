//! [`StoreSpec`]: which gallery to open (`--store`, `VISAGE_STORE`), and opening it.

use crate::error::StoreError;
use crate::gallery::GalleryStore;
use crate::keys::StoreKey;
use crate::model::TemplateMode;
use crate::sqlite::Store;
use std::path::{Path, PathBuf};

/// Which gallery to open.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreSpec {
    /// The embedded SQLite store in a data dir.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://user@host:port/db`).
    Postgres { url: String, templates: TemplateMode },
}

impl StoreSpec {
    /// Parses `--store` / `VISAGE_STORE`: `postgres://...` (or `postgresql://...`), `sqlite:DIR`, or
    /// nothing (the SQLite store in `data_dir`).
    pub fn parse(text: Option<&str>, data_dir: &Path, templates: TemplateMode) -> Result<StoreSpec, StoreError> {
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(StoreSpec::Sqlite(data_dir.to_path_buf())),
            Some(t) if t.starts_with("postgres://") || t.starts_with("postgresql://") => {
                Ok(StoreSpec::Postgres { url: t.to_string(), templates })
            }
            Some(t) => match t.strip_prefix("sqlite:") {
                Some(dir) if !dir.is_empty() => Ok(StoreSpec::Sqlite(PathBuf::from(dir))),
                _ => Err(StoreError::Invalid(format!(
                    "unknown store '{t}': use postgres://USER@HOST:PORT/DB or sqlite:DIR"
                ))),
            },
        }
    }

    /// Opens the gallery with `key` (creating and migrating it as needed).
    pub fn open(&self, key: StoreKey) -> Result<Box<dyn GalleryStore>, StoreError> {
        match self {
            StoreSpec::Sqlite(dir) => Ok(Box::new(Store::open(dir, key)?)),
            #[cfg(feature = "postgres")]
            StoreSpec::Postgres { url, templates } => {
                Ok(Box::new(crate::postgres::PgStore::open(url, key, *templates)?))
            }
            #[cfg(not(feature = "postgres"))]
            StoreSpec::Postgres { .. } => {
                Err(StoreError::Invalid("this visage was built without PostgreSQL support (feature `postgres`)".into()))
            }
        }
    }
}
