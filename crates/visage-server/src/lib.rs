//! The visage HTTP service.
//!
//! JSON under `/v1`, images as multipart uploads (`image`; `image1` and `image2` for verify) or base64
//! in JSON (`{"image": "..."}`). Every route but `/healthz` and `/readyz` needs an API key
//! (`Authorization: Bearer vsg_...`, created with `visage keys create`) with the route's scope; every
//! request is audited with the key's id. Limits: request body size, per-key rate, a bound on
//! concurrent inference (answered with 503 and `Retry-After` beyond it, never an unbounded queue),
//! and a timeout. Inference runs on blocking threads, off the async executor.

mod auth;
mod error;
mod images;
mod limits;
mod metrics;
mod openapi;
mod routes;
mod streams;

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
    pub(crate) inference: Arc<tokio::sync::Semaphore>,
    pub(crate) metrics: metrics::Metrics,
    /// The embedding model's active calibration (`visage calibrate`), for `target_far` and the
    /// estimated FAR of each decision.
    pub(crate) calibration: Option<visage_eval::Calibration>,
    /// Live video streams (`/v1/streams`).
    pub(crate) streams: streams::Streams,
}

/// The OpenAPI document of the service (also served at `/v1/openapi.json`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    routes::documented_routes().1
}

/// The service's router over a gallery, with the embedding model's active calibration (if any).
pub fn router(system: FaceRecognitionSystem, limits: Limits) -> Router {
    let (_, model_sha) = system.analyzer().embedding_model();
    let calibration = match visage_eval::calibration::load_active(model_sha, None) {
        Ok(found) => found.map(|(c, path)| {
            tracing::info!("calibration {} (target FARs down to {:.1e})", path.display(), c.smallest_supported_far);
            c
        }),
        Err(e) => {
            tracing::warn!("no calibration used: {e}");
            None
        }
    };
    router_with_calibration(system, limits, calibration)
}

/// The service's router with the given calibration (`None`: decisions at the configured threshold,
/// `target_far` refused).
pub fn router_with_calibration(
    system: FaceRecognitionSystem,
    limits: Limits,
    calibration: Option<visage_eval::Calibration>,
) -> Router {
    let state = Arc::new(AppState {
        calibration,
        system,
        rate: limits::RateLimiter::new(limits.requests_per_minute),
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
    axum::serve(listener, router(system, limits)).with_graceful_shutdown(shutdown()).await
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
