//! One module per command (or command group), each owning its clap arguments; [`run`] dispatches.

pub mod analyze;
pub mod bench;
pub mod bench_photos;
pub mod calibrate;
pub mod eval;
pub mod gallery;
pub mod library;
pub mod liveness;
pub mod loadtest;
pub mod models;
pub mod pipeline;
pub mod serve;
pub mod store;
pub mod watch;

use crate::cli::{Cli, Command};
use anyhow::Result;
use std::process::ExitCode;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Models(cmd) => models::run(cmd),
        Command::Detect(args) => pipeline::detect(args),
        Command::Embed(args) => pipeline::embed(args),
        Command::Verify(args) => pipeline::verify(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Liveness(args) => liveness::run(args),
        Command::Eval(cmd) => eval::run(cmd),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchPhotos(args) => bench_photos::run(args),
        Command::Enroll(args) => gallery::enroll::enroll(args),
        Command::Identify(args) => gallery::identify::run(args),
        Command::Delete(args) => gallery::subjects::delete(args),
        Command::Export(args) => gallery::subjects::export(args),
        Command::Subjects(args) => gallery::subjects::subjects(args),
        Command::Consent(cmd) => gallery::consent::run(cmd),
        Command::PurgeExpired(args) => gallery::subjects::purge_expired(args),
        Command::Keys(cmd) => gallery::keys::keys(cmd),
        Command::Audit(cmd) => gallery::audit::audit(cmd),
        Command::Store(cmd) => store::run(cmd),
        Command::Library(args) => library::run(args),
        Command::Loadtest(args) => loadtest::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Watch(args) => watch::run(args),
    }
}
