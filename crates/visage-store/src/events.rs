//! The audit events the store records on its own writes, built once for every backend, so that an
//! enrolment, erasure or revocation reads the same in the log whichever database holds the gallery.

use crate::audit::AuditEvent;
use crate::model::{ConsentGrant, TemplateMode};

/// An enrolment: the caller's detail with the number of templates, the consent used and its purpose.
pub(crate) fn enrolled(
    actor: &str,
    subject_id: &str,
    mut detail: serde_json::Value,
    templates: usize,
    consent_id: i64,
    purpose: &str,
) -> AuditEvent {
    if let Some(obj) = detail.as_object_mut() {
        obj.insert("templates".into(), templates.into());
        obj.insert("consent".into(), consent_id.into());
        obj.insert("purpose".into(), purpose.into());
    }
    let event = AuditEvent::ok(actor, "enroll").subject(subject_id).detail(detail);
    // The subjects a forced enrolment matched are named by pseudonym, like every subject in the log.
    AuditEvent { names: vec!["duplicates_overridden".into()], ..event }
}

/// A bulk import of `templates` templates of `subjects` subjects (PostgreSQL adds its template mode).
pub(crate) fn bulk_imported(
    actor: &str,
    templates: usize,
    subjects: usize,
    purpose: &str,
    mode: Option<TemplateMode>,
) -> AuditEvent {
    let mut detail = serde_json::json!({"templates": templates, "subjects": subjects, "purpose": purpose});
    if let (Some(mode), Some(obj)) = (mode, detail.as_object_mut()) {
        obj.insert("mode".into(), mode.to_string().into());
    }
    AuditEvent::ok(actor, "bulk-import").detail(detail)
}

/// A subject erased with its templates and consents (the tombstone the log keeps).
pub(crate) fn erased(actor: &str, subject_id: &str, templates: usize, consents: i64) -> AuditEvent {
    AuditEvent::ok(actor, "delete")
        .subject(subject_id)
        .detail(serde_json::json!({"templates_erased": templates, "consents_erased": consents}))
}

/// An `action` (delete, export) refused because the subject is unknown.
pub(crate) fn unknown_subject(actor: &str, action: &str, subject_id: &str) -> AuditEvent {
    AuditEvent::new(actor, action, "unknown-subject").subject(subject_id)
}

/// A subject's data exported (the right of access).
pub(crate) fn exported(actor: &str, subject_id: &str, include_templates: bool) -> AuditEvent {
    AuditEvent::ok(actor, "export")
        .subject(subject_id)
        .detail(serde_json::json!({"include_templates": include_templates}))
}

/// A further consent granted: what for, on what basis, until when (never the evidence's content).
pub(crate) fn consent_granted(actor: &str, subject_id: &str, id: i64, consent: &ConsentGrant) -> AuditEvent {
    AuditEvent::ok(actor, "consent-grant").subject(subject_id).detail(serde_json::json!({
        "consent": id, "purpose": consent.purpose, "legal_basis": consent.legal_basis,
        "expires_at": consent.expires_at
    }))
}

/// Consents revoked (one purpose or all), and the templates that went with them.
pub(crate) fn consent_revoked(
    actor: &str,
    subject_id: &str,
    purpose: Option<&str>,
    revoked: u64,
    removed: usize,
) -> AuditEvent {
    AuditEvent::ok(actor, "consent-revoke")
        .subject(subject_id)
        .detail(serde_json::json!({"purpose": purpose, "consents_revoked": revoked, "templates_removed": removed}))
}

/// A subject's templates removed because none of its consents is active any more.
pub(crate) fn purged(actor: &str, subject_id: &str, removed: usize) -> AuditEvent {
    AuditEvent::ok(actor, "purge-expired").subject(subject_id).detail(serde_json::json!({"templates_removed": removed}))
}

/// The store key rotated, with the number of templates re-encrypted.
pub(crate) fn key_rotated(actor: &str, templates: usize) -> AuditEvent {
    AuditEvent::ok(actor, "key-rotate").detail(serde_json::json!({"templates": templates}))
}

/// An API key created with its scopes (never its secret).
pub(crate) fn api_key_created(actor: &str, key: &crate::api_keys::ApiKey) -> AuditEvent {
    let mut detail = serde_json::json!({"key": key.id, "scopes": key.scopes});
    if !key.purposes.is_empty() {
        detail["purposes"] = serde_json::json!(key.purposes);
    }
    AuditEvent::ok(actor, "key-create").detail(detail)
}

/// An API key revoked.
pub(crate) fn api_key_revoked(actor: &str, key_id: &str) -> AuditEvent {
    AuditEvent::ok(actor, "key-revoke").detail(serde_json::json!({"key": key_id}))
}
