//! The routes. Each handler: authorize (scope), read the request, run the work off the executor,
//! answer in the same JSON shapes as the CLI's `--json`.

use crate::auth::{actor, authorize};
use crate::images::read_upload;
use crate::{ApiError, AppState};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use visage::store::{time_util, AuditFilter, ConsentGrant};
use visage::system::EnrollRequest;

type AppResult = Result<Response, ApiError>;
type Shared = State<Arc<AppState>>;

pub fn build(state: Arc<AppState>) -> Router {
    let timeout = state.limits.request_timeout;
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/", get(|| async { axum::response::Html(include_str!("../web/index.html")) }))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(|| async { Json(json!({"status": "ready"})) }))
        .route("/metrics", get(metrics))
        .route("/v1/detect", post(detect))
        .route("/v1/verify", post(verify))
        .route("/v1/identify", post(identify))
        .route("/v1/models", get(models))
        .route("/v1/subjects", get(subjects))
        .route("/v1/subjects/{id}", get(subject).delete(delete_subject))
        .route("/v1/subjects/{id}/enroll", post(enroll))
        .route("/v1/subjects/{id}/export", get(export))
        .route("/v1/subjects/{id}/consent/revoke", post(revoke_consent))
        .route("/v1/audit", get(audit_list))
        .route("/v1/audit/verify", get(audit_verify))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .with_state(state)
}

async fn count_requests(State(state): Shared, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    state.metrics.request(&route, response.status().as_u16());
    response
}

/// Runs model work on a blocking thread, if a slot is free: beyond the limit the answer is 503 with
/// Retry-After rather than a queue that grows without bound.
async fn infer<T: Send + 'static>(
    state: &Arc<AppState>,
    work: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let permit = state.inference.clone().try_acquire_owned().map_err(|_| {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the service is busy; retry shortly");
        e.retry_after = Some(1);
        e
    })?;
    let shared = state.clone();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work(&shared)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("worker failed: {e}")))?;
    state.metrics.inference(started.elapsed().as_secs_f64());
    result
}

async fn metrics(State(state): Shared, headers: HeaderMap) -> AppResult {
    authorize(&state, &headers, "admin")?;
    Ok(([("content-type", "text/plain; version=0.0.4")], state.metrics.render()).into_response())
}

async fn detect(State(state): Shared, headers: HeaderMap, request: Request) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let upload = read_upload(request, &["image"]).await?;
    let image = upload.image("image")?;
    let out = infer(&state, move |s| {
        let name = image.name();
        let a = s.system.analyzer().analyze(image, false)?;
        s.system.store().audit(&actor(&key), "detect", None, "ok", json!({"faces": a.faces.len()}))?;
        Ok(json!({"image": name, "width": a.width, "height": a.height, "faces": a.faces}))
    })
    .await?;
    Ok(Json(out).into_response())
}

async fn verify(State(state): Shared, headers: HeaderMap, request: Request) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let upload = read_upload(request, &["image1", "image2"]).await?;
    let (a, b) = (upload.image("image1")?, upload.image("image2")?);
    let v = infer(&state, move |s| Ok(s.system.verify(a, b, &actor(&key))?)).await?;
    Ok(Json(v).into_response())
}

async fn identify(State(state): Shared, headers: HeaderMap, request: Request) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let upload = read_upload(request, &["image"]).await?;
    let image = upload.image("image")?;
    let top_k =
        match upload.field("top_k") {
            Some(t) => t.parse::<usize>().ok().filter(|k| (1..=100).contains(k)).ok_or_else(|| {
                ApiError::bad_request("invalid_request", "top_k must be a whole number from 1 to 100")
            })?,
            None => 3,
        };
    let result = infer(&state, move |s| Ok(s.system.identify(image, top_k, &actor(&key))?)).await?;
    Ok(Json(result).into_response())
}

async fn enroll(State(state): Shared, headers: HeaderMap, Path(id): Path<String>, request: Request) -> AppResult {
    let key = authorize(&state, &headers, "enroll")?;
    let upload = read_upload(request, &["image"]).await?;
    let images = upload.images_named("image");
    if images.is_empty() {
        return Err(ApiError::bad_request("missing_image", "enrolment needs at least one image in the field 'image'"));
    }
    let consent = ConsentGrant {
        purpose: upload.required("purpose")?.to_string(),
        evidence: upload.required("evidence")?.to_string(),
        legal_basis: upload.field("legal_basis").unwrap_or("consent").to_string(),
        expires_at: upload.field("expires").map(time_util::parse_user_date).transpose()?,
    };
    let request = EnrollRequest {
        subject: id,
        name: upload.field("name").map(str::to_string),
        consent,
        images,
        allow_duplicate: matches!(upload.field("allow_duplicate"), Some("true" | "1" | "on")),
    };
    let outcome = infer(&state, move |s| Ok(s.system.enroll(&request, &actor(&key))?)).await?;
    Ok((StatusCode::CREATED, Json(outcome)).into_response())
}

async fn models(State(state): Shared, headers: HeaderMap) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let installer = state.system.analyzer().installer();
    let rows: Vec<Value> = installer
        .status()
        .iter()
        .map(|m| {
            json!({"id": m.id, "task": m.task, "file": m.file, "licence": m.licence, "source": m.source, "size": m.size,
                        "status": format!("{:?}", m.state).to_lowercase()})
        })
        .collect();
    state.system.store().audit(&actor(&key), "models", None, "ok", json!({}))?;
    Ok(Json(json!({"models": rows, "backend": state.system.analyzer().backend().to_string()})).into_response())
}

async fn subjects(State(state): Shared, headers: HeaderMap) -> AppResult {
    let key = authorize(&state, &headers, "admin")?;
    let list = state.system.subjects()?;
    state.system.store().audit(&actor(&key), "list-subjects", None, "ok", json!({"subjects": list.len()}))?;
    let rows: Vec<Value> = list.iter().map(|(s, n)| json!({"subject": s, "templates": n})).collect();
    Ok(Json(rows).into_response())
}

async fn subject(State(state): Shared, headers: HeaderMap, Path(id): Path<String>) -> AppResult {
    let key = authorize(&state, &headers, "admin")?;
    let store = state.system.store();
    let Some(subject) = store.subject(&id)? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_subject", format!("unknown subject '{id}'")));
    };
    let consents = store.consents(&id)?;
    let templates = store.template_ids(&id)?.len();
    store.audit(&actor(&key), "read", Some(&id), "ok", json!({}))?;
    Ok(Json(json!({"subject": subject, "consents": consents, "templates": templates})).into_response())
}

async fn delete_subject(State(state): Shared, headers: HeaderMap, Path(id): Path<String>) -> AppResult {
    let key = authorize(&state, &headers, "admin")?;
    let n = state.system.delete(&id, &actor(&key))?;
    Ok(Json(json!({"subject": id, "templates_erased": n})).into_response())
}

#[derive(Deserialize)]
struct ExportQuery {
    #[serde(default)]
    include_templates: bool,
}

async fn export(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> AppResult {
    let key = authorize(&state, &headers, "admin")?;
    Ok(Json(state.system.export(&id, q.include_templates, &actor(&key))?).into_response())
}

async fn revoke_consent(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Request,
) -> AppResult {
    let key = authorize(&state, &headers, "admin")?;
    let upload = read_upload(request, &[]).await?;
    let removed = state.system.revoke_consent(&id, upload.field("purpose"), &actor(&key))?;
    Ok(Json(json!({"subject": id, "templates_removed": removed})).into_response())
}

#[derive(Deserialize)]
struct AuditQuery {
    subject: Option<String>,
    action: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
}

async fn audit_list(State(state): Shared, headers: HeaderMap, Query(q): Query<AuditQuery>) -> AppResult {
    authorize(&state, &headers, "admin")?;
    let since = q.since.as_deref().map(time_util::parse_user_date).transpose()?;
    let filter =
        AuditFilter { subject: q.subject, action: q.action, since, limit: Some(q.limit.unwrap_or(100).min(10_000)) };
    Ok(Json(state.system.audit_entries(&filter)?).into_response())
}

async fn audit_verify(State(state): Shared, headers: HeaderMap) -> AppResult {
    authorize(&state, &headers, "admin")?;
    Ok(Json(state.system.audit_verify()?).into_response())
}
