//! `visage identify`: who is in this photo? Each face: the best enrolled subjects, and a match or
//! an explicit unknown.

use super::open::open_configured;
use crate::args::decision::DecisionArgs;
use crate::args::gallery::GalleryArgs;
use crate::args::pipeline::PipelineArgs;
use crate::output::print_json;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use visage::system::{default_actor, Identification};
use visage::{Decision, DecisionPolicy};

/// `visage identify`.
#[derive(Debug, Args)]
pub struct IdentifyArgs {
    pub image: PathBuf,
    /// How many candidate subjects to list per face.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    #[command(flatten)]
    pub decision: DecisionArgs,
    #[command(flatten)]
    pub gallery: GalleryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `visage identify`.
pub fn run(args: &IdentifyArgs) -> Result<ExitCode> {
    let calibration = args.decision.calibration(args.pipeline.recognizer)?;
    let system = open_configured(&args.gallery, Some(&args.pipeline), |c| c.analyzer.calibration = calibration)?;
    let decision = Decision { top_k: args.top_k, ..args.decision.decision() };
    let result = system.identify(&args.image, &decision, &default_actor())?;
    if args.pipeline.json {
        print_json(&result);
    } else {
        print_identification(&args.image, &result, system.analyzer().policy());
    }
    if result.faces.is_empty() {
        eprintln!("{}: no face found", args.image.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// An identification for people.
fn print_identification(image: &std::path::Path, result: &Identification, policy: &DecisionPolicy) {
    let live = result.liveness_threshold.map_or(String::new(), |t| format!(", liveness threshold {t:.3}"));
    println!("{}: {} face(s); threshold {:.3}{live}", image.display(), result.faces.len(), result.threshold);
    for (i, f) in result.faces.iter().enumerate() {
        let [x1, y1, x2, y2] = f.bbox;
        let who = match (&f.liveness, &f.matched) {
            (Some(l), _) if !l.live => "not matched: failed liveness",
            (_, Some(subject)) => subject,
            (_, None) => "unknown",
        };
        let sim = f.similarity.map_or("-".to_string(), |s| format!("{s:.3}"));
        let live = f.liveness.map_or(String::new(), |l| format!(", P(live) {:.3}", l.score));
        println!("  face {} ({x1:.0}, {y1:.0})-({x2:.0}, {y2:.0}): {who} (best similarity {sim}{live})", i + 1);
        if let Some(line) = f.similarity.and_then(|s| policy.describe(s)) {
            println!("    {line}");
        }
    }
}
