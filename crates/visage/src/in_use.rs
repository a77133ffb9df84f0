//! Which model files a pipeline runs, with their hashes and licences: what `GET /v1/info` reports, so
//! an operator can see whether a model the user imported (and its stated licence) is in use.

use crate::VisageError;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use visage_detect::DetectorKind;
use visage_infer::{load_model, InferenceConfig, Model};
use visage_models::imported::{ImportedModel, ImportedModels};
use visage_models::{Family, Installer, ModelSpec};

/// One model file a pipeline runs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ModelInUse {
    /// `detector` or `recognizer`.
    pub role: String,
    /// The manifest id, or the imported model's name.
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub licence: String,
    /// Imported by the user (`visage models import`), not from the default pack.
    pub imported: bool,
}

impl ModelInUse {
    fn pack(role: &str, m: &ModelSpec, imported: bool) -> ModelInUse {
        ModelInUse {
            role: role.into(),
            name: m.id.clone(),
            file: m.file.clone(),
            sha256: m.sha256.clone(),
            licence: m.licence.clone(),
            imported,
        }
    }

    fn imported(role: &str, m: &ImportedModel) -> ModelInUse {
        ModelInUse {
            role: role.into(),
            name: m.name.clone(),
            file: m.file.clone(),
            sha256: m.sha256.clone(),
            licence: m.licence.clone(),
            imported: true,
        }
    }

    /// A recogniser's model.
    pub fn recognizer(m: &ModelSpec) -> ModelInUse {
        ModelInUse::pack("recognizer", m, m.package == visage_recognize::imported::PACKAGE)
    }
}

/// The imported family a detector runs, if it runs one.
pub fn imported_family(kind: DetectorKind) -> Option<Family> {
    match kind {
        DetectorKind::Scrfd => Some(Family::Scrfd),
        DetectorKind::RetinaFace => Some(Family::RetinaFace),
        _ => None,
    }
}

/// The models a detector runs: the pack's model named like the detector (and UltraFace's landmark
/// model), or the imported model of its family.
pub fn detector_models(kind: DetectorKind, installer: &Installer) -> Vec<ModelInUse> {
    if let Some(family) = imported_family(kind) {
        let record = ImportedModels::load(installer.home());
        return record
            .ok()
            .and_then(|r| r.of_family(family).ok().map(|m| vec![ModelInUse::imported("detector", m)]))
            .unwrap_or_default();
    }
    let mut ids = vec![kind.to_string()];
    if kind == DetectorKind::UltraFace {
        ids.push(visage_models::ids::LANDMARK68.to_string());
    }
    ids.iter().filter_map(|id| installer.manifest().model(id)).map(|m| ModelInUse::pack("detector", m, false)).collect()
}

/// The imported model of a detector family, checked against its recorded hash and loaded, with its
/// record.
pub fn load_imported_detector(
    family: Family,
    installer: &Installer,
    inference: &InferenceConfig,
) -> Result<(Arc<dyn Model>, ImportedModel), VisageError> {
    let record = ImportedModels::load(installer.home()).map_err(|e| VisageError::Invalid(e.to_string()))?;
    let model = record.of_family(family).map_err(|e| VisageError::Invalid(e.to_string()))?.clone();
    let path: PathBuf = record.verified_path(&model).map_err(|e| VisageError::Invalid(e.to_string()))?;
    Ok((load_model(&path, inference)?, model))
}

/// An imported recogniser's model file, checked against its recorded hash and loaded.
pub fn load_imported_recognizer(
    spec: &ModelSpec,
    installer: &Installer,
    inference: &InferenceConfig,
) -> Result<Arc<dyn Model>, VisageError> {
    let record = ImportedModels::load(installer.home()).map_err(|e| VisageError::Invalid(e.to_string()))?;
    let model = record.by_name(&spec.id).map_err(|e| VisageError::Invalid(e.to_string()))?;
    if model.sha256 != spec.sha256 {
        return Err(VisageError::Invalid(format!(
            "imported model {} was replaced (SHA-256 {} now, {} when this pipeline started)",
            spec.id, model.sha256, spec.sha256
        )));
    }
    let path = record.verified_path(model).map_err(|e| VisageError::Invalid(e.to_string()))?;
    Ok(load_model(&path, inference)?)
}
