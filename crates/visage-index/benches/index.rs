//! Exact search latency: `cargo bench -p visage-index`.
//!
//! Random unit vectors of dimension 512 (the scan's cost does not depend on the values). The `1 thread`
//! rows disable the parallel scan, to show where splitting over the pool starts to pay
//! ([`visage_index::DEFAULT_PARALLEL_THRESHOLD`]).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use visage_index::{ExactIndex, Precision, VectorIndex};

const DIM: usize = 512;

/// SplitMix64 with Box-Muller: uniformly distributed unit vectors, no dependency.
fn random_unit_vectors(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = Vec::with_capacity(n * DIM);
    for _ in 0..n {
        let v: Vec<f32> = (0..DIM)
            .map(|_| ((-2.0 * next().max(1e-300).ln()).sqrt() * (std::f64::consts::TAU * next()).cos()) as f32)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        out.extend(v.iter().map(|x| x / norm));
    }
    out
}

fn build(n: usize, precision: Precision, parallel: bool) -> ExactIndex {
    let mut index = ExactIndex::with_precision(DIM, precision).unwrap();
    if !parallel {
        index = index.with_parallel_threshold(usize::MAX);
    }
    let ids: Vec<u64> = (0..n as u64).collect();
    index.add_batch(&ids, &random_unit_vectors(n, 1)).unwrap();
    index
}

fn benches(c: &mut Criterion) {
    let query = random_unit_vectors(1, 99);
    let mut group = c.benchmark_group("exact search k=10");
    for n in [2_000, 4_000, 10_000, 100_000] {
        for (name, precision, parallel) in
            [("f32", Precision::F32, true), ("f32 1 thread", Precision::F32, false), ("int8", Precision::Int8, true)]
        {
            if n < 10_000 && precision == Precision::Int8 {
                continue;
            }
            let index = build(n, precision, parallel);
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| index.search(black_box(&query), 10).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
