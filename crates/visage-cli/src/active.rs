//! `visage liveness`: active (challenge-response) liveness over a folder of frames.

use crate::cli::PipelineArgs;
use crate::commands::{analyzer, Purpose};
use crate::output::print_json;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use visage::active_liveness::{Challenge, ChallengeOptions};
use visage::ImageSource;

#[derive(Debug, Args)]
pub struct LivenessArgs {
    /// A folder of frames (.jpg/.jpeg/.png/.bmp/.webp), taken in file-name order.
    #[arg(long)]
    pub frames: PathBuf,
    /// The challenges, in order: turn-left, turn-right, blink ("left"/"right": the person's own).
    #[arg(long, value_delimiter = ',', required = true)]
    pub challenge: Vec<Challenge>,
    /// Degrees of yaw change from the first frame that count as a turn.
    #[arg(long, default_value_t = 15.0)]
    pub min_yaw_change: f32,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn run(args: &LivenessArgs) -> Result<ExitCode> {
    if !args.frames.is_dir() {
        bail!("{} is not a folder of frames", args.frames.display());
    }
    let mut frames: Vec<PathBuf> = std::fs::read_dir(&args.frames)
        .with_context(|| format!("cannot read {}", args.frames.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png" | "bmp" | "webp"))
        })
        .collect();
    frames.sort();
    if frames.len() < 2 {
        bail!("{}: need at least 2 frames, found {}", args.frames.display(), frames.len());
    }
    let analyzer = analyzer(&args.pipeline, None, Purpose::Recognition)?;
    let sources: Vec<ImageSource> = frames.iter().map(ImageSource::from).collect();
    let options = ChallengeOptions { min_yaw_change: args.min_yaw_change, ..ChallengeOptions::default() };
    let report = analyzer.check_challenges(&sources, &args.challenge, &options)?;
    if args.pipeline.json {
        print_json(&report);
    } else {
        println!("{} frames from {}", report.frames.len(), args.frames.display());
        for (i, f) in report.frames.iter().enumerate() {
            match (f.yaw, f.eyes_open, f.eyes_closed, f.similarity_to_first) {
                (Some(y), Some(o), Some(c), Some(s)) => {
                    let eyes = if o {
                        "open"
                    } else if c {
                        "closed"
                    } else {
                        "one closed"
                    };
                    println!("  {i:>3} {}: yaw {y:.1}, eyes {eyes}, similarity to first {s:.3}", f.frame)
                }
                _ => println!("  {i:>3} {}: no face", f.frame),
            }
        }
        for s in &report.steps {
            let frames: Vec<String> = s.frames.iter().map(|i| i.to_string()).collect();
            println!(
                "  {:<10} {} {}",
                s.challenge.to_string(),
                if s.passed { "done in frames" } else { "NOT DONE" },
                frames.join(", ")
            );
        }
        match &report.reason {
            None => println!("passed: the same face performed every challenge in order"),
            Some(r) => println!("failed: {r}"),
        }
    }
    Ok(if report.passed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
