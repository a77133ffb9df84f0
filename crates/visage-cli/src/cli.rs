//! The command tree: the top `Cli` and its `Command` enum. Each command's arguments live beside its
//! code in `commands/`; flag groups shared by several commands in `args/`.

use crate::commands::{
    analyze, bench, bench_photos, calibrate, eval, gallery, library, liveness, loadtest, models, pipeline, serve,
    store, watch,
};
use clap::{Parser, Subcommand};

/// visage: face detection, alignment, embedding and verification on real models.
///
/// Models are installed into $VISAGE_HOME (default: the user's cache dir) on first use.
#[derive(Debug, Parser)]
#[command(name = "visage", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install, list or import the model pack.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Find faces: boxes, scores and 5 landmarks per face.
    Detect(pipeline::DetectArgs),
    /// Detect faces and print each face's 512-d embedding.
    Embed(pipeline::EmbedArgs),
    /// Are the people in two photos the same? Exit code 0: match, 1: no match, 2: error.
    Verify(pipeline::VerifyArgs),
    /// Per face: liveness, age, gender, head pose, expression, eye state and quality.
    Analyze(analyze::AnalyzeArgs),
    /// Active liveness: does the same face perform the challenges (turn-left, turn-right, blink) in order?
    Liveness(liveness::LivenessArgs),
    /// Measure accuracy on a benchmark.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Calibrate the verification threshold on labelled pairs: threshold per target FAR, FRR, EER.
    Calibrate(calibrate::CalibrateArgs),
    /// Measure speed against the Python reference pipeline (bench/reference.py) in the same run.
    Bench(bench::BenchArgs),
    /// Speed on 12-megapixel photos (made from crowd and single-face photos): `visage embed` and
    /// `visage library scan` against the Python reference detecting at 640 px.
    BenchPhotos(bench_photos::BenchPhotosArgs),
    /// Enrol a person, with their consent, from one or more photos (one face each).
    Enroll(gallery::enroll::EnrollArgs),
    /// Who is in this photo? Each face: the best enrolled subjects, and a match or unknown.
    Identify(gallery::identify::IdentifyArgs),
    /// Erase a subject: templates, consent records, index entries (the audit log keeps a tombstone).
    Delete(gallery::subjects::DeleteArgs),
    /// Everything stored about a subject, as JSON (the right of access).
    Export(gallery::subjects::ExportArgs),
    /// List enrolled subjects.
    Subjects(gallery::subjects::SubjectsArgs),
    /// Consent records: list or revoke.
    #[command(subcommand)]
    Consent(gallery::consent::ConsentCommand),
    /// Remove templates whose consent has expired (also done at every start).
    PurgeExpired(gallery::subjects::PurgeArgs),
    /// The store's encryption key.
    #[command(subcommand)]
    Keys(gallery::keys::KeysCommand),
    /// The audit log: show or verify.
    #[command(subcommand)]
    Audit(gallery::audit::AuditCommand),
    /// The gallery's database: copy between backends, measure.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// The personal photo library: scan folders, group faces into people, name, search, export.
    Library(library::LibraryArgs),
    /// Drive a running service at a fixed request rate and report throughput and latency.
    Loadtest(loadtest::LoadtestArgs),
    /// Watch a video file, camera or stream: track faces, identify each once, print events.
    Watch(watch::WatchArgs),
    /// Run the HTTP service on the gallery (API keys from `visage keys create`).
    Serve(serve::ServeArgs),
}
