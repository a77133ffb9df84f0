//! The embedded gallery of visage, private by design.
//!
//! One SQLite file (WAL mode, versioned migrations) holds:
//! - **subjects**: an id, a display name and metadata; never a face image;
//! - **templates**: 512-d embeddings, each encrypted with AES-256-GCM under the store key and bound to
//!   its subject, with the model that made it and a quality score;
//! - **consent records**: purpose, legal basis, evidence reference, granted / expires / revoked;
//! - an **audit log**: every read and write of biometric data, hash-chained with an HMAC so that an
//!   edited, inserted or deleted entry is found by [`Store::verify_audit`].
//!
//! Deletion really deletes: `secure_delete` overwrites freed pages, and the WAL is checkpointed and
//! truncated after an erasure, so the erased template does not survive in the file.

mod api_keys;
mod audit;
mod crypto;
mod error;
mod gallery;
mod keys;
#[cfg(feature = "postgres")]
pub mod postgres;
mod schema;
mod sqlite_gallery;
mod store;
pub mod time_util;

pub use api_keys::{ApiKey, SCOPES};
pub use audit::{AuditEntry, AuditFilter, AuditVerification};
pub use error::StoreError;
pub use gallery::{migrate, GalleryCounts, GalleryDump, GalleryStore, StoreSpec, TemplateChanges, TemplateMode};
pub use keys::{KeySource, StoreKey, KEY_ENV};
pub use store::{
    Consent, ConsentGrant, NewTemplate, PurgeReport, Store, Subject, SubjectExport, Template, TemplateRecord,
};

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
