//! `GalleryArgs`: which gallery a command works on (data dir, store, template mode, search index).

use clap::Args;
use std::path::PathBuf;

/// Where the gallery lives.
#[derive(Debug, Args, Clone)]
pub struct GalleryArgs {
    /// The gallery folder (store and key file). Default: the platform data dir (~/.local/share/visage).
    #[arg(long, env = "VISAGE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The gallery's database: `postgres://USER@HOST:PORT/DB` (PostgreSQL + pgvector, shared by several
    /// services) or `sqlite:DIR`. Default: the embedded SQLite store in the data dir (which also holds
    /// the key file unless VISAGE_KEY is set).
    #[arg(long, env = "VISAGE_STORE")]
    pub store: Option<String>,
    /// How a PostgreSQL gallery keeps templates: `plain` (searched by the database with HNSW; protect the
    /// database) or `encrypted` (AES-256-GCM, searched in memory by each service).
    #[arg(long, env = "VISAGE_PG_TEMPLATES", default_value = "plain")]
    pub pg_templates: visage::store::TemplateMode,
    /// The in-memory search index (SQLite, or PostgreSQL with encrypted templates): `exact` (SIMD
    /// scan), `hnsw` (approximate, for large galleries; built at start-up), or `auto` (exact up to
    /// 100,000 templates, HNSW above).
    #[arg(long, env = "VISAGE_INDEX", value_enum, default_value = "auto")]
    pub index: IndexChoice,
}

/// See [`GalleryArgs::index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IndexChoice {
    Exact,
    Hnsw,
    Auto,
}

impl From<IndexChoice> for visage_index::IndexKind {
    fn from(c: IndexChoice) -> Self {
        match c {
            IndexChoice::Exact => visage_index::IndexKind::Exact,
            IndexChoice::Hnsw => visage_index::IndexKind::Hnsw,
            IndexChoice::Auto => visage_index::IndexKind::Auto,
        }
    }
}
