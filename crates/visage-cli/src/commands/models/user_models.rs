//! The models a user brings (`visage models import DIR --licence ...`): what each file was recognised
//! as and why, and their rows in `visage models list`.

use anyhow::Result;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use visage::models::imported::{import_files, ImportedModel, ImportedModels, Outcome};
use visage::models::{Family, Installer, ModelHome};
use visage::recognize::calibration::default_path;

/// Imports `files`, printing one line per file; exit code 1 when a file was refused.
pub fn import(installer: &Installer, files: &[PathBuf], licence: Option<&str>) -> Result<ExitCode> {
    let outcomes = import_files(installer.home(), files, licence)?;
    let mut refused = 0;
    for f in &outcomes {
        let path = f.path.display();
        match &f.outcome {
            Outcome::Imported { model, replaced } => {
                let replaces = replaced.as_ref().map(|r| format!(" (replaces {r})")).unwrap_or_default();
                println!("imported   {path} as {} {}{replaces}: {}", model.family, model.name, model.recognised_as);
                println!("           use: {}", usage(model));
            }
            Outcome::Present { model } => println!("present    {path} as {} {}", model.family, model.name),
            Outcome::Unused { family, reason } => println!("skipped    {path}: recognised as {family}: {reason}"),
            Outcome::Refused { reason } => {
                refused += 1;
                println!("refused    {path}: {reason}");
            }
        }
    }
    if outcomes.iter().any(|f| matches!(f.outcome, Outcome::Imported { .. } | Outcome::Present { .. })) {
        println!("recorded in {} with licence: {}", installer.home().imported_dir().display(), licence.unwrap_or(""));
    }
    if refused > 0 {
        eprintln!("{refused} file(s) were refused: visage could not place them in a family it knows");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// How to use an imported model.
fn usage(m: &ImportedModel) -> String {
    match m.family {
        Family::Scrfd | Family::RetinaFace => format!("--detector {}", m.family),
        _ => format!("--recognizer imported:{}", m.name),
    }
}

/// The state of an imported model's file.
fn state(record: &ImportedModels, m: &ImportedModel) -> &'static str {
    match record.verified_path(m) {
        Ok(_) => "verified",
        Err(_) if !record.path(m).exists() => "missing",
        Err(_) => "hash-mismatch",
    }
}

/// An imported recogniser's threshold: none until `visage calibrate` has run with it.
fn threshold_note(m: &ImportedModel) -> Option<String> {
    (m.family == Family::ArcFace).then(|| {
        let calibration = default_path(&m.sha256);
        if calibration.is_file() {
            format!("calibrated ({}): decisions at its threshold for FAR 1e-3, or --target-far", calibration.display())
        } else {
            format!(
                "uncalibrated: run `visage calibrate --recognizer imported:{} --folders DIR --impostors N` (or pass \
                 --threshold) before verify or a gallery",
                m.name
            )
        }
    })
}

/// The imported models, after the pack's table.
pub fn print_table(home: &ModelHome) -> Result<()> {
    let record = ImportedModels::load(home)?;
    if record.models.is_empty() {
        return Ok(());
    }
    println!();
    println!("Imported models ({}):", home.imported_dir().display());
    println!("{:<16} {:<11} {:<24} {:<14} {:<40} sha256", "model", "family", "use", "status", "licence");
    for m in &record.models {
        println!(
            "{:<16} {:<11} {:<24} {:<14} {:<40} {}",
            m.name,
            m.family,
            usage(m),
            state(&record, m),
            m.licence,
            m.sha256
        );
    }
    for m in &record.models {
        if let Some(note) = threshold_note(m) {
            println!("--recognizer imported:{}: verification threshold {note}", m.name);
        }
    }
    Ok(())
}

/// The imported models for `models list --json`.
pub fn json_rows(home: &ModelHome) -> Result<Vec<Value>> {
    let record = ImportedModels::load(home)?;
    Ok(record
        .models
        .iter()
        .map(|m| {
            json!({"name": m.name, "family": m.family, "task": m.family.task(), "file": m.file,
                   "path": record.path(m), "sha256": m.sha256, "licence": m.licence, "source": m.source,
                   "recognised_as": m.recognised_as, "status": state(&record, m), "use": usage(m),
                   "threshold_note": threshold_note(m)})
        })
        .collect())
}
