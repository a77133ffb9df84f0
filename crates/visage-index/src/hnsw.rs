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
//! The graph walks int8 codes, the ranking uses f32. Each vector is stored twice: as int8 codes in the
//! usearch graph (a quarter of the bytes, per-vector scale, see `kernels::i8_codes`) with visage's AVX2
//! `vpmaddubsw` distance plugged in as usearch's metric, and as f32 rows here. A search walks the graph
//! for the best `k + RERANK_EXTRA` codes and scores those candidates with exact f32 dot products, so the
//! similarities returned are exact and the order is the f32 order.
//!
//! Why: profiling a query (10,000 vectors, `perf record`) put 73% of the time in the distance function,
//! most of it waiting for the rows to come in from cache and memory, because usearch's dense index
//! computed distances one neighbour at a time without prefetching. Two changes answer that:
//! - int8 codes: 516 bytes per vector instead of 2 KB (0.72x -> 1.3-1.5x FAISS `IndexHNSWFlat`'s query
//!   rate at equal recall at 10,000 vectors, 0.37x -> 0.7-0.9x at 100,000);
//! - a prefetch hook in usearch's dense index (`vendor/usearch`, a patched copy of usearch 2.26.6, see
//!   its `VISAGE-PATCH.md`): before measuring a node's unvisited neighbours, all their vectors' cache
//!   lines are requested at once, so the misses overlap. At 100,000 vectors that doubled the queries per
//!   CPU second and halved the build's CPU time (same binary, prefetch on and off, same load), which
//!   took visage from 0.59-0.93x to 1.04-2.2x FAISS's queries per CPU second at 100,000 (crate README).
//!
//! The costs: a C++ compiler at build time (usearch is C++ behind `cxx`), and the f32 copy (the memory of
//! FAISS's `IndexHNSWFlat` plus the codes).

use crate::kernels::{dot_f32_fn, i8_codes, i8_ip_distance, CODE_SCALE_BYTES};
use crate::vector::{check_batch, checked_unit};
use crate::{IndexError, Keep, VectorIndex};
use rayon::prelude::*;
use std::collections::HashMap;
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
    /// M = 32, ef_construction = 200, ef_search = 64, from the `bench_index` example at 100,000 vectors
    /// (LFW plus random unit vectors, the hard case for HNSW: random vectors have no neighbourhood
    /// structure). M = 16 / ef_construction 128 needed ef_search 256 for recall@1 0.99 there (and its
    /// recall keeps falling as the gallery grows); M = 32 / 200 reaches 0.994 at ef_search 48, 0.997 at 64
    /// and 0.998 at 96, for about twice the build time. Galleries of real faces cluster and reach the same
    /// recall with less; larger galleries need more (raise it with [`HnswIndex::set_ef_search`]).
    fn default() -> Self {
        Self { m: 32, ef_construction: 200, ef_search: 64, rebuild_fraction: 0.25 }
    }
}

/// Candidates beyond `k` that a search takes from the int8 graph and rescores in f32: the int8 order
/// can swap near-ties, the rescoring puts them back. On the benchmark data (10,000 LFW plus random unit
/// vectors, ef_search 32) recall@1 against exact f32 search was 0.998 from the graph's order alone and
/// 1.000 with 10 candidates rescored.
const RERANK_EXTRA: usize = 8;

/// HNSW index over unit vectors, similarity = dot product.
pub struct HnswIndex {
    dim: usize,
    params: HnswParams,
    /// The graph over int8 codes; keys are the ids.
    index: Index,
    /// Row of each id in `vectors`.
    rows: HashMap<u64, usize>,
    /// The f32 unit vectors, `dim` values per row, for rescoring and rebuilds.
    vectors: Vec<f32>,
    /// Rows freed by removals, reused by the next additions.
    free_rows: Vec<usize>,
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
            .field("len", &self.rows.len())
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
            dimensions: dimension + CODE_SCALE_BYTES,
            metric: MetricKind::IP,
            quantization: ScalarKind::I8,
            connectivity: params.m,
            expansion_add: params.ef_construction,
            expansion_search: params.ef_search,
            multi: false,
        };
        let mut index = Index::new(&options).map_err(backend)?;
        // The codes carry their own scale (see `i8_codes`), which usearch's int8 metrics know nothing of.
        index.change_metric::<i8>(i8_ip_distance(dimension));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(rayon::current_num_threads());
        index.reserve_capacity_and_threads(0, threads).map_err(backend)?;
        Ok(Self {
            dim: dimension,
            params,
            index,
            rows: HashMap::new(),
            vectors: Vec::new(),
            free_rows: Vec::new(),
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
        self.removed_since_build as f64 > self.params.rebuild_fraction * self.rows.len().max(1) as f64
    }

    /// Copies of the live ids and their f32 vectors (what a rebuild starts from).
    pub fn snapshot(&self) -> (Vec<u64>, Vec<f32>) {
        let ids: Vec<u64> = self.rows.keys().copied().collect();
        let vectors: Vec<f32> = ids.iter().flat_map(|id| self.row(self.rows[id]).iter().copied()).collect();
        (ids, vectors)
    }

    /// Builds a fresh graph from the live vectors (same ids and parameters).
    pub fn rebuild(&mut self) -> Result<(), IndexError> {
        let (ids, vectors) = self.snapshot();
        let mut fresh = Self::new(self.dim, self.params)?;
        fresh.add_batch(&ids, &vectors)?;
        *self = fresh;
        Ok(())
    }

    fn row(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dim..(row + 1) * self.dim]
    }

    /// Stores `v` in a free row (or a new one) and returns the row.
    fn store_row(&mut self, v: &[f32]) -> usize {
        match self.free_rows.pop() {
            Some(row) => {
                self.vectors[row * self.dim..(row + 1) * self.dim].copy_from_slice(v);
                row
            }
            None => {
                self.vectors.extend_from_slice(v);
                self.vectors.len() / self.dim - 1
            }
        }
    }

    /// Makes room for `more` vectors, doubling so that a stream of single adds stays amortised O(1).
    fn reserve(&mut self, more: usize) -> Result<(), IndexError> {
        let need = self.index.size() + more;
        if need > self.index.capacity() {
            let capacity = need.max(self.index.capacity() * 2).max(1024);
            self.index.reserve_capacity_and_threads(capacity, self.slots.total).map_err(backend)?;
        }
        // The f32 rows grow by an eighth at least (still amortised O(1) for single adds) rather than
        // doubling: they are most of the memory.
        let new_rows = more.saturating_sub(self.free_rows.len());
        let spare_rows = (self.vectors.capacity() - self.vectors.len()) / self.dim;
        if new_rows > spare_rows {
            let rows = self.vectors.len() / self.dim;
            self.vectors.reserve_exact(new_rows.max(rows / 8) * self.dim);
        }
        Ok(())
    }
}

impl VectorIndex for HnswIndex {
    fn dimension(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn contains(&self, id: u64) -> bool {
        self.rows.contains_key(&id)
    }

    fn add_batch(&mut self, ids: &[u64], vectors: &[f32]) -> Result<(), IndexError> {
        check_batch(ids, vectors, self.dim, |id| self.contains(id))?;
        let units = vectors.chunks_exact(self.dim).map(|v| checked_unit(v, self.dim)).collect::<Result<Vec<_>, _>>()?;
        self.reserve(ids.len())?;
        let (index, slots) = (&self.index, &self.slots);
        // Insertion is the expensive part of HNSW; usearch takes concurrent adds, one per reserved slot.
        let added: Vec<Result<(), IndexError>> = ids
            .par_iter()
            .zip(units.par_iter())
            .map_init(Vec::new, |codes, (&id, v)| {
                i8_codes(v, codes);
                let _slot = slots.acquire();
                index.add(id, codes).map_err(backend)
            })
            .collect();
        let mut first_error = None;
        for ((&id, v), r) in ids.iter().zip(&units).zip(added) {
            match r {
                Ok(()) => {
                    let row = self.store_row(v);
                    self.rows.insert(id, row);
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn remove(&mut self, id: u64) -> Result<bool, IndexError> {
        let Some(&row) = self.rows.get(&id) else {
            return Ok(false);
        };
        self.index.remove(id).map_err(backend)?;
        self.rows.remove(&id);
        self.free_rows.push(row);
        self.removed_since_build += 1;
        Ok(true)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>, IndexError> {
        self.search_where(query, k, None)
    }

    fn search_filtered(&self, query: &[f32], k: usize, keep: &Keep<'_>) -> Result<Vec<(u64, f32)>, IndexError> {
        self.search_where(query, k, Some(keep))
    }

    fn memory_bytes(&self) -> usize {
        let map = self.rows.capacity() * (std::mem::size_of::<(u64, usize)>() + 1) * 8 / 7;
        let rows = (self.vectors.capacity() * std::mem::size_of::<f32>()) + self.free_rows.capacity() * 8;
        self.index.memory_usage() + map + rows
    }
}

impl HnswIndex {
    /// The search, with or without a filter.
    fn search_where(&self, query: &[f32], k: usize, keep: Option<&Keep<'_>>) -> Result<Vec<(u64, f32)>, IndexError> {
        let q = checked_unit(query, self.dim)?;
        let k = k.min(self.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut codes = Vec::with_capacity(self.dim + CODE_SCALE_BYTES);
        i8_codes(&q, &mut codes);
        let wanted = (k + RERANK_EXTRA).min(self.len());
        let matches = {
            let _slot = self.slots.acquire();
            match keep {
                None => self.index.search(&codes, wanted),
                // The graph walk goes on past rejected nodes until it holds `wanted` accepted ones.
                Some(keep) => self.index.filtered_search(&codes, wanted, |id| keep(id)),
            }
            .map_err(backend)?
        };
        let dot = dot_f32_fn();
        let mut scored: Vec<(u64, f32)> = matches
            .keys
            .into_iter()
            .filter_map(|id| self.rows.get(&id).map(|&row| (id, dot(&q, self.row(row)))))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        Ok(scored)
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
