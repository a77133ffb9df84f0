//! `visage store`: copy a gallery between backends, and measure a backend at scale.

use crate::cli::GalleryArgs;
use crate::output::print_json;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use visage::store::{ConsentGrant, GalleryStore, NewTemplate, StoreKey, StoreSpec, TemplateMode};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy a whole gallery (subjects, consent, templates, API keys and the audit chain) into a new,
    /// empty store, then check that the counts match and the copied audit chain verifies.
    Migrate {
        /// The source: `sqlite:DIR` (the data dir holding visage.db) or `postgres://...`.
        #[arg(long)]
        from: String,
        /// The target (must be empty): `postgres://...` or `sqlite:DIR`.
        #[arg(long)]
        to: String,
        /// How the PostgreSQL target keeps templates: plain or encrypted.
        #[arg(long, env = "VISAGE_PG_TEMPLATES", default_value = "plain")]
        pg_templates: TemplateMode,
        /// Where the key file is (unless VISAGE_KEY is set). Default: the source's folder for a SQLite
        /// source, else the data dir. Services on the target must use the same key.
        #[arg(long)]
        key_dir: Option<PathBuf>,
    },
    /// Enrolment throughput and identify latency (p50/p99) of the gallery's backend at a given size, on
    /// synthetic 512-d unit vectors, and (PostgreSQL) recall@1 of the HNSW index against exact search.
    Bench {
        /// Templates in the gallery.
        #[arg(long, default_value_t = 100_000)]
        size: usize,
        /// Identify queries to time.
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// Single enrolments (one transaction and audit entry each) to time.
        #[arg(long, default_value_t = 500)]
        enrolments: usize,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
}

pub fn run(cmd: &StoreCommand) -> Result<ExitCode> {
    match cmd {
        StoreCommand::Migrate { from, to, pg_templates, key_dir } => migrate(from, to, *pg_templates, key_dir.as_ref()),
        StoreCommand::Bench { size, queries, enrolments, gallery } => bench(*size, *queries, *enrolments, gallery),
    }
}

fn migrate(from: &str, to: &str, mode: TemplateMode, key_dir: Option<&PathBuf>) -> Result<ExitCode> {
    let default_dir = visage::system::default_data_dir();
    let source = StoreSpec::parse(Some(from), &default_dir, mode)?;
    let target = StoreSpec::parse(Some(to), &default_dir, mode)?;
    if source == target {
        bail!("--from and --to are the same store");
    }
    let dir = key_dir.cloned().unwrap_or_else(|| match &source {
        StoreSpec::Sqlite(d) => d.clone(),
        StoreSpec::Postgres { .. } => default_dir.clone(),
    });
    if let StoreSpec::Sqlite(d) = &source {
        if !d.join("visage.db").is_file() {
            bail!("no SQLite gallery at {} (expected {})", d.display(), d.join("visage.db").display());
        }
    }
    let key = StoreKey::load_or_create(&dir).with_context(|| format!("cannot load the key from {}", dir.display()))?;
    let from_store = source.open(key.clone()).context("cannot open the source gallery")?;
    let mut to_store = target.open(key).context("cannot open the target gallery")?;
    let started = Instant::now();
    let counts = visage::store::migrate(from_store.as_ref(), to_store.as_mut())
        .with_context(|| format!("migration from {} to {} failed", from_store.location(), to_store.location()))?;
    print_json(&json!({
        "from": from_store.location(),
        "to": to_store.location(),
        "copied": counts,
        "audit_chain": "intact",
        "seconds": started.elapsed().as_secs_f64(),
    }));
    Ok(ExitCode::SUCCESS)
}

const DIM: usize = 512;

/// A random unit vector (normal components, normalised: uniform on the sphere).
fn unit_vector(rng: &mut impl Rng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM)
        .map(|_| {
            // Box-Muller.
            let (u1, u2): (f32, f32) = (rng.gen_range(f32::EPSILON..1.0), rng.gen());
            (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect();
    normalise(&mut v);
    v
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= n);
}

/// A query near gallery vector `base`: the same identity seen again (cosine about 0.7 to it).
fn near(base: &[f32], rng: &mut impl Rng) -> Vec<f32> {
    let noise = unit_vector(rng);
    let mut q: Vec<f32> = base.iter().zip(&noise).map(|(b, n)| b + 0.9 * n).collect();
    normalise(&mut q);
    q
}

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    if sorted_ms.is_empty() {
        return f64::NAN;
    }
    sorted_ms[((sorted_ms.len() - 1) as f64 * p).round() as usize]
}

fn bench(size: usize, queries: usize, enrolments: usize, g: &GalleryArgs) -> Result<ExitCode> {
    if size == 0 || queries == 0 {
        bail!("--size and --queries must be positive");
    }
    let spec = crate::gallery::store_spec(g)?;
    let key = StoreKey::load_or_create(&crate::gallery::key_dir(g, &spec))?;
    let store = spec.open(key).context("cannot open the gallery")?;
    if !store.subjects()?.is_empty() {
        bail!("{} is not empty: the benchmark fills it with synthetic templates; use a new one", store.location());
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let model_sha = "synthetic-benchmark";
    let consent = ConsentGrant {
        purpose: "benchmark".into(),
        legal_basis: "synthetic data".into(),
        evidence: "none: synthetic vectors".into(),
        expires_at: None,
    };
    // 1. Single enrolments, each its own transaction with its audit entry (what `visage enroll` does).
    let started = Instant::now();
    for i in 0..enrolments {
        let t = NewTemplate {
            embedding: unit_vector(&mut rng),
            model_id: "synthetic".into(),
            model_sha256: model_sha.into(),
            quality: 1.0,
        };
        store.enroll(&format!("e{i}"), None, &consent, &[t], "bench", json!({}))?;
    }
    let enrol_per_s = enrolments as f64 / started.elapsed().as_secs_f64();
    eprintln!("{enrolments} single enrolments: {enrol_per_s:.0}/s");
    // 2. The rest of the gallery, generated, then loaded in bulk.
    let fill = size.saturating_sub(enrolments);
    let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(fill);
    for _ in 0..fill {
        vectors.push(unit_vector(&mut rng));
    }
    let report = match &spec {
        StoreSpec::Postgres { .. } => {
            let pg = visage::store::postgres::PgStore::open(
                match &spec {
                    StoreSpec::Postgres { url, .. } => url,
                    _ => unreachable!(),
                },
                StoreKey::load_or_create(&crate::gallery::key_dir(g, &spec))?,
                g.pg_templates,
            )?;
            bench_postgres(&pg, store.as_ref(), &vectors, queries, model_sha, &mut rng)?
        }
        StoreSpec::Sqlite(_) => bench_in_memory(store.as_ref(), &vectors, queries, model_sha, &mut rng)?,
    };
    let mut out = json!({
        "backend": store.location(),
        "size": size,
        "enrolments_timed": enrolments,
        "enrolments_per_s": enrol_per_s,
        "queries": queries,
    });
    if let (Some(o), Some(r)) = (out.as_object_mut(), report.as_object()) {
        o.extend(r.clone());
    }
    print_json(&out);
    Ok(ExitCode::SUCCESS)
}

/// Exact top-1 (template index) for each query, by brute force over every vector.
fn exact_top1(all: &[Vec<f32>], queries: &[Vec<f32>]) -> Vec<usize> {
    use rayon::prelude::*;
    queries
        .par_iter()
        .map(|q| {
            let mut best = (0, f32::NEG_INFINITY);
            for (i, v) in all.iter().enumerate() {
                let s: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
                if s > best.1 {
                    best = (i, s);
                }
            }
            best.0
        })
        .collect()
}

fn bench_postgres(
    pg: &visage::store::postgres::PgStore,
    store: &dyn GalleryStore,
    vectors: &[Vec<f32>],
    queries: usize,
    model_sha: &str,
    rng: &mut impl Rng,
) -> Result<serde_json::Value> {
    if !store.searches_in_database() {
        bail!("the benchmark needs a PostgreSQL gallery with plain templates (searched in the database)");
    }
    // Bulk load without the HNSW index, then build it once (much faster than row-by-row maintenance).
    pg.drop_search_index()?;
    let started = Instant::now();
    for (b, chunk) in vectors.chunks(5_000).enumerate() {
        let rows: Vec<(String, Vec<f32>)> =
            chunk.iter().enumerate().map(|(i, v)| (format!("s{}", b * 5_000 + i), v.clone())).collect();
        pg.bulk_insert_templates(&rows, "synthetic", model_sha, "bench")?;
    }
    let load_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    pg.create_search_index()?;
    let index_s = started.elapsed().as_secs_f64();
    eprintln!("bulk load {:.1} s, HNSW build {index_s:.1} s", load_s);
    // Queries near random gallery members; truth by exact search over the same vectors.
    let targets: Vec<usize> = (0..queries).map(|_| rng.gen_range(0..vectors.len())).collect();
    let qs: Vec<Vec<f32>> = targets.iter().map(|&t| near(&vectors[t], rng)).collect();
    let truth = exact_top1(vectors, &qs);
    let mut ms = Vec::with_capacity(queries);
    let mut hits = 0;
    for (q, &t) in qs.iter().zip(&truth) {
        let started = Instant::now();
        let found = store.search(q, 1, model_sha)?;
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        if found.first().is_some_and(|(s, _)| *s == format!("s{t}")) {
            hits += 1;
        }
    }
    ms.sort_by(f64::total_cmp);
    Ok(json!({
        "bulk_load_s": load_s,
        "bulk_templates_per_s": vectors.len() as f64 / load_s,
        "hnsw_build_s": index_s,
        "identify_p50_ms": percentile(&ms, 0.5),
        "identify_p99_ms": percentile(&ms, 0.99),
        "recall_at_1_vs_exact": hits as f64 / queries as f64,
        "search": "pgvector HNSW (m=16, ef_construction=64), per-subject best in SQL",
        "ef_search": std::env::var("VISAGE_PG_EF_SEARCH").unwrap_or_else(|_| "100".into()),
    }))
}

/// The SQLite backend searches in memory (visage-index, as FaceRecognitionSystem does): time the
/// index build and its queries over the same kind of vectors.
fn bench_in_memory(
    store: &dyn GalleryStore,
    vectors: &[Vec<f32>],
    queries: usize,
    _model_sha: &str,
    rng: &mut impl Rng,
) -> Result<serde_json::Value> {
    use visage_index::{GalleryConfig, GalleryIndex, VectorIndex};
    let started = Instant::now();
    let mut index = GalleryIndex::new(DIM, GalleryConfig::default())?;
    let ids: Vec<u64> = (0..vectors.len() as u64).collect();
    let flat: Vec<f32> = vectors.iter().flatten().copied().collect();
    index.add_batch(&ids, &flat)?;
    let build_s = started.elapsed().as_secs_f64();
    let targets: Vec<usize> = (0..queries).map(|_| rng.gen_range(0..vectors.len())).collect();
    let qs: Vec<Vec<f32>> = targets.iter().map(|&t| near(&vectors[t], rng)).collect();
    let truth = exact_top1(vectors, &qs);
    let mut ms = Vec::with_capacity(queries);
    let mut hits = 0;
    for (q, &t) in qs.iter().zip(&truth) {
        let started = Instant::now();
        let found = index.search(q, 40)?;
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        if found.first().is_some_and(|(id, _)| *id as usize == t) {
            hits += 1;
        }
    }
    ms.sort_by(f64::total_cmp);
    let _ = store;
    Ok(json!({
        "index_build_s": build_s,
        "identify_p50_ms": percentile(&ms, 0.5),
        "identify_p99_ms": percentile(&ms, 0.99),
        "recall_at_1_vs_exact": hits as f64 / queries as f64,
        "search": "in-process visage-index (Auto: exact up to 100k templates, HNSW above), 40 nearest templates",
    }))
}
