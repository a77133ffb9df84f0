//! `visage loadtest`: drives a running service at a fixed request rate (open loop: requests are sent on
//! schedule whether or not earlier ones have answered, so a slow server cannot slow the load down) and
//! reports throughput, latency percentiles and the error rate. Loopback or your own hosts only.

use crate::output::print_json;
use anyhow::{bail, Context, Result};
use base64::Engine;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct LoadtestArgs {
    /// The service, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key with the identify scope.
    #[arg(long, env = "VISAGE_API_KEY")]
    pub key: String,
    /// identify or verify.
    #[arg(long, default_value = "identify")]
    pub endpoint: String,
    /// The photo sent with every request (verify sends it as both images).
    #[arg(long)]
    pub image: PathBuf,
    /// Requests per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Connections in flight at most (requests due while all are busy count as errors).
    #[arg(long, default_value_t = 64)]
    pub max_inflight: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &LoadtestArgs) -> Result<ExitCode> {
    if !(args.rate > 0.0 && args.rate <= 10_000.0) || args.seconds == 0 || args.seconds > 3600 {
        bail!("--rate must be in (0, 10000] and --seconds in [1, 3600]");
    }
    let host = args.url.trim_end_matches('/');
    let photo = std::fs::read(&args.image).with_context(|| format!("cannot read {}", args.image.display()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&photo);
    let (path, body) = match args.endpoint.as_str() {
        "identify" => ("/v1/identify", json!({"image": b64})),
        "verify" => ("/v1/verify", json!({"image1": b64, "image2": b64})),
        other => bail!("unknown endpoint '{other}' (identify or verify)"),
    };
    let url = format!("{host}{path}");
    let body = body.to_string();
    let agent =
        ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).max_idle_connections(args.max_inflight).build();
    let total = (args.rate * args.seconds as f64).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let (tx, rx) = mpsc::channel::<(Outcome, Duration)>();
    let inflight = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut dropped = 0usize;
    for i in 0..total {
        let due = started + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if inflight.load(std::sync::atomic::Ordering::SeqCst) >= args.max_inflight {
            dropped += 1;
            continue;
        }
        inflight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (agent, url, body, key, tx, inflight) =
            (agent.clone(), url.clone(), body.clone(), args.key.clone(), tx.clone(), inflight.clone());
        std::thread::spawn(move || {
            let t = Instant::now();
            let outcome = match agent
                .post(&url)
                .set("Authorization", &format!("Bearer {key}"))
                .set("Content-Type", "application/json")
                .send_string(&body)
            {
                Ok(r) => Outcome::Status(r.status()),
                Err(ureq::Error::Status(code, _)) => Outcome::Status(code),
                Err(ureq::Error::Transport(t)) => Outcome::Transport(t.kind().to_string()),
            };
            let _ = tx.send((outcome, t.elapsed()));
            inflight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        });
    }
    drop(tx);
    let results: Vec<(Outcome, Duration)> = rx.iter().collect();
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> =
        results.iter().filter(|r| r.0.is_success()).map(|r| r.1.as_secs_f64() * 1e3).collect();
    // Every failure by what it was: an HTTP status, a transport error, or a request never sent because
    // every connection was busy.
    let mut by_kind: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (outcome, _) in results.iter().filter(|r| !r.0.is_success()) {
        *by_kind.entry(outcome.label()).or_default() += 1;
    }
    if dropped > 0 {
        by_kind.insert("not_sent_all_connections_busy".into(), dropped);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies.get(((latencies.len().max(1) - 1) as f64 * p).round() as usize).copied();
    let ok = latencies.len();
    let errors = results.len() - ok + dropped;
    let report = json!({
        "endpoint": args.endpoint, "rate": args.rate, "seconds": args.seconds, "sent": results.len(), "ok": ok,
        "errors": errors, "error_rate": errors as f64 / total.max(1) as f64, "throughput": ok as f64 / elapsed,
        "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": latencies.last(), "errors_by_kind": by_kind,
    });
    if args.json {
        print_json(&report);
    } else {
        println!(
            "{} at {} req/s for {} s: {} ok, {} errors ({:.2}%), {:.1} req/s, p50 {:.1} ms, p99 {:.1} ms",
            args.endpoint,
            args.rate,
            args.seconds,
            ok,
            errors,
            100.0 * errors as f64 / total.max(1) as f64,
            ok as f64 / elapsed,
            pct(0.5).unwrap_or(f64::NAN),
            pct(0.99).unwrap_or(f64::NAN)
        );
        for (kind, n) in &by_kind {
            println!("  {kind}: {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How one request ended.
enum Outcome {
    Status(u16),
    Transport(String),
}

impl Outcome {
    fn is_success(&self) -> bool {
        matches!(self, Outcome::Status(200..=299))
    }

    fn label(&self) -> String {
        match self {
            Outcome::Status(code) => format!("http_{code}"),
            Outcome::Transport(kind) => format!("transport: {kind}"),
        }
    }
}
