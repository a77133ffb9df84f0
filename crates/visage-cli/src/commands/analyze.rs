//! `visage analyze`: per face, the box, landmarks, passive liveness, age, gender, head pose,
//! expression, eye state and quality.

use crate::args::pipeline::PipelineArgs;
use crate::args::pipeline::{analyzer, Purpose};
use crate::output::{draw_target, print_json};
use anyhow::{Context, Result};
use clap::Args;
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_hollow_circle_mut, draw_line_segment_mut};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::attributes::AttributeSet;
use visage::core::draw::draw_face;
use visage::face_report::FaceReport;
use visage::quality::QualityPolicy;

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Write the image with each face drawn: box green when live, red when a spoof; the 68
    /// landmarks; each eye ringed green (open) or red (closed); a line from the nose showing the
    /// head's yaw and pitch. A file for one image, a folder for several.
    #[arg(long, value_name = "OUT")]
    pub draw: Option<PathBuf>,
    /// Liveness decision threshold on P(live) (default: the manifest's, chosen on NUAA).
    #[arg(long)]
    pub liveness_threshold: Option<f32>,
    /// Images processed in parallel (default: all cores); output stays in input order.
    #[arg(long, value_parser = crate::args::parse::parse_threads)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// The JSON of one face: exactly the keys the documentation lists.
pub fn face_json(r: &FaceReport) -> Value {
    let a = &r.attributes;
    let d = &r.detection;
    json!({
        "bbox": d.bbox.to_array(),
        "landmarks": d.landmarks.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
        "liveness": a.liveness.map(|l| json!({"score": l.score, "live": l.live})),
        "age": a.age,
        "gender": a.gender.map(|g| json!({"label": g.label.as_str(), "score": g.score, "p_male": g.p_male})),
        "pose": a.pose.map(|p| json!({"yaw": p.yaw, "pitch": p.pitch, "roll": p.roll})),
        "expression": a.expression.map(|e| json!({"label": e.label, "score": e.score})),
        "eyes": a.eyes.map(|e| json!({"left_open": e.left_open, "right_open": e.right_open})),
        "quality": {"score": r.quality.score, "ok": r.quality.ok, "reasons": r.quality.reasons},
    })
}

pub fn run(args: &AnalyzeArgs) -> Result<ExitCode> {
    if let Some(t) = args.liveness_threshold {
        anyhow::ensure!((0.0..=1.0).contains(&t), "--liveness-threshold {t} is outside [0, 1]");
    }
    if let Some(out) = &args.draw {
        if args.images.len() > 1 {
            std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        }
    }
    let analyzer = analyzer(&args.pipeline, Purpose::Detection)?;
    let criteria = QualityPolicy::default();
    let mut failed = false;
    let mut drawn = std::collections::HashSet::new();
    let workers = args.workers.unwrap_or_else(crate::args::pipeline::default_workers);
    let mut outcome = Ok(());
    visage::parallel::map_ordered(
        &args.images,
        workers,
        |path| {
            let photo = analyzer.open(path)?;
            let reports = analyzer.analyze_photo(&photo, AttributeSet::ALL, args.liveness_threshold, &criteria)?;
            // Only a drawing needs the photo at full size.
            let image = if args.draw.is_some() { Some(analyzer.load(path)?) } else { None };
            Ok(Analysed { width: photo.width(), height: photo.height(), image, reports })
        },
        |i, result| {
            if outcome.is_ok() {
                outcome = report_one(&args.images[i], result, args, &mut drawn, &mut failed);
            }
        },
    );
    outcome?;
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// One image analysed: its full size, the full image when it is to be drawn on, its faces.
struct Analysed {
    width: u32,
    height: u32,
    image: Option<RgbImage>,
    reports: Vec<FaceReport>,
}

/// Prints (and draws) one image's analysis, in input order.
fn report_one(
    path: &Path,
    result: Result<Analysed, visage::VisageError>,
    args: &AnalyzeArgs,
    drawn: &mut std::collections::HashSet<String>,
    failed: &mut bool,
) -> Result<()> {
    let Analysed { width, height, image, reports } = match result {
        Ok(r) => r,
        Err(e) => {
            *failed = true;
            if args.pipeline.json {
                print_json(&json!({"image": path, "error": e.to_string()}));
            }
            eprintln!("error: {e}");
            return Ok(());
        }
    };
    if let (Some(out), Some(mut canvas)) = (&args.draw, image) {
        let target = if args.images.len() > 1 { draw_target(out, path, drawn) } else { out.clone() };
        for r in &reports {
            draw_report(&mut canvas, r);
        }
        canvas.save(&target).with_context(|| format!("cannot write {}", target.display()))?;
    }
    if args.pipeline.json {
        let faces: Vec<Value> = reports.iter().map(face_json).collect();
        print_json(&json!({"image": path, "width": width, "height": height, "faces": faces}));
    } else {
        print_text(path, (width, height), &reports);
    }
    if reports.is_empty() {
        eprintln!("{}: no face found", path.display());
    }
    Ok(())
}

fn print_text(path: &Path, (width, height): (u32, u32), reports: &[FaceReport]) {
    println!("{}: {width}x{height}, {} face(s)", path.display(), reports.len());
    for (i, r) in reports.iter().enumerate() {
        let b = r.detection.bbox;
        let a = &r.attributes;
        println!("  face {}: box ({:.0}, {:.0})-({:.0}, {:.0})", i + 1, b.x1, b.y1, b.x2, b.y2);
        if let Some(l) = a.liveness {
            println!("    liveness   {} (P(live) {:.3})", if l.live { "live" } else { "SPOOF" }, l.score);
        }
        if let (Some(age), Some(g)) = (a.age, a.gender) {
            println!(
                "    age        {age:.0}; gender {} (confidence {:.2}, P(male) {:.2})",
                g.label.as_str(),
                g.score,
                g.p_male
            );
        }
        if let Some(p) = a.pose {
            println!("    pose       yaw {:.1}, pitch {:.1}, roll {:.1} degrees", p.yaw, p.pitch, p.roll);
        }
        if let Some(e) = a.expression {
            println!("    expression {} ({:.2})", e.label, e.score);
        }
        if let Some(e) = a.eyes {
            let word = |open| if open { "open" } else { "closed" };
            println!("    eyes       left {}, right {} (as seen in the image)", word(e.left_open), word(e.right_open));
        }
        let q = &r.quality;
        if q.ok {
            println!("    quality    ok ({:.2})", q.score);
        } else {
            println!("    quality    poor ({:.2}): {}", q.score, q.reasons.join("; "));
        }
    }
}

const GREEN: Rgb<u8> = Rgb([0, 220, 64]);
const RED: Rgb<u8> = Rgb([230, 32, 32]);

fn draw_report(canvas: &mut RgbImage, r: &FaceReport) {
    let a = &r.attributes;
    let live = a.liveness.is_none_or(|l| l.live);
    let p68 = a.landmarks68.clone().unwrap_or_default();
    draw_face(canvas, &r.detection.bbox, &r.detection.landmarks, if live { GREEN } else { RED });
    for p in &p68 {
        draw_filled_circle_mut(canvas, (p.x.round() as i32, p.y.round() as i32), 1, Rgb([255, 220, 0]));
    }
    let side = r.detection.bbox.width().max(r.detection.bbox.height());
    if let Some(eyes) = a.eyes {
        let [le, re, ..] = r.detection.landmarks;
        let radius = ((side / 10.0).round() as i32).max(2);
        for (p, open) in [(le, eyes.left_open), (re, eyes.right_open)] {
            draw_hollow_circle_mut(
                canvas,
                (p.x.round() as i32, p.y.round() as i32),
                radius,
                if open { GREEN } else { RED },
            );
        }
    }
    if let Some(pose) = a.pose {
        // Positive yaw: towards the image's left; positive pitch: up.
        let nose = r.detection.landmarks[2];
        let len = side * 0.6;
        let dx = -len * pose.yaw.to_radians().sin();
        let dy = -len * pose.pitch.to_radians().sin();
        draw_line_segment_mut(canvas, (nose.x, nose.y), (nose.x + dx, nose.y + dy), Rgb([0, 160, 255]));
    }
}
