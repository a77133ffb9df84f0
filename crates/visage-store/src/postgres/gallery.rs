//! The PostgreSQL [`PgStore`] as a [`GalleryStore`]: each trait method is the store's own method, in
//! the module of its job.

use super::store::PgStore;
use crate::api_keys::ApiKey;
use crate::audit::{AuditEntry, AuditEvent, AuditFilter, AuditVerification};
use crate::error::StoreError;
use crate::gallery::GalleryStore;
use crate::keys::StoreKey;
use crate::model::{
    Consent, ConsentChanges, ConsentGrant, GalleryDump, NewTemplate, PurgeReport, Subject, SubjectExport,
    TemplateChanges, TemplateModel, TemplateRecord,
};

impl GalleryStore for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn enroll(
        &self,
        subject_id: &str,
        display_name: Option<&str>,
        consent: &ConsentGrant,
        templates: &[NewTemplate],
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<Vec<i64>, StoreError> {
        PgStore::enroll(self, subject_id, display_name, consent, templates, actor, detail)
    }

    fn subject(&self, id: &str) -> Result<Option<Subject>, StoreError> {
        PgStore::subject(self, id)
    }

    fn subjects(&self) -> Result<Vec<(Subject, usize)>, StoreError> {
        PgStore::subjects(self)
    }

    fn template_ids(&self, subject_id: &str) -> Result<Vec<i64>, StoreError> {
        PgStore::template_ids(self, subject_id)
    }

    fn all_templates(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        PgStore::all_templates(self)
    }

    fn template_models(&self) -> Result<Vec<TemplateModel>, StoreError> {
        PgStore::template_models(self)
    }

    fn vector_dim(&self) -> Option<usize> {
        PgStore::vector_dim(self)
    }

    fn bulk_import(
        &self,
        rows: &[(String, NewTemplate)],
        consent: &ConsentGrant,
        actor: &str,
    ) -> Result<usize, StoreError> {
        PgStore::bulk_import(self, rows, consent, actor)
    }

    fn template_log_position(&self) -> Result<i64, StoreError> {
        PgStore::template_log_position(self)
    }

    fn template_changes(&self, since: i64) -> Result<TemplateChanges, StoreError> {
        PgStore::template_changes(self, since)
    }

    fn consent_log_position(&self) -> Result<i64, StoreError> {
        PgStore::consent_log_position(self)
    }

    fn consent_changes(&self, since: i64) -> Result<ConsentChanges, StoreError> {
        PgStore::consent_changes(self, since)
    }

    fn delete_subject(&self, subject_id: &str, actor: &str) -> Result<Vec<i64>, StoreError> {
        PgStore::delete_subject(self, subject_id, actor)
    }

    fn export(&self, subject_id: &str, include_templates: bool, actor: &str) -> Result<SubjectExport, StoreError> {
        PgStore::export(self, subject_id, include_templates, actor)
    }

    fn consents(&self, subject_id: &str) -> Result<Vec<Consent>, StoreError> {
        PgStore::consents(self, subject_id)
    }

    fn grant_consent(&self, subject_id: &str, consent: &ConsentGrant, actor: &str) -> Result<Consent, StoreError> {
        PgStore::grant_consent(self, subject_id, consent, actor)
    }

    fn revoke_consent(&self, subject_id: &str, purpose: Option<&str>, actor: &str) -> Result<Vec<i64>, StoreError> {
        PgStore::revoke_consent(self, subject_id, purpose, actor)
    }

    fn purge_expired(&self, actor: &str) -> Result<(PurgeReport, Vec<i64>), StoreError> {
        PgStore::purge_expired(self, actor)
    }

    fn rotate_key(&mut self, new_key: StoreKey, actor: &str) -> Result<StoreKey, StoreError> {
        PgStore::rotate_key(self, new_key, actor)
    }

    fn audit(&self, event: AuditEvent) -> Result<i64, StoreError> {
        PgStore::audit(self, event)
    }

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        PgStore::audit_entries(self, filter)
    }

    fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        PgStore::verify_audit(self)
    }

    fn create_api_key(
        &self,
        scopes: &[String],
        purposes: &[String],
        label: Option<&str>,
        actor: &str,
    ) -> Result<(ApiKey, String), StoreError> {
        PgStore::create_api_key(self, scopes, purposes, label, actor)
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        PgStore::api_keys(self)
    }

    fn revoke_api_key(&self, id: &str, actor: &str) -> Result<(), StoreError> {
        PgStore::revoke_api_key(self, id, actor)
    }

    fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, StoreError> {
        PgStore::authenticate(self, presented)
    }

    fn searches_in_database(&self) -> bool {
        PgStore::searches_in_database(self)
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        model_sha256: &str,
        purpose: Option<&str>,
    ) -> Result<Vec<(String, f32)>, StoreError> {
        PgStore::search(self, query, k, model_sha256, purpose)
    }

    fn dump(&self) -> Result<GalleryDump, StoreError> {
        PgStore::dump(self)
    }

    fn load(&mut self, dump: &GalleryDump) -> Result<(), StoreError> {
        PgStore::load(self, dump)
    }
}
