//! [`FaceInput`]: what an embedding model expects of its 112x112 face and what it returns, stated in each
//! model family's file.

/// What an embedding model expects and returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceInput {
    /// Each pixel value `x` is fed as `(x - mean) * scale`.
    pub mean: f32,
    pub scale: f32,
    /// Channels in BGR order (OpenCV-trained models) instead of RGB.
    pub bgr: bool,
    /// Length of the embedding.
    pub dim: usize,
    /// Only ONNX Runtime can run it (tract lacks an operator it uses).
    pub ort_only: bool,
}
