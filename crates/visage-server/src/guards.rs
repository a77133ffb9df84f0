//! Middleware every response goes through: security headers, `Connection: close` when a request's
//! body may be left unread, and slowing down client addresses that fail to authenticate.

use crate::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// The page's policy: its script and style come from the service itself, it talks only to the service,
/// draws photos from `blob:`/`data:` URLs, and may not be framed, embed anything or post forms.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds the security headers to every response.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// An error answered to a request with a body may leave that body unread (the key, the rate or the
/// size was refused first); the connection cannot carry another request then, so the client is told
/// to close it rather than finding it broken on its next request.
pub async fn close_after_refusal(request: Request, next: Next) -> Response {
    let has_body = request.headers().get(header::CONTENT_LENGTH).is_some_and(|v| v.as_bytes() != b"0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let mut response = next.run(request).await;
    let status = response.status();
    if has_body && (status.is_client_error() || status.is_server_error()) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Refuses a request with a key from a client address with too many failed authentications in the
/// last minute (429 with Retry-After, before the key is checked), and counts each 401 to a request
/// with a key against its address. Requests without a key guess nothing and are not counted.
pub async fn throttle_failed_auth(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .filter(|_| request.headers().contains_key(header::AUTHORIZATION));
    if let Some(ip) = client {
        if let Err(e) = state.failed_auth.check(ip) {
            return e.into_response();
        }
    }
    let response = next.run(request).await;
    if let (Some(ip), StatusCode::UNAUTHORIZED) = (client, response.status()) {
        state.failed_auth.record(ip);
    }
    response
}
