//! `visage library ...`: the personal photo library (crate visage-library). Scan folders, group faces
//! into people, correct, search, export a page of thumbnails, promote a person to the gallery with
//! consent, forget; and `library evaluate`, the clustering comparison on LFW.

use crate::args::gallery::GalleryArgs;
use crate::args::pipeline::{analyzer, default_workers, PipelineArgs, Purpose};
use crate::output::{print_json, Progress};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::core::{load_image, LoadOptions};
use visage::recognize::{RecognizerKind, RecognizerSpec};
use visage::system::{default_actor, EnrollOutcome, EnrollRequest, FaceRecognitionSystem};
use visage::ImageSource;
use visage_library::cluster::{average_linkage, chinese_whispers, dbscan, neighbours, Seeds};
use visage_library::grouping::{self, DEFAULT_THRESHOLD, NEIGHBOURS};
use visage_library::scan::ScanEvent;
use visage_library::{corrections, export_html, finder, forget, metrics, people, search, thumbnails, Library};

/// `visage library`.
#[derive(Debug, Args)]
pub struct LibraryArgs {
    /// The library file. Default: library.db in the data dir (separate from the gallery).
    #[arg(long, global = true, env = "VISAGE_LIBRARY")]
    pub library: Option<PathBuf>,
    #[command(subcommand)]
    pub command: LibraryCommand,
}

/// The library's subcommands.
#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Find the faces of every photo under the folders (jpg, png, webp, tiff); unchanged files are
    /// skipped, so a scan can be stopped and run again at any time.
    Scan {
        #[arg(required = true)]
        folders: Vec<PathBuf>,
        /// Images processed in parallel (default: all cores).
        #[arg(long, value_parser = crate::args::parse::parse_threads)]
        workers: Option<usize>,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Group faces into people: new faces join people or form new ones (`--full`: regroup everything,
    /// keeping corrections).
    Cluster {
        #[arg(long)]
        full: bool,
        /// Mean cosine similarity two groups need to be merged.
        #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
        threshold: f32,
        #[arg(long)]
        json: bool,
    },
    /// The people of the library, most faces first.
    People {
        /// Leave out people with fewer faces.
        #[arg(long, default_value_t = 1)]
        min_faces: usize,
        #[arg(long)]
        json: bool,
    },
    /// The faces of one person, best first.
    Faces {
        person: i64,
        #[arg(long)]
        json: bool,
    },
    /// Name a person (an empty name removes it).
    Name { person: i64, name: String },
    /// Merge people into the first one.
    Merge {
        into: i64,
        #[arg(required = true)]
        from: Vec<i64>,
    },
    /// Move one face to another person.
    Move { face: i64, person: i64 },
    /// Take faces out of a person into a new one.
    Split {
        person: i64,
        #[arg(required = true)]
        faces: Vec<i64>,
    },
    /// "Not this person": take a face out of a person for good; it is grouped again elsewhere.
    NotPerson { face: i64, person: i64 },
    /// Photos showing the face(s) of this photo.
    Search {
        photo: PathBuf,
        #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
        threshold: f32,
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Write a static page of face thumbnails per person (originals are never copied).
    Export {
        /// The folder for index.html and thumbs/.
        #[arg(long, required = true)]
        html: PathBuf,
        #[arg(long, default_value_t = 1)]
        min_faces: usize,
        #[arg(long)]
        json: bool,
    },
    /// Promote a person to the consent gallery: their best faces are enrolled under the gallery's rules.
    Enroll(LibraryEnrollArgs),
    /// Delete the library and every thumbnail it wrote; or, given a person, that person's faces.
    Forget { person: Option<i64> },
    /// Compare the clustering algorithms on all of LFW (pairwise and BCubed scores, clusters).
    Evaluate(EvaluateArgs),
}

/// `visage library enroll`.
#[derive(Debug, Args)]
pub struct LibraryEnrollArgs {
    pub person: i64,
    /// The gallery subject id.
    #[arg(long)]
    pub subject: String,
    /// What the biometric data may be used for.
    #[arg(long)]
    pub purpose: String,
    /// Where the proof of consent is kept.
    #[arg(long)]
    pub evidence: String,
    #[arg(long, default_value = "consent")]
    pub legal_basis: String,
    /// When the consent ends (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    pub expires: Option<String>,
    /// How many of the person's best faces become templates.
    #[arg(long, default_value_t = 3)]
    pub max_faces: usize,
    /// Enrol even if the face matches another subject (recorded in the audit log).
    #[arg(long)]
    pub allow_duplicate: bool,
    #[command(flatten)]
    pub gallery: GalleryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `visage library evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The LFW folder (with lfw-deepfunneled/).
    #[arg(long)]
    pub lfw: PathBuf,
    /// Similarity thresholds to run every algorithm at.
    #[arg(long, value_delimiter = ',', default_value = "0.25,0.3,0.35,0.4,0.45,0.5")]
    pub thresholds: Vec<f32>,
    #[command(flatten)]
    pub run: crate::commands::eval::pipeline::EmbeddingRunArgs,
}

/// Runs a library command.
pub fn run(args: &LibraryArgs) -> Result<ExitCode> {
    let path = args.library.clone().unwrap_or_else(visage_library::default_path);
    match &args.command {
        LibraryCommand::Scan { folders, workers, pipeline } => scan(&path, folders, *workers, pipeline),
        LibraryCommand::Cluster { full, threshold, json } => cluster(&path, *full, *threshold, *json),
        LibraryCommand::People { min_faces, json } => list_people(&path, *min_faces, *json),
        LibraryCommand::Faces { person, json } => list_faces(&path, *person, *json),
        LibraryCommand::Name { person, name } => correct(&path, |l| corrections::name(l, *person, name)),
        LibraryCommand::Merge { into, from } => correct(&path, |l| corrections::merge(l, *into, from)),
        LibraryCommand::Move { face, person } => correct(&path, |l| corrections::move_face(l, *face, *person)),
        LibraryCommand::Split { person, faces } => {
            correct(&path, |l| corrections::split(l, *person, faces).map(|new| println!("new person {new}")))
        }
        LibraryCommand::NotPerson { face, person } => correct(&path, |l| {
            corrections::not_this_person(l, *face, *person)?;
            grouping::cluster(l, DEFAULT_THRESHOLD, false).map(|_| ())
        }),
        LibraryCommand::Search { photo, threshold, pipeline } => search_photo(&path, photo, *threshold, pipeline),
        LibraryCommand::Export { html, min_faces, json } => export(&path, html, *min_faces, *json),
        LibraryCommand::Enroll(e) => enroll(&path, e),
        LibraryCommand::Forget { person } => forget_cmd(&path, *person),
        LibraryCommand::Evaluate(e) => evaluate(e),
    }
}

/// Checks that the library's faces were embedded by `analyzer`'s recogniser (recording it on first
/// use); when not, says which `--recognizer` scanned them, when it is one this machine knows.
fn check_recognizer(library: &mut Library, analyzer: &visage::FaceAnalyzer) -> Result<()> {
    match library.check_model(analyzer.embedding_model().1) {
        Err(visage_library::LibraryError::ModelChanged { stored, .. }) => {
            let manifest = visage::models::Manifest::default_pack();
            let scanned_with = RecognizerKind::ALL
                .into_iter()
                .find(|&k| RecognizerSpec::of(k, manifest).is_ok_and(|s| s.sha256 == stored));
            match scanned_with {
                Some(kind) => bail!(
                    "the library's faces were embedded with --recognizer {kind}, which --recognizer {} cannot \
                     compare with: pass --recognizer {kind}, or `visage library forget` and scan again",
                    analyzer.recognizer_kind()
                ),
                None => bail!(
                    "the library's faces were embedded with another model (SHA-256 {stored}), which --recognizer \
                     {} cannot compare with: `visage library forget` and scan again",
                    analyzer.recognizer_kind()
                ),
            }
        }
        other => Ok(other?),
    }
}

fn scan(path: &Path, folders: &[PathBuf], workers: Option<usize>, pipeline: &PipelineArgs) -> Result<ExitCode> {
    let analyzer = analyzer(pipeline, Purpose::Recognition)?;
    let mut library = Library::open(path)?;
    check_recognizer(&mut library, &analyzer)?;
    let files = visage_library::scan::collect_files(folders)?;
    let progress = (!pipeline.json).then(|| Progress::new(files.len() as u64, "scanning"));
    let finder = finder::AnalyzerFinder::new(&analyzer);
    let workers = workers.unwrap_or_else(default_workers);
    let summary = visage_library::scan::scan(&mut library, &finder, folders, workers, |event| {
        if let Some(p) = &progress {
            p.inc();
        }
        report_event(event, pipeline.json);
    })?;
    if let Some(p) = &progress {
        p.finish();
    }
    if pipeline.json {
        print_json(&json!({"summary": summary}));
    } else {
        println!(
            "{} file(s): {} added ({} faces), {} unchanged, {} moved, {} bad",
            summary.files,
            summary.added,
            summary.faces,
            summary.unchanged,
            summary.moved,
            summary.bad.len()
        );
        println!("library: {} (group the faces with `visage library cluster`)", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per file as soon as it is committed (JSON), and every bad file on stderr.
fn report_event(event: &ScanEvent, json: bool) {
    if let ScanEvent::Bad { path, error } = event {
        // Decoder errors already start with the path.
        let path = path.display().to_string();
        let reason = error.strip_prefix(&format!("{path}: ")).unwrap_or(error);
        eprintln!("skipped {path}: {reason}");
    }
    if !json {
        return;
    }
    let line = match event {
        ScanEvent::Added { path, faces } => json!({"image": path, "status": "added", "faces": faces}),
        ScanEvent::Unchanged { path } => json!({"image": path, "status": "unchanged"}),
        ScanEvent::Moved { path, from } => json!({"image": path, "status": "moved", "from": from}),
        ScanEvent::Bad { path, error } => json!({"image": path, "status": "bad", "error": error}),
    };
    print_json(&line);
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn cluster(path: &Path, full: bool, threshold: f32, json: bool) -> Result<ExitCode> {
    if !(-1.0..=1.0).contains(&threshold) {
        bail!("--threshold {threshold} is outside [-1, 1]");
    }
    let mut library = Library::open_existing(path)?;
    let report = grouping::cluster(&mut library, threshold, full)?;
    if json {
        print_json(&report);
    } else {
        println!(
            "{} face(s) grouped; {} people ({} new); {} face(s) in the library",
            report.clustered, report.people, report.new_people, report.faces
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list_people(path: &Path, min_faces: usize, json: bool) -> Result<ExitCode> {
    let library = Library::open_existing(path)?;
    let everyone = people::people(&library, min_faces)?;
    if json {
        print_json(&json!({"people": everyone}));
        return Ok(ExitCode::SUCCESS);
    }
    let totals = people::totals(&library)?;
    println!("{} image(s), {} face(s), {} people", totals.images, totals.faces, totals.people);
    if totals.unassigned_faces > 0 {
        println!("{} face(s) not grouped yet: run `visage library cluster`", totals.unassigned_faces);
    }
    for p in everyone {
        let name = p.name.as_deref().unwrap_or("-");
        let cover = p.cover.map(|c| c.image.display().to_string()).unwrap_or_default();
        println!("person {:>5}  {:<24} {:>5} face(s)  {cover}", p.person, name, p.faces);
    }
    Ok(ExitCode::SUCCESS)
}

fn list_faces(path: &Path, person: i64, json: bool) -> Result<ExitCode> {
    let library = Library::open_existing(path)?;
    let faces = people::faces_of_person(&library, person)?;
    if json {
        print_json(&json!({"person": person, "faces": faces}));
    } else {
        for f in faces {
            let [x1, y1, x2, y2] = f.bbox;
            let pin = if f.pinned { " (pinned)" } else { "" };
            println!(
                "face {:>6}  {}  box ({x1:.0}, {y1:.0})-({x2:.0}, {y2:.0})  quality {:.2}{pin}",
                f.face,
                f.image.display(),
                f.quality
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one correction on the library.
fn correct(path: &Path, change: impl FnOnce(&mut Library) -> visage_library::Result<()>) -> Result<ExitCode> {
    let mut library = Library::open_existing(path)?;
    change(&mut library)?;
    Ok(ExitCode::SUCCESS)
}

fn search_photo(path: &Path, photo: &Path, threshold: f32, pipeline: &PipelineArgs) -> Result<ExitCode> {
    let mut library = Library::open_existing(path)?;
    let analyzer = analyzer(pipeline, Purpose::Recognition)?;
    check_recognizer(&mut library, &analyzer)?;
    let analysis = analyzer.analyze(photo, true)?;
    if analysis.faces.is_empty() {
        bail!("{}: no face found", photo.display());
    }
    let mut results = Vec::new();
    for face in &analysis.faces {
        let embedding = face.embedding.as_deref().context("the face was not embedded")?;
        results.push((face.bbox, search::search(&library, embedding, threshold)?));
    }
    library.log("search", json!({"faces": results.len()}))?;
    if pipeline.json {
        let faces: Vec<_> = results.iter().map(|(bbox, r)| json!({"bbox": bbox, "result": r})).collect();
        print_json(&json!({"image": photo, "faces": faces}));
        return Ok(ExitCode::SUCCESS);
    }
    for (i, (_, r)) in results.iter().enumerate() {
        match (r.person, r.person_similarity) {
            (Some(p), Some(s)) => println!("face {}: person {p} (mean similarity {s:.3})", i + 1),
            _ => println!("face {}: no person in the library", i + 1),
        }
        for hit in &r.photos {
            println!("  {:.3}  {}", hit.similarity, hit.image.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn export(path: &Path, dir: &Path, min_faces: usize, json: bool) -> Result<ExitCode> {
    let mut library = Library::open_existing(path)?;
    let options = LoadOptions::default();
    let report =
        export_html::export_html(&mut library, dir, min_faces, |p| load_image(p, &options).map_err(|e| e.to_string()))?;
    for p in &report.unreadable {
        eprintln!("skipped {}: cannot read it any more (moved or deleted since the scan?)", p.display());
    }
    if json {
        print_json(&report);
    } else {
        println!("{} ({} people, {} thumbnails)", report.page.display(), report.people, report.thumbnails);
    }
    Ok(ExitCode::SUCCESS)
}

fn enroll(path: &Path, args: &LibraryEnrollArgs) -> Result<ExitCode> {
    let library = Library::open_existing(path)?;
    let faces = people::faces_of_person(&library, args.person)?;
    let system = crate::commands::gallery::open::open(&args.gallery, Some(&args.pipeline))?;
    let images = single_face_crops(&system, &faces, args)?;
    let request = EnrollRequest {
        subject: args.subject.clone(),
        name: people::people(&library, 1)?.into_iter().find(|p| p.person == args.person).and_then(|p| p.name),
        consent: visage::store::ConsentGrant {
            purpose: args.purpose.clone(),
            legal_basis: args.legal_basis.clone(),
            evidence: args.evidence.clone(),
            expires_at: args.expires.as_deref().map(visage::store::time_util::parse_user_date).transpose()?,
        },
        images,
        allow_duplicate: args.allow_duplicate,
    };
    let outcome = enrol_in_gallery(&system, &request)?;
    library.log(
        "enroll",
        json!({"person": args.person, "subject": outcome.subject, "templates": outcome.templates.len()}),
    )?;
    if args.pipeline.json {
        print_json(&outcome);
    } else {
        println!("enrolled person {} as {} ({} template(s))", args.person, outcome.subject, outcome.templates.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// The person's best faces, each cut from its photo in memory with a margin, keeping only crops in
/// which the gallery's detector sees that face alone (a neighbour's face at the edge is left out).
fn single_face_crops(
    system: &FaceRecognitionSystem,
    faces: &[people::FaceRecord],
    args: &LibraryEnrollArgs,
) -> Result<Vec<ImageSource>> {
    let options = LoadOptions { max_pixels: args.pipeline.max_pixels, ..LoadOptions::default() };
    let mut images = Vec::new();
    for f in faces {
        if images.len() >= args.max_faces.max(1) {
            break;
        }
        let photo = load_image(&f.image, &options).with_context(|| format!("cannot read {}", f.image.display()))?;
        let crop = thumbnails::face_crop(&photo, f.bbox, 0.3);
        if system.analyzer().detect(&crop)?.len() != 1 {
            continue;
        }
        let bytes = thumbnails::encode_png(&crop)?;
        images.push(ImageSource::Bytes { name: format!("{} (face {})", f.image.display(), f.face), bytes });
    }
    if images.is_empty() {
        bail!("no face of person {} can be cut out of its photo alone", args.person);
    }
    Ok(images)
}

/// The one call into the gallery: consented enrolment with the gallery's own checks.
fn enrol_in_gallery(system: &FaceRecognitionSystem, request: &EnrollRequest) -> Result<EnrollOutcome> {
    Ok(system.enroll(request, &default_actor())?)
}

fn forget_cmd(path: &Path, person: Option<i64>) -> Result<ExitCode> {
    match person {
        Some(p) => {
            let mut library = Library::open_existing(path)?;
            let files = corrections::forget_person(&mut library, p)?;
            let removed = forget::remove_files(&files)?;
            println!("forgot person {p} ({removed} thumbnail(s) deleted)");
        }
        None => {
            let report = forget::forget_library(path)?;
            if report.database_files.is_empty() {
                println!("no library at {}", path.display());
            } else {
                println!("deleted the library {} and {} exported file(s)", path.display(), report.files);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A named clustering run over the evaluation's embeddings.
type Algorithm<'a> = (&'static str, Box<dyn Fn() -> Vec<usize> + 'a>);

/// `library evaluate`: the three algorithms on the same LFW embeddings, at each threshold.
fn evaluate(args: &EvaluateArgs) -> Result<ExitCode> {
    let images_dir = args.lfw.join("lfw-deepfunneled");
    if !images_dir.is_dir() {
        bail!("{} does not look like LFW: no lfw-deepfunneled/", args.lfw.display());
    }
    let paths = visage_library::scan::collect_files(&[images_dir])?;
    let eval = crate::commands::eval::pipeline::EvalPipeline::new(
        &args.run.pipeline,
        visage::FaceChoice::Centred,
        args.run.no_cache,
    )?;
    let batch = eval.embed(&paths, args.run.workers, "embedding LFW")?;
    let (points, truth) = lfw_points(&paths, batch.embeddings)?;
    let floor = args.thresholds.iter().copied().fold(f32::INFINITY, f32::min);
    let started = std::time::Instant::now();
    let all: Vec<usize> = (0..points.nrows()).collect();
    let nb = neighbours(points.view(), &all, floor, usize::MAX);
    let graph_seconds = started.elapsed().as_secs_f64();
    let people = truth.iter().collect::<std::collections::HashSet<_>>().len();
    let mut rows = Vec::new();
    for &t in &args.thresholds {
        let runs: [Algorithm<'_>; 3] = [
            (
                "visage (average linkage)",
                Box::new(|| {
                    average_linkage(points.view(), &nb.symmetric(t, NEIGHBOURS), t, &Seeds::free(points.nrows()))
                }),
            ),
            ("Chinese whispers", Box::new(|| chinese_whispers(&nb, t, 100, 1))),
            ("DBSCAN (min 3)", Box::new(|| dbscan(&nb, t, 3))),
        ];
        for (name, run) in runs {
            let started = std::time::Instant::now();
            let labels = run();
            let seconds = started.elapsed().as_secs_f64();
            rows.push(json!({"algorithm": name, "threshold": t, "scores": metrics::score(&labels, &truth), "seconds": seconds}));
        }
    }
    if args.run.pipeline.json {
        print_json(&json!({"images": paths.len(), "faces": points.nrows(), "people": people,
                           "no_face": batch.no_face, "graph_seconds": graph_seconds, "runs": rows}));
    } else {
        print_table(paths.len(), points.nrows(), people, &rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn lfw_points(paths: &[PathBuf], embeddings: Vec<Option<Vec<f32>>>) -> Result<(ndarray::Array2<f32>, Vec<usize>)> {
    let mut names: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let (mut flat, mut truth, mut dim) = (Vec::new(), Vec::new(), 0);
    for (path, e) in paths.iter().zip(embeddings) {
        let Some(e) = e else { continue };
        let person =
            path.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let next = names.len();
        truth.push(*names.entry(person).or_insert(next));
        dim = e.len();
        flat.extend(e);
    }
    Ok((ndarray::Array2::from_shape_vec((truth.len(), dim), flat)?, truth))
}

fn print_table(images: usize, faces: usize, people: usize, rows: &[serde_json::Value]) {
    println!("LFW: {images} images, {faces} embedded, {people} people\n");
    println!("| algorithm | threshold | pairwise P | pairwise R | pairwise F1 | BCubed P | BCubed R | BCubed F | clusters | singletons | seconds |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let s = &r["scores"];
        let f = |k: &str| s[k].as_f64().unwrap_or(0.0);
        println!(
            "| {} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {:.2} |",
            r["algorithm"].as_str().unwrap_or(""),
            r["threshold"].as_f64().unwrap_or(0.0),
            f("pairwise_precision"),
            f("pairwise_recall"),
            f("pairwise_f1"),
            f("bcubed_precision"),
            f("bcubed_recall"),
            f("bcubed_f"),
            s["clusters"],
            s["singletons"],
            r["seconds"].as_f64().unwrap_or(0.0)
        );
    }
}
