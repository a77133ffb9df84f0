//! The one error type of this crate.

/// What can go wrong when adding to or searching an index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A vector or query does not have the index's dimension (embeddings from another model).
    #[error("vector has dimension {got}, the index holds dimension {expected}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The length of the vector given.
        got: usize,
    },
    /// A vector holds NaN or an infinity: it would poison every similarity computed with it.
    #[error("vector has a non-finite value ({value}) at position {position}")]
    NonFinite {
        /// Index of the first offending value.
        position: usize,
        /// The value itself.
        value: f32,
    },
    /// A vector of length zero has no direction, so no cosine similarity.
    #[error("vector has zero length and cannot be normalised")]
    ZeroVector,
    /// The id is already in the index (or twice in one batch): remove it first to replace it.
    #[error("id {0} is already in the index")]
    DuplicateId(u64),
    /// A batch (of vectors for `add_batch`, of queries for `search_batch`) does not hold
    /// `rows * dimension` values.
    #[error("{rows} rows need {expected} values ({rows} x dimension {dimension}), got {got}")]
    BatchShape {
        /// Number of rows expected (ids given, or whole queries found).
        rows: usize,
        /// The index's dimension.
        dimension: usize,
        /// `rows * dimension`.
        expected: usize,
        /// Number of values given.
        got: usize,
    },
    /// A parameter is out of range (dimension 0, M below 2, ...).
    #[error("invalid index configuration: {0}")]
    InvalidConfig(String),
    /// The HNSW library reported a failure (typically memory allocation).
    #[error("HNSW backend: {0}")]
    Backend(String),
}
