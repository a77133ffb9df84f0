//! Models a user brings (`visage models import DIR --licence ...`): each ONNX file is placed in a
//! family by its graph signature ([`crate::signature`]), copied under `$VISAGE_HOME/imported/`, and
//! recorded in `imported.json` there with its SHA-256, the signature rule that placed it and the
//! licence the user stated. The record lives under the models home, never in the repository's
//! manifest: these files are the user's, under the user's licence.

use crate::home::ModelHome;
use crate::install::{sha256_bytes, sha256_file, write_atomically};
use crate::signature::{recognise, Family, Signature};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The record's file name, in [`ModelHome::imported_dir`].
pub const RECORD_FILE: &str = "imported.json";

/// One imported model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedModel {
    /// Its name: the file's stem (`w600k_r50`), used by `--recognizer imported:NAME`.
    pub name: String,
    pub family: Family,
    /// File name under [`ModelHome::imported_dir`].
    pub file: String,
    pub sha256: String,
    /// The licence the user stated when importing it.
    pub licence: String,
    /// Where it was imported from.
    pub source: String,
    /// The signature rule that placed it.
    pub recognised_as: String,
    /// Input height and width, when the graph fixes them.
    pub input_size: Option<(u32, u32)>,
    /// Embedding length (ArcFace).
    pub dim: Option<usize>,
    /// Whether a detector gives 5 key points.
    pub keypoints: bool,
}

/// Why an import or a lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the record of imported models {path} cannot be read: {reason}")]
    Record { path: PathBuf, reason: String },
    #[error(
        "visage recognised {0} but no licence was stated: pass --licence \"...\" with the licence these files are \
         under (InsightFace's model packs, e.g. buffalo_l, are for non-commercial research only)"
    )]
    LicenceRequired(String),
    #[error("no {family} model is imported; run `visage models import DIR --licence ...` with a folder holding one")]
    NoneImported { family: Family },
    #[error("no imported model named '{0}'; `visage models list` shows the imported models")]
    UnknownName(String),
    #[error("imported model {name}: {reason}")]
    Damaged { name: String, reason: String },
    #[error(transparent)]
    Install(#[from] crate::install::InstallError),
}

/// The record of imported models of one models home.
#[derive(Debug, Clone, Default)]
pub struct ImportedModels {
    dir: PathBuf,
    pub models: Vec<ImportedModel>,
}

#[derive(Serialize, Deserialize)]
struct RecordFile {
    models: Vec<ImportedModel>,
}

impl ImportedModels {
    /// The record of `home` (empty when nothing was imported).
    pub fn load(home: &ModelHome) -> Result<ImportedModels, ImportError> {
        let dir = home.imported_dir();
        let path = dir.join(RECORD_FILE);
        let models = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<RecordFile>(&bytes)
                    .map_err(|e| ImportError::Record { path: path.clone(), reason: e.to_string() })?
                    .models
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(ImportError::Io { path, source }),
        };
        Ok(ImportedModels { dir, models })
    }

    fn save(&self) -> Result<(), ImportError> {
        let text = serde_json::to_vec_pretty(&RecordFile { models: self.models.clone() }).expect("serialisable");
        Ok(write_atomically(&self.dir.join(RECORD_FILE), &text)?)
    }

    /// The model imported under `name`.
    pub fn by_name(&self, name: &str) -> Result<&ImportedModel, ImportError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| ImportError::UnknownName(name.to_string()))
    }

    /// The imported model of a detector family (one at a time).
    pub fn of_family(&self, family: Family) -> Result<&ImportedModel, ImportError> {
        self.models.iter().rev().find(|m| m.family == family).ok_or(ImportError::NoneImported { family })
    }

    /// Where a model's file lives.
    pub fn path(&self, model: &ImportedModel) -> PathBuf {
        self.dir.join(&model.file)
    }

    /// The path of a model's file after checking it still has the recorded SHA-256.
    pub fn verified_path(&self, model: &ImportedModel) -> Result<PathBuf, ImportError> {
        let path = self.path(model);
        let damaged = |reason: String| ImportError::Damaged { name: model.name.clone(), reason };
        match sha256_file(&path) {
            Ok(actual) if actual == model.sha256 => Ok(path),
            Ok(actual) => Err(damaged(format!(
                "{} has SHA-256 {actual}, but {} was imported: import it again",
                path.display(),
                model.sha256
            ))),
            Err(e) => Err(damaged(format!("{}: {e}; import it again", path.display()))),
        }
    }
}

/// What the import did with one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Copied and recorded (replacing `replaced`, the family's former model, if any).
    Imported { model: ImportedModel, replaced: Option<String> },
    /// Already imported with the same hash.
    Present { model: ImportedModel },
    /// Recognised, but visage does not run this family: left out.
    Unused { family: Family, reason: String },
    /// Not placed in any family.
    Refused { reason: String },
}

/// One file and what happened to it.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// A file read and placed, before anything is written.
struct Placed {
    path: PathBuf,
    bytes: Vec<u8>,
    result: Result<crate::signature::Recognised, String>,
}

fn place(path: &Path) -> Result<Placed, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io { path: path.to_path_buf(), source })?;
    let result = Signature::read(&bytes).map_err(|e| e.to_string()).and_then(|sig| recognise(&sig));
    Ok(Placed { path: path.to_path_buf(), bytes, result })
}

/// The name a file is imported under: its stem, with characters other than letters, digits, `_`,
/// `-` and `.` replaced by `_`.
pub fn model_name(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    stem.chars().map(|c| if c.is_ascii_alphanumeric() || "_-.".contains(c) { c } else { '_' }).collect()
}

/// The ONNX files under `dir` (four levels deep) that are not files of the default pack (those the
/// pack import takes, by name): the candidates for [`import_files`].
pub fn user_files(manifest: &crate::Manifest, dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    crate::install::walk(dir, 4, &mut files).map_err(|source| ImportError::Io { path: dir.to_path_buf(), source })?;
    let pack: std::collections::HashSet<&str> =
        manifest.models.iter().flat_map(|m| [m.file.as_str(), m.path.rsplit('/').next().unwrap_or_default()]).collect();
    Ok(files
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")))
        .filter(|f| f.file_name().is_some_and(|n| !pack.contains(n.to_string_lossy().as_ref())))
        .collect())
}

/// Imports `files` (ONNX files a user brings) under `home`, with the licence the user states. Refuses
/// the whole import, writing nothing, when a file visage would run is recognised and no licence is given.
pub fn import_files(
    home: &ModelHome,
    files: &[PathBuf],
    licence: Option<&str>,
) -> Result<Vec<FileOutcome>, ImportError> {
    let placed: Vec<Placed> = files.iter().map(|f| place(f)).collect::<Result<_, _>>()?;
    let runnable: Vec<String> = placed
        .iter()
        .filter_map(|p| {
            p.result.as_ref().ok().filter(|r| r.family.runs()).map(|r| format!("{} ({})", p.path.display(), r.family))
        })
        .collect();
    let licence = licence.map(str::trim).filter(|l| !l.is_empty());
    let licence = match (licence, runnable.is_empty()) {
        (Some(l), _) => l,
        (None, true) => "",
        (None, false) => return Err(ImportError::LicenceRequired(runnable.join(", "))),
    };
    let mut record = ImportedModels::load(home)?;
    let mut out = Vec::new();
    for p in placed {
        let outcome = match p.result {
            Err(reason) => Outcome::Refused { reason },
            Ok(r) if !r.family.runs() => Outcome::Unused {
                family: r.family,
                reason: format!("{}; visage does not run this family, so it is not imported", r.reason),
            },
            Ok(r) => {
                let model = ImportedModel {
                    name: model_name(&p.path),
                    family: r.family,
                    file: format!("{}.onnx", model_name(&p.path)),
                    sha256: sha256_bytes(&p.bytes),
                    licence: licence.to_string(),
                    source: p.path.display().to_string(),
                    recognised_as: r.reason,
                    input_size: r.input_size,
                    dim: r.dim,
                    keypoints: r.keypoints,
                };
                record_one(&mut record, model, &p.bytes)?
            }
        };
        out.push(FileOutcome { path: p.path, outcome });
    }
    record.save()?;
    Ok(out)
}

/// Writes one model's file and puts it in the record.
fn record_one(record: &mut ImportedModels, model: ImportedModel, bytes: &[u8]) -> Result<Outcome, ImportError> {
    if let Some(old) =
        record.models.iter().find(|m| m.name == model.name && m.sha256 == model.sha256 && m.licence == model.licence)
    {
        if record.verified_path(old).is_ok() {
            return Ok(Outcome::Present { model: old.clone() });
        }
    }
    write_atomically(&record.dir.join(&model.file), bytes)?;
    let mut replaced = None;
    let same_slot =
        |m: &ImportedModel| m.name == model.name || (model.family.one_at_a_time() && m.family == model.family);
    for old in record.models.iter().filter(|m| same_slot(m)) {
        if old.file != model.file {
            let _ = std::fs::remove_file(record.dir.join(&old.file));
        }
        replaced = Some(old.name.clone());
    }
    record.models.retain(|m| !same_slot(m));
    record.models.push(model.clone());
    Ok(Outcome::Imported { model, replaced })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_file_stem() {
        assert_eq!(model_name(Path::new("/x/w600k_r50.onnx")), "w600k_r50");
        assert_eq!(model_name(Path::new("my model (v2).onnx")), "my_model__v2_");
    }

    #[test]
    fn an_empty_home_has_no_imports_and_says_how_to_add_one() {
        let dir = tempfile::tempdir().unwrap();
        let record = ImportedModels::load(&ModelHome::at(dir.path())).unwrap();
        assert!(record.models.is_empty());
        let e = record.of_family(Family::Scrfd).unwrap_err().to_string();
        assert!(e.contains("visage models import"), "{e}");
    }

    #[test]
    fn garbage_is_refused_and_needs_no_licence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("junk.onnx");
        std::fs::write(&file, b"\xff\xff\xff not a model").unwrap();
        let home = ModelHome::at(dir.path().join("home"));
        let out = import_files(&home, &[file], None).unwrap();
        assert!(matches!(&out[0].outcome, Outcome::Refused { reason } if reason.contains("not a readable ONNX")));
    }
}
