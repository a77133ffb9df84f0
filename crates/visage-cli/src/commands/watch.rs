//! `visage watch SOURCE`: live video. Tracks each face of a video file, camera, stream or folder of
//! frames, identifies each track against the gallery once (again only when the evidence changes) and
//! prints events: text for people, JSON lines with `--json`. Ctrl-C ends every open track first.

use crate::args::decision::DecisionArgs;
use crate::args::gallery::GalleryArgs;
use crate::args::pipeline::PipelineArgs;
use crate::commands::gallery::open::open_configured;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use visage::system::default_actor;
use visage_video::decision::DecisionSettings;
use visage_video::source::{parse_give_up, FrameSource, ReconnectPolicy, SourceSpec, DEFAULT_FRAMES_FPS};
use visage_video::track_liveness::{LivenessRule, DEFAULT_LIVENESS_FRAMES};
use visage_video::webhook::{RetryPolicy, Webhook};
use visage_video::{DetectEvery, Event, WatchOptions, Watcher};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// A video file (mp4, mkv, avi, webm, ...), a V4L2 camera (/dev/video0), an rtsp:// or http(s)://
    /// stream, or a folder or glob of frames ("frames/*.png"). Decoded by FFmpeg.
    pub source: String,
    /// Run the face detector on every Nth frame (1 to 100), the tracker predicting the boxes in
    /// between; `auto`: about 10 detections per second of video (every frame up to 14 frames/s,
    /// every 3rd frame of a 30 frames/s camera).
    #[arg(long, default_value = "auto", value_name = "N|auto")]
    pub detect_every: DetectEvery,
    /// The threshold (`--threshold` or `--target-far`) and `--require-live`: a track's liveness is
    /// decided on its first frames (`--liveness-frames`) before it is searched; a spoof track is never
    /// searched and gets a `spoof` event.
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// P(live) below which a track is a spoof: compared with the geometric-mean odds of its first
    /// frames (default: the manifest's still-image threshold).
    #[arg(long)]
    pub liveness_threshold: Option<f32>,
    /// Frames of a track scored for liveness before it is decided (and, with --require-live, searched).
    #[arg(long, default_value_t = DEFAULT_LIVENESS_FRAMES as u32, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub liveness_frames: u32,
    /// Write the video with each track's box and label to this file (e.g. out.mp4).
    #[arg(long, value_name = "OUT")]
    pub draw: Option<PathBuf>,
    /// POST each identified / unknown / spoof event as JSON to this URL (retried with backoff).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// A live source (camera, rtsp://, http://) that drops is reopened with backoff (0.5 s doubling up
    /// to 30 s); give up, ending with an error (exit 2), when it has sent no frame for this long:
    /// `30s`, `5m`, `1h`, or `never`.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub reconnect_for: String,
    /// Frame rate of a folder or glob of frames.
    #[arg(long, default_value_t = DEFAULT_FRAMES_FPS)]
    pub fps: f64,
    #[command(flatten)]
    pub gallery: GalleryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `visage watch`.
pub fn run(args: &WatchArgs) -> Result<ExitCode> {
    // The source first: a wrong path or a missing FFmpeg is reported before the models load.
    let spec = SourceSpec::parse(&args.source, args.fps)?;
    if let Some(t) = args.liveness_threshold {
        anyhow::ensure!((0.0..=1.0).contains(&t), "--liveness-threshold {t} is outside [0, 1] (it is a probability)");
    }
    let give_up_after = parse_give_up(&args.reconnect_for).map_err(|e| anyhow::anyhow!("--reconnect-for {e}"))?;
    let reconnect = ReconnectPolicy { give_up_after, ..ReconnectPolicy::default() };
    let source = FrameSource::open_with(spec, reconnect)?;
    let calibration = args.decision.calibration(args.pipeline.recognizer)?;
    let system = open_configured(&args.gallery, Some(&args.pipeline), |c| c.analyzer.calibration = calibration)?;
    // Refuse a target FAR the calibration cannot give before the first frame, not at the first track.
    system.analyzer().policy().resolve(args.decision.decision().threshold)?;
    let mut webhook = match &args.webhook {
        Some(url) => Some(Webhook::start(url, RetryPolicy::default()).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let options = WatchOptions {
        detect_every: args.detect_every,
        decision: DecisionSettings {
            decision: args.decision.decision(),
            liveness: LivenessRule { frames: args.liveness_frames as usize, threshold: args.liveness_threshold },
        },
        actor: default_actor(),
        draw: args.draw.clone(),
        ..WatchOptions::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_ctrl_c(stop.clone());
    let json = args.pipeline.json;
    let mut out = std::io::stdout().lock();
    let watched = Watcher::new(&system, options).run(&source, &stop, |event: &Event| {
        let line = if json { serde_json::to_string(event).expect("events serialise") } else { event.describe() };
        // A closed pipe (`| head`) must not stop the watch's bookkeeping.
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
        if let Some(hook) = webhook.as_mut() {
            hook.send(event);
        }
    });
    drop(out);
    // The webhook's queue is delivered whether the watch ended well or not (a source given up).
    if let Some(hook) = webhook.take() {
        let stats = hook.finish();
        if stats.failed + stats.dropped > 0 {
            eprintln!("webhook: {} delivered, {} failed, {} dropped", stats.delivered, stats.failed, stats.dropped);
        }
    }
    let summary = match &watched {
        Ok(summary) => summary,
        Err(failed) => &failed.summary,
    };
    eprintln!(
        "{} frames in {:.1} s ({:.1} frames/s), {} dropped, {} reconnects, {} detector runs (every {}), {} faces embedded, {} tracks{}",
        summary.frames,
        summary.seconds,
        summary.fps,
        summary.dropped_frames,
        summary.reconnects,
        summary.detections,
        ordinal_frame(summary.detect_every),
        summary.embeddings,
        summary.tracks,
        summary.drawn.as_ref().map_or(String::new(), |p| format!("; video written to {}", p.display()))
    );
    watched.with_context(|| format!("watching {}", source.spec().describe()))?;
    Ok(ExitCode::SUCCESS)
}

/// "frame", "2nd frame", "3rd frame", "4th frame", ...
fn ordinal_frame(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    if n <= 1 {
        "frame".into()
    } else {
        format!("{n}{suffix} frame")
    }
}

/// Sets `stop` on Ctrl-C (SIGINT) or SIGTERM, so the watch ends its open tracks before exiting.
fn stop_on_ctrl_c(stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new().name("ctrl-c".into()).spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
                else {
                    return;
                };
                tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
        });
        stop.store(true, Ordering::SeqCst);
    });
    if let Err(e) = spawned {
        tracing::warn!("Ctrl-C will not end tracks cleanly: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::ordinal_frame;

    #[test]
    fn the_summary_names_every_nth_frame_in_english() {
        let said: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 100].map(ordinal_frame).into();
        assert_eq!(
            said,
            [
                "frame",
                "2nd frame",
                "3rd frame",
                "4th frame",
                "11th frame",
                "12th frame",
                "13th frame",
                "21st frame",
                "22nd frame",
                "23rd frame",
                "100th frame"
            ]
        );
    }
}
