use std::path::PathBuf;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "the store at {path} was written by a newer visage (schema version {found}; this visage knows up \
         to {known}); upgrade visage, nothing was changed"
    )]
    NewerSchema { path: PathBuf, found: i64, known: i64 },
    #[error("invalid subject id {0:?}: use 1-128 characters from A-Z a-z 0-9 . _ @ - (not starting with a dot)")]
    InvalidSubjectId(String),
    #[error("unknown subject '{0}'")]
    UnknownSubject(String),
    #[error("subject '{0}' has no active consent for purpose '{1}'")]
    NoConsent(String, String),
    #[error("invalid key {origin}: {reason}")]
    InvalidKey { origin: String, reason: String },
    #[error(
        "the key ({origin}) does not open this store: it was encrypted with another key. Use the key the \
         store was created with (VISAGE_KEY or the key file), or restore it from your backup"
    )]
    WrongKey { origin: String },
    #[error("template {0} failed authentication: it was altered or moved to another subject")]
    TemplateTampered(i64),
    #[error("invalid date {0:?}: use YYYY-MM-DD or RFC 3339 (2027-01-31T12:00:00Z)")]
    InvalidDate(String),
    #[error("{0}")]
    Invalid(String),
}

#[cfg(feature = "postgres")]
impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // The server's message (e.g. a constraint or a connection refusal) is what the user can act on.
        match e.as_db_error() {
            Some(db) => StoreError::Postgres(format!("{}: {}", db.code().code(), db.message())),
            None => StoreError::Postgres(e.to_string()),
        }
    }
}
