//! Builds ONNX graphs of MTCNN's three networks (P-Net, R-Net, O-Net) from the PyTorch state dicts that
//! PyPI `facenet-pytorch` ships (`facenet_pytorch/data/{pnet,rnet,onet}.pt`), so that both inference
//! backends run them like any other model and no PyTorch is needed.
//!
//! The layers and their order follow facenet-pytorch's `PNet`, `RNet` and `ONet` modules: 3x3 (and
//! 2x2) convolutions without padding, per-channel PReLU, max pooling with `ceil_mode=True`, and for R-Net
//! and O-Net a flatten in (width, height, channel) order (the modules permute NCHW to NWHC first, a
//! legacy of the Caffe weights) feeding dense layers. Ceil-mode pooling without padding is written as
//! floor-mode pooling with one padded row and column at the end, which gives the same output size and
//! values for every input size (max pooling ignores padding) and runs on tract too.
//!
//! Graph inputs are `image` (N x 3 x H x W, RGB, `(x - 127.5) / 128`); outputs `prob` (softmax over
//! {background, face} on axis 1), `reg` (box regression) and, for O-Net, `landmarks` (5 x-coordinates
//! then 5 y-coordinates, relative to the box). P-Net is fully convolutional (symbolic H and W, one
//! output cell per 12x12 window at stride 2); R-Net takes 24x24 and O-Net 48x48 crops.

use crate::torch_legacy::{read_state_dict, StateDict, TorchError};
use prost::Message;
use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value as Dim, type_proto::Value as TypeValue};

/// ONNX's FLOAT element type.
const FLOAT: i32 = 1;
/// ONNX attribute types.
const ATTR_INT: i32 = 2;
const ATTR_INTS: i32 = 7;
/// Opset 13: `Softmax` over one axis (earlier opsets flatten the trailing axes).
const OPSET: i64 = 13;

/// One of MTCNN's three networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtcnnNet {
    PNet,
    RNet,
    ONet,
}

/// Why a state dict could not be turned into an ONNX graph.
#[derive(Debug, thiserror::Error)]
pub enum MtcnnOnnxError {
    #[error(transparent)]
    Torch(#[from] TorchError),
    #[error("the state dict has no tensor '{0}'")]
    Missing(String),
    #[error("'{name}' has shape {actual:?}, expected {expected:?}")]
    Shape { name: String, actual: Vec<usize>, expected: Vec<usize> },
}

/// The ONNX model (serialised) of `net`, with the weights of the legacy `.pt` file `torch_bytes`.
pub fn build(net: MtcnnNet, torch_bytes: &[u8]) -> Result<Vec<u8>, MtcnnOnnxError> {
    let weights = read_state_dict(torch_bytes)?;
    Ok(build_model(net, &weights)?.encode_to_vec())
}

/// The ONNX model of `net` with the given weights.
pub fn build_model(net: MtcnnNet, weights: &StateDict) -> Result<pb::ModelProto, MtcnnOnnxError> {
    let mut g = Graph { weights, nodes: Vec::new(), initializers: Vec::new() };
    let (side, outputs) = match net {
        MtcnnNet::PNet => (None, pnet(&mut g)?),
        MtcnnNet::RNet => (Some(24), rnet(&mut g)?),
        MtcnnNet::ONet => (Some(48), onet(&mut g)?),
    };
    let spatial = |axis: &str| side.map_or_else(|| Dim::DimParam(axis.into()), Dim::DimValue);
    let input = value_info("image", vec![Dim::DimParam("N".into()), Dim::DimValue(3), spatial("H"), spatial("W")]);
    let graph = pb::GraphProto {
        name: format!("mtcnn_{net:?}").to_lowercase(),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![input],
        output: outputs.iter().map(|name| value_info(name, Vec::new())).collect(),
        ..Default::default()
    };
    Ok(pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "visage (from facenet-pytorch weights)".into(),
        graph: Some(graph),
        ..Default::default()
    })
}

/// P-Net: conv 3x3 (10), PReLU, pool 2/2, conv 3x3 (16), PReLU, conv 3x3 (32), PReLU, then two 1x1
/// heads: face probability (softmax) and box regression.
fn pnet(g: &mut Graph) -> Result<Vec<String>, MtcnnOnnxError> {
    let x = g.conv("image", "conv1", [10, 3, 3, 3])?;
    let x = g.prelu(&x, "prelu1", 10, true)?;
    let x = g.max_pool(&x, 2, "pool1");
    let x = g.conv(&x, "conv2", [16, 10, 3, 3])?;
    let x = g.prelu(&x, "prelu2", 16, true)?;
    let x = g.conv(&x, "conv3", [32, 16, 3, 3])?;
    let x = g.prelu(&x, "prelu3", 32, true)?;
    let logits = g.conv(&x, "conv4_1", [2, 32, 1, 1])?;
    g.softmax(&logits, "prob");
    let reg = g.conv(&x, "conv4_2", [4, 32, 1, 1])?;
    g.rename(&reg, "reg");
    Ok(vec!["prob".into(), "reg".into()])
}

/// R-Net: three conv + PReLU stages (28, 48, 64) with two 3/2 pools, flatten, dense 128 + PReLU, then
/// face probability and box regression.
fn rnet(g: &mut Graph) -> Result<Vec<String>, MtcnnOnnxError> {
    let x = g.conv("image", "conv1", [28, 3, 3, 3])?;
    let x = g.prelu(&x, "prelu1", 28, true)?;
    let x = g.max_pool(&x, 3, "pool1");
    let x = g.conv(&x, "conv2", [48, 28, 3, 3])?;
    let x = g.prelu(&x, "prelu2", 48, true)?;
    let x = g.max_pool(&x, 3, "pool2");
    let x = g.conv(&x, "conv3", [64, 48, 2, 2])?;
    let x = g.prelu(&x, "prelu3", 64, true)?;
    let x = g.flatten_whc(&x);
    let x = g.dense(&x, "dense4", [128, 576])?;
    let x = g.prelu(&x, "prelu4", 128, false)?;
    let logits = g.dense(&x, "dense5_1", [2, 128])?;
    g.softmax(&logits, "prob");
    let reg = g.dense(&x, "dense5_2", [4, 128])?;
    g.rename(&reg, "reg");
    Ok(vec!["prob".into(), "reg".into()])
}

/// O-Net: four conv + PReLU stages (32, 64, 64, 128) with three pools, flatten, dense 256 + PReLU, then
/// face probability, box regression and the 5 landmarks.
fn onet(g: &mut Graph) -> Result<Vec<String>, MtcnnOnnxError> {
    let x = g.conv("image", "conv1", [32, 3, 3, 3])?;
    let x = g.prelu(&x, "prelu1", 32, true)?;
    let x = g.max_pool(&x, 3, "pool1");
    let x = g.conv(&x, "conv2", [64, 32, 3, 3])?;
    let x = g.prelu(&x, "prelu2", 64, true)?;
    let x = g.max_pool(&x, 3, "pool2");
    let x = g.conv(&x, "conv3", [64, 64, 3, 3])?;
    let x = g.prelu(&x, "prelu3", 64, true)?;
    let x = g.max_pool(&x, 2, "pool3");
    let x = g.conv(&x, "conv4", [128, 64, 2, 2])?;
    let x = g.prelu(&x, "prelu4", 128, true)?;
    let x = g.flatten_whc(&x);
    let x = g.dense(&x, "dense5", [256, 1152])?;
    let x = g.prelu(&x, "prelu5", 256, false)?;
    let logits = g.dense(&x, "dense6_1", [2, 256])?;
    g.softmax(&logits, "prob");
    let reg = g.dense(&x, "dense6_2", [4, 256])?;
    g.rename(&reg, "reg");
    let landmarks = g.dense(&x, "dense6_3", [10, 256])?;
    g.rename(&landmarks, "landmarks");
    Ok(vec!["prob".into(), "reg".into(), "landmarks".into()])
}

/// A graph being built: its nodes and weights, and the state dict the weights come from.
struct Graph<'a> {
    weights: &'a StateDict,
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
}

impl Graph<'_> {
    /// Adds the state dict's tensor `name` as an initializer, checking its shape; `dims` is the shape
    /// the graph stores it with (same element count, e.g. a PReLU slope as C x 1 x 1).
    fn weight(&mut self, name: &str, expected: &[usize], dims: &[usize]) -> Result<String, MtcnnOnnxError> {
        let t = self.weights.get(name).ok_or_else(|| MtcnnOnnxError::Missing(name.into()))?;
        if t.shape != expected {
            return Err(MtcnnOnnxError::Shape {
                name: name.into(),
                actual: t.shape.clone(),
                expected: expected.to_vec(),
            });
        }
        self.initializers.push(pb::TensorProto {
            name: name.into(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            raw_data: t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        Ok(name.into())
    }

    fn node(&mut self, op: &str, name: &str, inputs: Vec<String>, attribute: Vec<pb::AttributeProto>) -> String {
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: inputs,
            output: vec![name.into()],
            attribute,
            ..Default::default()
        });
        name.into()
    }

    /// A convolution, stride 1, no padding, with PyTorch's `{layer}.weight` (out x in x kh x kw) and
    /// `{layer}.bias`.
    fn conv(&mut self, x: &str, layer: &str, shape: [usize; 4]) -> Result<String, MtcnnOnnxError> {
        let w = self.weight(&format!("{layer}.weight"), &shape, &shape)?;
        let b = self.weight(&format!("{layer}.bias"), &[shape[0]], &[shape[0]])?;
        let kernel = ints("kernel_shape", &[shape[2] as i64, shape[3] as i64]);
        Ok(self.node("Conv", layer, vec![x.into(), w, b], vec![kernel]))
    }

    /// A dense layer, `x W^T + b`, with PyTorch's `{layer}.weight` (out x in).
    fn dense(&mut self, x: &str, layer: &str, shape: [usize; 2]) -> Result<String, MtcnnOnnxError> {
        let w = self.weight(&format!("{layer}.weight"), &shape, &shape)?;
        let b = self.weight(&format!("{layer}.bias"), &[shape[0]], &[shape[0]])?;
        Ok(self.node("Gemm", layer, vec![x.into(), w, b], vec![int("transB", 1)]))
    }

    /// PReLU with one slope per channel: axis 1 of an NCHW map (`spatial`), or of an N x C matrix.
    fn prelu(&mut self, x: &str, layer: &str, channels: usize, spatial: bool) -> Result<String, MtcnnOnnxError> {
        let dims: &[usize] = if spatial { &[channels, 1, 1] } else { &[channels] };
        let slope = self.weight(&format!("{layer}.weight"), &[channels], dims)?;
        Ok(self.node("PRelu", layer, vec![x.into(), slope], Vec::new()))
    }

    /// PyTorch's `MaxPool2d(k, 2, ceil_mode=True)` as floor-mode pooling padded by one at the end.
    fn max_pool(&mut self, x: &str, k: i64, name: &str) -> String {
        let attributes = vec![ints("kernel_shape", &[k, k]), ints("strides", &[2, 2]), ints("pads", &[0, 0, 1, 1])];
        self.node("MaxPool", name, vec![x.into()], attributes)
    }

    /// NCHW to N x (W*H*C), flattened in (width, height, channel) order as facenet-pytorch does.
    fn flatten_whc(&mut self, x: &str) -> String {
        let t = self.node("Transpose", "to_nwhc", vec![x.into()], vec![ints("perm", &[0, 3, 2, 1])]);
        self.node("Flatten", "flatten", vec![t], vec![int("axis", 1)])
    }

    fn softmax(&mut self, x: &str, name: &str) -> String {
        self.node("Softmax", name, vec![x.into()], vec![int("axis", 1)])
    }

    /// Gives a value an output name (an Identity node).
    fn rename(&mut self, x: &str, name: &str) -> String {
        self.node("Identity", name, vec![x.into()], Vec::new())
    }
}

fn int(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: ATTR_INT, i: value, ..Default::default() }
}

fn ints(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), r#type: ATTR_INTS, ints: values.to_vec(), ..Default::default() }
}

/// A float tensor's declaration; no dimensions leaves its shape to the runtime.
fn value_info(name: &str, dims: Vec<Dim>) -> pb::ValueInfoProto {
    let shape = (!dims.is_empty()).then(|| pb::TensorShapeProto {
        dim: dims
            .into_iter()
            .map(|d| pb::tensor_shape_proto::Dimension { value: Some(d), ..Default::default() })
            .collect(),
    });
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(TypeValue::TensorType(pb::type_proto::Tensor { elem_type: FLOAT, shape })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
