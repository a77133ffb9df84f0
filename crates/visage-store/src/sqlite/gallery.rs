//! The SQLite [`Store`] as a [`GalleryStore`]: each trait method is the store's own method.

use super::store::Store;
use crate::api_keys::ApiKey;
use crate::audit::{AuditEntry, AuditEvent, AuditFilter, AuditVerification};
use crate::error::StoreError;
use crate::gallery::GalleryStore;
use crate::keys::StoreKey;
use crate::model::{
    Consent, ConsentChanges, ConsentGrant, GalleryDump, NewTemplate, PurgeReport, Subject, SubjectExport,
    TemplateChanges, TemplateModel, TemplateRecord,
};

impl GalleryStore for Store {
    fn location(&self) -> String {
        format!("sqlite:{}", self.path().display())
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
        Store::enroll(self, subject_id, display_name, consent, templates, actor, detail)
    }

    fn subject(&self, id: &str) -> Result<Option<Subject>, StoreError> {
        Store::subject(self, id)
    }

    fn subjects(&self) -> Result<Vec<(Subject, usize)>, StoreError> {
        Store::subjects(self)
    }

    fn template_ids(&self, subject_id: &str) -> Result<Vec<i64>, StoreError> {
        Store::template_ids(self, subject_id)
    }

    fn all_templates(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        Store::all_templates(self)
    }

    fn template_models(&self) -> Result<Vec<TemplateModel>, StoreError> {
        Store::template_models(self)
    }

    fn bulk_import(
        &self,
        rows: &[(String, NewTemplate)],
        consent: &ConsentGrant,
        actor: &str,
    ) -> Result<usize, StoreError> {
        Store::bulk_import(self, rows, consent, actor)
    }

    fn template_log_position(&self) -> Result<i64, StoreError> {
        Store::template_log_position(self)
    }

    fn template_changes(&self, since: i64) -> Result<TemplateChanges, StoreError> {
        Store::template_changes(self, since)
    }

    fn consent_log_position(&self) -> Result<i64, StoreError> {
        Store::consent_log_position(self)
    }

    fn consent_changes(&self, since: i64) -> Result<ConsentChanges, StoreError> {
        Store::consent_changes(self, since)
    }

    fn delete_subject(&self, subject_id: &str, actor: &str) -> Result<Vec<i64>, StoreError> {
        Store::delete_subject(self, subject_id, actor)
    }

    fn export(&self, subject_id: &str, include_templates: bool, actor: &str) -> Result<SubjectExport, StoreError> {
        Store::export(self, subject_id, include_templates, actor)
    }

    fn consents(&self, subject_id: &str) -> Result<Vec<Consent>, StoreError> {
        Store::consents(self, subject_id)
    }

    fn grant_consent(&self, subject_id: &str, consent: &ConsentGrant, actor: &str) -> Result<Consent, StoreError> {
        Store::grant_consent(self, subject_id, consent, actor)
    }

    fn revoke_consent(&self, subject_id: &str, purpose: Option<&str>, actor: &str) -> Result<Vec<i64>, StoreError> {
        Store::revoke_consent(self, subject_id, purpose, actor)
    }

    fn purge_expired(&self, actor: &str) -> Result<(PurgeReport, Vec<i64>), StoreError> {
        Store::purge_expired(self, actor)
    }

    fn rotate_key(&mut self, new_key: StoreKey, actor: &str) -> Result<StoreKey, StoreError> {
        Store::rotate_key(self, new_key, actor)
    }

    fn audit(&self, event: AuditEvent) -> Result<i64, StoreError> {
        Store::audit(self, event)
    }

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        Store::audit_entries(self, filter)
    }

    fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        Store::verify_audit(self)
    }

    fn create_api_key(
        &self,
        scopes: &[String],
        purposes: &[String],
        label: Option<&str>,
        actor: &str,
    ) -> Result<(ApiKey, String), StoreError> {
        Store::create_api_key(self, scopes, purposes, label, actor)
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        Store::api_keys(self)
    }

    fn revoke_api_key(&self, id: &str, actor: &str) -> Result<(), StoreError> {
        Store::revoke_api_key(self, id, actor)
    }

    fn authenticate(&self, presented: &str) -> Result<Option<ApiKey>, StoreError> {
        Store::authenticate(self, presented)
    }

    fn dump(&self) -> Result<GalleryDump, StoreError> {
        Store::dump(self)
    }

    fn load(&mut self, dump: &GalleryDump) -> Result<(), StoreError> {
        Store::load(self, dump)
    }
}
