//! [`GalleryStore`]: the one interface over the gallery's backends (embedded SQLite, PostgreSQL), and
//! [`migrate`], which copies a gallery from one backend to another through it.

use crate::api_keys::ApiKey;
use crate::audit::{AuditEntry, AuditEvent, AuditFilter, AuditVerification};
use crate::error::StoreError;
use crate::events;
use crate::keys::StoreKey;
use crate::model::{
    Consent, ConsentChanges, ConsentGrant, GalleryCounts, GalleryDump, NewTemplate, PurgeReport, Subject,
    SubjectExport, Template, TemplateChanges, TemplateModel, TemplateRecord,
};

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

    /// The embedding models the templates were made by, with their counts, most templates first.
    fn template_models(&self) -> Result<Vec<TemplateModel>, StoreError>;

    /// The one embedding length this store can hold, when it has one (pgvector's fixed-size column for
    /// plain templates); `None` when templates of any length are kept (encrypted templates).
    fn vector_dim(&self) -> Option<usize> {
        None
    }

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

    /// Appends one audit entry on its own (reads such as identify and verify, refusals); returns its
    /// sequence number.
    fn audit(&self, event: AuditEvent) -> Result<i64, StoreError>;

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;

    /// Checks the whole audit chain.
    fn verify_audit(&self) -> Result<AuditVerification, StoreError>;

    fn create_api_key(
        &self,
        scopes: &[String],
        purposes: &[String],
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
    /// `model_sha256` (cosine similarity), searched in the database. With a `purpose`, only subjects
    /// holding an active consent for it are considered.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        model_sha256: &str,
        purpose: Option<&str>,
    ) -> Result<Vec<(String, f32)>, StoreError> {
        let _ = (query, k, model_sha256, purpose);
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

    /// Where the gallery's consent log stands: it grows with every consent granted, revoked or erased,
    /// by any process on this store (see [`GalleryStore::template_log_position`] for the idea).
    fn consent_log_position(&self) -> Result<i64, StoreError>;

    /// The consents granted, revoked or erased after position `since` of the consent log, read in one
    /// snapshot, with the position it reached: what a process filtering searches by purpose in memory
    /// needs to stay exact. No biometric data; the log itself holds consent ids only.
    fn consent_changes(&self, since: i64) -> Result<ConsentChanges, StoreError>;

    /// Everything in the store, for `visage store migrate`.
    fn dump(&self) -> Result<GalleryDump, StoreError>;

    /// Loads a dump into this store, which must be empty (no subjects, keys or audit entries). The
    /// audit chain is copied as it is, with the audit key it was made with, so it still verifies.
    fn load(&mut self, dump: &GalleryDump) -> Result<(), StoreError>;
}

/// [`GalleryStore::template_models`] in SQL both backends speak.
pub(crate) const TEMPLATE_MODELS: &str = "SELECT model_id, model_sha256, COUNT(*) FROM templates
     GROUP BY model_id, model_sha256 ORDER BY COUNT(*) DESC, model_id";

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

/// The right of access, the same for every backend: the subject (or an audited refusal), the audited
/// export, its consents, its templates (read by the backend's `templates`, with their embeddings when
/// `include_templates`) and its audit entries.
pub(crate) fn export<S: GalleryStore + ?Sized>(
    store: &S,
    subject_id: &str,
    include_templates: bool,
    actor: &str,
    templates: impl FnOnce() -> Result<Vec<Template>, StoreError>,
) -> Result<SubjectExport, StoreError> {
    let Some(subject) = store.subject(subject_id)? else {
        return Err(refuse_unknown_subject(store, actor, "export", subject_id));
    };
    store.audit(events::exported(actor, subject_id, include_templates))?;
    let consents = store.consents(subject_id)?;
    let templates = templates()?;
    let audit = store.audit_entries(&AuditFilter { subject: Some(subject_id.to_string()), ..Default::default() })?;
    Ok(SubjectExport { subject, consents, templates, audit })
}

/// Audits an `action` refused because the subject is unknown, and returns the error to report (the
/// audit's own error if it could not be written).
pub(crate) fn refuse_unknown_subject<S: GalleryStore + ?Sized>(
    store: &S,
    actor: &str,
    action: &str,
    subject_id: &str,
) -> StoreError {
    match store.audit(events::unknown_subject(actor, action, subject_id)) {
        Ok(_) => StoreError::UnknownSubject(subject_id.to_string()),
        Err(e) => e,
    }
}
