//! Opening the gallery a command names: the store, its key, and the system over it.

use crate::args::gallery::GalleryArgs;
use crate::args::pipeline::{analyzer_config, PipelineArgs, Purpose};
use anyhow::{Context, Result};
use std::path::PathBuf;
use visage::store::{time_util, ConsentGrant, GalleryStore, StoreSpec};
use visage::system::{default_actor, default_data_dir, FaceRecognitionSystem, SystemConfig};

fn data_dir(g: &GalleryArgs) -> PathBuf {
    g.data_dir.clone().unwrap_or_else(default_data_dir)
}

/// Opens the gallery (creating it and its key on first use).
pub fn open(g: &GalleryArgs, pipeline: Option<&PipelineArgs>) -> Result<FaceRecognitionSystem> {
    open_configured(g, pipeline, |_| {})
}

/// [`open`] with a last change to the configuration.
pub fn open_configured(
    g: &GalleryArgs,
    pipeline: Option<&PipelineArgs>,
    adjust: impl FnOnce(&mut SystemConfig),
) -> Result<FaceRecognitionSystem> {
    let spec = store_spec(g)?;
    let dir = key_dir(g, &spec);
    let mut config = SystemConfig::new(&dir);
    config.actor = default_actor();
    config.store = Some(spec);
    config.index = g.index.into();
    // A command that answers and exits searches exactly; `serve` builds HNSW in the background.
    config.hnsw_above = None;
    match pipeline {
        Some(p) => config.analyzer = analyzer_config(p, Purpose::Recognition),
        // Commands that compare no faces (listing, erasure, export, consent, audit) open any gallery.
        None => config.recognizer_from_gallery = true,
    }
    adjust(&mut config);
    let place = gallery_place(g);
    FaceRecognitionSystem::open(config).with_context(|| format!("cannot open the gallery in {place}"))
}

/// Which store `--store` / `VISAGE_STORE` names (default: SQLite in the data dir).
pub fn store_spec(g: &GalleryArgs) -> Result<StoreSpec> {
    Ok(StoreSpec::parse(g.store.as_deref(), &data_dir(g), g.pg_templates)?)
}

/// Where the key file is: the SQLite store's own folder, else the data dir (unless VISAGE_KEY is set).
pub fn key_dir(g: &GalleryArgs, spec: &StoreSpec) -> PathBuf {
    match spec {
        StoreSpec::Sqlite(dir) => dir.clone(),
        StoreSpec::Postgres { .. } => data_dir(g),
    }
}

/// The gallery's place for messages (never a password).
fn gallery_place(g: &GalleryArgs) -> String {
    match store_spec(g) {
        Ok(StoreSpec::Postgres { url, .. }) => visage::store::postgres::redact(&url),
        Ok(StoreSpec::Sqlite(dir)) => dir.display().to_string(),
        Err(_) => g.store.clone().unwrap_or_default(),
    }
}

/// Whether a gallery exists in the data dir (verify is audited there when it does).
pub fn exists(g: &GalleryArgs) -> bool {
    match store_spec(g) {
        Ok(StoreSpec::Sqlite(dir)) => dir.join("visage.db").is_file(),
        // A database server: the gallery is there when the server is configured.
        Ok(StoreSpec::Postgres { .. }) => true,
        Err(_) => false,
    }
}

/// The gallery's store alone, without the face pipeline (for keys and audit entries).
pub fn open_store(g: &GalleryArgs) -> Result<Box<dyn GalleryStore>> {
    let spec = store_spec(g)?;
    let key = visage::store::StoreKey::load_or_create(&key_dir(g, &spec))?;
    spec.open(key).with_context(|| format!("cannot open the gallery in {}", gallery_place(g)))
}

/// Appends one audit entry to the gallery's log without starting the face pipeline.
pub fn audit_event(g: &GalleryArgs, action: &str, outcome: &str, detail: serde_json::Value) -> Result<()> {
    open_store(g)?.audit(visage::store::AuditEvent::new(&default_actor(), action, outcome).detail(detail))?;
    Ok(())
}

/// A consent grant from the command line's words.
pub fn consent(purpose: &str, evidence: &str, legal_basis: &str, expires: Option<&str>) -> Result<ConsentGrant> {
    Ok(ConsentGrant {
        purpose: purpose.to_string(),
        legal_basis: legal_basis.to_string(),
        evidence: evidence.to_string(),
        expires_at: expires.map(time_util::parse_user_date).transpose()?,
    })
}
