//! [`GalleryStore`]: the one interface over the gallery's backends (embedded SQLite, PostgreSQL), and
//! [`StoreSpec`], which says which one to open.

use crate::audit::{AuditEntry, AuditFilter, AuditVerification};
use crate::keys::StoreKey;
use crate::store::{Consent, ConsentGrant, NewTemplate, PurgeReport, Store, Subject, SubjectExport, TemplateRecord};
use crate::{ApiKey, StoreError};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The gallery's operations: subjects, templates, consent, API keys and the audit log. Every backend
/// keeps the same guarantees: an enrolment, erasure or revocation commits with its audit entry or not
/// at all, and concurrent writers keep the audit chain intact.
pub trait GalleryStore: Send + Sync + std::fmt::Debug {
    /// Where the gallery lives, for messages (`sqlite:/path/visage.db`, `postgres://host/db`; never a password).
    fn location(&self) -> String;

    /// Enrols a subject with consent and templates, in one transaction; returns the new template ids.
    fn enroll(
        &self,
        subject_id: &str,
        display_name: Option<&str>,
        consent: &ConsentGrant,
        templates: &[NewTemplate],
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<Vec<i64>, StoreError>;

    /// One subject, if known.
    fn subject(&self, id: &str) -> Result<Option<Subject>, StoreError>;

    /// Every subject with its number of templates.
    fn subjects(&self) -> Result<Vec<(Subject, usize)>, StoreError>;

    /// Template ids of one subject, oldest first.
    fn template_ids(&self, subject_id: &str) -> Result<Vec<i64>, StoreError>;

    /// Every template, decrypted, for building an in-process search index.
    fn all_templates(&self) -> Result<Vec<TemplateRecord>, StoreError>;

    /// Erases a subject (templates, consent); the audit keeps a tombstone. Returns the erased template ids.
    fn delete_subject(&self, subject_id: &str, actor: &str) -> Result<Vec<i64>, StoreError>;

    /// Everything held about a subject. Audited.
    fn export(&self, subject_id: &str, include_templates: bool, actor: &str) -> Result<SubjectExport, StoreError>;

    /// A subject's consent records, oldest first.
    fn consents(&self, subject_id: &str) -> Result<Vec<Consent>, StoreError>;

    /// Revokes consent (one purpose or all); returns the template ids removed.
    /// Records a further consent (another purpose) for an enrolled subject. Refused when the subject
    /// already holds an active consent for that purpose.
    fn grant_consent(&self, subject_id: &str, consent: &ConsentGrant, actor: &str) -> Result<Consent, StoreError>;

    fn revoke_consent(&self, subject_id: &str, purpose: Option<&str>, actor: &str) -> Result<Vec<i64>, StoreError>;

    /// Removes the templates of subjects without active consent.
    fn purge_expired(&self, actor: &str) -> Result<(PurgeReport, Vec<i64>), StoreError>;

    /// Re-encrypts the store's secrets (and encrypted templates) under `new_key`.
    fn rotate_key(&mut self, new_key: StoreKey, actor: &str) -> Result<StoreKey, StoreError>;

    /// Appends one audit entry on its own.
    fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: Option<&str>,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<i64, StoreError>;

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;

    /// Checks the whole audit chain.
    fn verify_audit(&self) -> Result<AuditVerification, StoreError>;

    fn create_api_key(
        &self,
        scopes: &[String],
        label: Option<&str>,
        actor: &str,
    ) -> Result<(ApiKey, String), StoreError>;
    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    fn revoke_api_key(&self, id: &str, actor: &str) -> Result<(), StoreError>;
    fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, StoreError>;

    /// Whether [`GalleryStore::search`] runs in the database (then no in-process index is needed).
    fn searches_in_database(&self) -> bool {
        false
    }

    /// The best `k` subjects for a query embedding, each scored by its best template made by the model
    /// `model_sha256` (cosine similarity), searched in the database.
    fn search(&self, query: &[f32], k: usize, model_sha256: &str) -> Result<Vec<(String, f32)>, StoreError> {
        let _ = (query, k, model_sha256);
        Err(StoreError::Invalid(format!("{} does not search in the database", self.location())))
    }

    /// Imports many templates in one transaction (bulk imports, benchmarks): each subject is created if
    /// new and given `consent` unless it already holds an active consent for that purpose, so no
    /// template is ever stored without consent; one audit entry records the batch. Unlike an enrolment
    /// there is no duplicate or quality check: the caller vouches for the templates. All or nothing.
    fn bulk_import(
        &self,
        rows: &[(String, NewTemplate)],
        consent: &ConsentGrant,
        actor: &str,
    ) -> Result<usize, StoreError>;

    /// Where the gallery's template log stands: it grows with every template added or removed, by any
    /// process on this store. A process that keeps templates in memory compares it with the position it
    /// last read and, when it moved, fetches the difference with [`GalleryStore::template_changes`].
    fn template_log_position(&self) -> Result<i64, StoreError>;

    /// The templates added and removed after position `since` of the template log (by any process),
    /// read in one snapshot, with the position that snapshot reached. Added templates are decrypted;
    /// templates added and removed again within the range are only in `removed`.
    fn template_changes(&self, since: i64) -> Result<TemplateChanges, StoreError>;

    /// Everything in the store, for `visage store migrate`.
    fn dump(&self) -> Result<GalleryDump, StoreError>;

    /// Loads a dump into this store, which must be empty (no subjects, keys or audit entries). The
    /// audit chain is copied as it is, with the audit key it was made with, so it still verifies.
    fn load(&mut self, dump: &GalleryDump) -> Result<(), StoreError>;
}

/// The difference between two positions of the template log (see [`GalleryStore::template_changes`]).
#[derive(Debug, Default)]
pub struct TemplateChanges {
    /// The log position these changes reach.
    pub position: i64,
    /// Templates added since and still present, decrypted.
    pub added: Vec<TemplateRecord>,
    /// Ids of templates removed since (erasure, revocation, expiry). Ids are never reused.
    pub removed: Vec<i64>,
}

/// A copy of a whole gallery, decrypted (kept in memory only while migrating).
pub struct GalleryDump {
    pub(crate) subjects: Vec<Subject>,
    pub(crate) consents: Vec<(String, Consent)>,
    pub(crate) templates: Vec<DumpedTemplate>,
    pub(crate) api_keys: Vec<(ApiKey, String)>,
    pub(crate) audit: Vec<DumpedAudit>,
    pub(crate) audit_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for GalleryDump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GalleryDump").field("counts", &self.counts()).finish_non_exhaustive()
    }
}

/// How much a gallery holds, to compare source and target of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GalleryCounts {
    pub subjects: usize,
    pub consents: usize,
    pub templates: usize,
    pub api_keys: usize,
    pub audit_entries: usize,
}

impl GalleryDump {
    pub fn counts(&self) -> GalleryCounts {
        GalleryCounts {
            subjects: self.subjects.len(),
            consents: self.consents.len(),
            templates: self.templates.len(),
            api_keys: self.api_keys.len(),
            audit_entries: self.audit.len(),
        }
    }
}

/// A template with everything needed to recreate it.
#[derive(Clone)]
pub(crate) struct DumpedTemplate {
    pub id: i64,
    pub subject_id: String,
    pub embedding: Zeroizing<Vec<f32>>,
    pub model_id: String,
    pub model_sha256: String,
    pub quality: f32,
    pub created_at: String,
}

/// An audit row exactly as stored (the detail as text, so its hash still verifies).
#[derive(Clone)]
pub(crate) struct DumpedAudit {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub subject: Option<String>,
    pub outcome: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// How templates are kept in a PostgreSQL gallery (fixed when the gallery is created).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TemplateMode {
    /// Plain `vector(512)` columns, searched by the server with an HNSW index: the database must be
    /// protected (disk encryption, access control), since a template leaks from it in the clear.
    #[default]
    Plain,
    /// AES-256-GCM ciphertexts, as in the SQLite store: the server cannot index them, so each visage
    /// process decrypts them at start-up and searches in memory.
    Encrypted,
}

impl std::str::FromStr for TemplateMode {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "plain" => Ok(TemplateMode::Plain),
            "encrypted" => Ok(TemplateMode::Encrypted),
            other => Err(StoreError::Invalid(format!("unknown template mode '{other}' (expected plain or encrypted)"))),
        }
    }
}

impl std::fmt::Display for TemplateMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TemplateMode::Plain => "plain",
            TemplateMode::Encrypted => "encrypted",
        })
    }
}

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

/// Copies every row of `from` into the empty `to`, then checks that both hold the same counts and that
/// the copied audit chain verifies. Returns the counts.
pub fn migrate(from: &dyn GalleryStore, to: &mut dyn GalleryStore) -> Result<GalleryCounts, StoreError> {
    let source = from.verify_audit()?;
    if !source.intact {
        return Err(StoreError::Invalid(format!(
            "the source's audit log is broken at entry {:?} ({}); not migrating",
            source.first_bad,
            source.reason.unwrap_or_default()
        )));
    }
    let dump = from.dump()?;
    to.load(&dump)?;
    let copied = to.dump()?.counts();
    if copied != dump.counts() {
        return Err(StoreError::Invalid(format!(
            "the copy does not match: source {:?}, target {copied:?}",
            dump.counts()
        )));
    }
    let target = to.verify_audit()?;
    if !target.intact || target.entries != source.entries {
        return Err(StoreError::Invalid(format!(
            "the copied audit log does not verify: {} entries, first bad {:?} ({})",
            target.entries,
            target.first_bad,
            target.reason.unwrap_or_default()
        )));
    }
    Ok(copied)
}

/// A consent grant must say what for and where its proof is.
pub(crate) fn check_grant(consent: &ConsentGrant) -> Result<(), StoreError> {
    if consent.purpose.trim().is_empty() || consent.evidence.trim().is_empty() {
        return Err(StoreError::Invalid("a consent needs a purpose and an evidence reference".into()));
    }
    Ok(())
}

/// Checks a bulk import's consent, subject ids and embeddings (of `dim` values when fixed) before
/// anything is written.
pub(crate) fn check_import(
    rows: &[(String, NewTemplate)],
    consent: &ConsentGrant,
    dim: Option<usize>,
) -> Result<(), StoreError> {
    check_grant(consent)?;
    for (subject, t) in rows {
        crate::validate_subject_id(subject)?;
        if t.embedding.is_empty() || t.embedding.iter().any(|v| !v.is_finite()) {
            return Err(StoreError::Invalid(format!("a template of {subject} is empty or not finite")));
        }
        if dim.is_some_and(|d| d != t.embedding.len()) {
            return Err(StoreError::Invalid(format!(
                "a template of {subject} has {} values, expected {}",
                t.embedding.len(),
                dim.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

pub(crate) fn already_granted(subject_id: &str, purpose: &str) -> StoreError {
    StoreError::Invalid(format!("{subject_id} already has an active consent for '{purpose}'; revoke it first"))
}

/// The audit detail of a grant: what for, on what basis, until when (never the evidence's content).
pub(crate) fn grant_detail(id: i64, consent: &ConsentGrant) -> serde_json::Value {
    serde_json::json!({"consent": id, "purpose": consent.purpose, "legal_basis": consent.legal_basis,
                       "expires_at": consent.expires_at})
}
