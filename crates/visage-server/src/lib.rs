//! The visage HTTP service.
//!
//! JSON under `/v1`, images as multipart uploads (`image`; `image1` and `image2` for verify) or base64
//! in JSON (`{"image": "..."}`). Every route but `/healthz` and `/readyz` needs an API key
//! (`Authorization: Bearer vsg_...`, created with `visage keys create`) with the route's scope; every
//! request is audited with the key's id. Limits: request body size, per-key rate, a bound on
//! concurrent inference (answered with 503 and `Retry-After` beyond it, never an unbounded queue),
//! and a timeout. Inference runs on blocking threads, off the async executor. Connections: a
//! header-read timeout and a cap on open connections ([`Limits`]); every response carries security
//! headers, and a client address with too many failed authentications is slowed down.

mod auth;
mod connections;
mod error;
mod guards;
mod images;
mod limits;
mod metrics;
mod openapi;
mod routes;
mod streams;

pub use connections::serve_listener;
pub use error::ApiError;
pub use limits::Limits;

use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use visage::FaceRecognitionSystem;

/// What every handler shares.
pub struct AppState {
    pub system: FaceRecognitionSystem,
    pub limits: Limits,
    pub(crate) rate: limits::RateLimiter,
    pub(crate) failed_auth: limits::FailedAuth,
    pub(crate) decode_budget: limits::DecodeBudget,
    pub(crate) inference: Arc<tokio::sync::Semaphore>,
    pub(crate) metrics: metrics::Metrics,
    /// Live video streams (`/v1/streams`).
    pub(crate) streams: streams::Streams,
}

/// The OpenAPI document of the service (also served at `/v1/openapi.json`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    routes::documented_routes().1
}

/// The service's router over a gallery. Decisions use the system's thresholds: the configured one and,
/// for `target_far`, the calibration the system was opened with
/// ([`visage::AnalyzerConfig::calibration`]).
pub fn router(system: FaceRecognitionSystem, limits: Limits) -> Router {
    let state = Arc::new(AppState {
        system,
        rate: limits::RateLimiter::new(limits.requests_per_minute),
        failed_auth: limits::FailedAuth::new(limits.failed_auth_per_minute),
        decode_budget: limits::DecodeBudget::new(limits.decode_budget_bytes),
        inference: Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_inference)),
        metrics: metrics::Metrics::default(),
        streams: streams::Streams::default(),
        limits,
    });
    routes::build(state)
}

/// Serves until Ctrl-C (or SIGTERM).
pub async fn serve(system: FaceRecognitionSystem, limits: Limits, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("visage listening on http://{}", listener.local_addr()?);
    eprintln!("visage serving on http://{} (Ctrl-C stops)", listener.local_addr()?);
    let app = router(system, limits.clone());
    serve_listener(listener, app, &limits, shutdown()).await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
