//! Liveness in the gallery commands: enrolment refuses spoofs unless `--allow-spoof`;
//! `identify --require-live` and `verify --require-live` report and enforce liveness.

use crate::calibrate::ActiveCalibration;
use crate::cli::{EnrollArgs, GalleryArgs, PipelineArgs};
use crate::commands::{analyzer, Purpose};
use crate::gallery::open_configured;
use crate::output::print_json;
use anyhow::Result;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use visage::system::{default_actor, EnrolLiveness, FaceRecognitionSystem};
use visage::{FaceChoice, VisageError};

/// The gallery for `visage enroll`: liveness required unless `--allow-spoof`.
pub fn open_for_enrolment(args: &EnrollArgs) -> Result<FaceRecognitionSystem> {
    open_configured(&args.gallery, Some(&args.pipeline), None, |c| {
        c.enrol_liveness = EnrolLiveness { required: !args.allow_spoof, threshold: args.liveness_threshold };
    })
}

pub fn identify_live(
    image: &Path,
    top_k: usize,
    threshold: Option<f32>,
    calibration: Option<&ActiveCalibration>,
    g: &GalleryArgs,
    pipeline: &PipelineArgs,
) -> Result<ExitCode> {
    let threshold = threshold.or(calibration.and_then(|c| c.threshold()));
    let system = open_configured(g, Some(pipeline), threshold, |_| {})?;
    let result = system.identify_live(image, top_k, &default_actor(), true, None)?;
    if pipeline.json {
        let mut out = serde_json::to_value(&result)?;
        if let Some(c) = calibration {
            let plain = visage::system::Identification {
                faces: result.faces.iter().map(|f| f.face.clone()).collect(),
                threshold: result.threshold,
            };
            crate::calibrate::add_identify_fields(&mut out, &plain, c);
        }
        print_json(&out);
    } else {
        println!(
            "{}: {} face(s); threshold {:.3}, liveness threshold {:.3}",
            image.display(),
            result.faces.len(),
            result.threshold,
            result.liveness_threshold
        );
        for (i, f) in result.faces.iter().enumerate() {
            let [x1, y1, x2, y2] = f.face.bbox;
            let who = if !f.liveness.live {
                "not matched: failed liveness"
            } else {
                f.face.matched.as_deref().unwrap_or("unknown")
            };
            let sim = f.face.similarity.map_or("-".to_string(), |s| format!("{s:.3}"));
            println!(
                "  face {} ({x1:.0}, {y1:.0})-({x2:.0}, {y2:.0}): {who} (best similarity {sim}, P(live) {:.3})",
                i + 1,
                f.liveness.score
            );
        }
    }
    if result.faces.is_empty() {
        eprintln!("{}: no face found", image.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify_live(
    a: &Path,
    b: &Path,
    threshold: Option<f32>,
    require_single: bool,
    calibration: Option<&ActiveCalibration>,
    g: &GalleryArgs,
    pipeline: &PipelineArgs,
) -> Result<ExitCode> {
    let analyzer = analyzer(pipeline, threshold, Purpose::Recognition)?;
    let choice = if require_single { FaceChoice::Single } else { FaceChoice::Largest };
    let checked = (|| -> Result<_, VisageError> {
        let mut faces = Vec::new();
        for path in [a, b] {
            let face = analyzer.embed_one(path, choice)?;
            let image = analyzer.load(path)?;
            let l = analyzer.liveness(&image, &face.detection, None)?;
            if !l.live {
                let threshold = analyzer.liveness_threshold();
                return Err(VisageError::Spoof { path: path.to_path_buf(), score: l.score, threshold });
            }
            faces.push((face, l));
        }
        Ok(faces)
    })();
    let faces = match checked {
        Ok(f) => f,
        Err(e) => {
            if crate::gallery::exists(g) {
                if let VisageError::Spoof { score, .. } = &e {
                    crate::gallery::audit_event(g, "verify", "refused-spoof", json!({"liveness": score}))?;
                }
            }
            if pipeline.json {
                print_json(&json!({"error": e.to_string()}));
            }
            return Err(e.into());
        }
    };
    let v = analyzer.verifier().verify(&faces[0].0.embedding, &faces[1].0.embedding);
    if crate::gallery::exists(g) {
        let outcome = if v.is_match { "match" } else { "no-match" };
        let scores: Vec<f32> = faces.iter().map(|f| f.1.score).collect();
        crate::gallery::audit_event(g, "verify", outcome, json!({"similarity": v.similarity, "liveness": scores}))?;
    }
    if pipeline.json {
        let image = |p: &Path, f: &(visage::EmbeddedFace, visage::attributes::LivenessScore)| {
            json!({"image": p, "faces": f.0.faces_in_image, "bbox": f.0.detection.bbox.to_array(),
                   "liveness": {"score": f.1.score, "live": f.1.live}})
        };
        let mut out = json!({"similarity": v.similarity, "threshold": v.threshold, "match": v.is_match,
                             "images": [image(a, &faces[0]), image(b, &faces[1])]});
        if let Some(c) = calibration {
            crate::calibrate::merge(&mut out, c.decision_fields(Some(v.similarity)));
        }
        print_json(&out);
    } else {
        let verdict = if v.is_match { "same person" } else { "different people" };
        println!("{verdict}: similarity {:.4} (threshold {:.4})", v.similarity, v.threshold);
        println!("liveness: P(live) {:.3} and {:.3}, both live", faces[0].1.score, faces[1].1.score);
        if let Some(c) = calibration {
            println!("{}", c.describe(v.similarity));
        }
    }
    Ok(if v.is_match { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
