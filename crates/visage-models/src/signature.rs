//! Recognising a model a user brings by its graph signature: the count, shapes and ranks of its inputs
//! and outputs, as InsightFace's `model_zoo` router does, but stated: every rule below says what it
//! looks for, and [`recognise`] returns the reason it placed a file (or why it could not).
//!
//! The families and their signatures (N the batch, `?` any size):
//!
//! - **SCRFD** (InsightFace's `det_*.onnx`): one `Nx3xHxW` input; 6 or 9 outputs (strides 8/16/32)
//!   or 10 or 15 (strides 8 to 128): per stride a score output (last dimension 1), then per stride a
//!   box output (4 distances), then, with key points, per stride a key-point output (10 values),
//!   each `[anchors, k]` or `[1, anchors, k]`.
//! - **RetinaFace** (the widespread PyTorch export): one `Nx3xHxW` input; 3 outputs `[1, anchors, k]`
//!   with k = 4 (box deltas), 2 (background and face scores) and 10 (key-point deltas), in any order.
//! - **ArcFace** (`w600k_r50.onnx`, `w600k_mbf.onnx`, `glintr100.onnx`): input `Nx3x112x112`, one output
//!   `[N, d]` (d = 512 for InsightFace's).
//! - **genderage** (`genderage.onnx`): input `Nx3x96x96`, one output `[N, 3]`.
//! - **landmarks** (`2d106det.onnx`, `1k3d68.onnx`): input `Nx3x192x192`, output `[N, 212]` or
//!   `[N, 3309]`: recognised, but visage has no use for them.

use prost::Message;
use serde::{Deserialize, Serialize};
use std::fmt;
use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as Dim, type_proto::Value as TypeValue};

/// A family of models visage can recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    #[serde(rename = "scrfd")]
    Scrfd,
    #[serde(rename = "retinaface")]
    RetinaFace,
    #[serde(rename = "arcface")]
    ArcFace,
    #[serde(rename = "genderage")]
    GenderAge,
    #[serde(rename = "landmark-2d-106")]
    Landmark2d106,
    #[serde(rename = "landmark-3d-68")]
    Landmark3d68,
}

impl Family {
    /// The name used in messages and the record.
    pub fn name(self) -> &'static str {
        match self {
            Family::Scrfd => "scrfd",
            Family::RetinaFace => "retinaface",
            Family::ArcFace => "arcface",
            Family::GenderAge => "genderage",
            Family::Landmark2d106 => "landmark-2d-106",
            Family::Landmark3d68 => "landmark-3d-68",
        }
    }

    /// The task, in the words of the manifest.
    pub fn task(self) -> &'static str {
        match self {
            Family::Scrfd | Family::RetinaFace => "detection",
            Family::ArcFace => "embedding",
            Family::GenderAge => "attributes",
            Family::Landmark2d106 | Family::Landmark3d68 => "landmarks",
        }
    }

    /// Whether visage runs models of this family (the others are recognised and left out).
    pub fn runs(self) -> bool {
        matches!(self, Family::Scrfd | Family::RetinaFace | Family::ArcFace)
    }

    /// Detector families hold one model at a time: importing another replaces it.
    pub fn one_at_a_time(self) -> bool {
        !matches!(self, Family::ArcFace)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One declared input or output: its name and dimensions (`None` for a symbolic one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSig {
    pub name: String,
    pub dims: Vec<Option<i64>>,
}

impl fmt::Display for TensorSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(|d| d.map_or("?".to_string(), |v| v.to_string())).collect();
        write!(f, "{} [{}]", self.name, dims.join(", "))
    }
}

/// The inputs (weights left out) and outputs a graph declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub inputs: Vec<TensorSig>,
    pub outputs: Vec<TensorSig>,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |t: &[TensorSig]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
        write!(f, "inputs {}; outputs {}", list(&self.inputs), list(&self.outputs))
    }
}

/// Why a file's signature could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("not a readable ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("the ONNX file has no graph")]
    NoGraph,
}

impl Signature {
    /// The signature of an ONNX file's bytes.
    pub fn read(onnx: &[u8]) -> Result<Signature, SignatureError> {
        let model = pb::ModelProto::decode(onnx)?;
        let graph = model.graph.ok_or(SignatureError::NoGraph)?;
        let weights: std::collections::HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs = graph.input.iter().filter(|i| !weights.contains(i.name.as_str())).map(tensor_sig).collect();
        Ok(Signature { inputs, outputs: graph.output.iter().map(tensor_sig).collect() })
    }
}

fn tensor_sig(info: &pb::ValueInfoProto) -> TensorSig {
    let dims = match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => t
            .shape
            .as_ref()
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match d.value {
                        Some(Dim::DimValue(v)) if v > 0 => Some(v),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    TensorSig { name: info.name.clone(), dims }
}

/// What a file was recognised as, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognised {
    pub family: Family,
    /// The rule that placed it, in words.
    pub reason: String,
    /// The input's height and width when the graph fixes them.
    pub input_size: Option<(u32, u32)>,
    /// Length of the embedding (ArcFace).
    pub dim: Option<usize>,
    /// Whether a detector gives 5 key points.
    pub keypoints: bool,
}

/// Places a signature in a family, or says why none fits.
pub fn recognise(sig: &Signature) -> Result<Recognised, String> {
    let [input] = sig.inputs.as_slice() else {
        return Err(format!("{} data inputs; every family visage knows has one ({sig})", sig.inputs.len()));
    };
    if input.dims.len() != 4 || input.dims[1].is_some_and(|c| c != 3) {
        return Err(format!("input {input} is not an Nx3xHxW image ({sig})"));
    }
    let (h, w) = (input.dims[2], input.dims[3]);
    let size = match (h, w) {
        (Some(h), Some(w)) => Some((h as u32, w as u32)),
        _ => None,
    };
    let count = sig.outputs.len();
    if [6, 9, 10, 15].contains(&count) {
        return scrfd(sig, size);
    }
    if count == 3 {
        return retinaface(sig, size);
    }
    let [output] = sig.outputs.as_slice() else {
        return Err(format!("{count} outputs fit no family visage knows ({sig})"));
    };
    let last = (output.dims.len() == 2).then(|| output.dims[1]).flatten();
    let fixed = |family: Family, side: u32, reason: String| Recognised {
        family,
        reason: format!("input {side}x{side}, {reason}"),
        input_size: Some((side, side)),
        dim: last.map(|d| d as usize),
        keypoints: false,
    };
    match (size, last) {
        (Some((112, 112)), Some(d)) if d >= 64 => {
            Ok(fixed(Family::ArcFace, 112, format!("one output [N, {d}]: an ArcFace-style {d}-d embedding")))
        }
        (Some((96, 96)), Some(3)) => Ok(fixed(
            Family::GenderAge,
            96,
            "one output [N, 3]: InsightFace genderage (2 gender scores, age / 100)".into(),
        )),
        (Some((192, 192)), Some(212)) => {
            Ok(fixed(Family::Landmark2d106, 192, "one output [N, 212]: InsightFace 106 2-D landmarks".into()))
        }
        (Some((192, 192)), Some(3309)) => {
            Ok(fixed(Family::Landmark3d68, 192, "one output [N, 3309]: InsightFace 68 3-D landmarks".into()))
        }
        _ => Err(format!(
            "one output, but not an ArcFace (3x112x112 to [N, d]), genderage (3x96x96 to [N, 3]) or landmark \
             (3x192x192) signature ({sig})"
        )),
    }
}

/// The last dimension and the number of rows (anchors) of a `[rows, k]` or `[1, rows, k]` output.
fn rows_and_k(t: &TensorSig) -> Option<(Option<i64>, i64)> {
    match t.dims.as_slice() {
        [rows, Some(k)] => Some((*rows, *k)),
        [b, rows, Some(k)] if b.is_none_or(|b| b == 1) => Some((*rows, *k)),
        _ => None,
    }
}

fn scrfd(sig: &Signature, size: Option<(u32, u32)>) -> Result<Recognised, String> {
    let count = sig.outputs.len();
    let strides = if count.is_multiple_of(5) { 5 } else { 3 };
    let keypoints = count / strides == 3;
    let mut expected: Vec<i64> = std::iter::repeat_n(1, strides).chain(std::iter::repeat_n(4, strides)).collect();
    if keypoints {
        expected.extend(std::iter::repeat_n(10, strides));
    }
    let mut rows = Vec::new();
    for (t, &k) in sig.outputs.iter().zip(&expected) {
        match rows_and_k(t) {
            Some((r, got)) if got == k => rows.push(r),
            _ => {
                return Err(format!(
                    "{count} outputs as SCRFD has, but {t} is not [anchors, {k}] ({sig}): SCRFD gives per stride \
                     scores [anchors, 1], then boxes [anchors, 4]{}",
                    if keypoints { ", then key points [anchors, 10]" } else { "" }
                ))
            }
        }
    }
    // Each stride has a quarter of the anchors of the one before (where the graph fixes them).
    for s in 1..strides {
        if let (Some(a), Some(b)) = (rows[s - 1], rows[s]) {
            if a != 4 * b {
                return Err(format!("SCRFD-like outputs, but stride {s} has {b} anchors after {a} ({sig})"));
            }
        }
    }
    let listed = [8, 16, 32, 64, 128][..strides].iter().map(|s| s.to_string()).collect::<Vec<_>>().join("/");
    Ok(Recognised {
        family: Family::Scrfd,
        reason: format!(
            "one Nx3xHxW input and {count} outputs: scores (k=1), boxes (k=4){} at {strides} strides ({listed}): \
             SCRFD {} key points",
            if keypoints { ", key points (k=10)" } else { "" },
            if keypoints { "with" } else { "without" }
        ),
        input_size: size,
        dim: None,
        keypoints,
    })
}

fn retinaface(sig: &Signature, size: Option<(u32, u32)>) -> Result<Recognised, String> {
    let mut ks = Vec::new();
    let mut anchors = None;
    for t in &sig.outputs {
        let Some((rows, k)) = rows_and_k(t).filter(|_| t.dims.len() == 3) else {
            return Err(format!("3 outputs, but {t} is not [1, anchors, k] as RetinaFace's are ({sig})"));
        };
        if let (Some(a), Some(r)) = (anchors, rows) {
            if a != r {
                return Err(format!("3 outputs with different anchor counts ({sig})"));
            }
        }
        anchors = anchors.or(rows);
        ks.push(k);
    }
    ks.sort_unstable();
    if ks != [2, 4, 10] {
        return Err(format!("3 outputs, but not RetinaFace's box (k=4), score (k=2) and key point (k=10) ({sig})"));
    }
    Ok(Recognised {
        family: Family::RetinaFace,
        reason: "one Nx3xHxW input and 3 outputs [1, anchors, k] with k = 4 (box deltas), 2 (scores) and 10 \
                 (key-point deltas): RetinaFace"
            .into(),
        input_size: size,
        dim: None,
        keypoints: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, dims: &[i64]) -> TensorSig {
        TensorSig { name: name.into(), dims: dims.iter().map(|&d| (d > 0).then_some(d)).collect() }
    }

    fn sig(input: &[i64], outputs: &[&[i64]]) -> Signature {
        Signature {
            inputs: vec![t("input.1", input)],
            outputs: outputs.iter().enumerate().map(|(i, d)| t(&format!("o{i}"), d)).collect(),
        }
    }

    #[test]
    fn scrfd_with_and_without_key_points() {
        let nine: Vec<&[i64]> = vec![
            &[12800, 1],
            &[3200, 1],
            &[800, 1],
            &[12800, 4],
            &[3200, 4],
            &[800, 4],
            &[12800, 10],
            &[3200, 10],
            &[800, 10],
        ];
        let r = recognise(&sig(&[1, 3, -1, -1], &nine)).unwrap();
        assert_eq!((r.family, r.keypoints, r.input_size), (Family::Scrfd, true, None));
        assert!(r.reason.contains("8/16/32"), "{}", r.reason);
        let six = &nine[..6];
        let r = recognise(&sig(&[1, 3, 640, 640], six)).unwrap();
        assert_eq!((r.family, r.keypoints, r.input_size), (Family::Scrfd, false, Some((640, 640))));
        // Batched exports add a leading 1.
        let batched: Vec<Vec<i64>> = nine.iter().map(|d| [&[1][..], d].concat()).collect();
        let refs: Vec<&[i64]> = batched.iter().map(|d| d.as_slice()).collect();
        assert!(recognise(&sig(&[1, 3, 640, 640], &refs)).unwrap().keypoints);
        // Anchors that do not shrink by 4 per stride are not SCRFD's.
        let mut bad = nine.clone();
        bad[1] = &[3000, 1];
        assert!(recognise(&sig(&[1, 3, 640, 640], &bad)).unwrap_err().contains("anchors"));
    }

    #[test]
    fn retinaface_arcface_genderage_and_landmarks() {
        let r = recognise(&sig(&[1, 3, 640, 640], &[&[1, 16800, 4], &[1, 16800, 2], &[1, 16800, 10]])).unwrap();
        assert_eq!(r.family, Family::RetinaFace);
        let r = recognise(&sig(&[-1, 3, 112, 112], &[&[-1, 512]])).unwrap();
        assert_eq!((r.family, r.dim), (Family::ArcFace, Some(512)));
        assert_eq!(recognise(&sig(&[-1, 3, 96, 96], &[&[-1, 3]])).unwrap().family, Family::GenderAge);
        assert_eq!(recognise(&sig(&[-1, 3, 192, 192], &[&[-1, 212]])).unwrap().family, Family::Landmark2d106);
        assert_eq!(recognise(&sig(&[-1, 3, 192, 192], &[&[-1, 3309]])).unwrap().family, Family::Landmark3d68);
    }

    #[test]
    fn unknown_signatures_are_refused_with_the_signature() {
        let e = recognise(&sig(&[1, 3, 224, 224], &[&[1, 1000]])).unwrap_err();
        assert!(e.contains("input.1 [1, 3, 224, 224]"), "{e}");
        assert!(recognise(&sig(&[1, 1, 112, 112], &[&[1, 512]])).unwrap_err().contains("Nx3xHxW"));
        assert!(recognise(&sig(&[1, 3, 640, 640], &[&[1, 100, 4], &[1, 100, 2], &[1, 100, 5]])).is_err());
        assert!(recognise(&sig(&[1, 3, 640, 640], &[&[1], &[1]])).is_err());
        let two = Signature { inputs: vec![t("a", &[1, 3, 128, 128]), t("b", &[1, 512])], outputs: vec![] };
        assert!(recognise(&two).unwrap_err().contains("2 data inputs"));
        assert!(Signature::read(b"\xff\xff not onnx").is_err());
    }
}
