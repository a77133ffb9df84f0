//! ArcFace recognisers the user imports (`visage models import DIR --licence ...`, e.g. InsightFace's
//! `w600k_r50.onnx` or `glintr100.onnx`), chosen with `--recognizer imported:NAME`.
//!
//! InsightFace's ArcFace models take the 112x112 crop aligned to the same 5-point template as the
//! default, RGB, `(x - 127.5) / 127.5` (its `ArcFaceONNX`, `input_mean = input_std = 127.5`). They
//! come with no threshold: an imported recogniser is uncalibrated until `visage calibrate` runs with it,
//! and its templates and calibration are bound to the imported file's SHA-256.
//!
//! The rest of visage names recognisers by `&'static str` (manifest entries live as long as the
//! program): the spec of an imported model is built once per (name, hash) and kept for the process.

use crate::face_input::FaceInput;
use std::collections::HashMap;
use std::sync::Mutex;
use visage_models::imported::{ImportError, ImportedModel, ImportedModels};
use visage_models::{Family, ModelHome, ModelSpec};

/// What `--recognizer` names start with for an imported model.
pub const PREFIX: &str = "imported:";

/// The package name an imported model's [`ModelSpec`] carries, telling it apart from the pack's.
pub const PACKAGE: &str = "imported";

/// The input of an imported ArcFace model of embedding length `dim`.
pub fn input(dim: usize) -> FaceInput {
    FaceInput { mean: 127.5, scale: 1.0 / 127.5, bgr: false, dim, ort_only: false }
}

/// A string kept for the rest of the process, stored once per distinct value.
pub fn intern(s: &str) -> &'static str {
    static SEEN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(&found) = seen.iter().find(|&&x| x == s) {
        return found;
    }
    let kept: &'static str = Box::leak(s.to_string().into_boxed_str());
    seen.push(kept);
    kept
}

/// Specs built so far, by (name, hash), with their embedding length.
type Specs = HashMap<(String, String), (&'static ModelSpec, usize)>;
static SPECS: Mutex<Option<Specs>> = Mutex::new(None);

/// The manifest-style entry of an imported ArcFace model called `name` under `home`, kept for the
/// process (one per name and hash).
pub fn spec(home: &ModelHome, name: &str) -> Result<&'static ModelSpec, ImportError> {
    let record = ImportedModels::load(home)?;
    let model = record.by_name(name)?;
    if model.family != Family::ArcFace {
        return Err(ImportError::Damaged {
            name: name.to_string(),
            reason: format!("it is a {} model, not a recogniser (ArcFace)", model.family),
        });
    }
    let mut specs = SPECS.lock().unwrap_or_else(|p| p.into_inner());
    let specs = specs.get_or_insert_with(HashMap::new);
    let key = (model.name.clone(), model.sha256.clone());
    if let Some(&(s, _)) = specs.get(&key) {
        return Ok(s);
    }
    let s: &'static ModelSpec = Box::leak(Box::new(to_spec(model)));
    specs.insert(key, (s, model.dim.unwrap_or(512)));
    Ok(s)
}

fn to_spec(m: &ImportedModel) -> ModelSpec {
    ModelSpec {
        id: m.name.clone(),
        task: "embedding".into(),
        file: m.file.clone(),
        package: PACKAGE.into(),
        path: m.source.clone(),
        licence: m.licence.clone(),
        sha256: m.sha256.clone(),
        source_sha256: None,
        patches: Vec::new(),
        input: "Nx3x112x112, aligned to the ArcFace 5-point template".into(),
        normalisation: "RGB, (x - 127.5) / 127.5".into(),
        description: format!("imported ArcFace ({})", m.recognised_as),
        threshold: None,
        threshold_note: None,
    }
}

/// The input of an imported model's spec made by [`spec`] (`None` for the pack's models).
pub fn input_of(spec: &ModelSpec) -> Option<FaceInput> {
    if spec.package != PACKAGE {
        return None;
    }
    let specs = SPECS.lock().unwrap_or_else(|p| p.into_inner());
    let dim = specs.as_ref()?.get(&(spec.id.clone(), spec.sha256.clone()))?.1;
    Some(input(dim))
}
