//! The one quality policy: what makes a poor template or a poor probe (size, sharpness, exposure,
//! head pose and eye state), with a reason for every criterion that fails. Enrolment refuses a face
//! that fails it (a poor face makes a poor template, which then fails every later comparison);
//! `visage analyze` reports it. Pose and eye state count only where those attributes were computed:
//! enrolment runs no extra models, so it judges size, sharpness and exposure.

use crate::attributes::FaceAttributes;
use image::RgbImage;
use serde::Serialize;
use visage_core::quality::{brightness_contrast, laplacian_variance};
use visage_core::tensor::rgb_to_grey_bt601;
use visage_detect::Detection;

/// The limits a good face must meet. Measured on the aligned 112x112 face.
#[derive(Debug, Clone, Copy)]
pub struct QualityPolicy {
    /// Shorter side of the detector box, in pixels of the original image.
    pub min_face_size: f32,
    /// Laplacian variance of the aligned 112x112 grey face. Measured on 384 LFW faces: 99% of sharp
    /// faces score above 26; after a Gaussian blur of sigma 2 (of the 250 px image) the median is 13,
    /// and after sigma 3 every face scores under 10.
    pub min_sharpness: f32,
    /// Mean grey level of the aligned face, 0-255: below, under-exposed; above, over-exposed.
    pub min_brightness: f32,
    pub max_brightness: f32,
    /// Standard deviation of the grey levels: a flat, washed-out face has little.
    pub min_contrast: f32,
    /// Head turned or tilted further than this (degrees) is not frontal enough.
    pub max_abs_yaw: f32,
    pub max_abs_pitch: f32,
    /// Refuse a face whose eyes are both closed. One closed eye alone is not a reason: the eye model
    /// calls one eye closed on about 1 in 5 LFW faces (both open on 78% of 117 faces in a Python run
    /// of the reference pre-processing, both closed on 5%), too often to refuse on.
    pub require_open_eyes: bool,
}

impl Default for QualityPolicy {
    fn default() -> Self {
        Self {
            min_face_size: 64.0,
            min_sharpness: 15.0,
            min_brightness: 40.0,
            max_brightness: 220.0,
            min_contrast: 18.0,
            max_abs_yaw: 30.0,
            max_abs_pitch: 25.0,
            require_open_eyes: true,
        }
    }
}

/// The verdict on one face, with the measurements behind it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QualityReport {
    /// 0 to 1: the mean of one sub-score per measured criterion (1 = comfortably inside its limit).
    pub score: f32,
    pub ok: bool,
    /// One sentence per failed criterion.
    pub reasons: Vec<String>,
    pub face_size: f32,
    pub sharpness: f32,
    pub brightness: f32,
    pub contrast: f32,
}

impl QualityPolicy {
    /// Judges a face from its box, its aligned 112x112 crop and the pose/eye attributes when computed
    /// (criteria whose attribute is missing are skipped, not failed).
    pub fn assess(&self, face: &Detection, aligned: &RgbImage, attributes: Option<&FaceAttributes>) -> QualityReport {
        let attributes = attributes.cloned().unwrap_or_default();
        let grey = rgb_to_grey_bt601(aligned);
        let face_size = face.bbox.min_side();
        let sharpness = laplacian_variance(&grey);
        let (brightness, contrast) = brightness_contrast(&grey);
        let mut reasons = Vec::new();
        let mut parts = Vec::new();

        parts.push((face_size / (2.0 * self.min_face_size)).min(1.0));
        if face_size < self.min_face_size {
            reasons.push(format!("the face is {face_size:.0} px, below the {:.0} px minimum", self.min_face_size));
        }
        parts.push((sharpness / (4.0 * self.min_sharpness)).min(1.0));
        if sharpness < self.min_sharpness {
            reasons.push(format!("the face is blurred (sharpness {sharpness:.1}, minimum {:.1})", self.min_sharpness));
        }
        let mid = (self.min_brightness + self.max_brightness) / 2.0;
        let half = (self.max_brightness - self.min_brightness) / 2.0;
        parts.push((1.0 - ((brightness - mid).abs() / half).powi(2)).clamp(0.0, 1.0));
        if brightness < self.min_brightness {
            reasons
                .push(format!("the face is too dark (brightness {brightness:.0}, minimum {:.0})", self.min_brightness));
        } else if brightness > self.max_brightness {
            reasons.push(format!(
                "the face is over-exposed (brightness {brightness:.0}, maximum {:.0})",
                self.max_brightness
            ));
        }
        parts.push((contrast / (2.0 * self.min_contrast)).min(1.0));
        if contrast < self.min_contrast {
            reasons.push(format!("the face lacks contrast ({contrast:.1}, minimum {:.1})", self.min_contrast));
        }
        if let Some(pose) = attributes.pose {
            parts.push((1.0 - pose.yaw.abs() / (2.0 * self.max_abs_yaw)).clamp(0.0, 1.0));
            parts.push((1.0 - pose.pitch.abs() / (2.0 * self.max_abs_pitch)).clamp(0.0, 1.0));
            if pose.yaw.abs() > self.max_abs_yaw {
                reasons.push(format!(
                    "the head is turned {:.0} degrees (yaw), more than {:.0}",
                    pose.yaw.abs(),
                    self.max_abs_yaw
                ));
            }
            if pose.pitch.abs() > self.max_abs_pitch {
                reasons.push(format!(
                    "the head is tilted {:.0} degrees up or down (pitch), more than {:.0}",
                    pose.pitch.abs(),
                    self.max_abs_pitch
                ));
            }
        }
        if let Some(eyes) = attributes.eyes {
            parts.push((eyes.left_score.min(eyes.right_score) * 2.0).min(1.0));
            if self.require_open_eyes && !eyes.left_open && !eyes.right_open {
                reasons
                    .push(format!("both eyes are closed (P(open) {:.2} and {:.2})", eyes.left_score, eyes.right_score));
            }
        }
        let score = parts.iter().sum::<f32>() / parts.len() as f32;
        QualityReport { score, ok: reasons.is_empty(), reasons, face_size, sharpness, brightness, contrast }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visage_attributes::{EyeState, HeadPose};
    use visage_core::{BBox, Point};

    fn face(side: f32) -> Detection {
        Detection {
            bbox: BBox::new(0.0, 0.0, side, side),
            score: 0.9,
            landmarks: [Point::default(); 5],
            landmarks68: None,
        }
    }

    fn textured(level: u8, amplitude: u8) -> RgbImage {
        RgbImage::from_fn(112, 112, |x, y| {
            let v = if (x / 2 + y / 2) % 2 == 0 {
                level.saturating_add(amplitude)
            } else {
                level.saturating_sub(amplitude)
            };
            image::Rgb([v, v, v])
        })
    }

    #[test]
    fn each_failed_criterion_gives_its_reason() {
        let c = QualityPolicy::default();
        let good = c.assess(&face(120.0), &textured(128, 60), None);
        assert!(good.ok, "{:?}", good.reasons);
        assert!(good.score > 0.8);

        let dark = c.assess(&face(120.0), &textured(20, 10), None);
        assert!(dark.reasons.iter().any(|r| r.contains("too dark")), "{:?}", dark.reasons);
        assert!(dark.reasons.iter().any(|r| r.contains("contrast")));
        let flat = c.assess(&face(30.0), &RgbImage::from_pixel(112, 112, image::Rgb([250, 250, 250])), None);
        assert!(flat.reasons.iter().any(|r| r.contains("30 px")));
        assert!(flat.reasons.iter().any(|r| r.contains("blurred")));
        assert!(flat.reasons.iter().any(|r| r.contains("over-exposed")));
        assert!(flat.score < good.score);

        let attrs = FaceAttributes {
            pose: Some(HeadPose { yaw: -45.0, pitch: 5.0, roll: 0.0 }),
            eyes: Some(EyeState { left_open: false, right_open: false, left_score: 0.2, right_score: 0.1 }),
            ..FaceAttributes::default()
        };
        let turned = c.assess(&face(120.0), &textured(128, 60), Some(&attrs));
        assert_eq!(turned.reasons.len(), 2, "{:?}", turned.reasons);
        assert!(turned.reasons[0].contains("turned 45"));
        assert!(turned.reasons[1].contains("both eyes are closed"));
    }
}
