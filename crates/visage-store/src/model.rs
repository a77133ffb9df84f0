//! The gallery's domain types, the same for every backend: subjects, consent, templates, exports,
//! the template log's changes and the dump of a whole gallery.

use crate::api_keys::ApiKey;
use crate::audit::{AuditEntry, AuditRow};
use crate::error::StoreError;
use serde::Serialize;
use zeroize::Zeroizing;

/// A person known to the gallery.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Subject {
    pub id: String,
    #[schema(required = true)]
    pub display_name: Option<String>,
    pub metadata: serde_json::Value,
    pub created_at: String,
}

/// A consent to record with an enrolment.
#[derive(Debug, Clone)]
pub struct ConsentGrant {
    pub purpose: String,
    /// E.g. "consent" (GDPR art. 6(1)(a) / 9(2)(a)).
    pub legal_basis: String,
    /// Where the proof of consent is kept (a form id, a document reference).
    pub evidence: String,
    /// Stored-format time (see [`crate::time_util`]); `None`: no expiry.
    pub expires_at: Option<String>,
}

/// A consent record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Consent {
    pub id: i64,
    pub purpose: String,
    pub legal_basis: String,
    pub evidence: String,
    pub granted_at: String,
    #[schema(required = true)]
    pub expires_at: Option<String>,
    #[schema(required = true)]
    pub revoked_at: Option<String>,
}

/// A template to store.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub embedding: Vec<f32>,
    pub model_id: String,
    pub model_sha256: String,
    pub quality: f32,
}

/// A stored template's metadata (no embedding).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: i64,
    pub model_id: String,
    pub model_sha256: String,
    pub quality: f32,
    pub created_at: String,
    /// Only in exports that ask for templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

/// One embedding model whose templates a gallery holds, and how many (no biometric data): what a
/// system opening the gallery checks its recogniser against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateModel {
    pub model_id: String,
    pub model_sha256: String,
    pub templates: usize,
}

/// A decrypted template, for building the search index.
#[derive(Debug, Clone)]
pub struct TemplateRecord {
    pub id: i64,
    pub subject_id: String,
    pub model_sha256: String,
    pub embedding: Vec<f32>,
}

/// Everything the store holds about one subject (the right of access).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubjectExport {
    pub subject: Subject,
    pub consents: Vec<Consent>,
    pub templates: Vec<Template>,
    pub audit: Vec<AuditEntry>,
}

/// What `purge_expired` removed.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct PurgeReport {
    /// Subjects whose templates were removed (no active consent left).
    pub subjects: Vec<String>,
    pub templates_removed: usize,
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

/// A consent that is in force (granted, not revoked), as a process that filters searches by purpose
/// keeps it in memory. Its expiry is checked when it is used.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveConsent {
    pub id: i64,
    pub subject_id: String,
    pub purpose: String,
    /// Stored-format time (see [`crate::time_util`]); `None`: no expiry.
    pub expires_at: Option<String>,
}

/// The difference between two positions of the consent log (see [`GalleryStore::consent_changes`]).
#[derive(Debug, Default)]
pub struct ConsentChanges {
    /// The log position these changes reach.
    pub position: i64,
    /// Consents granted or changed since and still in force.
    pub active: Vec<ActiveConsent>,
    /// Ids of consents revoked or deleted (with their subject) since. Ids are never reused.
    pub ended: Vec<i64>,
}

/// A copy of a whole gallery, decrypted (kept in memory only while migrating).
pub struct GalleryDump {
    pub(crate) subjects: Vec<Subject>,
    pub(crate) consents: Vec<(String, Consent)>,
    pub(crate) templates: Vec<DumpedTemplate>,
    pub(crate) api_keys: Vec<(ApiKey, String)>,
    pub(crate) audit: Vec<AuditRow>,
    /// (subject id, pseudonym) of every subject the audit log names (see [`crate::pseudonyms`]).
    pub(crate) pseudonyms: Vec<(String, String)>,
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
