//! `visage eval fairness`: per-group FMR and FNMR with confidence intervals, differentials,
//! FMR-equalising thresholds, and per-group DET curves.

use crate::commands::calibrate::{score_pairs, FaceRule};
use crate::commands::eval::pipeline::EvalPipeline;
use crate::output::print_json;
use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use visage::FaceChoice;
use visage_eval::fairness::{fairness, FairnessReport, GroupLabels, GroupedScore};
use visage_eval::metrics::error_tradeoff;
use visage_eval::pairs::read_pairs_file;
use visage_eval::plot::{draw_curves, Curve, CurveChart, Scale};

#[derive(Debug, Args)]
pub struct FairnessArgs {
    /// Labelled pairs (as for `visage calibrate`).
    #[arg(long)]
    pub pairs: PathBuf,
    /// CSV of group labels, keyed by `image` (a path the pair's image path ends with) or by `name`
    /// (the person: the folder the image is in). Repeat for several files.
    #[arg(long, required = true)]
    pub groups: Vec<PathBuf>,
    /// Label columns to use (comma-separated; default: every column that is not a key).
    #[arg(long, value_delimiter = ',')]
    pub group_columns: Option<Vec<String>>,
    /// Decision threshold (default: the model's, from the manifest).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// Groups with fewer genuine (or impostor) pairs than this are listed but not compared.
    #[arg(long, default_value_t = 30)]
    pub min_pairs: u64,
    /// Instead of the file's impostor pairs, draw up to this many impostor pairs within each group
    /// (two images of different people, both carrying the label; people are told apart by the folder
    /// an image is in) from the images of the pairs file. FMR per group then compares people within
    /// the group, as NIST FRVT's demographic FMR does. 0: use the file's impostor pairs.
    #[arg(long, default_value_t = 0)]
    pub within_group_impostors: usize,
    /// Which face of an image to use.
    #[arg(long, value_enum, default_value = "auto")]
    pub face: FaceRule,
    /// Write per-group DET curves (fairness-det.png, .svg) into this folder.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub run: crate::commands::eval::pipeline::EmbeddingRunArgs,
}

/// Up to `per_group` impostor pairs within each group, drawn reproducibly (a fixed-seed generator) from
/// the embedded images; each counts for its group only.
fn within_group_impostors(
    labels: &GroupLabels,
    embeddings: &HashMap<PathBuf, Vec<f32>>,
    per_group: usize,
) -> Vec<GroupedScore> {
    let mut images: Vec<(&PathBuf, BTreeSet<String>)> = embeddings.keys().map(|p| (p, labels.labels_of(p))).collect();
    images.sort_by(|a, b| a.0.cmp(b.0));
    let person = |p: &Path| p.parent().map(Path::to_path_buf);
    let mut out = Vec::new();
    for group in labels.groups.keys() {
        let pool: Vec<&PathBuf> = images.iter().filter(|(_, l)| l.contains(group)).map(|(p, _)| *p).collect();
        if pool.len() < 2 {
            continue;
        }
        // SplitMix64 seeded by the group name: the same pairs on every run.
        let mut state =
            group.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01B3));
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut seen = HashSet::new();
        let mut drawn = 0;
        for _ in 0..per_group * 20 {
            if drawn == per_group {
                break;
            }
            let (i, j) = ((next() % pool.len() as u64) as usize, (next() % pool.len() as u64) as usize);
            let (a, b) = (pool[i.min(j)], pool[i.max(j)]);
            if person(a) == person(b) || !seen.insert((i.min(j), i.max(j))) {
                continue;
            }
            let score = visage::core::cosine_similarity(&embeddings[a], &embeddings[b]);
            out.push(GroupedScore { score, genuine: false, groups: BTreeSet::from([group.clone()]) });
            drawn += 1;
        }
    }
    out
}

/// `visage eval fairness`.
pub fn run(args: &FairnessArgs) -> Result<ExitCode> {
    let mut labels = GroupLabels::default();
    for file in &args.groups {
        labels.add_file(file, args.group_columns.as_deref())?;
    }
    if labels.groups.is_empty() {
        bail!("the group files name no group");
    }
    let pairs = read_pairs_file(&args.pairs)?;
    let choice = match args.face {
        FaceRule::Largest => FaceChoice::Largest,
        FaceRule::Centred => FaceChoice::Centred,
        FaceRule::Auto if crate::commands::calibrate::is_lfw(&args.pairs) => FaceChoice::Centred,
        FaceRule::Auto => FaceChoice::Largest,
    };
    let pipeline = EvalPipeline::new(&args.run.pipeline, choice, args.run.no_cache)?;
    let threshold = args.threshold.unwrap_or_else(|| pipeline.analyzer.verifier().threshold);
    let scored = score_pairs(&pipeline, pairs, args.run.workers)?;
    let mut grouped: Vec<GroupedScore> = scored
        .pairs
        .iter()
        .zip(&scored.scores)
        .filter(|(p, _)| p.genuine || args.within_group_impostors == 0)
        .filter_map(|(p, s)| {
            let a = labels.labels_of(&p.a);
            let b = labels.labels_of(&p.b);
            Some(GroupedScore { score: (*s)?, genuine: p.genuine, groups: a.intersection(&b).cloned().collect() })
        })
        .collect();
    if args.within_group_impostors > 0 {
        grouped.extend(within_group_impostors(&labels, &scored.embeddings, args.within_group_impostors));
    }
    let report = fairness(&grouped, &labels.groups, threshold, args.min_pairs);
    if let Some(dir) = &args.plot {
        write_det(dir, &grouped, &report)?;
    }
    if args.run.pipeline.json {
        print_json(&json!({"data": args.pairs, "groups_files": args.groups, "pairs": grouped.len(),
                           "within_group_impostors": args.within_group_impostors,
                           "skipped_pairs": scored.skipped, "membership": "a pair belongs to a group when both images carry the label",
                           "report": report}));
    } else {
        print_text(args, &report, grouped.len(), scored.skipped);
    }
    Ok(ExitCode::SUCCESS)
}

fn rate(r: &visage_eval::stats::Rate) -> String {
    format!("{:.4} [{:.4}, {:.4}] ({}/{})", r.rate, r.ci95[0], r.ci95[1], r.errors, r.trials)
}

fn print_text(args: &FairnessArgs, r: &FairnessReport, pairs: usize, skipped: usize) {
    println!(
        "Fairness on {} ({} pairs scored, {} left out: no face); groups from {}",
        args.pairs.display(),
        pairs,
        skipped,
        args.groups.iter().map(|g| g.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    println!(
        "threshold {:.4}; a pair is in a group when both images carry the label; 95% Clopper-Pearson intervals",
        r.threshold
    );
    if args.within_group_impostors > 0 {
        println!(
            "impostor pairs: up to {} drawn within each group from the images of the pairs file (the file's \
             impostor pairs are not used); genuine pairs: the file's",
            args.within_group_impostors
        );
    }
    println!("overall: FMR {}, FNMR {}", rate(&r.overall_fmr), rate(&r.overall_fnmr));
    println!(
        "{:<28} {:>36} {:>36} {:>12}",
        "group", "FMR [95% CI] (errors/pairs)", "FNMR [95% CI] (errors/pairs)", "t equal FMR"
    );
    for g in &r.groups {
        let t = g.threshold_for_equal_fmr.map_or("-".to_string(), |t| format!("{t:.4}"));
        println!("{:<28} {:>36} {:>36} {:>12}", g.group, rate(&g.fmr), rate(&g.fnmr), t);
    }
    for d in &r.differentials {
        let ratio = |x: Option<f64>, worst: &Option<String>| match (x, worst) {
            (Some(x), Some(w)) => format!("{x:.2} (worst {w})"),
            (None, Some(w)) => format!("unbounded: the best group has no errors (worst {w})"),
            _ => format!("not computed: fewer than two groups with {} pairs", r.min_pairs),
        };
        println!(
            "{}: FMR worst/best {}; FNMR worst/best {}",
            d.attribute,
            ratio(d.fmr_ratio, &d.fmr_worst),
            ratio(d.fnmr_ratio, &d.fnmr_worst)
        );
    }
}

fn write_det(dir: &Path, scores: &[GroupedScore], r: &FairnessReport) -> Result<()> {
    let curves = r
        .groups
        .iter()
        .filter(|g| g.fmr.trials >= r.min_pairs && g.fnmr.trials >= r.min_pairs)
        .map(|g| {
            let (gen, imp): (Vec<&GroupedScore>, Vec<&GroupedScore>) =
                scores.iter().filter(|p| p.groups.contains(&g.group)).partition(|p| p.genuine);
            let gen: Vec<f32> = gen.iter().map(|p| p.score).collect();
            let imp: Vec<f32> = imp.iter().map(|p| p.score).collect();
            Curve {
                name: format!("{} ({} gen, {} imp)", g.group, gen.len(), imp.len()),
                points: error_tradeoff(&gen, &imp, 2000)
                    .into_iter()
                    .filter(|p| p.1 > 0.0 && p.2 > 0.0)
                    .map(|(_, far, frr)| (far, frr))
                    .collect(),
            }
        })
        .collect();
    let chart = CurveChart {
        title: format!("DET per group (groups with at least {} pairs of each kind)", r.min_pairs),
        x_label: "false match rate (FMR)".into(),
        y_label: "false non-match rate (FNMR)".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        x_range: Some((1e-3, 1.0)),
        y_range: Some((1e-3, 1.0)),
        curves,
        markers: vec![],
        legend: visage_eval::plot::Corner::LowerLeft,
    };
    draw_curves(&chart, &dir.join("fairness-det"))?;
    Ok(())
}
