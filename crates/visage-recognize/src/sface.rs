//! SFace (OpenCV Zoo, `face_recognition_sface_2021dec_int8bq.onnx`, manifest id `sface`): a second
//! recogniser, a MobileFaceNet trained with the SFace loss, weights block-quantised to int8.
//!
//! It takes the same 112x112 crop aligned to the ArcFace 5-point template as the default, but in BGR
//! order with raw 0-255 values: the graph subtracts 127.5 and scales by 1/128 itself (its first `Sub`
//! and `Mul` nodes), as OpenCV's `FaceRecognizerSF` feeds it. Its embedding has 128 values.
//!
//! Its weights are int8 with a scale per block (`DequantizeLinear` with `block_size`, opset 21), which
//! ONNX Runtime runs and tract 0.23 refuses: SFace needs the `ort` backend.

use crate::face_input::FaceInput;

/// SFace: BGR, 0-255 (normalised inside the graph), 128-d output.
pub const INPUT: FaceInput = FaceInput { mean: 0.0, scale: 1.0, bgr: true, dim: 128, ort_only: true };
