//! `visage serve`: the HTTP service on the gallery.

use crate::args::gallery::GalleryArgs;
use crate::args::pipeline::PipelineArgs;
use crate::commands::gallery::open::open_configured;
use anyhow::{Context, Result};
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;
use visage::models::Manifest;
use visage::recognize::{Calibration, RecognizerKind, RecognizerSpec};

/// `visage serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Largest request body, in MB.
    #[arg(long, default_value_t = 16)]
    pub max_body_mb: usize,
    /// Requests per minute per API key.
    #[arg(long, default_value_t = 600)]
    pub rate_per_minute: u32,
    /// Requests running models at once (more get 503 with Retry-After).
    #[arg(long)]
    pub max_inflight: Option<usize>,
    /// The highest `target_far` a request may ask for (a request above it gets 400
    /// `target_far_above_policy`): the operator's bound on how loose a decision may be.
    #[arg(long, default_value_t = 1e-2, value_parser = parse_far)]
    pub max_target_far: f64,
    /// Connections open at once (further ones are closed when accepted).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Seconds a client may take to send a request's headers before its connection is closed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,
    /// Failed authentications per client address and minute before its requests with a key get 429.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub failed_auth_per_minute: u32,
    /// Enrol without the passive liveness check (for galleries built from scanned ID photos, say);
    /// every enrolment's audit entry records whether liveness was required.
    #[arg(long)]
    pub allow_spoof: bool,
    #[command(flatten)]
    pub gallery: GalleryArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// A false-accept rate in (0, 1).
fn parse_far(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|f| *f > 0.0 && *f < 1.0)
        .ok_or_else(|| format!("'{text}' is not a false-accept rate in (0, 1)"))
}

/// The embedding model's active calibration (`visage calibrate`), if any: requests may then ask for a
/// `target_far`, and each decision reports its estimated FAR. A broken file is reported, not fatal.
fn active_calibration(recognizer: RecognizerKind) -> Option<Arc<Calibration>> {
    let sha = match RecognizerSpec::of(recognizer, Manifest::default_pack()) {
        Ok(spec) => spec.sha256,
        // FaceAnalyzer::new reports it.
        Err(_) => return None,
    };
    match visage::recognize::calibration::load_active(sha, None) {
        Ok(found) => found.map(|(c, path)| {
            tracing::info!("calibration {} (target FARs down to {:.1e})", path.display(), c.smallest_supported_far);
            Arc::new(c)
        }),
        Err(e) => {
            tracing::warn!("no calibration used: {e}");
            None
        }
    }
}

/// `visage serve`.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let mut limits = visage_server::Limits {
        max_body_bytes: args.max_body_mb.max(1) * 1024 * 1024,
        requests_per_minute: args.rate_per_minute,
        max_target_far: args.max_target_far,
        max_connections: args.max_connections as usize,
        failed_auth_per_minute: args.failed_auth_per_minute,
        header_read_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
        ..visage_server::Limits::default()
    };
    if let Some(n) = args.max_inflight {
        limits.max_concurrent_inference = n.max(1);
    }
    let addr = args.addr;
    let calibration = active_calibration(args.pipeline.recognizer);
    let system = open_configured(&args.gallery, Some(&args.pipeline), |c| {
        c.analyzer.calibration = calibration;
        c.enrol_liveness = visage::system::EnrolLiveness { required: !args.allow_spoof, threshold: None };
        c.hnsw_above = Some(visage_index::DEFAULT_AUTO_THRESHOLD);
    })?;
    if system.store().api_keys()?.iter().all(|k| k.revoked_at.is_some()) {
        eprintln!("note: no active API key yet; create one with `visage keys create --scopes admin`");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(visage_server::serve(system, limits, addr)).with_context(|| format!("cannot serve on {addr}"))?;
    Ok(ExitCode::SUCCESS)
}
