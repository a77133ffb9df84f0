//! Vector search over face embeddings: which stored templates are most similar to a probe?
//!
//! Vectors are embeddings of one dimension (512 for visage's model), stored at unit length so that the
//! dot product is the cosine similarity; ids are the store's template ids. Two indexes implement
//! [`VectorIndex`]:
//! - [`ExactIndex`]: scans every vector with SIMD dot products, optionally over int8 codes
//!   ([`Precision::Int8`]); exact results, latency linear in the gallery size;
//! - [`HnswIndex`]: an HNSW graph (the `usearch` library); recall below 1 that `ef_search` trades
//!   against speed (at a million vectors of the benchmark's hard random fill, one core: 0.34 ms at
//!   recall@1 0.91, about 2.4 ms at 0.994).
//!
//! [`GalleryIndex`] holds either and, with [`IndexKind::Auto`], switches from exact to HNSW when the
//! gallery grows past [`DEFAULT_AUTO_THRESHOLD`]. Removal is immediate in both: a removed id is never
//! returned again.
//!
//! ```
//! use visage_index::{ExactIndex, VectorIndex};
//!
//! let mut index = ExactIndex::new(3)?;
//! index.add(7, &[1.0, 0.0, 0.0])?;
//! index.add(9, &[0.0, 1.0, 0.0])?;
//! let best = index.search(&[0.9, 0.1, 0.0], 1)?;
//! assert_eq!(best[0].0, 7);
//! index.remove(7)?;
//! assert_eq!(index.search(&[0.9, 0.1, 0.0], 1)?[0].0, 9);
//! # Ok::<(), visage_index::IndexError>(())
//! ```

mod error;
mod exact;
mod gallery;
mod hnsw;
mod kernels;
mod topk;
mod vector;

pub use error::IndexError;
pub use exact::{ExactIndex, Precision, DEFAULT_PARALLEL_THRESHOLD};
pub use gallery::{GalleryConfig, GalleryIndex, IndexKind, DEFAULT_AUTO_THRESHOLD};
pub use hnsw::{HnswIndex, HnswParams};
pub use kernels::simd_level;

use rayon::prelude::*;

/// Which ids a filtered search may return (see [`VectorIndex::search_filtered`]).
pub type Keep<'a> = dyn Fn(u64) -> bool + Sync + 'a;

/// What every index offers. Vectors need not be unit length (they are normalised on the way in, and so
/// are queries) but must have the index's dimension and finite values.
pub trait VectorIndex: Send + Sync {
    /// Number of values per vector.
    fn dimension(&self) -> usize;

    /// Number of vectors stored.
    fn len(&self) -> usize;

    /// Whether no vector is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is stored.
    fn contains(&self, id: u64) -> bool;

    /// Adds one vector under a new id.
    fn add(&mut self, id: u64, vector: &[f32]) -> Result<(), IndexError> {
        if vector.len() != self.dimension() {
            return Err(IndexError::DimensionMismatch { expected: self.dimension(), got: vector.len() });
        }
        self.add_batch(&[id], vector)
    }

    /// Adds `ids.len()` vectors given row after row in `vectors`. The whole batch is checked (dimension,
    /// finite values, ids new and distinct) before anything is added.
    fn add_batch(&mut self, ids: &[u64], vectors: &[f32]) -> Result<(), IndexError>;

    /// Removes `id`; returns whether it was there. A removed id is never returned by a search again.
    fn remove(&mut self, id: u64) -> Result<bool, IndexError>;

    /// The `k` most similar vectors to `query` as `(id, cosine similarity)`, best first (fewer when the
    /// index holds fewer).
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>, IndexError>;

    /// [`search`](Self::search) among the vectors whose id `keep` accepts: the `k` best of those, however
    /// many better ones it rejects (a search bound to a purpose only sees the subjects consented for it).
    /// `keep` is asked only about vectors that would enter the result, so a filter costs little.
    fn search_filtered(&self, query: &[f32], k: usize, keep: &Keep<'_>) -> Result<Vec<(u64, f32)>, IndexError>;

    /// [`search`](Self::search) for several queries given row after row, spread over the current rayon
    /// thread pool.
    fn search_batch(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<(u64, f32)>>, IndexError> {
        let dim = self.dimension();
        if queries.len() % dim != 0 {
            let rows = queries.len() / dim + 1;
            return Err(IndexError::BatchShape { rows, dimension: dim, expected: rows * dim, got: queries.len() });
        }
        queries.par_chunks_exact(dim).map(|q| self.search(q, k)).collect()
    }

    /// Estimated heap memory held by the index, in bytes.
    fn memory_bytes(&self) -> usize;
}
