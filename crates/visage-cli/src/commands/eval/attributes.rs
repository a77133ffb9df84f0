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
    /// Only the first N labelled images.
    #[arg(long)]
    pub limit: Option<usize>,
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
    let analyzer = analyzer(&args.pipeline, Purpose::Recognition)?;
    let threads = args.workers.unwrap_or_else(default_workers);
    let (rows, _) = visage_eval::attributes::read_gender_labels(&labels)?;
    let total = args.limit.map_or(rows.len(), |l| l.min(rows.len()));
    let progress = Progress::new(total as u64, "classifying gender");
    let report =
        visage_eval::attributes::run_gender(&analyzer, &images, &labels, args.limit, threads, &|| progress.inc())?;
    progress.finish();
    if args.pipeline.json {
        print_json(&report);
    } else {
        println!(
            "gender on LFW ({} images labelled by {}; {} conflict rows skipped, {} without a face)",
            report.images, report.labels, report.skipped_conflict, report.no_face
        );
        println!("  accuracy  {:.2}%", report.accuracy * 100.0);
        println!("  female    {:.2}% of {}", report.female_accuracy * 100.0, report.female_images);
        println!("  male      {:.2}% of {}", report.male_accuracy * 100.0, report.male_images);
        println!("  ROC AUC   {:.4}", report.auc);
    }
    Ok(ExitCode::SUCCESS)
}
