//! `visage eval liveness` and `visage eval gender`.

use crate::args::pipeline::PipelineArgs;
use crate::args::pipeline::{analyzer, default_workers, Purpose};
use crate::output::{print_json, Progress};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct EvalLivenessArgs {
    /// A folder with real/ (live faces) and spoof/ (attacks), e.g. ../shared/data/antispoof-nuaa-dev.
    #[arg(long)]
    pub data: PathBuf,
    /// Report the rates at this P(live) threshold (default: the manifest's).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Write the error curve (threshold, APCER, BPCER, ACER per line) as CSV, for a DET plot.
    #[arg(long, value_name = "CSV")]
    pub curve: Option<PathBuf>,
    /// Draw the DET curve (APCER against BPCER, log axes) to STEM.png and STEM.svg.
    #[arg(long, value_name = "STEM")]
    pub plot: Option<PathBuf>,
    /// Images processed in parallel (default: all cores).
    #[arg(long, value_parser = crate::args::parse::parse_threads)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Debug, Args)]
pub struct EvalGenderArgs {
    /// The LFW folder (with lfw-deepfunneled/).
    #[arg(long)]
    pub data: PathBuf,
    /// The labels: image,name,gender (default: DATA/../lfw-attributes/lfw_gender_afifi.csv).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Perceived race labels per person: name,race_labels,primary_if_single (default:
    /// DATA/../lfw-attributes/lfw_race_usc_sail_by_identity.csv when present).
    #[arg(long)]
    pub races: Option<PathBuf>,
    /// Only every Nth labelled image (a quick, spread-out sample).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub every: u64,
    /// Images processed in parallel (default: all cores).
    #[arg(long, value_parser = crate::args::parse::parse_threads)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn liveness(args: &EvalLivenessArgs) -> Result<ExitCode> {
    if !args.data.join("real").is_dir() || !args.data.join("spoof").is_dir() {
        bail!("{} must hold real/ and spoof/ folders of images", args.data.display());
    }
    if let Some(t) = args.threshold {
        anyhow::ensure!((0.0..=1.0).contains(&t), "--threshold {t} is outside [0, 1] (it is a probability)");
    }
    let analyzer = analyzer(&args.pipeline, Purpose::Detection)?;
    let threshold = args.threshold.unwrap_or_else(|| analyzer.liveness_threshold());
    let threads = args.workers.unwrap_or_else(default_workers);
    let progress = Progress::new(visage_eval::attributes::liveness_image_count(&args.data)? as u64, "scoring liveness");
    let report = visage_eval::attributes::run_liveness(&analyzer, &args.data, threshold, threads, &|| progress.inc())?;
    progress.finish();
    if let Some(path) = &args.curve {
        let mut f = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(f, "threshold,apcer,bpcer,acer")?;
        for r in &report.curve {
            writeln!(f, "{},{},{},{}", r.threshold, r.apcer, r.bpcer, r.acer)?;
        }
    }
    if let Some(stem) = &args.plot {
        draw_det(&report, stem)?;
    }
    if args.pipeline.json {
        print_json(&report);
    } else {
        println!(
            "liveness on {}: {} real, {} spoof images ({} and {} without a face, left out)",
            report.data, report.real_images, report.spoof_images, report.real_no_face, report.spoof_no_face
        );
        let line = |name: &str, r: &visage_eval::attributes::ErrorRates| {
            println!(
                "  {name:<18} threshold {:.4}: APCER {:.2}%, BPCER {:.2}%, ACER {:.2}%",
                r.threshold,
                r.apcer * 100.0,
                r.bpcer * 100.0,
                r.acer * 100.0
            )
        };
        line("at threshold", &report.at_threshold);
        line("equal-error point", &report.equal_error);
        println!("  ROC AUC            {:.4}", report.auc);
        if let Some(p) = &args.curve {
            println!("  curve              {} points in {}", report.curve.len(), p.display());
        }
        if let Some(p) = &args.plot {
            println!("  DET plot           {}.png and .svg", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The DET curve of a liveness evaluation: APCER (attacks accepted) against BPCER (live faces
/// refused), both on log axes, with the operating point marked by its BPCER.
fn draw_det(report: &visage_eval::attributes::LivenessReport, stem: &std::path::Path) -> Result<()> {
    use visage_eval::plot::{draw_curves, Corner, Curve, CurveChart, Marker, Scale};
    // Zero rates have no place on a log axis: clamp to half of one sample.
    let floor_a = 0.5 / report.spoof_images.max(1) as f64;
    let floor_b = 0.5 / report.real_images.max(1) as f64;
    let points: Vec<(f64, f64)> = report.curve.iter().map(|r| (r.bpcer.max(floor_b), r.apcer.max(floor_a))).collect();
    let chart = CurveChart {
        title: format!(
            "Liveness DET on {} ({} live, {} attack images)",
            report.data, report.real_images, report.spoof_images
        ),
        x_label: "BPCER (live faces refused)".into(),
        y_label: "APCER (attacks accepted)".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        x_range: Some((floor_b, 1.0)),
        y_range: Some((floor_a, 1.0)),
        curves: vec![Curve { name: "fr_liveness".into(), points }],
        markers: vec![Marker {
            label: format!("threshold {:.3}", report.at_threshold.threshold),
            x: report.at_threshold.bpcer.max(floor_b),
        }],
        legend: Corner::UpperRight,
    };
    draw_curves(&chart, stem).with_context(|| format!("cannot draw {}", stem.display()))?;
    Ok(())
}

pub fn gender(args: &EvalGenderArgs) -> Result<ExitCode> {
    let images = args.data.join("lfw-deepfunneled");
    if !images.is_dir() {
        bail!("{} does not look like LFW: no lfw-deepfunneled/", args.data.display());
    }
    let labels = args.labels.clone().unwrap_or_else(|| args.data.join("../lfw-attributes/lfw_gender_afifi.csv"));
    if !labels.is_file() {
        bail!("no gender labels at {} (give --labels)", labels.display());
    }
    let races = match &args.races {
        Some(p) if !p.is_file() => bail!("no race labels at {}", p.display()),
        Some(p) => Some(p.clone()),
        None => Some(args.data.join("../lfw-attributes/lfw_race_usc_sail_by_identity.csv")).filter(|p| p.is_file()),
    };
    let analyzer = analyzer(&args.pipeline, Purpose::Recognition)?;
    let (rows, _) = visage_eval::gender::read_gender_labels(&labels)?;
    let stride = args.every as usize;
    let progress = Progress::new(rows.len().div_ceil(stride) as u64, "classifying gender");
    let options = visage_eval::gender::GenderOptions {
        images_dir: images,
        labels,
        races,
        stride,
        threads: args.workers.unwrap_or_else(default_workers),
        calibration: visage::attributes::GENDER_CALIBRATION,
    };
    let report = visage_eval::gender::run_gender(&analyzer, &options, &|| progress.inc())?;
    progress.finish();
    if args.pipeline.json {
        print_json(&report);
    } else {
        print_gender(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_gender(r: &visage_eval::gender::GenderReport) {
    let d = &r.decision;
    println!(
        "gender on LFW ({} images, every {}; labels {}; {} conflict rows skipped)",
        r.images, r.stride, r.labels, r.skipped_conflict
    );
    println!(
        "  decision: P(male) = sigmoid({:.3} x raw {:+.3}); uncertain below confidence {:.2}, raw outputs {:.3}-{:.3}",
        d.slope, d.intercept, d.min_confidence, d.band.0, d.band.1
    );
    if let Some(f) = &r.refit_on_tuning {
        println!("  refitted on the tuning part: slope {:.3}, intercept {:+.3}", f.slope, f.intercept);
    }
    for p in &r.parts {
        let role = if p.part == "test" { "not tuned on: quote these" } else { "the decision was fitted here" };
        println!("  {} part ({role}): {} faces, {} without a face, ROC AUC {:.4}", p.part, p.faces, p.no_face, p.auc);
        println!(
            "    {:<22} {:>6} {:>9} {:>10} {:>21} {:>9}",
            "group", "faces", "right", "uncertain", "decided [95% CI]", "forced"
        );
        for g in &p.groups {
            println!(
                "    {:<22} {:>6} {:>8.1}% {:>9.1}% {:>6.1}% [{:>5.1}, {:>5.1}] {:>8.1}%",
                g.group,
                g.faces,
                g.accuracy * 100.0,
                g.uncertain_share * 100.0,
                g.decided_accuracy * 100.0,
                g.decided_ci95[0] * 100.0,
                g.decided_ci95[1] * 100.0,
                g.forced_accuracy * 100.0
            );
        }
    }
    println!("  right: labelled correctly (uncertain is not right); decided: right among the faces not uncertain;");
    println!("  forced: right when every face gets the more likely label. Race labels are perceived (USC SAIL).");
}
