//! The in-memory search index of a gallery searched in this process (SQLite, or PostgreSQL with
//! encrypted templates): template vectors and their subjects, kept in step with the store through its
//! template log; and, for large galleries, an HNSW graph built in the background while the exact scan
//! answers, swapped in when it is ready.

use crate::VisageError;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use visage_index::{GalleryConfig, GalleryIndex, IndexKind, VectorIndex};
use visage_store::{TemplateChanges, TemplateRecord};

/// A subject and how similar its best template is to a face.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub subject: String,
    pub similarity: f32,
}

/// The gallery's search index: template vectors, which subject each template belongs to, and how far
/// into the store's template log it is.
pub(super) struct SubjectIndex {
    vectors: GalleryIndex,
    subject_of: HashMap<u64, String>,
    /// Templates made by another embedding model, which this system cannot compare.
    pub(super) foreign: HashSet<u64>,
    /// The store's template log position this index reflects (see
    /// [`visage_store::GalleryStore::template_changes`]).
    pub(super) position: i64,
}

impl SubjectIndex {
    /// An empty index of `dim`-d vectors. `Auto` starts exact: the system decides when to build HNSW (in
    /// the background).
    pub(super) fn new(kind: IndexKind, dim: usize) -> Result<SubjectIndex, VisageError> {
        let kind = if kind == IndexKind::Auto { IndexKind::Exact } else { kind };
        let config = GalleryConfig { kind, ..GalleryConfig::default() };
        Ok(SubjectIndex {
            vectors: GalleryIndex::new(dim, config)?,
            subject_of: HashMap::new(),
            foreign: HashSet::new(),
            position: 0,
        })
    }

    /// Adds the templates of `model_sha` (in one batch) and sets the others aside as foreign. Templates
    /// already present are skipped, so applying a change twice is harmless.
    pub(super) fn add_records(&mut self, records: Vec<TemplateRecord>, model_sha: &str) -> Result<(), VisageError> {
        let mut ids = Vec::with_capacity(records.len());
        let mut flat = Vec::with_capacity(records.len() * self.vectors.dimension());
        for t in records {
            let id = t.id as u64;
            if self.subject_of.contains_key(&id) || self.foreign.contains(&id) {
                continue;
            }
            if t.model_sha256 != model_sha {
                self.foreign.insert(id);
                continue;
            }
            ids.push(id);
            flat.extend_from_slice(&t.embedding);
            self.subject_of.insert(id, t.subject_id);
        }
        self.vectors.add_batch(&ids, &flat)?;
        Ok(())
    }

    pub(super) fn add(&mut self, id: u64, subject: &str, embedding: &[f32]) -> Result<(), VisageError> {
        if self.subject_of.contains_key(&id) {
            return Ok(()); // already applied from the template log
        }
        self.vectors.add(id, embedding)?;
        self.subject_of.insert(id, subject.to_string());
        Ok(())
    }

    pub(super) fn remove(&mut self, ids: &[i64]) -> Result<(), VisageError> {
        for &id in ids {
            self.vectors.remove(id as u64)?;
            self.subject_of.remove(&(id as u64));
            self.foreign.remove(&(id as u64));
        }
        // A graph that lost many nodes is rebuilt in the background (see `BackgroundHnsw`), not here
        // under the write lock: at a million templates that takes minutes.
        Ok(())
    }

    /// Brings the index to `changes.position`: what other processes erased goes, what they enrolled comes.
    pub(super) fn apply(&mut self, changes: TemplateChanges, model_sha: &str) -> Result<(), VisageError> {
        if changes.position <= self.position {
            return Ok(());
        }
        self.remove(&changes.removed)?;
        self.add_records(changes.added, model_sha)?;
        self.position = changes.position;
        Ok(())
    }

    /// The best `k` subjects for a face, each scored by its best template; with `allow`, only among the
    /// subjects it accepts (a purpose-bound search).
    pub(super) fn search(
        &self,
        query: &[f32],
        k: usize,
        allow: Option<&(dyn Fn(&str) -> bool + Sync)>,
    ) -> Result<Vec<Candidate>, VisageError> {
        if self.subject_of.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        // Several templates per subject: look further than k templates to find k subjects.
        let want = (k * 8 + 32).min(self.subject_of.len());
        let mut best: HashMap<&str, f32> = HashMap::new();
        let nearest = match allow {
            None => self.vectors.search(query, want)?,
            Some(allow) => {
                let keep = |id: u64| self.subject_of.get(&id).is_some_and(|s| allow(s));
                self.vectors.search_filtered(query, want, &keep)?
            }
        };
        for (id, sim) in nearest {
            if let Some(subject) = self.subject_of.get(&id) {
                let e = best.entry(subject.as_str()).or_insert(f32::NEG_INFINITY);
                *e = e.max(sim);
            }
        }
        let mut out: Vec<Candidate> =
            best.into_iter().map(|(s, similarity)| Candidate { subject: s.to_string(), similarity }).collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then_with(|| a.subject.cmp(&b.subject)));
        out.truncate(k);
        Ok(out)
    }
}

impl SubjectIndex {
    /// The search in use: exact or HNSW.
    pub(super) fn kind(&self) -> IndexKind {
        self.vectors.active_kind()
    }

    pub(super) fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Sets an HNSW graph's search breadth for its size (see [`ef_search_for`]).
    pub(super) fn fit_ef_search(&mut self) {
        self.vectors.set_ef_search(ef_search_for(self.vectors.len()));
    }

    /// A fresh HNSW copy of this index, to build on another thread (the slow part: minutes for a few
    /// hundred thousand templates on a small machine).
    fn to_hnsw(&self) -> impl FnOnce() -> Result<SubjectIndex, VisageError> + Send + 'static {
        let (ids, vectors) = self.vectors.snapshot();
        let (subject_of, foreign, position) = (self.subject_of.clone(), self.foreign.clone(), self.position);
        let dim = self.vectors.dimension();
        move || {
            let mut index = SubjectIndex::new(IndexKind::Hnsw, dim)?;
            index.vectors.add_batch(&ids, &vectors)?;
            index.fit_ef_search();
            index.subject_of = subject_of;
            index.foreign = foreign;
            index.position = position;
            Ok(index)
        }
    }
}

/// The HNSW search candidate list length for a graph of `n` templates: 64 up to 100,000, rising
/// geometrically to 512 at 1,000,000 and staying there. Measured on LFW plus random unit vectors (the
/// hard case; see the index benchmark): at 100,000, ef 64 gives recall@1 0.997-1.000 against exact
/// search; at 1,000,000 it gives 0.91, and 512 gives 0.994 (still about 20x faster than the exact scan).
pub(super) fn ef_search_for(n: usize) -> usize {
    let t = ((n.max(1) as f64).log10() - 5.0).clamp(0.0, 1.0);
    (64.0 * 8f64.powf(t)).round() as usize
}

/// An HNSW graph built on a thread of its own from a snapshot: for an `Auto` gallery that has outgrown
/// the exact scan, or to replace a graph that lost many nodes to erasures. Neither start-up, nor the
/// enrolment that crosses the size, nor the erasure that tips the balance waits for it.
#[derive(Default)]
pub(super) struct BackgroundHnsw {
    running: Mutex<Option<JoinHandle<Result<SubjectIndex, VisageError>>>>,
    /// Set when a build failed: the exact scan stays (and the reason is logged), no retry loop.
    failed: AtomicBool,
}

impl BackgroundHnsw {
    /// Starts a build from `index` if none is running or has failed, and either `index` is exact,
    /// `switch` is on and it holds more than `above` templates, or it is an HNSW graph that lost enough
    /// nodes to removals to be worth rebuilding.
    pub(super) fn start_if_needed(&self, index: &SubjectIndex, switch: bool, above: usize) {
        let outgrown = switch && index.kind() == IndexKind::Exact && index.len() > above;
        if !(outgrown || index.vectors.needs_rebuild()) || self.failed.load(Ordering::Relaxed) {
            return;
        }
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.is_some() {
            return;
        }
        let build = index.to_hnsw();
        let why = if outgrown { "exact search until then" } else { "after removals; the old graph answers until then" };
        tracing::info!("{} templates: building an HNSW index in the background ({why})", index.len());
        let spawned = std::thread::Builder::new().name("visage-hnsw".into()).spawn(build);
        match spawned {
            Ok(handle) => *running = Some(handle),
            Err(e) => {
                tracing::warn!("cannot start the HNSW build, staying with the current index: {e}");
                self.failed.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The finished graph, if a build has finished (with `wait`, after waiting for a running one). It
    /// still has to catch up with the changes made since its snapshot: its `position` says from where.
    pub(super) fn take_finished(&self, wait: bool) -> Option<SubjectIndex> {
        // The lock is held while joining, so no second build starts meanwhile.
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if !running.as_ref().is_some_and(|h| wait || h.is_finished()) {
            return None;
        }
        let outcome =
            running.take()?.join().unwrap_or_else(|_| Err(VisageError::Invalid("the HNSW build panicked".into())));
        match outcome {
            Ok(index) => Some(index),
            Err(e) => {
                tracing::warn!("the background HNSW build failed, staying with exact search: {e}");
                self.failed.store(true, Ordering::Relaxed);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ef_search_for;

    #[test]
    fn ef_search_grows_with_the_gallery_between_the_measured_points() {
        assert_eq!(ef_search_for(0), 64);
        assert_eq!(ef_search_for(100_000), 64);
        assert_eq!(ef_search_for(1_000_000), 512);
        assert_eq!(ef_search_for(50_000_000), 512);
        let mid = ef_search_for(316_228); // half-way on a log scale
        assert!((180..=183).contains(&mid), "{mid}");
    }
}
