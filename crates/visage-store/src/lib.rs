//! The embedded gallery of visage, private by design.
//!
//! One SQLite file (WAL mode, versioned migrations) holds:
//! - **subjects**: an id, a display name and metadata; never a face image;
//! - **templates**: embeddings (512-d for the default recogniser), each encrypted with AES-256-GCM
//!   under the store key and bound to its subject, with the model that made it and a quality score;
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
mod events;
mod gallery;
mod keys;
mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod private_files;
mod pseudonyms;
mod rules;
mod secrets;
mod spec;
mod sqlite;
pub mod time_util;

pub use api_keys::{ApiKey, SCOPES};
pub use audit::{AuditEntry, AuditEvent, AuditFilter, AuditVerification};
pub use error::StoreError;
pub use gallery::{migrate, GalleryStore};
pub use keys::{KeySource, StoreKey, KEY_ENV};
pub use model::{
    ActiveConsent, Consent, ConsentChanges, ConsentGrant, GalleryCounts, GalleryDump, NewTemplate, PurgeReport,
    Subject, SubjectExport, Template, TemplateChanges, TemplateMode, TemplateModel, TemplateRecord,
};
pub use rules::validate_subject_id;
pub use spec::StoreSpec;
pub use sqlite::Store;
