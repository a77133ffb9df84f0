//! The default recogniser, ArcFace MobileFaceNet (`fr_feature.onnx`, manifest id `arcface-mbf`): what
//! its input looks like and how long its embedding is.

use crate::face_input::FaceInput;

/// `fr_feature.onnx`: RGB, `(x - 127) / 128`, 512-d output.
pub const INPUT: FaceInput = FaceInput { mean: 127.0, scale: 1.0 / 128.0, bgr: false, dim: 512, ort_only: false };
