//! Exact search: every stored vector is scored against the query.
//!
//! Vectors live in one contiguous row-major buffer so that the scan streams through memory; removal moves
//! the last row into the hole to keep it contiguous. With [`Precision::Int8`] the scan reads one byte per
//! value instead of four and the best candidates are then rescored with the f32 vectors.

use crate::kernels::{dot_f32, scores_f32, scores_f32_tile, scores_i8};
use crate::topk::TopK;
use crate::vector::{check_batch, checked_unit};
use crate::{IndexError, Keep, VectorIndex};
use rayon::prelude::*;
use std::collections::HashMap;
use std::ops::Range;

/// Rows scored per kernel call: the scores fit in L1 next to the query, and the top-k check runs on them
/// in a tight loop afterwards.
const BLOCK: usize = 256;

/// Below this many vectors a search runs on one thread. Measured on the 2-core development machine
/// (512-d, f32): splitting 10,000 rows over two threads already halves the scan, but below ~4,000 the
/// scan takes under ~100 µs and the hand-off to the thread pool eats the gain.
pub const DEFAULT_PARALLEL_THRESHOLD: usize = 4_096;

/// Batches of f32 queries are scored in tiles of up to this many queries against [`ROW_TILE`] rows: both
/// tiles (2 x 96 KB at 512-d) stay in L2 while every row is loaded once for all the tile's queries.
const QUERY_TILE: usize = 48;
/// See [`QUERY_TILE`].
const ROW_TILE: usize = 48;
/// Smaller batches are searched one query at a time, each over the parallel scan.
const MIN_TILED_BATCH: usize = 6;

/// int8 search rescores this many candidates per result asked for, and at least [`INT8_MIN_CANDIDATES`]:
/// quantisation error only swaps near-ties, which a short list of candidates catches.
const INT8_CANDIDATES_PER_RESULT: usize = 4;
/// See [`INT8_CANDIDATES_PER_RESULT`].
const INT8_MIN_CANDIDATES: usize = 32;

/// How an [`ExactIndex`] stores the vectors it scans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// 4 bytes per value; scores are exact.
    #[default]
    F32,
    /// 1 byte per value with one f32 scale per vector; the scan reads a quarter of the memory, and the
    /// top candidates are rescored in f32 (the f32 vectors are kept for that), so returned scores are
    /// exact and only the candidate list is approximate.
    Int8,
}

/// Brute-force index over unit vectors: exact results, memory `n * dim * 4` bytes (plus `n * dim` for int8).
#[derive(Clone, Debug)]
pub struct ExactIndex {
    dim: usize,
    precision: Precision,
    parallel_threshold: usize,
    /// Row-major f32 vectors, unit length.
    data: Vec<f32>,
    /// Row-major int8 codes (`Precision::Int8` only).
    codes: Vec<i8>,
    /// Per-row dequantisation scale (`Precision::Int8` only).
    scales: Vec<f32>,
    /// Id of each row.
    ids: Vec<u64>,
    /// Row of each id.
    rows: HashMap<u64, usize>,
}

impl ExactIndex {
    /// An empty f32 index for vectors of `dimension` values.
    pub fn new(dimension: usize) -> Result<Self, IndexError> {
        Self::with_precision(dimension, Precision::F32)
    }

    /// An empty index with the given storage precision.
    pub fn with_precision(dimension: usize, precision: Precision) -> Result<Self, IndexError> {
        if dimension == 0 {
            return Err(IndexError::InvalidConfig("dimension must be at least 1".into()));
        }
        Ok(Self {
            dim: dimension,
            precision,
            parallel_threshold: DEFAULT_PARALLEL_THRESHOLD,
            data: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            ids: Vec::new(),
            rows: HashMap::new(),
        })
    }

    /// Sets the number of vectors from which a search is split over the rayon thread pool it runs in
    /// (`usize::MAX`: never).
    pub fn with_parallel_threshold(mut self, rows: usize) -> Self {
        self.parallel_threshold = rows;
        self
    }

    /// The storage precision.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The stored (unit-length) vector of `id`.
    pub fn get(&self, id: u64) -> Option<&[f32]> {
        self.rows.get(&id).map(|&r| self.row(r))
    }

    /// Every `(id, vector)` pair, in storage order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[f32])> + '_ {
        self.ids.iter().copied().zip(self.data.chunks_exact(self.dim))
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.dim..(r + 1) * self.dim]
    }

    /// Appends one already checked, unit-length row.
    fn push_row(&mut self, id: u64, v: &[f32]) {
        self.rows.insert(id, self.ids.len());
        self.ids.push(id);
        self.data.extend_from_slice(v);
        if self.precision == Precision::Int8 {
            let (scale, codes) = quantize(v);
            self.scales.push(scale);
            self.codes.extend(codes);
        }
    }

    /// The k best rows among `range`, scored in the index's precision (int8: approximate scores).
    fn scan(&self, query: &Query, range: Range<usize>, k: usize, keep: Option<&Keep<'_>>) -> TopK {
        let mut top = TopK::new(k);
        let mut scores = [0.0f32; BLOCK];
        let mut iscores = [0i32; BLOCK];
        let mut start = range.start;
        while start < range.end {
            let n = BLOCK.min(range.end - start);
            let (rows, out) = (start * self.dim..(start + n) * self.dim, &mut scores[..n]);
            match query {
                Query::F32(q) => scores_f32(q, &self.data[rows], out),
                Query::Int8(q, q_scale) => {
                    scores_i8(q, &self.codes[rows], &mut iscores[..n]);
                    for ((o, &s), &row_scale) in out.iter_mut().zip(&iscores[..n]).zip(&self.scales[start..start + n]) {
                        *o = s as f32 * row_scale * q_scale;
                    }
                }
            }
            match keep {
                None => top.push_block(out, start),
                Some(keep) => top.push_block_where(out, start, &|row| keep(self.ids[row])),
            }
            start += n;
        }
        top
    }

    /// Scans every row, in parallel when the index is large enough and the pool has several threads.
    fn scan_all(&self, query: &Query, k: usize, keep: Option<&Keep<'_>>) -> TopK {
        let n = self.ids.len();
        let threads = rayon::current_num_threads();
        if n < self.parallel_threshold || threads < 2 {
            return self.scan(query, 0..n, k, keep);
        }
        // One contiguous share per thread, cut at block boundaries; more shares would only add merging.
        let share = n.div_ceil(threads).div_ceil(BLOCK) * BLOCK;
        (0..n.div_ceil(share))
            .into_par_iter()
            .map(|p| self.scan(query, p * share..((p + 1) * share).min(n), k, keep))
            .reduce(
                || TopK::new(k),
                |mut a, b| {
                    a.merge(b);
                    a
                },
            )
    }
}

impl ExactIndex {
    /// The search, with or without a filter.
    fn search_where(&self, query: &[f32], k: usize, keep: Option<&Keep<'_>>) -> Result<Vec<(u64, f32)>, IndexError> {
        let q = checked_unit(query, self.dim)?;
        let k = k.min(self.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let top = match self.precision {
            Precision::F32 => self.scan_all(&Query::F32(&q), k, keep).into_sorted(),
            Precision::Int8 => {
                let (scale, codes) = quantize(&q);
                let prepared = Query::Int8(codes.map(i16::from).collect(), scale);
                let candidates = (k * INT8_CANDIDATES_PER_RESULT).max(INT8_MIN_CANDIDATES);
                let mut exact = TopK::new(k);
                for (row, _) in self.scan_all(&prepared, candidates, keep).into_sorted() {
                    exact.push(dot_f32(&q, self.row(row)), row);
                }
                exact.into_sorted()
            }
        };
        Ok(top.into_iter().map(|(row, score)| (self.ids[row], score)).collect())
    }
}

impl ExactIndex {
    /// Top-k of every query of a batch (unit-length, row after row) with the tiled kernel, query tiles
    /// spread over the rayon pool.
    fn search_batch_tiled(&self, queries: &[f32], k: usize) -> Vec<Vec<(u64, f32)>> {
        let (dim, n) = (self.dim, self.len());
        let nq = queries.len() / dim;
        // Enough tiles for every thread, but tiles as large as allowed: larger tiles reread less.
        let per_tile = nq.div_ceil(rayon::current_num_threads()).clamp(3, QUERY_TILE);
        queries
            .par_chunks(per_tile * dim)
            .flat_map_iter(|tile| {
                let tq = tile.len() / dim;
                let mut tops: Vec<TopK> = (0..tq).map(|_| TopK::new(k)).collect();
                let mut scores = vec![0.0f32; tq * ROW_TILE];
                let mut start = 0;
                while start < n {
                    let rows = ROW_TILE.min(n - start);
                    scores_f32_tile(tile, &self.data[start * dim..(start + rows) * dim], dim, &mut scores, ROW_TILE);
                    for (qi, top) in tops.iter_mut().enumerate() {
                        top.push_block(&scores[qi * ROW_TILE..qi * ROW_TILE + rows], start);
                    }
                    start += rows;
                }
                tops.into_iter().map(|t| t.into_sorted().into_iter().map(|(row, s)| (self.ids[row], s)).collect())
            })
            .collect()
    }
}

/// A query prepared for the scan in the index's precision.
enum Query<'a> {
    F32(&'a [f32]),
    /// Codes widened to i16 once, and the query's scale.
    Int8(Vec<i16>, f32),
}

/// Symmetric per-vector quantisation: the largest magnitude maps to 127.
fn quantize(v: &[f32]) -> (f32, impl Iterator<Item = i8> + '_) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    (scale, v.iter().map(move |x| (x / scale).round().clamp(-127.0, 127.0) as i8))
}

impl VectorIndex for ExactIndex {
    fn dimension(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn contains(&self, id: u64) -> bool {
        self.rows.contains_key(&id)
    }

    fn add_batch(&mut self, ids: &[u64], vectors: &[f32]) -> Result<(), IndexError> {
        check_batch(ids, vectors, self.dim, |id| self.contains(id))?;
        // Check every vector before storing any, so a failed batch leaves the index as it was.
        let units = vectors.chunks_exact(self.dim).map(|v| checked_unit(v, self.dim)).collect::<Result<Vec<_>, _>>()?;
        self.data.reserve(vectors.len());
        self.ids.reserve(ids.len());
        if self.precision == Precision::Int8 {
            self.codes.reserve(vectors.len());
            self.scales.reserve(ids.len());
        }
        for (&id, v) in ids.iter().zip(&units) {
            self.push_row(id, v);
        }
        Ok(())
    }

    fn remove(&mut self, id: u64) -> Result<bool, IndexError> {
        let Some(r) = self.rows.remove(&id) else {
            return Ok(false);
        };
        let last = self.ids.len() - 1;
        let d = self.dim;
        if r != last {
            // Move the last row into the hole: O(dimension), and the buffer stays contiguous.
            self.data.copy_within(last * d..(last + 1) * d, r * d);
            if self.precision == Precision::Int8 {
                self.codes.copy_within(last * d..(last + 1) * d, r * d);
                self.scales[r] = self.scales[last];
            }
            self.ids[r] = self.ids[last];
            self.rows.insert(self.ids[r], r);
        }
        self.ids.pop();
        self.data.truncate(last * d);
        if self.precision == Precision::Int8 {
            self.codes.truncate(last * d);
            self.scales.pop();
        }
        Ok(true)
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>, IndexError> {
        self.search_where(query, k, None)
    }

    fn search_filtered(&self, query: &[f32], k: usize, keep: &Keep<'_>) -> Result<Vec<(u64, f32)>, IndexError> {
        self.search_where(query, k, Some(keep))
    }

    fn search_batch(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<(u64, f32)>>, IndexError> {
        let dim = self.dim;
        if queries.len() % dim != 0 {
            let rows = queries.len() / dim + 1;
            return Err(IndexError::BatchShape { rows, dimension: dim, expected: rows * dim, got: queries.len() });
        }
        let nq = queries.len() / dim;
        if self.precision != Precision::F32 || nq < MIN_TILED_BATCH {
            return queries.par_chunks_exact(dim).map(|q| self.search(q, k)).collect();
        }
        let mut units = Vec::with_capacity(queries.len());
        for q in queries.chunks_exact(dim) {
            units.extend_from_slice(&checked_unit(q, dim)?);
        }
        let k = k.min(self.len());
        if k == 0 {
            return Ok(vec![Vec::new(); nq]);
        }
        Ok(self.search_batch_tiled(&units, k))
    }

    fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        // hashbrown stores (key, value) plus one control byte per bucket, at most 7/8 full.
        let map = self.rows.capacity() * (size_of::<(u64, usize)>() + 1) * 8 / 7;
        self.data.capacity() * size_of::<f32>()
            + self.codes.capacity()
            + self.scales.capacity() * size_of::<f32>()
            + self.ids.capacity() * size_of::<u64>()
            + map
    }
}
