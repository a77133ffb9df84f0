//! `visage eval identify`: open-set identification on LFW.

use crate::commands::eval::pipeline::EvalPipeline;
use crate::output::print_json;
use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::FaceChoice;
use visage_eval::identification::{det_curve, open_set_metrics, search, OpenSetMetrics, SearchOutcome};
use visage_eval::plot::{draw_curves, Curve, CurveChart, Scale};

const TARGETS: [f64; 3] = [1e-1, 1e-2, 1e-3];

#[derive(Debug, Args)]
pub struct IdentifyEvalArgs {
    /// The LFW folder (with lfw-deepfunneled/).
    #[arg(long)]
    pub data: PathBuf,
    /// Support rule: an FPIR is reported only where at least this many non-mated searches are false
    /// positives at it.
    #[arg(long, default_value_t = visage_eval::calibration::DEFAULT_MIN_ERRORS)]
    pub min_errors: u64,
    /// Write the DET plot of FNIR against FPIR (det-identify.png, .svg) into this folder.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Use only the first N people in name order (a quick run; the figures are then of that subset).
    #[arg(long)]
    pub people: Option<usize>,
    #[command(flatten)]
    pub run: crate::commands::eval::pipeline::EmbeddingRunArgs,
}

/// A person of LFW and their images, in file-name order.
struct Person {
    name: String,
    images: Vec<PathBuf>,
}

fn people(images_dir: &Path) -> Result<Vec<Person>> {
    let mut people = Vec::new();
    for entry in std::fs::read_dir(images_dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let images = visage::core::files::image_files(&entry.path(), false)?;
        if !images.is_empty() {
            people.push(Person { name: entry.file_name().to_string_lossy().into_owned(), images });
        }
    }
    people.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(people)
}

#[derive(Serialize)]
struct GallerySizeRow {
    gallery_size: usize,
    mated_searches: usize,
    non_mated_searches: usize,
    rank1: f64,
    /// Threshold and FNIR at each supported FPIR.
    at_fpir: Vec<serde_json::Value>,
    unsupported_fpir: Vec<f64>,
}

/// `visage eval identify`.
pub fn run(args: &IdentifyEvalArgs) -> Result<ExitCode> {
    let images_dir = args.data.join("lfw-deepfunneled");
    if !images_dir.is_dir() {
        bail!("{} does not look like LFW: no lfw-deepfunneled/", args.data.display());
    }
    let mut people = people(&images_dir)?;
    if let Some(n) = args.people {
        people.truncate(n.max(1));
    }
    let pipeline = EvalPipeline::new(&args.run.pipeline, FaceChoice::Centred, args.run.no_cache)?;
    let all: Vec<PathBuf> = people.iter().flat_map(|p| p.images.iter().cloned()).collect();
    let batch = pipeline.embed(&all, args.run.workers, "embedding LFW images")?;
    // Per person, the embeddings of their images (None: no face).
    let mut cursor = batch.embeddings.iter();
    let embedded: Vec<Vec<Option<&Vec<f32>>>> =
        people.iter().map(|p| p.images.iter().map(|_| cursor.next().and_then(|e| e.as_ref())).collect()).collect();

    // The protocol: people with two or more images give their first image to the gallery and the
    // rest as mated searches; people with one image are non-mated searches.
    let mut gallery = Vec::new();
    let mut mated = Vec::new();
    let mut non_mated = Vec::new();
    for (id, faces) in embedded.iter().enumerate() {
        let usable: Vec<&Vec<f32>> = faces.iter().flatten().copied().collect();
        if faces.len() >= 2 && usable.len() >= 2 {
            gallery.push((id as u64, usable[0].as_slice()));
            mated.extend(usable[1..].iter().map(|e| (id as u64, e.as_slice())));
        } else if faces.len() == 1 {
            non_mated.extend(usable.iter().map(|e| e.as_slice()));
        }
    }
    let outcome = search(&gallery, &mated, &non_mated, 5)?;
    let metrics = open_set_metrics(&outcome, &TARGETS, args.min_errors);

    // Threshold against gallery size: a quarter of the people (chosen by a hash of the name) are
    // never enrolled and give the non-mated searches; galleries of 1,000, 2,000 and all the others
    // take the first image of people in hash order; their other images are the mated searches.
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_by_key(|&i| Sha256::digest(people[i].name.as_bytes()).to_vec());
    let held_out: Vec<usize> = order.iter().enumerate().filter(|(k, _)| k % 4 == 3).map(|(_, &i)| i).collect();
    let enrolable: Vec<usize> = order.iter().enumerate().filter(|(k, _)| k % 4 != 3).map(|(_, &i)| i).collect();
    let probes_out: Vec<&[f32]> =
        held_out.iter().flat_map(|&i| embedded[i].iter().flatten().map(|e| e.as_slice())).collect();
    let mut sizes: Vec<usize> = [1000, 2000, 5000].into_iter().filter(|&n| n < enrolable.len()).collect();
    sizes.push(enrolable.len());
    let mut by_size = Vec::new();
    for &n in &sizes {
        let mut g = Vec::new();
        let mut m = Vec::new();
        for &i in &enrolable[..n] {
            let usable: Vec<&Vec<f32>> = embedded[i].iter().flatten().copied().collect();
            if let Some((first, rest)) = usable.split_first() {
                g.push((i as u64, first.as_slice()));
                m.extend(rest.iter().map(|e| (i as u64, e.as_slice())));
            }
        }
        let o = search(&g, &m, &probes_out, 1)?;
        let mm = open_set_metrics(&o, &TARGETS[..2], args.min_errors);
        by_size.push(GallerySizeRow {
            gallery_size: g.len(),
            mated_searches: m.len(),
            non_mated_searches: probes_out.len(),
            rank1: mm.rank1.rate,
            at_fpir: mm
                .fnir_at_fpir
                .iter()
                .map(|p| json!({"fpir": p.target_fpir, "threshold": p.threshold, "fnir": p.fnir.rate, "fnir_ci95": p.fnir.ci95}))
                .collect(),
            unsupported_fpir: mm.unsupported_fpir,
        });
    }
    if let Some(dir) = &args.plot {
        write_det(dir, &outcome, &metrics)?;
    }
    let no_face = batch.no_face;
    if args.run.pipeline.json {
        print_json(&json!({"data": args.data, "images": all.len(), "people": people.len(), "no_face": no_face,
                           "protocol": metrics, "threshold_by_gallery_size": by_size,
                           "held_out_people": held_out.len()}));
    } else {
        print_text(args, &people, all.len(), no_face, &metrics, &by_size, held_out.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(
    args: &IdentifyEvalArgs,
    people: &[Person],
    images: usize,
    no_face: usize,
    m: &OpenSetMetrics,
    by_size: &[GallerySizeRow],
    held_out: usize,
) {
    println!(
        "Open-set identification on {} ({} images of {} people; {} without a face left out)",
        args.data.display(),
        images,
        people.len(),
        no_face
    );
    println!(
        "gallery: first image of each of {} people with 2+ images; {} mated searches (their other images); \
         {} non-mated searches (people with one image)",
        m.gallery_size, m.mated_searches, m.non_mated_searches
    );
    // Here the rate counts hits (the mate at rank k or better).
    let pct = |r: &visage_eval::stats::Rate| {
        format!(
            "{:.2}% [{:.2}, {:.2}] ({} of {})",
            100.0 * r.rate,
            100.0 * r.ci95[0],
            100.0 * r.ci95[1],
            r.errors,
            r.trials
        )
    };
    println!("  rank-1 hit rate  {}", pct(&m.rank1));
    println!("  rank-5 hit rate  {}", pct(&m.rank5));
    for p in &m.fnir_at_fpir {
        println!(
            "  FNIR at FPIR {:.0e}: {:.4} [{:.4}, {:.4}] of {} mated (threshold {:.4}; measured FPIR {:.4}, {} of {} non-mated)",
            p.target_fpir, p.fnir.rate, p.fnir.ci95[0], p.fnir.ci95[1], p.fnir.trials, p.threshold, p.fpir.rate, p.fpir.errors, p.fpir.trials
        );
    }
    for f in &m.unsupported_fpir {
        println!(
            "  FNIR at FPIR {f:.0e}: not reported: {} non-mated searches, {} false positives needed",
            m.non_mated_searches, args.min_errors
        );
    }
    println!("threshold against gallery size ({held_out} people held out as non-mated searches, chosen by name hash):");
    for row in by_size {
        let cells: Vec<String> = row
            .at_fpir
            .iter()
            .map(|p| {
                format!(
                    "FPIR {:.0e}: threshold {:.4}, FNIR {:.4}",
                    p["fpir"].as_f64().unwrap_or(f64::NAN),
                    p["threshold"].as_f64().unwrap_or(f64::NAN),
                    p["fnir"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .collect();
        let unsupported: Vec<String> =
            row.unsupported_fpir.iter().map(|f| format!("FPIR {f:.0e}: too few non-mated")).collect();
        println!(
            "  gallery {:>5} people ({} mated, {} non-mated searches): rank-1 {:.4}; {}",
            row.gallery_size,
            row.mated_searches,
            row.non_mated_searches,
            row.rank1,
            cells.into_iter().chain(unsupported).collect::<Vec<_>>().join("; ")
        );
    }
}

fn write_det(dir: &Path, outcome: &SearchOutcome, m: &OpenSetMetrics) -> Result<()> {
    let curve = det_curve(outcome, 4000);
    let chart = CurveChart {
        title: format!(
            "Open-set DET: gallery {}, {} mated, {} non-mated searches",
            m.gallery_size, m.mated_searches, m.non_mated_searches
        ),
        x_label: "false positive identification rate (FPIR)".into(),
        y_label: "false negative identification rate (FNIR)".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        x_range: Some((1.0 / m.non_mated_searches.max(1) as f64, 1.0)),
        y_range: Some((1.0 / m.mated_searches.max(1) as f64, 1.0)),
        curves: vec![Curve {
            name: "visage".into(),
            points: curve.into_iter().filter(|p| p.0 > 0.0 && p.1 > 0.0).collect(),
        }],
        markers: m
            .fnir_at_fpir
            .iter()
            .map(|p| visage_eval::plot::Marker { label: format!("FPIR {:.0e}", p.target_fpir), x: p.target_fpir })
            .collect(),
        legend: visage_eval::plot::Corner::LowerLeft,
    };
    draw_curves(&chart, &dir.join("det-identify"))?;
    Ok(())
}
