//! Passive liveness and face attributes, one module per model of the faceplugin pack.
//!
//! | module | model | input | output |
//! |---|---|---|---|
//! | [`liveness`] | `fr_liveness.onnx` | 128x128 RGB 0-255, box x2.7 | P(live) |
//! | [`age`] | `fr_age.onnx` | 64x64 BGR ImageNet-normalised, box x1.4 | years (SSR-Net stages) |
//! | [`gender`] | `fr_gender.onnx` | as age, 3 crops shifted up, each mirrored | P(male), female/male/uncertain |
//! | [`pose`] | `fr_pose.onnx` | 224x224 RGB ImageNet-normalised, box x1.5 | yaw, pitch, roll in degrees (66 bins) |
//! | [`expression`] | `fr_expression.onnx` | 224x224 RGB 0-1, box x1.2 from its top-left corner | 7 classes |
//! | [`eyes`] | `fr_eye.onnx` | 24x24 grey 0-1 around each eye (68 landmarks) | open/closed |
//!
//! Each type wraps an already loaded [`visage_infer::Model`] and owns its pre-processing and output
//! decoding, nothing else: loading (lazily, only for the attributes a caller asks for) is the
//! orchestrator's job. Crops follow the model's reference code (npm `faceplugin-face-recognition-js`
//! 0.0.1, `lib/*.js`), because each network only works on the framing it was trained with.

pub mod age;
pub mod crop;
pub mod expression;
pub mod eyes;
pub mod gender;
pub mod liveness;
pub mod pose;
mod ssrnet;

pub use age::AgeEstimator;
pub use expression::{Expression, ExpressionClassifier, EXPRESSION_LABELS};
pub use eyes::{EyeState, EyeStateClassifier};
pub use gender::{Gender, GenderCalibration, GenderClassifier, GenderLabel, GENDER_CALIBRATION};
pub use liveness::{LivenessDetector, LivenessScore, DEFAULT_LIVENESS_THRESHOLD};
pub use pose::{HeadPose, PoseEstimator};

use visage_infer::InferError;

/// Errors from running an attribute model.
#[derive(Debug, thiserror::Error)]
pub enum AttributeError {
    #[error(transparent)]
    Inference(#[from] InferError),
    #[error("{model}: unexpected output {detail}")]
    OutputShape { model: &'static str, detail: String },
    #[error("{0}")]
    BadInput(String),
}

/// Numerically stable softmax.
pub(crate) fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// The first output of a model run, flattened, checked to hold `len` values.
pub(crate) fn first_output(
    outputs: &[ndarray::ArrayD<f32>],
    model: &'static str,
    len: usize,
) -> Result<Vec<f32>, AttributeError> {
    let out = outputs.first().ok_or(AttributeError::OutputShape { model, detail: "no output".into() })?;
    if out.len() != len {
        return Err(AttributeError::OutputShape { model, detail: format!("{:?}, expected {len} values", out.shape()) });
    }
    Ok(out.iter().copied().collect())
}

/// `1 x C x H x W` input from a list of planar floats.
pub(crate) fn nchw(data: Vec<f32>, channels: usize, side: u32) -> ndarray::ArrayD<f32> {
    ndarray::Array4::from_shape_vec((1, channels, side as usize, side as usize), data)
        .expect("planar buffer matches its shape")
        .into_dyn()
}

/// Planar RGB with per-channel ImageNet normalisation (`(v/255 - mean) / std`).
pub(crate) fn imagenet_nchw(img: &image::RgbImage) -> Vec<f32> {
    imagenet_planes(img, [0, 1, 2])
}

/// Planar BGR (blue plane first) with the ImageNet constants applied by plane position, as a model
/// trained on OpenCV-loaded images with torchvision's `Normalize` saw them.
pub(crate) fn imagenet_nchw_bgr(img: &image::RgbImage) -> Vec<f32> {
    imagenet_planes(img, [2, 1, 0])
}

/// Plane `c` holds colour channel `order[c]`, normalised with the constants of plane `c`.
fn imagenet_planes(img: &image::RgbImage, order: [usize; 3]) -> Vec<f32> {
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    const STD: [f32; 3] = [0.229, 0.224, 0.225];
    let plane = (img.width() * img.height()) as usize;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (px[order[c]] as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 2.0, 3.0, 10.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[3] > 0.99 && p[0] < p[1] && p[1] < p[2]);
        assert!((softmax(&[0.0, 1000.0])[1] - 1.0).abs() < 1e-6);
    }
}
