//! Embeds every LFW image once with the `visage` CLI and caches the embeddings outside the repository,
//! for the `bench_index` example.
//!
//! ```sh
//! cargo run --release -p visage-index --example embed_lfw -- \
//!     --lfw ../shared/data/lfw/lfw-deepfunneled --out /root/.cache/visage/bench/lfw-embeddings
//! ```
//!
//! Writes `OUT.f32` (little-endian f32, one 512-d row per image) and `OUT.names` (one line per row:
//! `Person/Person_0001.jpg`). The `visage` binary is taken from `--visage` (default: `visage` next to
//! this example's target directory, then `$PATH`).

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Images per CLI invocation: large enough that model loading is amortised, small enough that progress shows.
const BATCH: usize = 500;

/// Per image of a batch: the chosen face's embedding, if any face was found.
type BatchEmbeddings = Vec<Option<Vec<f32>>>;

struct Args {
    lfw: PathBuf,
    out: PathBuf,
    visage: PathBuf,
    jobs: usize,
}

fn parse_args() -> Result<Args> {
    let mut lfw = PathBuf::from("../shared/data/lfw/lfw-deepfunneled");
    let mut out = dirs_cache().join("visage/bench/lfw-embeddings");
    let mut visage = default_visage();
    let mut jobs = 2;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--lfw" => lfw = PathBuf::from(val()?),
            "--out" => out = PathBuf::from(val()?),
            "--visage" => visage = PathBuf::from(val()?),
            "--jobs" => jobs = val()?.parse().context("--jobs")?,
            other => {
                bail!("unknown argument {other}; usage: embed_lfw [--lfw DIR] [--out PREFIX] [--visage BIN] [--jobs N]")
            }
        }
    }
    Ok(Args { lfw, out, visage, jobs: jobs.max(1) })
}

fn dirs_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The release `visage` binary beside the directory this example was built into, if it exists.
fn default_visage() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(|d| d.join("visage")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("visage"))
}

/// Every `*.jpg` under `lfw/<Name>/`, sorted so row order does not depend on the file system.
fn list_images(lfw: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for person in std::fs::read_dir(lfw).with_context(|| format!("reading {}", lfw.display()))? {
        let person = person?.path();
        if !person.is_dir() {
            continue;
        }
        for img in std::fs::read_dir(&person)? {
            let img = img?.path();
            if img.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg")) {
                out.push(img);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs `visage embed --json` on one batch; returns, per image, the embedding of the face nearest the
/// image centre (LFW labels the centred person; a second face is often someone else).
fn embed_batch(visage: &Path, batch: &[PathBuf]) -> Result<BatchEmbeddings> {
    let mut child = Command::new(visage)
        .arg("embed")
        .arg("--json")
        .args(batch)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", visage.display()))?;
    let mut results = vec![None; batch.len()];
    let index: std::collections::HashMap<String, usize> =
        batch.iter().enumerate().map(|(i, p)| (p.to_string_lossy().into_owned(), i)).collect();
    for line in BufReader::new(child.stdout.take().context("stdout")?).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let image = v["image"].as_str().context("no image field")?;
        let (w, h) = (v["width"].as_f64().unwrap_or(0.0), v["height"].as_f64().unwrap_or(0.0));
        let best = v["faces"].as_array().into_iter().flatten().min_by(|a, b| {
            let d = |f: &serde_json::Value| {
                let b: Vec<f64> =
                    f["bbox"].as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default();
                if b.len() < 4 {
                    return f64::INFINITY;
                }
                ((b[0] + b[2]) / 2.0 - w / 2.0).powi(2) + ((b[1] + b[3]) / 2.0 - h / 2.0).powi(2)
            };
            d(a).total_cmp(&d(b))
        });
        let emb = best
            .and_then(|f| f["embedding"].as_array())
            .map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect());
        if let Some(&i) = index.get(image) {
            results[i] = emb;
        }
    }
    let status = child.wait()?;
    if !status.success() && status.code() != Some(1) {
        bail!("{} exited with {status}", visage.display());
    }
    Ok(results)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let images = list_images(&args.lfw)?;
    if images.is_empty() {
        bail!("no images under {}", args.lfw.display());
    }
    eprintln!("{} images, {} job(s), visage = {}", images.len(), args.jobs, args.visage.display());
    let batches: Vec<&[PathBuf]> = images.chunks(BATCH).collect();
    let start = std::time::Instant::now();
    // Each job takes every `jobs`-th batch; the CLI itself uses one inference thread, so jobs fill the cores.
    let per_job: Vec<Vec<(usize, BatchEmbeddings)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.jobs)
            .map(|j| {
                let batches = &batches;
                let visage = &args.visage;
                s.spawn(move || -> Result<Vec<(usize, BatchEmbeddings)>> {
                    let mut out = Vec::new();
                    for b in (j..batches.len()).step_by(args.jobs) {
                        out.push((b, embed_batch(visage, batches[b])?));
                        eprintln!("batch {}/{} done ({:.0} s)", b + 1, batches.len(), start.elapsed().as_secs_f64());
                    }
                    Ok(out)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("embedding thread panicked")).collect::<Result<Vec<_>>>()
    })?;
    let mut by_batch: Vec<BatchEmbeddings> = vec![Vec::new(); batches.len()];
    for (b, r) in per_job.into_iter().flatten() {
        by_batch[b] = r;
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f32_path = args.out.with_extension("f32");
    let names_path = args.out.with_extension("names");
    let mut data = std::io::BufWriter::new(std::fs::File::create(&f32_path)?);
    let mut names = std::io::BufWriter::new(std::fs::File::create(&names_path)?);
    let (mut kept, mut missing) = (0usize, 0usize);
    for (path, emb) in images.iter().zip(by_batch.into_iter().flatten()) {
        let Some(emb) = emb else {
            missing += 1;
            continue;
        };
        for x in &emb {
            data.write_all(&x.to_le_bytes())?;
        }
        let rel = path.strip_prefix(&args.lfw).unwrap_or(path);
        writeln!(names, "{}", rel.display())?;
        kept += 1;
    }
    data.flush()?;
    names.flush()?;
    eprintln!(
        "{kept} embeddings ({missing} images without a face) in {:.0} s -> {} and {}",
        start.elapsed().as_secs_f64(),
        f32_path.display(),
        names_path.display()
    );
    Ok(())
}
