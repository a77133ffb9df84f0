//! `visage store`: copy a gallery between backends, and measure a backend at scale.

use crate::args::gallery::GalleryArgs;
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
    /// Enrolment throughput and identify latency (p50/p99) of the gallery's backend at a given size,
    /// and recall@1 of its search against exact search. Needs a new, empty gallery.
    Bench {
        /// Templates in the gallery.
        #[arg(long, default_value_t = 100_000)]
        size: usize,
        /// Identify queries to time.
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// Single enrolments (one transaction and audit entry each) to time, once the gallery holds
        /// the rest.
        #[arg(long, default_value_t = 500)]
        enrolments: usize,
        /// LFW embeddings cached by the index benchmark (`embed_lfw`): real faces in the gallery and
        /// as queries, filled up with random unit vectors. Without it, all vectors are synthetic.
        #[arg(long)]
        embeddings: Option<PathBuf>,
        #[command(flatten)]
        gallery: GalleryArgs,
    },
}

pub fn run(cmd: &StoreCommand) -> Result<ExitCode> {
    match cmd {
        StoreCommand::Migrate { from, to, pg_templates, key_dir } => migrate(from, to, *pg_templates, key_dir.as_ref()),
        StoreCommand::Bench { size, queries, enrolments, embeddings, gallery } => bench(
            &StoreBenchArgs {
                size: *size,
                queries: *queries,
                enrolments: *enrolments,
                embeddings: embeddings.as_ref(),
            },
            gallery,
        ),
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

/// The benchmark's vectors: the gallery (one template per subject `s{i}`) and the queries.
struct BenchData {
    gallery: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    source: String,
}

/// With `embeddings` (an `embed_lfw` cache: `.f32` vectors and a `.names` file of LFW paths), the
/// gallery holds the first LFW image of each person, filled up with random unit vectors, and the
/// queries are other LFW images of people in the gallery, as in the index benchmark. Without it, all
/// vectors are random and each query is a gallery vector plus noise (cosine about 0.74 to it).
fn bench_data(size: usize, queries: usize, embeddings: Option<&PathBuf>, rng: &mut impl Rng) -> Result<BenchData> {
    let mut gallery = Vec::with_capacity(size);
    let mut qs = Vec::with_capacity(queries);
    let source = match embeddings {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let names_path = path.with_extension("names");
            let names = std::fs::read_to_string(&names_path)
                .with_context(|| format!("cannot read {}", names_path.display()))?;
            let names: Vec<&str> = names.lines().map(|l| l.split('/').next().unwrap_or(l)).collect();
            let values: Vec<f32> =
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if values.len() != names.len() * DIM {
                bail!("{}: {} values for {} names of dimension {DIM}", path.display(), values.len(), names.len());
            }
            let mut enrolled = std::collections::HashSet::new();
            let mut repeats = Vec::new();
            for (v, name) in values.chunks_exact(DIM).zip(&names) {
                if enrolled.contains(name) {
                    repeats.push(v.to_vec());
                } else if gallery.len() < size {
                    enrolled.insert(*name);
                    gallery.push(v.to_vec());
                }
            }
            let step = (repeats.len() / queries.max(1)).max(1);
            qs.extend(repeats.into_iter().step_by(step).take(queries));
            format!("{} LFW people + random unit vectors; {} other LFW images as queries", enrolled.len(), qs.len())
        }
        None => "random unit vectors; queries are gallery vectors plus noise (cosine about 0.74)".to_string(),
    };
    while gallery.len() < size {
        gallery.push(unit_vector(rng));
    }
    while qs.len() < queries {
        let target = rng.gen_range(0..gallery.len());
        qs.push(near(&gallery[target], rng));
    }
    Ok(BenchData { gallery, queries: qs, source })
}

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

/// A query near gallery vector `base`: the same identity seen again (cosine about 0.74 to it).
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

const MODEL_SHA: &str = "synthetic-benchmark";

fn template(v: &[f32]) -> NewTemplate {
    NewTemplate { embedding: v.to_vec(), model_id: "benchmark".into(), model_sha256: MODEL_SHA.into(), quality: 1.0 }
}

pub struct StoreBenchArgs<'a> {
    pub size: usize,
    pub queries: usize,
    pub enrolments: usize,
    pub embeddings: Option<&'a PathBuf>,
}

/// Fills an empty gallery to `size` templates (bulk import, then `enrolments` single enrolments timed
/// at that size), then times identify queries and checks them against exact search.
fn bench(args: &StoreBenchArgs<'_>, g: &GalleryArgs) -> Result<ExitCode> {
    if args.size == 0 || args.queries == 0 || args.enrolments > args.size {
        bail!("--size and --queries must be positive, and --enrolments at most --size");
    }
    let spec = crate::commands::gallery::open::store_spec(g)?;
    let key = StoreKey::load_or_create(&crate::commands::gallery::open::key_dir(g, &spec))?;
    let store = spec.open(key).context("cannot open the gallery")?;
    if !store.subjects()?.is_empty() {
        bail!("{} is not empty: the benchmark fills it with synthetic templates; use a new one", store.location());
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let data = bench_data(args.size, args.queries, args.embeddings, &mut rng)?;
    eprintln!("data: {}", data.source);
    // Even subjects consent to the purpose `benchmark`, odd ones to `benchmark-other`: searches bound
    // to `benchmark` see half the gallery (the filter's cost is measured against the unbound search).
    let consent_for = |purpose: &str| ConsentGrant {
        purpose: purpose.into(),
        legal_basis: "benchmark data".into(),
        evidence: "none: benchmark vectors".into(),
        expires_at: None,
    };
    let (consent, other) = (consent_for(BENCH_PURPOSE), consent_for("benchmark-other"));
    let pg = match &spec {
        StoreSpec::Postgres { url, .. } => {
            if !store.searches_in_database() {
                bail!("the benchmark needs a PostgreSQL gallery with plain templates (searched in the database)");
            }
            let key = StoreKey::load_or_create(&crate::commands::gallery::open::key_dir(g, &spec))?;
            Some(visage::store::postgres::PgStore::open(url, key, g.pg_templates)?)
        }
        StoreSpec::Sqlite(_) => None,
    };
    // 1. Bulk import of all but the timed enrolments (PostgreSQL: without the HNSW index, built once after).
    let bulk = args.size - args.enrolments;
    if let Some(pg) = &pg {
        pg.drop_search_index()?;
    }
    let started = Instant::now();
    for (b, chunk) in data.gallery[..bulk].chunks(5_000).enumerate() {
        let (even, odd): (Vec<_>, Vec<_>) =
            chunk.iter().enumerate().map(|(i, v)| (b * 5_000 + i, template(v))).partition(|(n, _)| n % 2 == 0);
        let named = |rows: Vec<(usize, NewTemplate)>| -> Vec<(String, NewTemplate)> {
            rows.into_iter().map(|(n, t)| (format!("s{n}"), t)).collect()
        };
        store.bulk_import(&named(even), &consent, "bench")?;
        store.bulk_import(&named(odd), &other, "bench")?;
    }
    let load_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    if let Some(pg) = &pg {
        pg.create_search_index()?;
    }
    let index_s = started.elapsed().as_secs_f64();
    eprintln!("bulk import of {bulk}: {load_s:.1} s; database index build {index_s:.1} s");
    // 2. Single enrolments into the full gallery, each its own transaction with its audit entry.
    let started = Instant::now();
    for (i, v) in data.gallery.iter().enumerate().skip(bulk) {
        let grant = if i % 2 == 0 { &consent } else { &other };
        store.enroll(&format!("s{i}"), None, grant, &[template(v)], "bench", json!({}))?;
    }
    let enrol_s = started.elapsed().as_secs_f64();
    let enrol_per_s = args.enrolments as f64 / enrol_s.max(1e-9);
    eprintln!("{} single enrolments at {} templates: {enrol_per_s:.0}/s", args.enrolments, args.size);
    // 3. Identify.
    let truth = exact_top1(&data.gallery, &data.queries, false)?;
    let truth_even = exact_top1(&data.gallery, &data.queries, true)?;
    let report = match &pg {
        Some(_) => bench_database(store.as_ref(), &data.queries, [&truth, &truth_even])?,
        None => bench_in_memory(store.as_ref(), &data.queries, [&truth, &truth_even], g.index.into())?,
    };
    let mut out = json!({
        "backend": store.location(),
        "size": args.size,
        "data": data.source,
        "bulk_import_s": load_s,
        "bulk_templates_per_s": bulk as f64 / load_s.max(1e-9),
        "enrolments_timed": args.enrolments,
        "enrolments_per_s": enrol_per_s,
        "queries": data.queries.len(),
    });
    if pg.is_some() {
        out["hnsw_build_s"] = json!(index_s);
    }
    if let (Some(o), Some(r)) = (out.as_object_mut(), report.as_object()) {
        o.extend(r.clone());
    }
    print_json(&out);
    Ok(ExitCode::SUCCESS)
}

/// The purpose half the benchmark gallery (the even subjects) consents to.
const BENCH_PURPOSE: &str = "benchmark";

/// Exact top-1 (gallery index) for each query: visage's exact f32 scan over every vector (with
/// `even_only`, over the even subjects: the answers of a search bound to [`BENCH_PURPOSE`]).
fn exact_top1(all: &[Vec<f32>], queries: &[Vec<f32>], even_only: bool) -> Result<Vec<usize>> {
    use visage_index::{ExactIndex, VectorIndex};
    let mut index = ExactIndex::new(DIM)?;
    let ids: Vec<u64> = (0..all.len() as u64).filter(|i| !even_only || i % 2 == 0).collect();
    let rows: Vec<f32> = ids.iter().flat_map(|&i| all[i as usize].iter().copied()).collect();
    index.add_batch(&ids, &rows)?;
    let best = index.search_batch(&queries.concat(), 1)?;
    Ok(best.into_iter().map(|hits| hits.first().map_or(usize::MAX, |&(id, _)| id as usize)).collect())
}

/// Latency percentiles and recall@1 of `search` (the best subject for a query) over the queries.
fn time_queries(
    queries: &[Vec<f32>],
    truth: &[usize],
    mut search: impl FnMut(&[f32]) -> Result<Option<String>>,
) -> Result<serde_json::Value> {
    let mut ms = Vec::with_capacity(queries.len());
    let mut hits = 0;
    for (q, &t) in queries.iter().zip(truth) {
        let started = Instant::now();
        let found = search(q)?;
        ms.push(started.elapsed().as_secs_f64() * 1e3);
        hits += usize::from(found.is_some_and(|s| s == format!("s{t}")));
    }
    ms.sort_by(f64::total_cmp);
    Ok(json!({
        "identify_p50_ms": percentile(&ms, 0.5),
        "identify_p99_ms": percentile(&ms, 0.99),
        "recall_at_1_vs_exact": hits as f64 / queries.len().max(1) as f64,
    }))
}

/// PostgreSQL with plain templates: one SQL statement per query, per-subject best in SQL; then the same
/// bound to [`BENCH_PURPOSE`] (the consent filter in SQL).
fn bench_database(
    store: &dyn GalleryStore,
    queries: &[Vec<f32>],
    [truth, truth_even]: [&[usize]; 2],
) -> Result<serde_json::Value> {
    let search = |q: &[f32], purpose| Ok(store.search(q, 1, MODEL_SHA, purpose)?.into_iter().next().map(|c| c.0));
    let mut report = time_queries(queries, truth, |q| search(q, None))?;
    report["purpose_bound"] = time_queries(queries, truth_even, |q| search(q, Some(BENCH_PURPOSE)))?;
    report["search"] = json!("pgvector HNSW (m=16, ef_construction=64), per-subject best in SQL");
    report["ef_search"] = json!(visage::store::postgres::ef_search());
    Ok(report)
}

/// The SQLite backend searches in memory, as `FaceRecognitionSystem` does: time its start-up (every
/// template read and decrypted, the index built) and its queries (40 nearest templates, then subjects).
fn bench_in_memory(
    store: &dyn GalleryStore,
    queries: &[Vec<f32>],
    [truth, truth_even]: [&[usize]; 2],
    kind: visage_index::IndexKind,
) -> Result<serde_json::Value> {
    use visage_index::{GalleryConfig, GalleryIndex, VectorIndex};
    let started = Instant::now();
    let templates = store.all_templates()?;
    let read_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut index = GalleryIndex::new(DIM, GalleryConfig { kind, ..GalleryConfig::default() })?;
    let ids: Vec<u64> = templates.iter().map(|t| t.id as u64).collect();
    let flat: Vec<f32> = templates.iter().flat_map(|t| t.embedding.iter().copied()).collect();
    index.add_batch(&ids, &flat)?;
    let build_s = started.elapsed().as_secs_f64();
    eprintln!("start-up: {} templates read and decrypted in {read_s:.1} s, index built in {build_s:.1} s", ids.len());
    let subject_of: std::collections::HashMap<u64, String> =
        templates.into_iter().map(|t| (t.id as u64, t.subject_id)).collect();
    drop(flat);
    let mut report = time_queries(queries, truth, |q| {
        Ok(index.search(q, 40)?.first().and_then(|(id, _)| subject_of.get(id).cloned()))
    })?;
    // Bound to a purpose: the system's test per candidate (template -> subject -> consented?).
    let consented: std::collections::HashSet<String> = store
        .subjects()?
        .into_iter()
        .filter(|(s, _)| s.id.trim_start_matches('s').parse::<usize>().is_ok_and(|n| n % 2 == 0))
        .map(|(s, _)| s.id)
        .collect();
    let keep = |id: u64| subject_of.get(&id).is_some_and(|s| consented.contains(s));
    report["purpose_bound"] = time_queries(queries, truth_even, |q| {
        Ok(index.search_filtered(q, 40, &keep)?.first().and_then(|(id, _)| subject_of.get(id).cloned()))
    })?;
    report["startup_read_s"] = json!(read_s);
    report["index_build_s"] = json!(build_s);
    report["search"] = json!(format!("in-process visage-index ({kind:?}), 40 nearest templates"));
    Ok(report)
}
