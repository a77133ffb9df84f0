//! Rewrites applied to a model file at install time, so the installed file runs as visage needs.
//!
//! Both patches only change declared shapes or one shape constant; the weights are untouched. The
//! result is pinned by its own SHA-256 in the manifest, so a patch that changed would be caught.

use prost::Message;
use serde::Deserialize;
use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as Dim, type_proto::Value as TypeValue};

/// A named rewrite of an ONNX file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Patch {
    /// CenterFace declares a fixed 10x3x32x32 input although it is fully convolutional: make the batch,
    /// height and width of its input and outputs symbolic so it runs at the image's own size. It also
    /// lists its 194 weights among the graph inputs (an IR-3 habit), which tells a runtime they may be
    /// overridden and so stops constant folding and fusion: onnxruntime ran it 2.3x slower. They are
    /// removed from the inputs; the weights themselves stay.
    FreeSpatialDims,
    /// `fr_feature.onnx` ends in `Reshape(x, [1, -1])`, which breaks batches (onnxruntime refuses a batch
    /// of 8, tract silently returns one 4096-d row). Rewrite the constant to `[-1, 512]` and make the
    /// batch dimension of the input and output symbolic.
    BatchReshape,
    /// ONNX Runtime runs `PRelu` through a slow broadcasting path and cannot keep it in its blocked
    /// (NCHWc) layout: in `fr_feature.onnx` its 33 PRelu nodes took more time than its 50 convolutions.
    /// Each becomes `Relu(x) + slope * Min(x, 0)`, which is exactly PRelu (for x > 0 it adds 0; for
    /// x < 0 it is `slope * x`), bit for bit, and runs 2.3x faster on ONNX Runtime.
    LowerPrelu,
    /// SFace (`face_recognition_sface_2021dec_int8bq.onnx`) declares batch 1 although nothing in it
    /// depends on the batch (it ends in `Flatten` and `Gemm`), and lists its weights among the graph
    /// inputs, which stops ONNX Runtime folding the block dequantisation of its int8 weights into
    /// constants. Make the batch dimension of its data input and output symbolic and take the weights out
    /// of the inputs; the weights themselves stay.
    FreeBatch,
    /// Not a rewrite of an ONNX file: builds the ONNX graph of MTCNN's P-Net from facenet-pytorch's
    /// legacy PyTorch state dict (`pnet.pt`); see [`crate::mtcnn_onnx`].
    MtcnnPnet,
    /// As [`Patch::MtcnnPnet`], for R-Net (`rnet.pt`).
    MtcnnRnet,
    /// As [`Patch::MtcnnPnet`], for O-Net (`onet.pt`).
    MtcnnOnet,
}

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("not a readable ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("the model has no graph")]
    NoGraph,
    #[error("the model does not have the structure this patch expects: {0}")]
    Unexpected(String),
    #[error("cannot build the ONNX graph from the PyTorch weights: {0}")]
    Torch(#[from] crate::mtcnn_onnx::MtcnnOnnxError),
}

impl Patch {
    /// Applies the patch to the bytes of an ONNX file and returns the bytes of the patched file.
    pub fn apply(self, onnx: &[u8]) -> Result<Vec<u8>, PatchError> {
        use crate::mtcnn_onnx::{build, MtcnnNet};
        match self {
            Patch::MtcnnPnet => return Ok(build(MtcnnNet::PNet, onnx)?),
            Patch::MtcnnRnet => return Ok(build(MtcnnNet::RNet, onnx)?),
            Patch::MtcnnOnet => return Ok(build(MtcnnNet::ONet, onnx)?),
            _ => {}
        }
        let mut model = pb::ModelProto::decode(onnx)?;
        let graph = model.graph.as_mut().ok_or(PatchError::NoGraph)?;
        match self {
            Patch::FreeSpatialDims => free_spatial_dims(graph)?,
            Patch::BatchReshape => batch_reshape(graph)?,
            Patch::LowerPrelu => lower_prelu(graph)?,
            Patch::FreeBatch => free_batch(graph)?,
            Patch::MtcnnPnet | Patch::MtcnnRnet | Patch::MtcnnOnet => unreachable!("built above"),
        }
        Ok(model.encode_to_vec())
    }
}

fn initializer_names(graph: &pb::GraphProto) -> std::collections::HashSet<String> {
    graph.initializer.iter().map(|t| t.name.clone()).collect()
}

/// The declared dimensions of a graph input or output.
fn dims_mut(info: &mut pb::ValueInfoProto) -> Option<&mut Vec<pb::tensor_shape_proto::Dimension>> {
    match info.r#type.as_mut()?.value.as_mut()? {
        TypeValue::TensorType(t) => Some(&mut t.shape.as_mut()?.dim),
    }
}

fn set_symbolic(dims: &mut [pb::tensor_shape_proto::Dimension], names: &[(usize, &str)]) {
    for &(axis, name) in names {
        if let Some(d) = dims.get_mut(axis) {
            d.value = Some(Dim::DimParam(name.to_string()));
        }
    }
}

fn free_spatial_dims(graph: &mut pb::GraphProto) -> Result<(), PatchError> {
    let weights = initializer_names(graph);
    let mut inputs = 0;
    for input in graph.input.iter_mut().filter(|i| !weights.contains(&i.name)) {
        let name = input.name.clone();
        let dims = dims_mut(input).ok_or_else(|| PatchError::Unexpected("input without a shape".into()))?;
        if dims.len() != 4 {
            return Err(PatchError::Unexpected(format!("input {name} has rank {}, expected 4", dims.len())));
        }
        set_symbolic(dims, &[(0, "batch"), (2, "height"), (3, "width")]);
        inputs += 1;
    }
    if inputs != 1 {
        return Err(PatchError::Unexpected(format!("{inputs} data inputs, expected 1")));
    }
    for output in graph.output.iter_mut() {
        if let Some(dims) = dims_mut(output) {
            set_symbolic(dims, &[(0, "batch"), (2, "out_height"), (3, "out_width")]);
        }
    }
    // Shapes recorded for intermediate values would be stale at other sizes.
    graph.value_info.clear();
    graph.input.retain(|i| !weights.contains(&i.name));
    Ok(())
}

fn free_batch(graph: &mut pb::GraphProto) -> Result<(), PatchError> {
    // SFace also declares its float weights as inputs, left over from its quantisation: no node reads
    // them (the convolutions read the dequantised int8 weights), yet a runtime would demand them.
    let weights = initializer_names(graph);
    let read: std::collections::HashSet<&String> = graph.node.iter().flat_map(|n| n.input.iter()).collect();
    let keep: Vec<bool> = graph.input.iter().map(|i| !weights.contains(&i.name) && read.contains(&i.name)).collect();
    let mut keep = keep.into_iter();
    graph.input.retain(|_| keep.next().unwrap_or(false));
    if graph.input.len() != 1 {
        return Err(PatchError::Unexpected(format!("{} data inputs, expected 1", graph.input.len())));
    }
    for info in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        let name = info.name.clone();
        let dims = dims_mut(info).ok_or_else(|| PatchError::Unexpected(format!("{name} has no shape")))?;
        set_symbolic(dims, &[(0, "batch")]);
    }
    graph.value_info.clear();
    Ok(())
}

fn batch_reshape(graph: &mut pb::GraphProto) -> Result<(), PatchError> {
    let reshape_shapes: Vec<String> =
        graph.node.iter().filter(|n| n.op_type == "Reshape").filter_map(|n| n.input.get(1).cloned()).collect();
    let mut rewritten = 0;
    for init in graph.initializer.iter_mut().filter(|t| reshape_shapes.contains(&t.name)) {
        let values = int64_values(init);
        if values == [1, -1] {
            init.int64_data.clear();
            init.raw_data = [-1i64, 512].iter().flat_map(|v| v.to_le_bytes()).collect();
            init.dims = vec![2];
            rewritten += 1;
        }
    }
    if rewritten != 1 {
        return Err(PatchError::Unexpected(format!("found {rewritten} Reshape constants [1, -1], expected 1")));
    }
    let weights = initializer_names(graph);
    for info in graph.input.iter_mut().filter(|i| !weights.contains(&i.name)).chain(graph.output.iter_mut()) {
        if let Some(dims) = dims_mut(info) {
            set_symbolic(dims, &[(0, "batch")]);
        }
    }
    Ok(())
}

fn lower_prelu(graph: &mut pb::GraphProto) -> Result<(), PatchError> {
    const ZERO: &str = "visage_prelu_zero";
    if graph.initializer.iter().any(|t| t.name == ZERO) {
        return Err(PatchError::Unexpected("PRelu is already lowered".into()));
    }
    let node = |op: &str, name: String, inputs: Vec<String>, output: String| pb::NodeProto {
        op_type: op.into(),
        name,
        input: inputs,
        output: vec![output],
        ..Default::default()
    };
    let mut nodes = Vec::with_capacity(graph.node.len() * 2);
    let mut lowered = 0;
    for n in std::mem::take(&mut graph.node) {
        if n.op_type != "PRelu" {
            nodes.push(n);
            continue;
        }
        let [x, slope] = [&n.input[0], &n.input[1]].map(String::clone);
        let y = n.output.first().cloned().ok_or_else(|| PatchError::Unexpected("PRelu without output".into()))?;
        let id = format!("visage_prelu_{lowered}");
        nodes.push(node("Relu", format!("{id}_relu"), vec![x.clone()], format!("{id}_pos")));
        nodes.push(node("Min", format!("{id}_min"), vec![x, ZERO.into()], format!("{id}_neg")));
        nodes.push(node("Mul", format!("{id}_mul"), vec![format!("{id}_neg"), slope], format!("{id}_scaled")));
        nodes.push(node("Add", format!("{id}_add"), vec![format!("{id}_pos"), format!("{id}_scaled")], y));
        lowered += 1;
    }
    if lowered == 0 {
        return Err(PatchError::Unexpected("no PRelu node to lower".into()));
    }
    graph.node = nodes;
    graph.initializer.push(pb::TensorProto {
        name: ZERO.into(),
        data_type: 1, // FLOAT
        float_data: vec![0.0],
        ..Default::default()
    });
    Ok(())
}

/// The values of an INT64 tensor, stored either as `int64_data` or as little-endian `raw_data`.
fn int64_values(t: &pb::TensorProto) -> Vec<i64> {
    if !t.int64_data.is_empty() {
        return t.int64_data.clone();
    }
    t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("chunk of 8"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_info(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                denotation: String::new(),
                value: Some(TypeValue::TensorType(pb::type_proto::Tensor {
                    elem_type: 1,
                    shape: Some(pb::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| pb::tensor_shape_proto::Dimension {
                                value: Some(Dim::DimValue(d)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
            }),
            doc_string: String::new(),
        }
    }

    fn dims_of(info: &pb::ValueInfoProto) -> Vec<String> {
        let mut info = info.clone();
        dims_mut(&mut info)
            .unwrap()
            .iter()
            .map(|d| match d.value.as_ref().unwrap() {
                Dim::DimValue(v) => v.to_string(),
                Dim::DimParam(p) => p.clone(),
            })
            .collect()
    }

    #[test]
    fn frees_batch_and_spatial_dims_of_input_and_outputs() {
        let graph = pb::GraphProto {
            input: vec![value_info("input.1", &[10, 3, 32, 32]), value_info("w", &[3])],
            output: vec![value_info("537", &[10, 1, 8, 8])],
            initializer: vec![pb::TensorProto { name: "w".into(), ..Default::default() }],
            ..Default::default()
        };
        let bytes = pb::ModelProto { graph: Some(graph), ..Default::default() }.encode_to_vec();
        let patched = pb::ModelProto::decode(&*Patch::FreeSpatialDims.apply(&bytes).unwrap()).unwrap();
        let g = patched.graph.unwrap();
        assert_eq!(dims_of(&g.input[0]), ["batch", "3", "height", "width"]);
        assert_eq!(g.input.len(), 1, "weights are no longer listed as inputs");
        assert_eq!(g.initializer.len(), 1, "the weights themselves stay");
        assert_eq!(dims_of(&g.output[0]), ["batch", "1", "out_height", "out_width"]);
    }

    #[test]
    fn rewrites_the_batch_one_reshape() {
        let shape = pb::TensorProto {
            name: "703".into(),
            dims: vec![2],
            data_type: 7,
            raw_data: [1i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        let graph = pb::GraphProto {
            node: vec![pb::NodeProto {
                op_type: "Reshape".into(),
                input: vec!["665".into(), "703".into()],
                output: vec!["output".into()],
                ..Default::default()
            }],
            initializer: vec![shape],
            input: vec![value_info("input", &[1, 3, 112, 112])],
            output: vec![value_info("output", &[1, 512])],
            ..Default::default()
        };
        let bytes = pb::ModelProto { graph: Some(graph), ..Default::default() }.encode_to_vec();
        let patched = pb::ModelProto::decode(&*Patch::BatchReshape.apply(&bytes).unwrap()).unwrap();
        let g = patched.graph.unwrap();
        assert_eq!(int64_values(&g.initializer[0]), [-1, 512]);
        assert_eq!(dims_of(&g.input[0]), ["batch", "3", "112", "112"]);
        assert_eq!(dims_of(&g.output[0]), ["batch", "512"]);
        // Applying it twice finds nothing to rewrite: the patch refuses rather than guessing.
        let again = pb::ModelProto { graph: Some(g), ..Default::default() }.encode_to_vec();
        assert!(matches!(Patch::BatchReshape.apply(&again), Err(PatchError::Unexpected(_))));
    }

    #[test]
    fn lowers_every_prelu_into_relu_min_mul_add() {
        let graph = pb::GraphProto {
            node: vec![
                pb::NodeProto {
                    op_type: "Conv".into(),
                    input: vec!["x".into()],
                    output: vec!["c".into()],
                    ..Default::default()
                },
                pb::NodeProto {
                    op_type: "PRelu".into(),
                    input: vec!["c".into(), "slope".into()],
                    output: vec!["y".into()],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let bytes = pb::ModelProto { graph: Some(graph), ..Default::default() }.encode_to_vec();
        let patched = pb::ModelProto::decode(&*Patch::LowerPrelu.apply(&bytes).unwrap()).unwrap();
        let g = patched.graph.unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Conv", "Relu", "Min", "Mul", "Add"]);
        assert_eq!(g.node[4].output, ["y"], "the lowered block writes the PRelu's output");
        assert_eq!(g.node[2].input, ["c", "visage_prelu_zero"]);
        assert_eq!(g.node[3].input[1], "slope");
        assert_eq!(g.initializer.last().unwrap().float_data, [0.0]);
        // Nothing left to lower: refused rather than silently doing nothing.
        let again = pb::ModelProto { graph: Some(g), ..Default::default() }.encode_to_vec();
        assert!(Patch::LowerPrelu.apply(&again).is_err());
    }

    #[test]
    fn frees_the_batch_and_drops_weights_from_inputs() {
        let graph = pb::GraphProto {
            input: vec![
                value_info("data", &[1, 3, 112, 112]),
                value_info("w", &[128, 4]),
                value_info("stale", &[128, 4]),
            ],
            output: vec![value_info("fc1", &[1, 128])],
            initializer: vec![pb::TensorProto { name: "w".into(), ..Default::default() }],
            node: vec![pb::NodeProto {
                op_type: "Gemm".into(),
                input: vec!["data".into(), "w".into()],
                output: vec!["fc1".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = pb::ModelProto { graph: Some(graph), ..Default::default() }.encode_to_vec();
        let patched = pb::ModelProto::decode(&*Patch::FreeBatch.apply(&bytes).unwrap()).unwrap();
        let g = patched.graph.unwrap();
        assert_eq!(g.input.len(), 1, "neither the weight nor the input no node reads is left");
        assert_eq!(dims_of(&g.input[0]), ["batch", "3", "112", "112"]);
        assert_eq!(dims_of(&g.output[0]), ["batch", "128"]);
        assert_eq!(g.initializer.len(), 1, "the weights themselves stay");
        // A graph with two data inputs is not the one this patch was written for.
        let two = pb::GraphProto {
            input: vec![value_info("a", &[1, 3]), value_info("b", &[1, 3])],
            node: vec![pb::NodeProto {
                op_type: "Add".into(),
                input: vec!["a".into(), "b".into()],
                output: vec!["c".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = pb::ModelProto { graph: Some(two), ..Default::default() }.encode_to_vec();
        assert!(matches!(Patch::FreeBatch.apply(&bytes), Err(PatchError::Unexpected(_))));
    }

    #[test]
    fn refuses_garbage() {
        assert!(Patch::FreeSpatialDims.apply(b"definitely not protobuf \xff\xff\xff").is_err());
    }
}
