//! What the library's gallery tests share: portraits cut from the demo photos, and enrolment requests.
// Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

use visage::store::ConsentGrant;
use visage::system::{EnrollRequest, FaceRecognitionSystem};
use visage_testkit::sample_photos;

/// A crop around one face of a demo group photo (enrolment needs exactly one face per image).
pub fn portrait(
    photo: usize,
    face: usize,
    system: &FaceRecognitionSystem,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let image = system.analyzer().load(&sample_photos()[photo]).unwrap();
    let faces = system.analyzer().detect(&image).unwrap();
    let b = faces[face].bbox;
    let (w, h) = (b.width(), b.height());
    let x = (b.x1 - w * 0.7).max(0.0) as u32;
    let y = (b.y1 - h * 0.7).max(0.0) as u32;
    let cw = ((w * 2.4) as u32).min(image.width() - x);
    let ch = ((h * 2.4) as u32).min(image.height() - y);
    let out = dir.join(format!("{photo}-{face}.png"));
    image::imageops::crop_imm(&image, x, y, cw, ch).to_image().save(&out).unwrap();
    out
}

/// An enrolment of one image with a test consent whose evidence names the test file.
pub fn request(subject: &str, image: std::path::PathBuf, evidence: &str) -> EnrollRequest {
    EnrollRequest {
        subject: subject.into(),
        name: None,
        consent: ConsentGrant {
            purpose: "test".into(),
            legal_basis: "consent".into(),
            evidence: evidence.into(),
            expires_at: None,
        },
        images: vec![image.into()],
        allow_duplicate: false,
    }
}
