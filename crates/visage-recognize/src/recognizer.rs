//! Which recogniser turns faces into embeddings: ArcFace (the default), SFace, the score fusion of
//! both, or an ArcFace model the user imported, with the entry that names its templates, its threshold
//! and its calibration.

use crate::embedder::{EmbedError, Embedder};
use crate::face_input::FaceInput;
use crate::fusion::fuse;
use image::RgbImage;
use std::fmt;
use std::str::FromStr;
use visage_models::{ids, Manifest, ModelHome, ModelSpec};

/// A recogniser a user can choose (`--recognizer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecognizerKind {
    /// ArcFace MobileFaceNet, 512-d (`arcface-mbf`): the default.
    #[default]
    ArcFace,
    /// SFace (OpenCV Zoo), 128-d (`sface`).
    SFace,
    /// Score fusion of ArcFace and SFace (the manifest's `fusion` entry).
    Fusion,
    /// An ArcFace model the user imported: the name as typed, `imported:NAME` ([`crate::imported`]).
    Imported(&'static str),
}

impl RecognizerKind {
    /// Every recogniser of the default pack, default first.
    pub const ALL: [RecognizerKind; 3] = [RecognizerKind::ArcFace, RecognizerKind::SFace, RecognizerKind::Fusion];

    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            RecognizerKind::ArcFace => "arcface",
            RecognizerKind::SFace => "sface",
            RecognizerKind::Fusion => "fusion",
            RecognizerKind::Imported(name) => name,
        }
    }

    /// The name of the imported model, for [`RecognizerKind::Imported`].
    pub fn imported_name(self) -> Option<&'static str> {
        match self {
            RecognizerKind::Imported(name) => name.strip_prefix(crate::imported::PREFIX),
            _ => None,
        }
    }

    /// Its manifest entry: a `[[model]]` id, or the `[[fusion]]` id.
    pub fn manifest_id(self) -> &'static str {
        match self {
            RecognizerKind::ArcFace => ids::EMBEDDING,
            RecognizerKind::SFace => ids::SFACE,
            RecognizerKind::Fusion => ids::FUSION,
            RecognizerKind::Imported(_) => self.imported_name().unwrap_or_default(),
        }
    }
}

impl fmt::Display for RecognizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RecognizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(name) = s.strip_prefix(crate::imported::PREFIX) {
            if name.is_empty() {
                return Err(format!("'{s}' names no model: imported:NAME, NAME as `visage models list` shows it"));
            }
            return Ok(RecognizerKind::Imported(crate::imported::intern(s)));
        }
        RecognizerKind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
            format!("unknown recognizer '{s}' (expected arcface, sface, fusion or imported:NAME for an imported model)")
        })
    }
}

/// What the input of an embedding model of the manifest looks like, by model id.
pub fn face_input(model_id: &str) -> Option<FaceInput> {
    match model_id {
        ids::EMBEDDING => Some(crate::arcface::INPUT),
        ids::SFACE => Some(crate::sface::INPUT),
        _ => None,
    }
}

/// What the input of an embedding model looks like: the pack's by id, an imported one by its spec.
pub fn face_input_of(model: &ModelSpec) -> Option<FaceInput> {
    crate::imported::input_of(model).or_else(|| face_input(&model.id))
}

/// A recogniser as the manifest describes it.
#[derive(Debug, Clone)]
pub struct RecognizerSpec {
    pub kind: RecognizerKind,
    /// The manifest id its templates and calibration are bound to.
    pub id: &'static str,
    /// The SHA-256 its templates and calibration are bound to: the model's, or for fusion the fusion
    /// entry's (a hash of its members' hashes and weights).
    pub sha256: &'static str,
    /// Default cosine threshold for 1:1 verification, and how it was chosen.
    pub threshold: Option<f32>,
    pub threshold_note: Option<&'static str>,
    /// The models it runs, each with its weight in the fused score (1 for a single model).
    pub parts: Vec<(&'static ModelSpec, f32)>,
}

impl RecognizerSpec {
    /// The description of `kind`: the manifest's, or for an imported model the record's under the
    /// models home `$VISAGE_HOME` ([`RecognizerSpec::resolve`] takes another home).
    pub fn of(kind: RecognizerKind, manifest: &'static Manifest) -> Result<RecognizerSpec, String> {
        RecognizerSpec::resolve(kind, manifest, &ModelHome::from_env())
    }

    /// The description of `kind`, an imported model looked up under `home`. An imported model has no
    /// threshold until it is calibrated.
    pub fn resolve(
        kind: RecognizerKind,
        manifest: &'static Manifest,
        home: &ModelHome,
    ) -> Result<RecognizerSpec, String> {
        if let Some(name) = kind.imported_name() {
            let m = crate::imported::spec(home, name).map_err(|e| e.to_string())?;
            return Ok(RecognizerSpec {
                kind,
                id: &m.id,
                sha256: &m.sha256,
                threshold: None,
                threshold_note: None,
                parts: vec![(m, 1.0)],
            });
        }
        let missing = |id: &str| format!("the model manifest has no entry '{id}'");
        if kind == RecognizerKind::Fusion {
            let f = manifest.fusion(ids::FUSION).ok_or_else(|| missing(ids::FUSION))?;
            let parts = f
                .models
                .iter()
                .zip(&f.weights)
                .map(|(id, w)| manifest.model(id).map(|m| (m, *w)).ok_or_else(|| missing(id)))
                .collect::<Result<_, _>>()?;
            return Ok(RecognizerSpec {
                kind,
                id: &f.id,
                sha256: &f.sha256,
                threshold: Some(f.threshold),
                threshold_note: Some(&f.threshold_note),
                parts,
            });
        }
        let m = manifest.model(kind.manifest_id()).ok_or_else(|| missing(kind.manifest_id()))?;
        Ok(RecognizerSpec {
            kind,
            id: &m.id,
            sha256: &m.sha256,
            threshold: m.threshold,
            threshold_note: m.threshold_note.as_deref(),
            parts: vec![(m, 1.0)],
        })
    }

    /// Length of its embeddings.
    pub fn dim(&self) -> usize {
        self.parts.iter().filter_map(|(m, _)| face_input_of(m)).map(|i| i.dim).sum()
    }
}

/// Runs a recogniser: one embedder, or several whose embeddings are fused.
pub struct Recognizer {
    parts: Vec<(Embedder, f32)>,
}

impl Recognizer {
    /// A recogniser from its embedders and their weights (one embedder: weight 1).
    pub fn new(parts: Vec<(Embedder, f32)>) -> Recognizer {
        Recognizer { parts }
    }

    /// Length of its embeddings.
    pub fn dim(&self) -> usize {
        self.parts.iter().map(|(e, _)| e.dim()).sum()
    }

    /// One unit-length embedding per aligned face, in order.
    pub fn embed(&self, faces: &[RgbImage]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if let [(only, _)] = self.parts.as_slice() {
            return only.embed(faces);
        }
        let each: Vec<Vec<Vec<f32>>> = self.parts.iter().map(|(e, _)| e.embed(faces)).collect::<Result<_, _>>()?;
        Ok((0..faces.len())
            .map(|i| {
                let parts: Vec<(&[f32], f32)> =
                    each.iter().zip(&self.parts).map(|(e, (_, w))| (e[i].as_slice(), *w)).collect();
                fuse(&parts)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for k in RecognizerKind::ALL {
            assert_eq!(k.name().parse::<RecognizerKind>().unwrap(), k);
        }
        assert_eq!("SFace".parse::<RecognizerKind>().unwrap(), RecognizerKind::SFace);
        assert!("facenet"
            .parse::<RecognizerKind>()
            .unwrap_err()
            .contains("expected arcface, sface, fusion or imported:NAME"));
        let imported: RecognizerKind = "imported:w600k_r50".parse().unwrap();
        assert_eq!((imported.name(), imported.imported_name()), ("imported:w600k_r50", Some("w600k_r50")));
        assert_eq!(imported, "imported:w600k_r50".parse().unwrap(), "the same name is the same recogniser");
        assert!("imported:".parse::<RecognizerKind>().is_err());
    }

    #[test]
    fn every_recogniser_has_a_manifest_entry_with_a_threshold() {
        let manifest = Manifest::default_pack();
        let dims: Vec<usize> = RecognizerKind::ALL
            .iter()
            .map(|&k| {
                let spec = RecognizerSpec::of(k, manifest).unwrap();
                let t = spec.threshold.expect("a threshold");
                assert!(t > 0.0 && t < 1.0, "{k}: {t}");
                assert!(spec.threshold_note.is_some_and(|n| n.contains("LFW")), "{k}");
                spec.dim()
            })
            .collect();
        assert_eq!(dims, [512, 128, 640]);
        let fusion = RecognizerSpec::of(RecognizerKind::Fusion, manifest).unwrap();
        let total: f32 = fusion.parts.iter().map(|(_, w)| w).sum();
        assert!((total - 1.0).abs() < 1e-6, "fusion weights sum to 1");
    }
}
