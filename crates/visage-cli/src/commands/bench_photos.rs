//! `visage bench-photos`: speed on large photos, as a photo library holds them.
//!
//! Makes 12-megapixel JPEGs by enlarging WIDER FACE validation images (crowds) and single-face
//! photos (LFW) into a cache folder (reused by later runs, never in the repository), then times, on
//! each set, `visage embed` and `visage library scan` run as a user runs them (this binary, start-up
//! included, all cores) against the Python reference (`bench/reference.py --det-size 640
//! --all-faces`: OpenCV decode, detection on the image shrunk to 640 on its longer side as
//! InsightFace's `det_size` does, every face of 40 px or more aligned from the full image and embedded
//! with the same models, as many worker processes as visage has workers), and prints images per
//! second, the ratios and the load average.

use crate::args::pipeline::{analyzer, default_workers, PipelineArgs, Purpose};
use crate::output::print_json;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;
use visage::models::ids;
use visage::StageTimings;

/// `visage bench-photos`.
#[derive(Debug, Args)]
pub struct BenchPhotosArgs {
    /// Crowd photos to enlarge (searched recursively), e.g. the WIDER FACE validation subset.
    #[arg(long, default_value = "../shared/data/widerface-val-subset")]
    pub crowds: PathBuf,
    /// Single-face photos to enlarge (searched recursively), e.g. LFW.
    #[arg(long, default_value = "../shared/data/lfw/lfw-deepfunneled")]
    pub portraits: PathBuf,
    /// How many photos of each kind (the first N in path order).
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    /// Size of the generated photos, in megapixels.
    #[arg(long, default_value_t = 12.0)]
    pub megapixels: f64,
    /// Where the generated photos are kept and reused (default: bench-photos in $VISAGE_HOME, the
    /// user's cache folder).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Images processed in parallel, by visage and by the reference (default: all cores).
    #[arg(long, value_parser = crate::args::parse::parse_threads)]
    pub workers: Option<usize>,
    /// The reference script; `none` skips it. Default: bench/reference.py of this source tree.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/reference.py"))]
    pub reference: String,
    /// The Python interpreter for the reference.
    #[arg(long, default_value = "python3")]
    pub python: String,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `visage bench-photos`.
pub fn run(args: &BenchPhotosArgs) -> Result<ExitCode> {
    let workers = args.workers.unwrap_or_else(default_workers);
    let cache = match &args.cache {
        Some(c) => c.clone(),
        None => visage::models::ModelHome::from_env().root().join("bench-photos"),
    };
    let sets = [("crowds", &args.crowds), ("portraits", &args.portraits)];
    let mut made = Vec::new();
    for (name, source) in sets {
        let dir = cache.join(format!("{name}-{}mp", args.megapixels));
        made.push((name, dir.clone(), make_photos(source, &dir, args.count, args.megapixels, workers)?));
    }
    let analyzer = analyzer(&args.pipeline, Purpose::Recognition)?;
    let models = tempfile::tempdir().context("temporary directory")?;
    analyzer.installer().write_shipped(&[ids::CENTERFACE, ids::EMBEDDING], models.path())?;
    drop(analyzer);

    let load_before = load_average();
    let mut results = Vec::new();
    for (name, dir, photos) in &made {
        eprintln!("{name}: {} photos of {} MP in {}", photos.len(), args.megapixels, dir.display());
        let steady = time_visage_steady(args, photos, workers)?;
        let embed = time_visage_embed(photos, workers)?;
        let scan = time_visage_scan(dir, workers)?;
        let reference =
            if args.reference == "none" { None } else { Some(run_reference(args, photos, workers, models.path())?) };
        results.push(json!({"set": name, "photos": photos.len(), "folder": dir, "visage": steady,
                            "visage_embed": embed, "visage_library_scan": scan, "reference": reference}));
    }
    let load_after = load_average();
    report(args, workers, &results, (load_before, load_after));
    Ok(ExitCode::SUCCESS)
}

/// Enlarges the first `count` images under `source` to about `megapixels` into `dir` as JPEGs
/// (quality 90), keeping any already there; returns their paths.
fn make_photos(source: &Path, dir: &Path, count: usize, megapixels: f64, workers: usize) -> Result<Vec<PathBuf>> {
    let mut inputs = visage::core::files::image_files(source, true)
        .with_context(|| format!("cannot read {} (pass another folder)", source.display()))?;
    inputs.truncate(count);
    if inputs.is_empty() {
        bail!("no images under {}", source.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let outputs: Vec<PathBuf> =
        inputs.iter().map(|p| dir.join(p.file_stem().unwrap_or_default()).with_extension("jpg")).collect();
    let jobs: Vec<(&PathBuf, &PathBuf)> = inputs.iter().zip(&outputs).filter(|(_, out)| !out.is_file()).collect();
    let mut failure = None;
    visage::parallel::map_ordered(
        &jobs,
        workers,
        |(input, out)| enlarge(input, out, megapixels),
        |_, r| {
            if let Err(e) = r {
                failure.get_or_insert(e);
            }
        },
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(outputs),
    }
}

/// One enlarged photo: bilinear upscaling, written through a temporary file so a killed run leaves
/// no half-written JPEG behind.
fn enlarge(input: &Path, out: &Path, megapixels: f64) -> Result<()> {
    let image = visage::core::load_image(input, &Default::default())?;
    let factor = (megapixels * 1e6 / (image.width() as f64 * image.height() as f64)).sqrt();
    let (w, h) = ((image.width() as f64 * factor) as u32, (image.height() as f64 * factor) as u32);
    let big = visage::core::tensor::resize_rgb(&image, w, h);
    let tmp = out.with_extension("jpg.part");
    let file = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, 90).encode_image(&big)?;
    writer.flush()?;
    drop(writer);
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// Runs this binary with `args` and returns its wall-clock seconds; fails if it fails.
fn time_self(args: &[std::ffi::OsString], env: &[(&str, &Path)]) -> Result<f64> {
    let exe = std::env::current_exe().context("cannot find the visage binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let output = cmd.output().context("cannot run visage")?;
    let seconds = start.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("visage {:?} failed: {}", args, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(seconds)
}

fn side(photos: usize, seconds: f64) -> Value {
    json!({"seconds": seconds, "images_per_second": photos as f64 / seconds})
}

/// visage in this process, timed as the reference times itself: after loading the models and
/// analysing one warm-up photo, every photo decoded, its faces detected and embedded (as `visage
/// embed` does) on `workers` threads. Wall clock, CPU time of the process (every thread) and the mean
/// time of each stage inside one worker.
fn time_visage_steady(args: &BenchPhotosArgs, photos: &[PathBuf], workers: usize) -> Result<Value> {
    let analyzer = analyzer(&args.pipeline, Purpose::Recognition)?;
    analyzer.analyze(&photos[0], true)?;
    let (cpu_start, start) = (process_cpu_seconds(), Instant::now());
    let (mut stages, mut faces, mut failure) = (StageTimings::default(), 0, None);
    visage::parallel::map_ordered(
        photos,
        workers,
        |p| analyzer.analyze(p, true),
        |_, r| match r {
            Ok(a) => {
                stages.add(&a.timings);
                faces += a.faces.len();
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        },
    );
    let (seconds, cpu) = (start.elapsed().as_secs_f64(), process_cpu_seconds() - cpu_start);
    if let Some(e) = failure {
        return Err(e.into());
    }
    let n = photos.len() as f64;
    let stage_ms = json!({"decode": stages.decode / n, "detect": stages.detect / n,
                          "align": stages.align / n, "embed": stages.embed / n});
    Ok(json!({"seconds": seconds, "images_per_second": n / seconds, "cpu_ms_per_image": cpu * 1000.0 / n,
              "stage_ms": stage_ms, "faces": faces}))
}

/// CPU time (user and system, every thread) this process has used, in seconds.
fn process_cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for clock_gettime to fill.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0;
    if ok {
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}

/// `visage embed --json --workers W PHOTOS...`: every face of every photo embedded and printed.
fn time_visage_embed(photos: &[PathBuf], workers: usize) -> Result<Value> {
    let mut args: Vec<std::ffi::OsString> = vec!["embed".into(), "--json".into(), "--workers".into()];
    args.push(workers.to_string().into());
    args.extend(photos.iter().map(|p| p.as_os_str().to_owned()));
    Ok(side(photos.len(), time_self(&args, &[])?))
}

/// `visage library scan DIR --workers W` into a new, empty library.
fn time_visage_scan(dir: &Path, workers: usize) -> Result<Value> {
    let tmp = tempfile::tempdir().context("temporary directory")?;
    let library = tmp.path().join("library.db");
    let args: Vec<std::ffi::OsString> = vec![
        "library".into(),
        "--library".into(),
        library.into_os_string(),
        "scan".into(),
        dir.as_os_str().to_owned(),
        "--workers".into(),
        workers.to_string().into(),
    ];
    let photos = visage::core::files::image_files(dir, true)?.len();
    Ok(side(photos, time_self(&args, &[("VISAGE_DATA_DIR", tmp.path())])?))
}

/// The Python reference on the same photos: its own timing (after loading its models and one warm-up
/// image) and the wall-clock time of the whole command (start-up included, as visage's is).
fn run_reference(args: &BenchPhotosArgs, photos: &[PathBuf], workers: usize, models: &Path) -> Result<Value> {
    let mut list = tempfile::NamedTempFile::new().context("temporary file")?;
    for p in photos {
        writeln!(list, "{}", p.display())?;
    }
    list.flush()?;
    let start = Instant::now();
    let output = Command::new(&args.python)
        .arg(&args.reference)
        .args(["bench", "--json", "--threads", "1", "--det-size", "640", "--all-faces", "--min-face", "40"])
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--models")
        .arg(models)
        .arg("--images")
        .arg(list.path())
        .output()
        .with_context(|| format!("cannot run {} {}", args.python, args.reference))?;
    let wall = start.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "the reference failed ({}); install its requirements with `pip install -r bench/requirements.txt`, or pass --reference none:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or_default();
    let mut r: Value =
        serde_json::from_str(last).with_context(|| format!("the reference printed no JSON result:\n{stdout}"))?;
    r["wall_seconds"] = json!(wall);
    r["wall_images_per_second"] = json!(photos.len() as f64 / wall);
    Ok(r)
}

/// The 1-, 5- and 15-minute load averages (Linux; `None` elsewhere).
fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

fn report(args: &BenchPhotosArgs, workers: usize, results: &[Value], load: (Option<[f64; 3]>, Option<[f64; 3]>)) {
    if args.pipeline.json {
        print_json(&json!({"megapixels": args.megapixels, "workers": workers, "sets": results,
                           "load_average_before": load.0, "load_average_after": load.1}));
        return;
    }
    println!("{} MP photos, {workers} worker(s) on each side", args.megapixels);
    for r in results {
        report_set(r);
    }
    let fmt = |l: Option<[f64; 3]>| l.map_or("unknown".into(), |l| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]));
    println!("load average before: {}, after: {}", fmt(load.0), fmt(load.1));
}

/// One set's figures: steady state (models loaded, as the reference times itself), CPU time per
/// photo, stages, and whole commands (start-up included) on both sides.
fn report_set(r: &Value) {
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let (steady, reference) = (&r["visage"], &r["reference"]);
    let embed = num(&r["visage_embed"]["images_per_second"]);
    let scan = num(&r["visage_library_scan"]["images_per_second"]);
    println!("{} ({} photos, {})", r["set"].as_str().unwrap_or(""), r["photos"], r["folder"].as_str().unwrap_or(""));
    println!("  steady state (models loaded, one warm-up photo; images/s, CPU ms per photo, faces):");
    let line = |who: &str, v: &Value| {
        println!(
            "    {who:<18} {:>6.2} images/s  {:>6.1} CPU ms/photo  {} faces  stages (ms in one worker): {}",
            num(&v["images_per_second"]),
            num(&v["cpu_ms_per_image"]),
            v["faces"],
            stage_text(&v["stage_ms"])
        );
    };
    line("visage", steady);
    if reference.is_object() {
        line("python reference", reference);
        println!(
            "    ratio: {:.2}x in images/s, {:.2}x in CPU time per photo",
            num(&steady["images_per_second"]) / num(&reference["images_per_second"]),
            num(&reference["cpu_ms_per_image"]) / num(&steady["cpu_ms_per_image"])
        );
    }
    println!("  whole commands (wall clock, start-up and model loading included):");
    println!("    visage embed          {embed:>6.2} images/s");
    println!("    visage library scan   {scan:>6.2} images/s");
    if reference.is_object() {
        let wall = num(&reference["wall_images_per_second"]);
        println!("    python reference      {wall:>6.2} images/s");
        println!("    ratio: embed {:.2}x, scan {:.2}x", embed / wall, scan / wall);
    }
}

/// `decode 12.3, detect 45.6, ...` from a stage-to-milliseconds object.
fn stage_text(stages: &Value) -> String {
    let Some(map) = stages.as_object() else { return String::new() };
    map.iter().map(|(k, v)| format!("{k} {:.1}", v.as_f64().unwrap_or(f64::NAN))).collect::<Vec<_>>().join(", ")
}
