//! One index type for the gallery that picks exact or HNSW search by size.

use crate::{ExactIndex, HnswIndex, HnswParams, IndexError, Keep, Precision, VectorIndex};

/// Gallery size above which [`IndexKind::Auto`] switches to HNSW. Measured with the `bench_index` example
/// on the 2-core development machine (512-d, one query at a time, 2 threads): exact f32 search takes a
/// median 0.13 ms at 10,000 vectors and 3.7 ms at 100,000 (bound by memory bandwidth), HNSW about 0.08 ms
/// and 0.2 ms. Below ~100,000 the exact scan stays under a few milliseconds, returns the true neighbours
/// and costs no graph build (more than a minute at 100,000 on 2 cores), so the switch happens there.
pub const DEFAULT_AUTO_THRESHOLD: usize = 100_000;

/// Which search a [`GalleryIndex`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IndexKind {
    /// Always the exact scan.
    Exact,
    /// Always HNSW.
    Hnsw,
    /// Exact until the gallery exceeds [`GalleryConfig::auto_threshold`] vectors, HNSW from then on.
    #[default]
    Auto,
}

/// Settings of a [`GalleryIndex`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GalleryConfig {
    /// Exact, HNSW or chosen by size.
    pub kind: IndexKind,
    /// Storage of the exact index.
    pub precision: Precision,
    /// Parameters of the HNSW index.
    pub hnsw: HnswParams,
    /// Size above which `Auto` switches to HNSW.
    pub auto_threshold: usize,
}

impl Default for GalleryConfig {
    fn default() -> Self {
        Self {
            kind: IndexKind::Auto,
            precision: Precision::F32,
            hnsw: HnswParams::default(),
            auto_threshold: DEFAULT_AUTO_THRESHOLD,
        }
    }
}

/// The gallery's index: an [`ExactIndex`] or an [`HnswIndex`] behind one [`VectorIndex`].
#[derive(Debug)]
pub struct GalleryIndex {
    config: GalleryConfig,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Exact(ExactIndex),
    Hnsw(HnswIndex),
}

impl GalleryIndex {
    /// An empty gallery index for vectors of `dimension` values.
    pub fn new(dimension: usize, config: GalleryConfig) -> Result<Self, IndexError> {
        let inner = match config.kind {
            IndexKind::Hnsw => Inner::Hnsw(HnswIndex::new(dimension, config.hnsw)?),
            IndexKind::Exact | IndexKind::Auto => {
                Inner::Exact(ExactIndex::with_precision(dimension, config.precision)?)
            }
        };
        Ok(Self { config, inner })
    }

    /// The search in use now: [`IndexKind::Exact`] or [`IndexKind::Hnsw`], never `Auto`.
    pub fn active_kind(&self) -> IndexKind {
        match self.inner {
            Inner::Exact(_) => IndexKind::Exact,
            Inner::Hnsw(_) => IndexKind::Hnsw,
        }
    }

    /// Copies of the live ids and vectors: what another index built elsewhere (in the background, while
    /// this one answers) starts from.
    pub fn snapshot(&self) -> (Vec<u64>, Vec<f32>) {
        match &self.inner {
            Inner::Exact(exact) => {
                let (ids, vectors): (Vec<u64>, Vec<&[f32]>) = exact.iter().unzip();
                (ids, vectors.concat())
            }
            Inner::Hnsw(h) => h.snapshot(),
        }
    }

    /// Changes the HNSW search candidate list length (at once, no rebuild; nothing to do for exact).
    pub fn set_ef_search(&mut self, ef_search: usize) {
        self.config.hnsw.ef_search = ef_search.max(1);
        if let Inner::Hnsw(h) = &mut self.inner {
            h.set_ef_search(ef_search);
        }
    }

    /// The settings this index was made with.
    pub fn config(&self) -> &GalleryConfig {
        &self.config
    }

    /// Whether the HNSW graph has lost enough nodes to removals to be worth rebuilding (never for exact).
    pub fn needs_rebuild(&self) -> bool {
        matches!(&self.inner, Inner::Hnsw(h) if h.needs_rebuild())
    }

    /// Rebuilds the HNSW graph from the live vectors (nothing to do for exact).
    pub fn rebuild(&mut self) -> Result<(), IndexError> {
        match &mut self.inner {
            Inner::Hnsw(h) => h.rebuild(),
            Inner::Exact(_) => Ok(()),
        }
    }

    /// Moves the vectors into an HNSW graph once an `Auto` gallery has outgrown the exact scan. Only
    /// upwards: a gallery that shrinks again keeps its graph (still correct, and no rebuild churn).
    fn switch_if_grown(&mut self) -> Result<(), IndexError> {
        let Inner::Exact(exact) = &self.inner else { return Ok(()) };
        if self.config.kind != IndexKind::Auto || exact.len() <= self.config.auto_threshold {
            return Ok(());
        }
        let mut hnsw = HnswIndex::new(exact.dimension(), self.config.hnsw)?;
        let (ids, vectors): (Vec<u64>, Vec<&[f32]>) = exact.iter().unzip();
        hnsw.add_batch(&ids, &vectors.concat())?;
        self.inner = Inner::Hnsw(hnsw);
        Ok(())
    }

    fn index(&self) -> &dyn VectorIndex {
        match &self.inner {
            Inner::Exact(e) => e,
            Inner::Hnsw(h) => h,
        }
    }

    fn index_mut(&mut self) -> &mut dyn VectorIndex {
        match &mut self.inner {
            Inner::Exact(e) => e,
            Inner::Hnsw(h) => h,
        }
    }
}

impl VectorIndex for GalleryIndex {
    fn dimension(&self) -> usize {
        self.index().dimension()
    }

    fn len(&self) -> usize {
        self.index().len()
    }

    fn contains(&self, id: u64) -> bool {
        self.index().contains(id)
    }

    fn add_batch(&mut self, ids: &[u64], vectors: &[f32]) -> Result<(), IndexError> {
        self.index_mut().add_batch(ids, vectors)?;
        self.switch_if_grown()
    }

    fn remove(&mut self, id: u64) -> Result<bool, IndexError> {
        self.index_mut().remove(id)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>, IndexError> {
        self.index().search(query, k)
    }

    fn search_filtered(&self, query: &[f32], k: usize, keep: &Keep<'_>) -> Result<Vec<(u64, f32)>, IndexError> {
        self.index().search_filtered(query, k, keep)
    }

    fn search_batch(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<(u64, f32)>>, IndexError> {
        self.index().search_batch(queries, k)
    }

    fn memory_bytes(&self) -> usize {
        self.index().memory_bytes()
    }
}
