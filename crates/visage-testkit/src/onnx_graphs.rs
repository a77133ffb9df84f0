//! Small ONNX graphs with exactly the input and output signature of the model families a user can
//! import (SCRFD with and without key points, RetinaFace, ArcFace, genderage), computing outputs a
//! test knows by hand: constant detector outputs, or a known linear function of the input. No such
//! weights are available to the tests, so these stand in for them.

use prost::Message;
use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as Dim, type_proto::Value as TypeValue};

/// A dimension: a fixed size, or a symbolic one.
#[derive(Debug, Clone, Copy)]
pub enum D {
    Fixed(i64),
    Any(&'static str),
}

fn value_info(name: &str, dims: &[D]) -> pb::ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| pb::tensor_shape_proto::Dimension {
            value: Some(match *d {
                D::Fixed(v) => Dim::DimValue(v),
                D::Any(p) => Dim::DimParam(p.into()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(TypeValue::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

fn tensor(name: &str, dims: &[i64], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: 1,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attributes: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: format!("{op}_{output}"),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attributes,
        ..Default::default()
    }
}

fn int_attribute(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: 2, i: value, ..Default::default() }
}

fn model(graph: pb::GraphProto) -> Vec<u8> {
    pb::ModelProto {
        ir_version: 8,
        producer_name: "visage-testkit".into(),
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A graph with one `Nx3xHxW` input whose outputs are the given constants (each plus 0 times the
/// input's mean, so every output depends on the input as a runtime expects).
pub fn constant_outputs(input: [D; 4], outputs: &[(String, Vec<i64>, Vec<f32>)]) -> Vec<u8> {
    let mut nodes = vec![
        node("ReduceMean", &["input.1"], "mean", vec![int_attribute("keepdims", 0)]),
        node("Mul", &["mean", "zero"], "nothing", vec![]),
    ];
    let mut initializer = vec![tensor("zero", &[], &[0.0])];
    let mut declared = Vec::new();
    for (name, dims, values) in outputs {
        let constant = format!("{name}_value");
        initializer.push(tensor(&constant, dims, values));
        nodes.push(node("Add", &[&constant, "nothing"], name, vec![]));
        declared.push(value_info(name, &dims.iter().map(|&d| D::Fixed(d)).collect::<Vec<_>>()));
    }
    model(pb::GraphProto {
        name: "constant".into(),
        node: nodes,
        initializer,
        input: vec![value_info("input.1", &input)],
        output: declared,
        ..Default::default()
    })
}

/// One anchor an SCRFD graph reports: its stride level (0 = stride 8), index among that level's
/// anchors, score, 4 distances and 10 key-point offsets (in strides).
#[derive(Debug, Clone, Copy)]
pub struct ScrfdAnchor {
    pub level: usize,
    pub index: usize,
    pub score: f32,
    pub distances: [f32; 4],
    pub keypoints: [f32; 10],
}

/// An SCRFD-shaped graph for a `side` x `side` input (symbolic in the graph, like `det_10g.onnx`): 9
/// outputs with key points or 6 without, `[anchors, k]`, all zero but for `hot`.
pub fn scrfd(side: usize, keypoints: bool, hot: &[ScrfdAnchor]) -> Vec<u8> {
    let mut outputs = Vec::new();
    let ks: &[usize] = if keypoints { &[1, 4, 10] } else { &[1, 4] };
    for &k in ks {
        for (level, stride) in [8, 16, 32].into_iter().enumerate() {
            let rows = (side / stride) * (side / stride) * 2;
            let mut values = vec![0.0; rows * k];
            for a in hot.iter().filter(|a| a.level == level) {
                let from: &[f32] = match k {
                    1 => std::slice::from_ref(&a.score),
                    4 => &a.distances,
                    _ => &a.keypoints,
                };
                values[a.index * k..a.index * k + k].copy_from_slice(from);
            }
            outputs.push((format!("out_{k}_{stride}"), vec![rows as i64, k as i64], values));
        }
    }
    constant_outputs([D::Fixed(1), D::Fixed(3), D::Any("height"), D::Any("width")], &outputs)
}

/// A RetinaFace-shaped graph for a fixed `side` x `side` input: outputs `[1, priors, 4]` (box deltas),
/// `[1, priors, 2]` (scores) and `[1, priors, 10]` (key-point deltas), zero but for the given priors
/// `(index, face score, deltas, key-point deltas)`.
pub fn retinaface(side: usize, hot: &[(usize, f32, [f32; 4], [f32; 10])]) -> Vec<u8> {
    let priors: usize = [8, 16, 32].iter().map(|s| side.div_ceil(*s).pow(2) * 2).sum();
    let (mut loc, mut conf, mut landms) = (vec![0.0; priors * 4], vec![0.0; priors * 2], vec![0.0; priors * 10]);
    for &(i, score, deltas, kps) in hot {
        loc[4 * i..4 * i + 4].copy_from_slice(&deltas);
        conf[2 * i] = 1.0 - score;
        conf[2 * i + 1] = score;
        landms[10 * i..10 * i + 10].copy_from_slice(&kps);
    }
    let n = priors as i64;
    let side = side as i64;
    constant_outputs(
        [D::Fixed(1), D::Fixed(3), D::Fixed(side), D::Fixed(side)],
        &[
            ("loc".into(), vec![1, n, 4], loc),
            ("conf".into(), vec![1, n, 2], conf),
            ("landms".into(), vec![1, n, 10], landms),
        ],
    )
}

/// A graph from `Nx3xSxS` to `[N, dim]`: the mean of each input channel times `weights` (3 rows of
/// `dim`), i.e. `GlobalAveragePool`, `Flatten`, `MatMul`.
pub fn channel_means_times(side: i64, weights: &[f32], dim: i64) -> Vec<u8> {
    assert_eq!(weights.len() as i64, 3 * dim, "3 rows of dim weights");
    model(pb::GraphProto {
        name: "linear".into(),
        node: vec![
            node("GlobalAveragePool", &["input.1"], "pooled", vec![]),
            node("Flatten", &["pooled"], "means", vec![int_attribute("axis", 1)]),
            node("MatMul", &["means", "weights"], "embedding", vec![]),
        ],
        initializer: vec![tensor("weights", &[3, dim], weights)],
        input: vec![value_info("input.1", &[D::Any("N"), D::Fixed(3), D::Fixed(side), D::Fixed(side)])],
        output: vec![value_info("embedding", &[D::Any("N"), D::Fixed(dim)])],
        ..Default::default()
    })
}

/// An ArcFace-shaped graph (`Nx3x112x112` to `[N, 512]`) computing the channel means times `weights`.
pub fn arcface(weights: &[f32]) -> Vec<u8> {
    channel_means_times(112, weights, 512)
}

/// A genderage-shaped graph (`Nx3x96x96` to `[N, 3]`): the channel means.
pub fn genderage() -> Vec<u8> {
    let identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    channel_means_times(96, &identity, 3)
}

/// A graph of no family visage knows: `Nx3x224x224` to `[N, 3]` (an image classifier's shape).
pub fn unknown() -> Vec<u8> {
    let identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    channel_means_times(224, &identity, 3)
}
