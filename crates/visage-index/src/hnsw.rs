//! Approximate search with HNSW graphs, through the `usearch` crate.
//!
//! Why usearch (measured on LFW embeddings plus random unit vectors, 20,000 x 512, M = 16,
//! ef_construction = 128, 2 threads; see the crate README for the full comparison):
//! - recall@1 0.993 at ef_search 64 and 0.999 at 96, where `hnsw_rs` 0.3 stalls near 0.83 even at 256
//!   (it loses the random vectors) and `instant-distance` 0.6 needs 353 s to build what usearch builds in
//!   11 s (and has neither incremental insertion nor deletion);
//! - native removal (the slot is marked free and reused by the next insertion), so a deleted template
//!   can never come back, without tombstones filtered at query time;
//! - Apache-2.0, released every few weeks, SIMD kernels with run-time dispatch (AVX2/AVX-512/NEON).
//!
//! The costs: a C++ compiler at build time (about a minute of extra cold build), and search speed: at
//! the same recall FAISS's `IndexHNSWFlat` answers 1.4-2x (10,000 vectors) to 2.7x (100,000) more queries
//! per second. The gap grows once the vectors outgrow the cache, so the likely cause is memory latency:
//! FAISS's graph walk computes distances four at a time with prefetching, usearch's one by one (see the
//! crate README).

use crate::kernels::ip_distance;
use crate::vector::{check_batch, checked_unit};
use crate::{IndexError, VectorIndex};
use rayon::prelude::*;
use std::collections::HashSet;
use std::sync::{Condvar, Mutex};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// HNSW build and search parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HnswParams {
    /// Links per node on the upper layers (twice that on the bottom layer), as FAISS's and hnswlib's `M`.
    pub m: usize,
    /// Candidate list length while inserting: larger builds a better graph, more slowly.
    pub ef_construction: usize,
    /// Candidate list length while searching (at least `k` is used): the recall/speed knob.
    pub ef_search: usize,
    /// [`HnswIndex::needs_rebuild`] turns true once removals since the last build exceed this fraction of
    /// the live vectors.
    pub rebuild_fraction: f64,
}

impl Default for HnswParams {
    /// M = 32, ef_construction = 200, ef_search = 96, from the `bench_index` example at 100,000 vectors
    /// (LFW plus random unit vectors, the hard case for HNSW: random vectors have no neighbourhood
    /// structure). M = 16 / ef_construction 128 needed ef_search 256 for recall@1 0.99 there (and its
    /// recall keeps falling as the gallery grows); M = 32 / 200 reaches 0.990 at ef_search 48 and 0.999 at
    /// 96, for about twice the build time. Galleries of real faces cluster and reach the same recall with less.
    fn default() -> Self {
        Self { m: 32, ef_construction: 200, ef_search: 96, rebuild_fraction: 0.25 }
    }
}

/// HNSW index over unit vectors, similarity = dot product.
pub struct HnswIndex {
    dim: usize,
    params: HnswParams,
    index: Index,
    ids: HashSet<u64>,
    removed_since_build: usize,
    /// usearch serves at most as many concurrent calls as it reserved per-thread scratch space for and
    /// fails the others; this gate makes extra callers wait instead.
    slots: Slots,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dim", &self.dim)
            .field("params", &self.params)
            .field("len", &self.ids.len())
            .finish()
    }
}

impl HnswIndex {
    /// An empty index for vectors of `dimension` values.
    pub fn new(dimension: usize, params: HnswParams) -> Result<Self, IndexError> {
        if dimension == 0 {
            return Err(IndexError::InvalidConfig("dimension must be at least 1".into()));
        }
        if params.m < 2 || params.ef_construction == 0 || params.ef_search == 0 {
            return Err(IndexError::InvalidConfig(format!(
                "HNSW needs m >= 2 and ef_construction, ef_search >= 1, got {params:?}"
            )));
        }
        let options = IndexOptions {
            dimensions: dimension,
            metric: MetricKind::IP,
            quantization: ScalarKind::F32,
            connectivity: params.m,
            expansion_add: params.ef_construction,
            expansion_search: params.ef_search,
            multi: false,
        };
        let mut index = Index::new(&options).map_err(backend)?;
        // usearch's own f32 inner product (NumKong) widens to f64 with a single accumulator chain, which
        // made searches 1.45x slower (measured at 10,000 vectors); our AVX2 kernel keeps f32, four chains.
        index.change_metric::<f32>(ip_distance(dimension));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(rayon::current_num_threads());
        index.reserve_capacity_and_threads(0, threads).map_err(backend)?;
        Ok(Self {
            dim: dimension,
            params,
            index,
            ids: HashSet::new(),
            removed_since_build: 0,
            slots: Slots::new(threads),
        })
    }

    /// The parameters in force.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes the search candidate list length (takes effect at once; no rebuild).
    pub fn set_ef_search(&mut self, ef_search: usize) {
        self.params.ef_search = ef_search.max(1);
        self.index.change_expansion_search(self.params.ef_search);
    }

    /// Whether removals since the last build exceed [`HnswParams::rebuild_fraction`]: freed slots are
    /// reused by later insertions, but a graph that has lost many nodes routes searches less well.
    pub fn needs_rebuild(&self) -> bool {
        self.removed_since_build as f64 > self.params.rebuild_fraction * self.ids.len().max(1) as f64
    }

    /// Builds a fresh graph from the live vectors (same ids and parameters).
    pub fn rebuild(&mut self) -> Result<(), IndexError> {
        let ids: Vec<u64> = self.ids.iter().copied().collect();
        let mut vectors = vec![0.0f32; ids.len() * self.dim];
        for (id, v) in ids.iter().zip(vectors.chunks_exact_mut(self.dim)) {
            self.index.get(*id, v).map_err(backend)?;
        }
        let mut fresh = Self::new(self.dim, self.params)?;
        fresh.add_batch(&ids, &vectors)?;
        *self = fresh;
        Ok(())
    }

    /// Makes room for `more` vectors, doubling so that a stream of single adds stays amortised O(1).
    fn reserve(&mut self, more: usize) -> Result<(), IndexError> {
        let need = self.index.size() + more;
        if need > self.index.capacity() {
            let capacity = need.max(self.index.capacity() * 2).max(1024);
            self.index.reserve_capacity_and_threads(capacity, self.slots.total).map_err(backend)?;
        }
        Ok(())
    }
}

impl VectorIndex for HnswIndex {
    fn dimension(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }

    fn add_batch(&mut self, ids: &[u64], vectors: &[f32]) -> Result<(), IndexError> {
        check_batch(ids, vectors, self.dim, |id| self.contains(id))?;
        let units = vectors.chunks_exact(self.dim).map(|v| checked_unit(v, self.dim)).collect::<Result<Vec<_>, _>>()?;
        self.reserve(ids.len())?;
        let (index, slots) = (&self.index, &self.slots);
        // Insertion is the expensive part of HNSW; usearch takes concurrent adds, one per reserved slot.
        let added: Vec<Result<u64, IndexError>> = ids
            .par_iter()
            .zip(units.par_iter())
            .map(|(&id, v)| {
                let _slot = slots.acquire();
                index.add(id, v).map(|()| id).map_err(backend)
            })
            .collect();
        let mut first_error = None;
        for r in added {
            match r {
                Ok(id) => {
                    self.ids.insert(id);
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn remove(&mut self, id: u64) -> Result<bool, IndexError> {
        if !self.ids.remove(&id) {
            return Ok(false);
        }
        self.index.remove(id).map_err(backend)?;
        self.removed_since_build += 1;
        Ok(true)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>, IndexError> {
        let q = checked_unit(query, self.dim)?;
        let k = k.min(self.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let matches = {
            let _slot = self.slots.acquire();
            self.index.search(&q, k).map_err(backend)?
        };
        // usearch's inner-product distance is 1 - dot.
        Ok(matches.keys.into_iter().zip(matches.distances).map(|(id, d)| (id, 1.0 - d)).collect())
    }

    fn memory_bytes(&self) -> usize {
        let set = self.ids.capacity() * (std::mem::size_of::<u64>() + 1) * 8 / 7;
        self.index.memory_usage() + set
    }
}

fn backend(e: impl std::fmt::Display) -> IndexError {
    IndexError::Backend(e.to_string())
}

/// A counting semaphore over usearch's per-thread scratch slots.
struct Slots {
    total: usize,
    free: Mutex<usize>,
    released: Condvar,
}

/// Holds one slot until dropped.
struct SlotGuard<'a>(&'a Slots);

impl Slots {
    fn new(total: usize) -> Self {
        Self { total, free: Mutex::new(total), released: Condvar::new() }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        SlotGuard(self)
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.released.notify_one();
    }
}
