//! `visage enroll`: a subject with their consent from one or more photos, or a CSV batch of them.

use super::open::{consent, open_configured};
use crate::args::gallery::GalleryArgs;
use crate::args::parse::parse_unit;
use crate::args::pipeline::PipelineArgs;
use crate::output::print_json;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::system::{default_actor, EnrolLiveness, EnrollRequest, FaceRecognitionSystem};
use visage::ImageSource;

/// `visage enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The subject's id (1-128 characters from A-Z a-z 0-9 . _ @ -).
    #[arg(long, required_unless_present = "batch")]
    pub subject: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// What the biometric data may be used for (e.g. office-access).
    #[arg(long, required_unless_present = "batch")]
    pub purpose: Option<String>,
    /// Where the proof of consent is kept (a form number, a document reference).
    #[arg(long, required_unless_present = "batch")]
    pub evidence: Option<String>,
    /// The legal basis of the processing.
    #[arg(long, default_value = "consent")]
    pub legal_basis: String,
    /// When the consent ends (YYYY-MM-DD or RFC 3339); the templates are removed then.
    #[arg(long)]
    pub expires: Option<String>,
    /// Enrol even if the face matches another subject (recorded in the audit log).
    #[arg(long)]
    pub allow_duplicate: bool,
    /// Enrol even if passive liveness says the face is a presentation attack (printed photo, screen);
    /// recorded in the audit log.
    #[arg(long)]
    pub allow_spoof: bool,
    /// P(live) below which a face is refused (default: the manifest's, chosen on NUAA).
    #[arg(long, value_parser = parse_unit)]
    pub liveness_threshold: Option<f32>,
    /// A CSV of enrolments, one per line: subject,name,purpose,evidence,image. Each line is committed
    /// on its own and reported as soon as it is.
    #[arg(long, conflicts_with_all = ["subject", "images"])]
    pub batch: Option<PathBuf>,
    /// Photos of the subject, one face each.
    #[arg(required_unless_present = "batch")]
    pub images: Vec<PathBuf>,
    /// Photos (with --batch, lines) processed in parallel (default: all cores); templates keep the
    /// photos' order, and batch lines are committed and reported in the file's order.
    #[arg(long, value_parser = crate::args::parse::parse_threads)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub gallery: GalleryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// The gallery for `visage enroll`: liveness required unless `--allow-spoof`.
fn open_for_enrolment(args: &EnrollArgs) -> Result<FaceRecognitionSystem> {
    open_configured(&args.gallery, Some(&args.pipeline), |c| {
        c.enrol_liveness = EnrolLiveness { required: !args.allow_spoof, threshold: args.liveness_threshold };
        c.enrol_workers = args.workers.unwrap_or_else(crate::args::pipeline::default_workers);
    })
}

/// `visage enroll`.
pub fn enroll(args: &EnrollArgs) -> Result<ExitCode> {
    let system = open_for_enrolment(args)?;
    if let Some(batch) = &args.batch {
        return enroll_batch(&system, batch, args);
    }
    let request = EnrollRequest {
        subject: args.subject.clone().expect("required by clap"),
        name: args.name.clone(),
        consent: consent(
            args.purpose.as_deref().expect("required by clap"),
            args.evidence.as_deref().expect("required by clap"),
            &args.legal_basis,
            args.expires.as_deref(),
        )?,
        images: args.images.iter().map(ImageSource::from).collect(),
        allow_duplicate: args.allow_duplicate,
    };
    let outcome = system.enroll(&request, &default_actor())?;
    if args.pipeline.json {
        print_json(&outcome);
    } else {
        println!("enrolled {} ({} template(s))", outcome.subject, outcome.templates.len());
        for d in &outcome.duplicates_overridden {
            println!(
                "note: also matches {} (similarity {:.3}); enrolled because of --allow-duplicate",
                d.subject, d.similarity
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One enrolment per CSV line (subject,name,purpose,evidence,image). The photos of several lines are
/// analysed at once on `--workers` threads; the lines are then committed and reported one at a time
/// in the file's order (so a duplicate check sees every earlier line), each on its own: if the process
/// dies, every line reported as enrolled is in the store. A bad line is reported and skipped.
fn enroll_batch(system: &FaceRecognitionSystem, batch: &Path, args: &EnrollArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(batch).with_context(|| format!("cannot read {}", batch.display()))?;
    let base = batch.parent().unwrap_or(Path::new("."));
    let lines: Vec<BatchLine> = text
        .lines()
        .enumerate()
        .filter_map(|(n, line)| {
            batch_line(n, line.trim(), base, args).map(|request| BatchLine { number: n + 1, request })
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    let actor = default_actor();
    let workers = args.workers.unwrap_or_else(crate::args::pipeline::default_workers);
    let mut outcome = Ok(());
    visage::parallel::map_ordered(
        &lines,
        workers,
        |line| line.request.as_ref().map(|r| system.prepare_enrolment(r)).map_err(Clone::clone),
        |i, prepared| {
            let line = &lines[i];
            let result = line.request.as_ref().map_err(Clone::clone).and_then(|request| {
                let prepared = prepared?;
                system.enroll_prepared(request, prepared, &actor).map_err(|e| format!("{}: {e}", request.subject))
            });
            match result {
                Ok(enrolled) => {
                    ok += 1;
                    if outcome.is_ok() {
                        outcome = print_enrolled(&enrolled, args.pipeline.json);
                    }
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("line {}: {e}", line.number);
                }
            }
        },
    );
    outcome?;
    eprintln!("{ok} enrolled, {failed} failed");
    Ok(if failed > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// One line of a batch: its number (from 1) and its request, or why it cannot be one.
struct BatchLine {
    number: usize,
    request: std::result::Result<EnrollRequest, String>,
}

/// The request on line `n` (from 0) of a batch; `None` for blank lines, comments and the header.
fn batch_line(
    n: usize,
    line: &str,
    base: &Path,
    args: &EnrollArgs,
) -> Option<std::result::Result<EnrollRequest, String>> {
    if line.is_empty() || line.starts_with('#') || (n == 0 && line.starts_with("subject,")) {
        return None;
    }
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [subject, name, purpose, evidence, image] = fields[..] else {
        return Some(Err("expected subject,name,purpose,evidence,image".to_string()));
    };
    let consent = match consent(purpose, evidence, &args.legal_basis, args.expires.as_deref()) {
        Ok(c) => c,
        Err(e) => return Some(Err(format!("{subject}: {e:#}"))),
    };
    Some(Ok(EnrollRequest {
        subject: subject.to_string(),
        name: (!name.is_empty()).then(|| name.to_string()),
        consent,
        images: vec![ImageSource::File(base.join(image))],
        allow_duplicate: args.allow_duplicate,
    }))
}

/// Prints one enrolled line at once (flushed, so a reader sees it before the next commit).
fn print_enrolled(outcome: &visage::system::EnrollOutcome, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(outcome)?)?;
    } else {
        writeln!(out, "enrolled {} (template {})", outcome.subject, outcome.templates[0])?;
    }
    out.flush()?;
    Ok(())
}
