//! Behaviour of the indexes on random unit vectors: true top-k, removal, errors, HNSW and int8 recall.

use visage_index::{
    ExactIndex, GalleryConfig, GalleryIndex, HnswIndex, HnswParams, IndexError, IndexKind, Precision, VectorIndex,
};

/// SplitMix64 with Box-Muller, so the tests need no random-number crate and are reproducible.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gauss(&mut self) -> f32 {
        ((-2.0 * self.uniform().max(1e-300).ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()) as f32
    }

    fn unit(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| self.gauss()).collect();
        normalised(v)
    }

    fn units(&mut self, n: usize, dim: usize) -> Vec<f32> {
        (0..n).flat_map(|_| self.unit(dim)).collect()
    }

    /// `v` plus Gaussian noise of `sigma` per coordinate, back at unit length: a "second photo".
    fn near(&mut self, v: &[f32], sigma: f32) -> Vec<f32> {
        normalised(v.iter().map(|x| x + sigma * self.gauss()).collect())
    }
}

fn normalised(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// Top-k by sorting every score: the slow, obviously correct answer.
fn brute_force(data: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = data
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, r)| (i as u64, r.iter().zip(q).map(|(a, b)| a * b).sum()))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn filled<I: VectorIndex>(mut index: I, data: &[f32]) -> I {
    let ids: Vec<u64> = (0..(data.len() / index.dimension()) as u64).collect();
    index.add_batch(&ids, data).unwrap();
    index
}

#[test]
fn exact_returns_the_true_top_k() {
    let (dim, n) = (64, 3_000);
    let mut rng = Rng(1);
    let data = rng.units(n, dim);
    // Serial and parallel scans (threshold 0 splits even small indexes), f32 and the int8 candidates.
    for index in [
        filled(ExactIndex::new(dim).unwrap().with_parallel_threshold(usize::MAX), &data),
        filled(ExactIndex::new(dim).unwrap().with_parallel_threshold(0), &data),
    ] {
        for _ in 0..20 {
            let q = rng.unit(dim);
            let got = index.search(&q, 10).unwrap();
            let want = brute_force(&data, dim, &q, 10);
            assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), want.iter().map(|r| r.0).collect::<Vec<_>>());
            for (g, w) in got.iter().zip(&want) {
                assert!((g.1 - w.1).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn batch_search_matches_single_searches() {
    let (dim, n) = (40, 1_000);
    let mut rng = Rng(8);
    let data = rng.units(n, dim);
    let index = filled(ExactIndex::new(dim).unwrap(), &data);
    for nq in [1, 5, 7, 50, 101] {
        let queries = rng.units(nq, dim);
        let batch = index.search_batch(&queries, 5).unwrap();
        assert_eq!(batch.len(), nq);
        for (q, got) in queries.chunks_exact(dim).zip(&batch) {
            let want = index.search(q, 5).unwrap();
            assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), want.iter().map(|r| r.0).collect::<Vec<_>>());
            for (g, w) in got.iter().zip(&want) {
                assert!((g.1 - w.1).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn k_larger_than_the_index_and_empty_index() {
    let mut index = ExactIndex::new(4).unwrap();
    assert!(index.search(&[1.0, 0.0, 0.0, 0.0], 5).unwrap().is_empty());
    index.add(1, &[1.0, 0.0, 0.0, 0.0]).unwrap();
    index.add(2, &[0.0, 2.0, 0.0, 0.0]).unwrap(); // not unit: stored normalised
    let r = index.search(&[0.0, 1.0, 0.0, 0.0], 5).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].0, 2);
    assert!((r[0].1 - 1.0).abs() < 1e-6);
    assert!(index.search(&[0.0, 1.0, 0.0, 0.0], 0).unwrap().is_empty());
}

#[test]
fn errors_are_reported_and_leave_the_index_unchanged() {
    let mut index = ExactIndex::new(4).unwrap();
    index.add(1, &[1.0, 0.0, 0.0, 0.0]).unwrap();
    assert!(matches!(index.add(2, &[1.0, 0.0, 0.0]), Err(IndexError::DimensionMismatch { expected: 4, got: 3 })));
    assert!(matches!(index.search(&[1.0; 5], 1), Err(IndexError::DimensionMismatch { expected: 4, got: 5 })));
    assert!(matches!(index.add(2, &[f32::NAN, 0.0, 0.0, 0.0]), Err(IndexError::NonFinite { position: 0, .. })));
    assert!(matches!(index.add(2, &[0.0; 4]), Err(IndexError::ZeroVector)));
    assert!(matches!(index.add(1, &[0.0, 1.0, 0.0, 0.0]), Err(IndexError::DuplicateId(1))));
    // A batch with one bad vector adds nothing.
    let batch = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, f32::INFINITY, 0.0];
    assert!(index.add_batch(&[2, 3], &batch).is_err());
    assert_eq!(index.len(), 1);
    assert!(matches!(ExactIndex::new(0), Err(IndexError::InvalidConfig(_))));

    let mut hnsw = HnswIndex::new(4, HnswParams::default()).unwrap();
    hnsw.add(1, &[1.0, 0.0, 0.0, 0.0]).unwrap();
    assert!(matches!(hnsw.add(2, &[1.0, 0.0]), Err(IndexError::DimensionMismatch { expected: 4, got: 2 })));
    assert!(matches!(hnsw.search(&[1.0, 0.0], 1), Err(IndexError::DimensionMismatch { expected: 4, got: 2 })));
    assert!(matches!(hnsw.add(1, &[0.0, 1.0, 0.0, 0.0]), Err(IndexError::DuplicateId(1))));
    assert!(matches!(hnsw.search_batch(&[1.0; 6], 1), Err(IndexError::BatchShape { .. })));
    assert_eq!(hnsw.len(), 1);
}

/// Removes every third id and checks that none comes back, even for a query equal to its vector, and
/// that live vectors still find themselves (all of them for exact search, `min_self_recall` for HNSW,
/// which can miss a node it cannot reach).
fn check_removal<I: VectorIndex>(name: &str, mut index: I, data: &[f32], dim: usize, min_self_recall: f64) {
    let n = data.len() / dim;
    for id in (0..n as u64).step_by(3) {
        assert!(index.remove(id).unwrap());
        assert!(!index.remove(id).unwrap(), "{name}: second removal of {id} reported success");
    }
    assert_eq!(index.len(), n - n.div_ceil(3));
    let (mut live, mut found_self) = (0, 0);
    for i in 0..n {
        let row = &data[i * dim..(i + 1) * dim];
        let found = index.search(row, 10).unwrap();
        assert!(found.iter().all(|r| r.0 % 3 != 0), "{name}: removed id returned for query {i}: {found:?}");
        if i % 3 != 0 {
            live += 1;
            found_self += usize::from(found[0].0 == i as u64);
        }
    }
    let self_recall = found_self as f64 / live as f64;
    assert!(self_recall >= min_self_recall, "{name}: only {found_self} of {live} live vectors find themselves");
    // Re-adding a removed id works and makes it findable again.
    index.add(0, &data[..dim]).unwrap();
    assert_eq!(index.search(&data[..dim], 1).unwrap()[0].0, 0);
}

#[test]
fn removal_exact_f32_int8_and_hnsw() {
    let (dim, n) = (32, 1_500);
    let data = Rng(2).units(n, dim);
    check_removal("exact", filled(ExactIndex::new(dim).unwrap(), &data), &data, dim, 1.0);
    check_removal("int8", filled(ExactIndex::with_precision(dim, Precision::Int8).unwrap(), &data), &data, dim, 1.0);
    check_removal("hnsw", filled(HnswIndex::new(dim, HnswParams::default()).unwrap(), &data), &data, dim, 0.99);
}

#[test]
fn hnsw_needs_rebuild_after_many_removals_and_rebuild_keeps_the_live_set() {
    let (dim, n) = (16, 400);
    let data = Rng(3).units(n, dim);
    let mut index = filled(HnswIndex::new(dim, HnswParams::default()).unwrap(), &data);
    for id in 0..50 {
        index.remove(id).unwrap();
    }
    assert!(!index.needs_rebuild(), "50 of 400 is below the default fraction of 0.25");
    for id in 50..100 {
        index.remove(id).unwrap();
    }
    assert!(index.needs_rebuild());
    index.rebuild().unwrap();
    assert!(!index.needs_rebuild());
    assert_eq!(index.len(), 300);
    assert!(!index.contains(5) && index.contains(150));
    assert_eq!(index.search(&data[200 * dim..201 * dim], 1).unwrap()[0].0, 200);
}

#[test]
fn hnsw_recall_at_1_on_20k_random_unit_vectors() {
    let (dim, n, queries) = (512, 20_000, 500);
    let mut rng = Rng(4);
    let data = rng.units(n, dim);
    let index = filled(HnswIndex::new(dim, HnswParams::default()).unwrap(), &data);
    let exact = filled(ExactIndex::new(dim).unwrap(), &data);
    let mut hits = 0;
    for i in 0..queries {
        let target = (i * 7919) % n;
        // sigma 0.03 per coordinate: cosine about 0.8 to the stored vector, like two photos of one person.
        let q = rng.near(&data[target * dim..(target + 1) * dim], 0.03);
        let truth = exact.search(&q, 1).unwrap()[0].0;
        hits += usize::from(index.search(&q, 1).unwrap()[0].0 == truth);
    }
    let recall = hits as f64 / queries as f64;
    assert!(recall >= 0.99, "HNSW recall@1 {recall}");
}

#[test]
fn int8_recall_and_exact_rescored_scores() {
    let (dim, n, queries) = (512, 20_000, 300);
    let mut rng = Rng(5);
    let data = rng.units(n, dim);
    let f32_index = filled(ExactIndex::new(dim).unwrap(), &data);
    let int8_index = filled(ExactIndex::with_precision(dim, Precision::Int8).unwrap(), &data);
    let (mut hits1, mut hits10) = (0, 0);
    for i in 0..queries {
        // Half near a stored vector, half pure random (only near-ties there: the hard case for int8).
        let q =
            if i % 2 == 0 { rng.near(&data[(i * 31 % n) * dim..(i * 31 % n + 1) * dim], 0.03) } else { rng.unit(dim) };
        let want = f32_index.search(&q, 10).unwrap();
        let got = int8_index.search(&q, 10).unwrap();
        hits1 += usize::from(got[0].0 == want[0].0);
        hits10 += got.iter().filter(|g| want.iter().any(|w| w.0 == g.0)).count();
        // Scores are rescored in f32: identical whenever the id is.
        if got[0].0 == want[0].0 {
            assert!((got[0].1 - want[0].1).abs() < 1e-6);
        }
    }
    let (r1, r10) = (hits1 as f64 / queries as f64, hits10 as f64 / (10 * queries) as f64);
    assert!(r1 >= 0.99 && r10 >= 0.98, "int8 recall@1 {r1}, recall@10 {r10}");
    assert!(int8_index.memory_bytes() > f32_index.memory_bytes(), "int8 keeps f32 for rescoring");
}

#[test]
fn gallery_auto_switches_to_hnsw_above_the_threshold() {
    let dim = 32;
    let data = Rng(6).units(300, dim);
    let config = GalleryConfig { kind: IndexKind::Auto, auto_threshold: 200, ..GalleryConfig::default() };
    let mut gallery = GalleryIndex::new(dim, config).unwrap();
    let ids: Vec<u64> = (0..150).collect();
    gallery.add_batch(&ids, &data[..150 * dim]).unwrap();
    assert_eq!(gallery.active_kind(), IndexKind::Exact);
    gallery.remove(3).unwrap();
    let ids: Vec<u64> = (150..300).collect();
    gallery.add_batch(&ids, &data[150 * dim..]).unwrap();
    assert_eq!(gallery.active_kind(), IndexKind::Hnsw);
    assert_eq!(gallery.len(), 299);
    assert!(!gallery.contains(3));
    assert_eq!(gallery.search(&data[10 * dim..11 * dim], 1).unwrap()[0].0, 10);
    assert!(gallery.search(&data[3 * dim..4 * dim], 5).unwrap().iter().all(|r| r.0 != 3));
    let fixed = GalleryIndex::new(dim, GalleryConfig { kind: IndexKind::Exact, auto_threshold: 1, ..config }).unwrap();
    assert_eq!(filled(fixed, &data).active_kind(), IndexKind::Exact);
}

#[test]
fn concurrent_searches_beyond_the_thread_count_all_succeed() {
    let dim = 32;
    let data = Rng(7).units(2_000, dim);
    let index = filled(HnswIndex::new(dim, HnswParams::default()).unwrap(), &data);
    // More threads than usearch reserved scratch space for: callers must wait, not fail.
    let found_self: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (index, data) = (&index, &data);
                s.spawn(move || {
                    (0..200)
                        .filter(|i| {
                            let row = (t * 200 + i) % 2_000;
                            let found = index.search(&data[row * dim..(row + 1) * dim], 1).unwrap();
                            found[0].0 == row as u64
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(found_self >= 1_580, "only {found_self} of 1600 searches found their own vector");
}

#[test]
fn hnsw_scores_are_exact_f32_similarities_even_for_peaked_vectors() {
    // Vectors dominated by one coordinate (the int8 codes scale per vector, so the small ones keep
    // their resolution) next to ordinary random ones.
    let dim = 64;
    let mut rng = Rng(11);
    let mut data = rng.units(500, dim);
    for i in 0..dim {
        let mut v: Vec<f32> = (0..dim).map(|_| 0.01 * rng.gauss()).collect();
        v[i] += 1.0;
        data.extend(normalised(v));
    }
    // The peaked vectors are nearly orthogonal to everything, so a short graph walk may not reach them
    // (an HNSW limit, not a quantisation one): a candidate list as long as the index makes the walk
    // visit every reachable node, and what is tested here is the int8 walk plus the f32 rescoring.
    // Whether a near-orthogonal node keeps any incoming link depends on the insertion order, which
    // `add_batch`'s concurrent inserts leave to the scheduler (CI once built a graph where row 500 had
    // none); serial inserts build the same graph on every run.
    let mut index = HnswIndex::new(dim, HnswParams::default()).unwrap();
    for (id, v) in data.chunks_exact(dim).enumerate() {
        index.add(id as u64, v).unwrap();
    }
    index.set_ef_search(data.len() / dim);
    let exact = filled(ExactIndex::new(dim).unwrap(), &data);
    for row in [0, 17, 499, 500, 531, 563] {
        let q = rng.near(&data[row * dim..(row + 1) * dim], 0.002);
        let got = index.search(&q, 3).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, exact.search(&q, 1).unwrap()[0].0, "row {row}");
        assert_eq!(got[0].0, row as u64, "row {row}");
        let all = brute_force(&data, dim, &q, data.len() / dim);
        for pair in got.windows(2) {
            assert!(pair[0].1 >= pair[1].1, "row {row}: not best first: {got:?}");
        }
        for (id, score) in &got {
            let truth = all.iter().find(|(i, _)| i == id).unwrap().1;
            assert!((score - truth).abs() < 1e-5, "row {row}, id {id}: {score} vs f32 {truth}");
        }
    }
}

/// Top-k of the ids `keep` accepts, by sorting every score.
fn brute_force_kept(data: &[f32], dim: usize, q: &[f32], k: usize, keep: &dyn Fn(u64) -> bool) -> Vec<u64> {
    let all = brute_force(data, dim, q, data.len() / dim);
    all.into_iter().map(|r| r.0).filter(|&id| keep(id)).take(k).collect()
}

/// A purpose-bound search sees only the vectors of subjects consented for the purpose: the filtered
/// search returns the true top-k among those, never another id, in every index kind.
#[test]
fn filtered_search_returns_the_top_k_of_the_kept_ids_only() {
    let (dim, n) = (64, 4_000);
    let mut rng = Rng(11);
    let data = rng.units(n, dim);
    for (share, keep) in [("10%", &(|id: u64| id % 10 == 3) as &visage_index::Keep), ("50%", &|id: u64| id % 2 == 0)] {
        let exact: [(&str, Box<dyn VectorIndex>); 3] = [
            ("serial", Box::new(filled(ExactIndex::new(dim).unwrap().with_parallel_threshold(usize::MAX), &data))),
            ("parallel", Box::new(filled(ExactIndex::new(dim).unwrap().with_parallel_threshold(0), &data))),
            ("int8", Box::new(filled(ExactIndex::with_precision(dim, Precision::Int8).unwrap(), &data))),
        ];
        for (name, index) in &exact {
            for _ in 0..10 {
                // A query near a rejected vector: its unfiltered best must not come back.
                let q = rng.near(&data[7 * dim..8 * dim], 0.05);
                let got: Vec<u64> = index.search_filtered(&q, 5, keep).unwrap().iter().map(|r| r.0).collect();
                assert_eq!(got, brute_force_kept(&data, dim, &q, 5, keep), "{name} at {share}");
            }
        }
        let hnsw = filled(HnswIndex::new(dim, HnswParams::default()).unwrap(), &data);
        let mut agree = 0;
        for _ in 0..50 {
            let q = rng.near(&data[7 * dim..8 * dim], 0.05);
            let got = hnsw.search_filtered(&q, 5, keep).unwrap();
            assert!(got.iter().all(|r| keep(r.0)), "hnsw returned a rejected id");
            assert_eq!(got.len(), 5);
            agree += usize::from(got[0].0 == brute_force_kept(&data, dim, &q, 1, keep)[0]);
        }
        assert!(agree >= 48, "hnsw filtered recall@1 {agree}/50 at {share}");
    }
}

/// A purpose-bound search must not be worse than an unbound one: on the hard case (random vectors,
/// queries at cosine about 0.74 to their target) HNSW's recall@1 with half the ids filtered out stays
/// within 0.02 of its recall without a filter.
#[test]
fn hnsw_filtered_recall_holds_on_20k_random_unit_vectors() {
    let (dim, n, queries) = (512, 20_000, 400);
    let mut rng = Rng(12);
    let data = rng.units(n, dim);
    let index = filled(HnswIndex::new(dim, HnswParams::default()).unwrap(), &data);
    let exact = filled(ExactIndex::new(dim).unwrap(), &data);
    let keep = |id: u64| id % 2 == 0;
    let (mut plain, mut filtered) = (0, 0);
    for i in 0..queries {
        let target = (i * 7919 * 2) % n;
        let q = rng.near(&data[target * dim..(target + 1) * dim], 0.04);
        plain += usize::from(index.search(&q, 1).unwrap()[0].0 == exact.search(&q, 1).unwrap()[0].0);
        let truth = exact.search_filtered(&q, 1, &keep).unwrap()[0].0;
        filtered += usize::from(index.search_filtered(&q, 1, &keep).unwrap()[0].0 == truth);
    }
    let (plain, filtered) = (plain as f64 / queries as f64, filtered as f64 / queries as f64);
    eprintln!("recall@1 unfiltered {plain}, half filtered {filtered}");
    assert!(filtered >= plain - 0.02, "filtered recall@1 {filtered} against {plain} unfiltered");
}
