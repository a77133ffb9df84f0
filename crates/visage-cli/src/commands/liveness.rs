//! `visage liveness`: active (challenge-response) liveness over a folder of frames, or a video file
//! decoded to frames with `ffmpeg` (a system package, called only when a video is given).

use crate::args::pipeline::PipelineArgs;
use crate::args::pipeline::{analyzer, Purpose};
use crate::output::print_json;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use visage::active_liveness::{Challenge, ChallengeOptions};
use visage::ImageSource;

#[derive(Debug, Args)]
pub struct LivenessArgs {
    /// A folder of frames (.jpg/.jpeg/.png/.bmp/.webp), taken in file-name order.
    #[arg(long, required_unless_present = "video", conflicts_with = "video")]
    pub frames: Option<PathBuf>,
    /// A video file, decoded to frames with ffmpeg (which must be installed).
    #[arg(long)]
    pub video: Option<PathBuf>,
    /// Frames per second taken from the video.
    #[arg(long, default_value_t = 5.0)]
    pub fps: f32,
    /// The challenges, in order: turn-left, turn-right, blink ("left"/"right": the person's own).
    #[arg(long, value_delimiter = ',', required = true)]
    pub challenge: Vec<Challenge>,
    /// Degrees of yaw change from the first frame that count as a turn.
    #[arg(long, default_value_t = 15.0)]
    pub min_yaw_change: f32,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Decodes `video` into PNG frames in `dir` at `fps` frames per second with ffmpeg.
fn decode_video(video: &Path, fps: f32, dir: &Path) -> Result<()> {
    if !video.is_file() {
        bail!("{}: no such video file", video.display());
    }
    if !(fps > 0.0 && fps <= 60.0) {
        bail!("--fps {fps} is outside (0, 60]");
    }
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-nostdin", "-i"])
        .arg(video)
        .args(["-vf", &format!("fps={fps}")])
        .arg(dir.join("%05d.png"))
        .status();
    match status {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("decoding a video needs ffmpeg, which is not installed (Debian/Ubuntu: apt-get install ffmpeg); or extract frames yourself and use --frames DIR")
        }
        Err(e) => bail!("cannot run ffmpeg: {e}"),
        Ok(s) if !s.success() => bail!("ffmpeg could not decode {} ({s})", video.display()),
        Ok(_) => Ok(()),
    }
}

pub fn run(args: &LivenessArgs) -> Result<ExitCode> {
    let decoded = tempfile::tempdir().context("cannot create a temporary folder for the frames")?;
    let folder = match (&args.frames, &args.video) {
        (Some(dir), _) => dir.clone(),
        (None, Some(video)) => {
            decode_video(video, args.fps, decoded.path())?;
            decoded.path().to_path_buf()
        }
        (None, None) => bail!("give --frames DIR or --video FILE"),
    };
    if !folder.is_dir() {
        bail!("{} is not a folder of frames", folder.display());
    }
    let frames = visage::core::files::image_files(&folder, false)
        .with_context(|| format!("cannot read {}", folder.display()))?;
    if frames.len() < 2 {
        bail!("{}: need at least 2 frames, found {}", folder.display(), frames.len());
    }
    // Detection settings as in `analyze` (no minimum face size, so CenterFace sees the frame at full
    // detection size): the same frame gives the same box, landmarks and eye state in both commands.
    let analyzer = analyzer(&args.pipeline, Purpose::Detection)?;
    let sources: Vec<ImageSource> = frames.iter().map(ImageSource::from).collect();
    let options = ChallengeOptions { min_yaw_change: args.min_yaw_change, ..ChallengeOptions::default() };
    let report = analyzer.check_challenges(&sources, &args.challenge, &options)?;
    if args.pipeline.json {
        print_json(&report);
    } else {
        let source = args.video.as_deref().unwrap_or(&folder);
        println!("{} frames from {}", report.frames.len(), source.display());
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
