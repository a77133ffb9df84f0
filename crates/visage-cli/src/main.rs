//! The `visage` command-line tool: wires arguments to the library crates and prints results.

mod args;
mod cli;
mod commands;
mod output;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VISAGE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", report(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, each cause once: an error whose message already ends with its
/// cause's (`photo.jpg: the file is empty`) is not followed by that cause again.
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Lets a closed pipe end the program quietly, as for other command-line tools (`visage subjects |
/// head -1`): Rust ignores SIGPIPE, which turns the next write into a panic in `println!`.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let source = std::io::Error::other("the file is empty");
        let e = anyhow::Error::new(std::io::Error::other(format!("a.jpg: {source}")));
        assert_eq!(super::report(&e.context("reading")), "reading: a.jpg: the file is empty");
    }
}
