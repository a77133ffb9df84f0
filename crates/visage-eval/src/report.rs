//! The verification report: ROC, DET and score histograms (PNG and SVG) and a Markdown page with the
//! calibration tables, written into one folder.

use crate::calibration::Calibration;
use crate::metrics::error_tradeoff;
use crate::plot::{draw_curves, draw_histograms, Corner, Curve, CurveChart, HistogramChart, Marker, PlotError, Scale};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Writes `roc`, `det`, `scores` (.png and .svg) and `report.md` into `dir`; returns the report's path.
pub fn write_verification_report(
    dir: &Path,
    calibration: &Calibration,
    genuine: &[f32],
    impostor: &[f32],
) -> Result<PathBuf, PlotError> {
    let curve = error_tradeoff(genuine, impostor, 4000);
    if curve.is_empty() {
        return Err(PlotError::Empty("no genuine or no impostor scores".into()));
    }
    let n_imp = impostor.len() as f64;
    // Log axes cannot show 0: the smallest FAR shown is one impostor.
    let far_floor = 1.0 / n_imp;
    let roc = CurveChart {
        title: format!("ROC: {} genuine, {} impostor pairs", genuine.len(), impostor.len()),
        x_label: "false accept rate (FAR)".into(),
        y_label: "true accept rate (TAR)".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Linear,
        x_range: Some((far_floor, 1.0)),
        y_range: None,
        curves: vec![Curve {
            name: "visage".into(),
            points: curve.iter().filter(|p| p.1 > 0.0).map(|&(_, far, frr)| (far, 1.0 - frr)).collect(),
        }],
        markers: calibration
            .operating_points
            .iter()
            .map(|p| Marker { label: format!("FAR {:.0e}", p.target_far), x: p.target_far })
            .collect(),
        legend: Corner::LowerRight,
    };
    draw_curves(&roc, &dir.join("roc"))?;
    let frr_floor = 1.0 / genuine.len() as f64;
    let det = CurveChart {
        title: "DET: FRR against FAR (log axes)".into(),
        x_label: "false accept rate (FAR)".into(),
        y_label: "false reject rate (FRR)".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        x_range: Some((far_floor, 1.0)),
        y_range: Some((frr_floor, 1.0)),
        curves: vec![Curve {
            name: "visage".into(),
            points: curve.iter().filter(|p| p.1 > 0.0 && p.2 > 0.0).map(|&(_, far, frr)| (far, frr)).collect(),
        }],
        markers: roc.markers.clone(),
        legend: Corner::LowerLeft,
    };
    draw_curves(&det, &dir.join("det"))?;
    let mut markers: Vec<Marker> = calibration
        .operating_points
        .iter()
        .map(|p| Marker { label: format!("{:.0e}", p.target_far), x: p.threshold as f64 })
        .collect();
    if let Some(e) = &calibration.eer {
        markers.push(Marker { label: "EER".into(), x: e.threshold as f64 });
    }
    let lo = genuine.iter().chain(impostor).fold(f32::INFINITY, |a, &b| a.min(b)).min(0.0) as f64;
    let hist = HistogramChart {
        title: "Similarity of genuine and impostor pairs".into(),
        x_label: "cosine similarity".into(),
        series: vec![
            ("genuine".into(), genuine.iter().map(|&s| s as f64).collect()),
            ("impostor".into(), impostor.iter().map(|&s| s as f64).collect()),
        ],
        bins: 80,
        x_range: ((lo * 10.0).floor() / 10.0, 1.0),
        markers,
    };
    draw_histograms(&hist, &dir.join("scores"))?;

    let path = dir.join("report.md");
    std::fs::write(&path, markdown(calibration)).map_err(|source| PlotError::Io { path: path.clone(), source })?;
    Ok(path)
}

fn markdown(c: &Calibration) -> String {
    let mut md = String::new();
    let s = &c.source;
    let _ = writeln!(md, "# Verification calibration\n");
    let _ = writeln!(
        md,
        "Data: `{}`: {} genuine and {} impostor pairs ({} pairs left out: an image had no usable face).  \n\
         Model: {} (SHA-256 `{}`).  \nPipeline: {}.  \nMade: {}.\n",
        s.data, c.genuine_pairs, c.impostor_pairs, s.skipped_pairs, s.model, s.model_sha256, s.pipeline, s.created
    );
    let _ = writeln!(
        md,
        "A target FAR is listed only where at least {} impostor pairs are accepted (rule of {}), so the \
         smallest supported FAR here is {:.1e}. Intervals are exact 95% Clopper-Pearson intervals.\n",
        c.min_errors, c.min_errors, c.smallest_supported_far
    );
    let _ = writeln!(md, "| target FAR | threshold | measured FAR [95% CI] | FRR [95% CI] | TAR |");
    let _ = writeln!(md, "|---|---|---|---|---|");
    for p in &c.operating_points {
        let _ = writeln!(
            md,
            "| {:.0e} | {:.4} | {:.4} [{:.4}, {:.4}] ({} of {}) | {:.4} [{:.4}, {:.4}] ({} of {}) | {:.4} |",
            p.target_far,
            p.threshold,
            p.far.rate,
            p.far.ci95[0],
            p.far.ci95[1],
            p.far.errors,
            p.far.trials,
            p.frr.rate,
            p.frr.ci95[0],
            p.frr.ci95[1],
            p.frr.errors,
            p.frr.trials,
            1.0 - p.frr.rate
        );
    }
    if let Some(e) = &c.eer {
        let _ = writeln!(
            md,
            "\nEqual error rate: **{:.4}** at threshold {:.4} (FAR {:.4} [{:.4}, {:.4}], FRR {:.4} [{:.4}, {:.4}]).\n",
            e.rate, e.threshold, e.far.rate, e.far.ci95[0], e.far.ci95[1], e.frr.rate, e.frr.ci95[0], e.frr.ci95[1]
        );
    }
    let _ = writeln!(md, "![ROC](roc.png)\n\n![DET](det.png)\n\n![Score distributions](scores.png)\n");
    let _ = writeln!(md, "SVG versions: [roc.svg](roc.svg), [det.svg](det.svg), [scores.svg](scores.svg).");
    md
}
