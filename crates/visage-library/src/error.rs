//! The library's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the photo library.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("library database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("no person {0} in the library (see `visage library people`)")]
    NoPerson(i64),
    #[error("no face {0} in the library (see `visage library faces PERSON`)")]
    NoFace(i64),
    #[error("the library was built with embedding model {stored}, not {current}: its faces cannot be compared; run `visage library forget` and scan again")]
    ModelChanged { stored: String, current: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Visage(#[from] visage::VisageError),
}

impl LibraryError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> LibraryError + '_ {
        move |source| LibraryError::Io { path: path.to_path_buf(), source }
    }
}

/// The library's result type.
pub type Result<T, E = LibraryError> = std::result::Result<T, E>;
