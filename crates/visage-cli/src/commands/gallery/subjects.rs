//! The subject commands: `delete` (erasure), `export` (access), `subjects` (list), `purge-expired`.

use super::open::open;
use crate::args::gallery::GalleryArgs;
use crate::output::print_json;
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use visage::system::default_actor;

/// `visage delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    pub subject: String,
    #[command(flatten)]
    pub gallery: GalleryArgs,
}

/// `visage export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    pub subject: String,
    /// Include the templates' embeddings (they are biometric data).
    #[arg(long)]
    pub include_templates: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub gallery: GalleryArgs,
}

/// `visage subjects`.
#[derive(Debug, Args)]
pub struct SubjectsArgs {
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub gallery: GalleryArgs,
}

/// `visage purge-expired`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub gallery: GalleryArgs,
}

/// `visage delete`.
pub fn delete(args: &DeleteArgs) -> Result<ExitCode> {
    let (subject, g) = (&args.subject, &args.gallery);
    let system = open(g, None)?;
    let n = system.delete(subject, &default_actor())?;
    println!("erased {subject}: {n} template(s), consent records and index entries; the audit log keeps a tombstone");
    Ok(ExitCode::SUCCESS)
}

/// `visage export`.
pub fn export(args: &ExportArgs) -> Result<ExitCode> {
    let (subject, include_templates, out, g) =
        (&args.subject, args.include_templates, args.out.as_deref(), &args.gallery);
    let system = open(g, None)?;
    let export = system.export(subject, include_templates, &default_actor())?;
    let text = serde_json::to_string_pretty(&export)?;
    match out {
        Some(path) => {
            std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `visage subjects`.
pub fn subjects(args: &SubjectsArgs) -> Result<ExitCode> {
    let (json, g) = (args.json, &args.gallery);
    let system = open(g, None)?;
    let list = system.subjects()?;
    if json {
        let rows: Vec<_> = list.iter().map(|(s, n)| json!({"subject": s, "templates": n})).collect();
        print_json(&rows);
    } else {
        for (s, n) in &list {
            println!("{:<32} {:<24} {n} template(s)", s.id, s.display_name.as_deref().unwrap_or(""));
        }
        eprintln!("{} subject(s)", list.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// `visage purge-expired`.
pub fn purge_expired(args: &PurgeArgs) -> Result<ExitCode> {
    let g = &args.gallery;
    let system = open(g, None)?;
    // Opening already purged; report what is left to do (normally nothing) and what was done.
    let report = system.purge_expired(&default_actor())?;
    println!("{} template(s) of {} subject(s) removed", report.templates_removed, report.subjects.len());
    Ok(ExitCode::SUCCESS)
}
