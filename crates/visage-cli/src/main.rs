//! The `visage` command-line tool: wires arguments to the library crates and prints results.

mod active;
mod analyze;
mod bench;
mod calibrate;
mod cli;
mod commands;
mod eval_attributes;
mod evaluate;
mod evaluate_fairness;
mod evaluate_identify;
mod evaluate_wider;
mod gallery;
mod liveness;
mod loadtest;
mod output;
mod store_cmd;
mod watch;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VISAGE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
