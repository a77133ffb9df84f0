//! The backend-neutral rules of the gallery: what a valid subject id, consent, enrolment and import are,
//! checked before anything is written, whichever backend writes it.

use crate::error::StoreError;
use crate::model::{ConsentGrant, NewTemplate};

/// A consent grant must say what for and where its proof is.
pub(crate) fn check_grant(consent: &ConsentGrant) -> Result<(), StoreError> {
    if consent.purpose.trim().is_empty() || consent.evidence.trim().is_empty() {
        return Err(StoreError::Invalid("a consent needs a purpose and an evidence reference".into()));
    }
    Ok(())
}

/// Checks an enrolment before anything is written: a valid subject id, a consent with a purpose and
/// evidence that has not expired (at `now`), and at least one template, each finite (and of `dim`
/// values when the backend fixes the dimension).
pub(crate) fn check_enrolment(
    subject_id: &str,
    consent: &ConsentGrant,
    templates: &[NewTemplate],
    now: &str,
    dim: Option<usize>,
) -> Result<(), StoreError> {
    validate_subject_id(subject_id)?;
    if consent.purpose.trim().is_empty() || consent.evidence.trim().is_empty() {
        return Err(StoreError::Invalid("consent needs a purpose and an evidence reference".into()));
    }
    if templates.is_empty() {
        return Err(StoreError::Invalid("nothing to enrol: no templates".into()));
    }
    if consent.expires_at.as_deref().is_some_and(|e| e <= now) {
        return Err(StoreError::Invalid("the consent has already expired".into()));
    }
    for t in templates {
        if t.embedding.iter().any(|v| !v.is_finite()) {
            return Err(StoreError::Invalid("embedding has non-finite values".into()));
        }
        if let Some(dim) = dim.filter(|d| *d != t.embedding.len()) {
            return Err(StoreError::Invalid(format!(
                "embedding has {} values; plain PostgreSQL templates are {dim}-d (encrypted ones have any length)",
                t.embedding.len()
            )));
        }
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
        validate_subject_id(subject)?;
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

/// Checks a subject id: 1 to 128 characters from `A-Z a-z 0-9 . _ @ -`, not starting with a dot.
/// Ids appear in file names, URLs and logs, so anything that could traverse a path or break a URL is
/// refused.
pub fn validate_subject_id(id: &str) -> Result<(), StoreError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
    if id.is_empty() || id.len() > 128 || id.starts_with('.') || !id.chars().all(ok_char) {
        return Err(StoreError::InvalidSubjectId(id.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_ids() {
        for ok in ["alice", "A.B_c-d@example.org", "123"] {
            assert!(validate_subject_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "../etc/passwd", "a/b", "a b", ".hidden", "x\0y", &"a".repeat(129), "é"] {
            assert!(validate_subject_id(bad).is_err(), "{bad:?}");
        }
    }
}
