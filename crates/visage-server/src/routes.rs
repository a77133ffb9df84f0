//! The routes. Each handler: authorize (scope), read the request, run the work off the executor,
//! answer in the same JSON shapes as the CLI's `--json`.

use crate::auth::{actor, authorize};
use crate::images::read_upload;
use crate::limits::{DecodeReservation, DECODE_BYTES_PER_PIXEL};
use crate::openapi::{
    CommonResponses, ConsentFields, DetectForm, DetectJson, EnrollForm, EnrollJson, ErrorBody, ImageForm, ImageJson,
    RevokeRequest, VerifyForm, VerifyJson,
};
use crate::{guards, ApiError, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use visage::store::{time_util, ApiKey, AuditEvent, AuditFilter, ConsentGrant};
use visage::store::{AuditEntry, AuditVerification, Consent, Subject, SubjectExport};
use visage::system::{EnrollOutcome, EnrollRequest, Identification};
use visage::{Decision, Face, ImageSource, Threshold, VerifyOutcome, VisageError};

type AppResult = Result<Response, ApiError>;
type Shared = State<Arc<AppState>>;

/// The documented API: every route with its OpenAPI operation, and the document itself.
pub(crate) fn documented_routes() -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(detect))
        .routes(routes!(verify))
        .routes(routes!(identify))
        .routes(routes!(models))
        .routes(routes!(info))
        .routes(routes!(subjects))
        .routes(routes!(subject, delete_subject))
        .routes(routes!(enroll))
        .routes(routes!(export))
        .routes(routes!(grant_consent))
        .routes(routes!(revoke_consent))
        .routes(routes!(audit_list))
        .routes(routes!(audit_verify))
        .routes(routes!(crate::streams::start_stream, crate::streams::list_streams))
        .routes(routes!(crate::streams::stop_stream))
        .routes(routes!(crate::streams::stream_events))
        .split_for_parts();
    CommonResponses.modify(&mut doc);
    (router, doc)
}

pub fn build(state: Arc<AppState>) -> Router {
    let timeout = state.limits.request_timeout;
    let body_limit = state.limits.max_body_bytes;
    let (api, doc) = documented_routes();
    let doc = Arc::new(doc);
    // The document is public, like the page: it describes the API and holds no data.
    api.route("/", get(|| async { axum::response::Html(include_str!("../web/index.html")) }))
        .route("/app.js", get(|| async { ([(CONTENT_TYPE, "text/javascript")], include_str!("../web/app.js")) }))
        .route("/app.css", get(|| async { ([(CONTENT_TYPE, "text/css")], include_str!("../web/app.css")) }))
        .route("/v1/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(middleware::from_fn(move |request: Request, next: Next| time_limit(timeout, request, next)))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), guards::throttle_failed_auth))
        .layer(middleware::from_fn(guards::close_after_refusal))
        .layer(middleware::from_fn(guards::security_headers))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "visage",
        description = "Face detection, verification and consent-based 1:N identification. Every route but the \
                       health checks needs `Authorization: Bearer <key>` with the route's scope; every request is \
                       audited with the key's id. Errors are always `{\"error\": {\"code\", \"message\"}}`."
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "faces", description = "Detection, verification and identification"),
        (name = "gallery", description = "Subjects, enrolment with consent, erasure and export"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "streams", description = "Live video: watch a source, track and identify faces, stream events"),
        (name = "service", description = "Health, readiness, metrics and models"),
    )
)]
struct ApiDoc;

/// A query string that does not parse, in the API's error shape.
fn query_error(e: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_request", e.body_text())
}

/// Answers 408 in the API's error shape when a request takes longer than the limit.
async fn time_limit(limit: std::time::Duration, request: Request, next: Next) -> Response {
    if crate::streams::is_long_lived(request.uri().path()) {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the request took longer than {} s", limit.as_secs_f64()),
        )
        .into_response(),
    }
}

async fn count_requests(State(state): Shared, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    state.metrics.request(&route, response.status().as_u16());
    response
}

/// A request admitted to run models: an inference slot and its images' decoding memory, held to its end.
struct Admission {
    _slot: tokio::sync::OwnedSemaphorePermit,
    _decoding: Option<DecodeReservation>,
}

/// Admits model work on `images` if an inference slot is free and the decode budget holds the images:
/// beyond either the answer is 503 with Retry-After rather than a queue that grows without bound, and
/// such a refusal does not count against `key`'s rate (it was not served).
fn admit(state: &Arc<AppState>, key: &ApiKey, images: &[&ImageSource]) -> Result<Admission, ApiError> {
    let unserved = |e: ApiError| {
        if e.status == StatusCode::SERVICE_UNAVAILABLE {
            state.rate.refund(&key.id);
        }
        e
    };
    let reservation = reserve_decoding(state, images).map_err(unserved)?;
    let permit = state.inference.clone().try_acquire_owned().map_err(|_| {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the service is busy; retry shortly");
        e.retry_after = Some(1);
        unserved(e)
    })?;
    Ok(Admission { _slot: permit, _decoding: reservation })
}

/// Runs admitted model work on a blocking thread, off the executor.
async fn infer<T: Send + 'static>(
    state: &Arc<AppState>,
    admission: Admission,
    work: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let shared = state.clone();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let _admission = admission;
        work(&shared)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("worker failed: {e}")))?;
    state.metrics.inference(started.elapsed().as_secs_f64());
    result
}

/// Checks each image's header (format, completeness, size: a clear 4xx before any pixel is decoded) and
/// reserves the memory decoding them will take from the shared budget.
fn reserve_decoding(state: &AppState, images: &[&ImageSource]) -> Result<Option<DecodeReservation>, ApiError> {
    let options = visage::core::LoadOptions { max_pixels: state.limits.max_image_pixels, ..Default::default() };
    let mut pixels = 0u64;
    for image in images {
        let ImageSource::Bytes { name, bytes } = image else { continue };
        let (w, h) = visage::core::image_dimensions(bytes, &options).map_err(|source| {
            let too_large = matches!(source, visage::core::ImageError::TooLarge { .. });
            let e = ApiError::from(visage::VisageError::Image { path: name.into(), source });
            if too_large {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "image_too_large", e.message)
            } else {
                e
            }
        })?;
        pixels += w as u64 * h as u64;
    }
    if pixels == 0 {
        return Ok(None);
    }
    state.decode_budget.reserve(pixels.saturating_mul(DECODE_BYTES_PER_PIXEL)).map(Some)
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Status)))]
async fn health() -> Json<Status> {
    Json(Status { status: "ok".into() })
}

/// Readiness: the models are loaded and the store is open.
#[utoipa::path(get, path = "/readyz", tag = "service", responses((status = 200, body = Status)))]
async fn ready() -> Json<Status> {
    Json(Status { status: "ready".into() })
}

#[derive(Serialize, ToSchema)]
struct Status {
    status: String,
}

/// Prometheus counters: requests by route and status, time spent running models.
#[utoipa::path(get, path = "/metrics", tag = "service", security(("api_key" = ["admin"])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): Shared, headers: HeaderMap) -> AppResult {
    authorize(&state, &headers, "admin")?;
    Ok(([("content-type", "text/plain; version=0.0.4")], state.metrics.render()).into_response())
}

/// The faces of an image.
#[derive(Serialize, ToSchema)]
struct Detections {
    /// The upload's file name (`upload:<field>` for base64).
    image: String,
    width: u32,
    height: u32,
    faces: Vec<Face>,
}

/// Find faces: box, score and 5 landmarks per face.
#[utoipa::path(post, path = "/v1/detect", tag = "faces", security(("api_key" = ["identify"])),
    request_body(content(
        (DetectForm = "multipart/form-data"),
        (DetectJson = "application/json"),
    )),
    responses(
        (status = 200, body = Detections),
        (status = 422, description = "Not a decodable image", body = ErrorBody),
    ))]
async fn detect(State(state): Shared, headers: HeaderMap, request: Request) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let upload = read_upload(request, &["image"]).await?;
    let image = upload.image("image")?;
    let admission = admit(&state, &key, &[&image])?;
    let out = infer(&state, admission, move |s| {
        let name = image.name().display().to_string();
        let a = s.system.analyzer().analyze(image, false)?;
        s.system.store().audit(AuditEvent::ok(&actor(&key), "detect").detail(json!({"faces": a.faces.len()})))?;
        Ok(Detections { image: name, width: a.width, height: a.height, faces: a.faces })
    })
    .await?;
    Ok(Json(out).into_response())
}

/// Are the people in two photos the same? The largest face of each is compared (with
/// `require_single`, an image must hold exactly one face).
#[utoipa::path(post, path = "/v1/verify", tag = "faces", security(("api_key" = ["identify"])),
    request_body(content(
        (VerifyForm = "multipart/form-data"),
        (VerifyJson = "application/json"),
    )),
    responses(
        (status = 200, body = VerifyOutcome),
        (status = 422, description = "An image is not decodable or holds no usable face", body = ErrorBody),
    ))]
async fn verify(State(state): Shared, headers: HeaderMap, request: Request) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let upload = read_upload(request, &["image1", "image2"]).await?;
    let (a, b) = (upload.image("image1")?, upload.image("image2")?);
    let decision = decision(&state, &key, &upload, "verify")?;
    let admission = admit(&state, &key, &[&a, &b])?;
    let v = infer(&state, admission, move |s| Ok(s.system.verify(a, b, &decision, &actor(&key))?)).await?;
    Ok(Json(v).into_response())
}

/// A true/false field (absent: false).
fn flag(upload: &crate::images::Upload, name: &str) -> Result<bool, ApiError> {
    match upload.field(name) {
        None | Some("false" | "0" | "off") => Ok(false),
        Some("true" | "1" | "on") => Ok(true),
        Some(other) => {
            Err(ApiError::bad_request("invalid_request", format!("{name} must be true or false, not '{other}'")))
        }
    }
}

/// The decision a verify or identify request asks for: `target_far` (else the configured threshold;
/// never above the operator's [`crate::Limits::max_target_far`]), `require_live`, `require_single`,
/// `top_k` and `purpose` (checked against the key's, see [`crate::auth::purpose`]).
fn decision(
    state: &AppState,
    key: &ApiKey,
    upload: &crate::images::Upload,
    action: &str,
) -> Result<Decision, ApiError> {
    let limits = &state.limits;
    let threshold = match upload.field("target_far") {
        None => Threshold::Configured,
        Some(text) => {
            let far = text
                .parse()
                .ok()
                .filter(|f: &f64| *f > 0.0 && *f < 1.0)
                .ok_or_else(|| ApiError::bad_request("invalid_request", "target_far must be a number in (0, 1)"))?;
            if far > limits.max_target_far {
                return Err(ApiError::bad_request(
                    "target_far_above_policy",
                    format!(
                        "target_far {far} is above the highest this service allows ({}; `visage serve --max-target-far`)",
                        limits.max_target_far
                    ),
                ));
            }
            Threshold::TargetFar(far)
        }
    };
    let top_k =
        match upload.field("top_k") {
            Some(t) => t.parse::<usize>().ok().filter(|k| (1..=100).contains(k)).ok_or_else(|| {
                ApiError::bad_request("invalid_request", "top_k must be a whole number from 1 to 100")
            })?,
            None => Decision::default().top_k,
        };
    Ok(Decision {
        threshold,
        require_live: flag(upload, "require_live")?,
        require_single: flag(upload, "require_single")?,
        top_k,
        purpose: crate::auth::purpose(state, key, upload.field("purpose"), action)?,
    })
}

/// Who is in this photo? For each face the best subjects, and a match or `null` (unknown).
#[utoipa::path(post, path = "/v1/identify", tag = "faces", security(("api_key" = ["identify"])),
    request_body(content(
        (ImageForm = "multipart/form-data"),
        (ImageJson = "application/json"),
    )),
    responses(
        (status = 200, body = Identification),
        (status = 422, description = "Not a decodable image", body = ErrorBody),
    ))]
async fn identify(State(state): Shared, headers: HeaderMap, request: Request) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let upload = read_upload(request, &["image"]).await?;
    let image = upload.image("image")?;
    let decision = decision(&state, &key, &upload, "identify")?;
    let admission = admit(&state, &key, &[&image])?;
    let result = infer(&state, admission, move |s| Ok(s.system.identify(image, &decision, &actor(&key))?)).await?;
    Ok(Json(result).into_response())
}

/// Enrol a subject with their consent from one or more photos (exactly one usable face each).
#[utoipa::path(post, path = "/v1/subjects/{id}/enroll", tag = "gallery", security(("api_key" = ["enroll"])),
    params(SubjectId),
    request_body(content(
        (EnrollForm = "multipart/form-data"),
        (EnrollJson = "application/json"),
    )),
    responses(
        (status = 201, body = EnrollOutcome),
        (status = 409, description = "The face matches another subject", body = ErrorBody),
        (status = 422, description = "No face, several faces, poor quality or not an image", body = ErrorBody),
    ))]
async fn enroll(State(state): Shared, headers: HeaderMap, Path(id): Path<String>, request: Request) -> AppResult {
    let key = authorize(&state, &headers, "enroll")?;
    let upload = read_upload(request, &["image"]).await?;
    let images = upload.images_named("image");
    if images.is_empty() {
        return Err(ApiError::bad_request("missing_image", "enrolment needs at least one image in the field 'image'"));
    }
    let consent = consent_grant(&upload)?;
    let admission = admit(&state, &key, &images.iter().collect::<Vec<_>>())?;
    let request = EnrollRequest {
        subject: id,
        name: upload.field("name").map(str::to_string),
        consent,
        images,
        allow_duplicate: matches!(upload.field("allow_duplicate"), Some("true" | "1" | "on")),
    };
    // The duplicate check searches the gallery: a key that may not identify must not learn from it
    // whom a face matches (the audit log records the refusal with the match, for an admin to see).
    let may_identify = key.has_scope("identify");
    if request.allow_duplicate && !may_identify {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "allow_duplicate needs the 'identify' scope: its answer names the subjects a face matches",
        ));
    }
    let outcome = infer(&state, admission, move |s| match s.system.enroll(&request, &actor(&key)) {
        Err(VisageError::Duplicate { path, .. }) if !may_identify => Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_subject",
            format!("{}: this face matches a subject already enrolled; not enrolled", path.display()),
        )),
        result => Ok(result?),
    })
    .await?;
    Ok((StatusCode::CREATED, Json(outcome)).into_response())
}

/// An installed (or missing) model, with its licence.
#[derive(Serialize, ToSchema)]
struct ModelStatus {
    id: String,
    task: String,
    file: String,
    licence: String,
    source: String,
    /// Bytes on disk (`null` when missing).
    size: Option<u64>,
    /// `installed`, `missing`, `modified` or `unreadable`.
    status: String,
}

#[derive(Serialize, ToSchema)]
struct ModelList {
    models: Vec<ModelStatus>,
    /// The inference backend in use (`ort` or `tract`).
    backend: String,
}

/// The model pack: each model's task, licence, source package and install state.
#[utoipa::path(get, path = "/v1/models", tag = "service", security(("api_key" = ["identify"])),
    responses((status = 200, body = ModelList)))]
async fn models(State(state): Shared, headers: HeaderMap) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let installer = state.system.analyzer().installer();
    let models = installer
        .status()
        .iter()
        .map(|m| ModelStatus {
            id: m.id.clone(),
            task: m.task.clone(),
            file: m.file.clone(),
            licence: m.licence.clone(),
            source: m.source.clone(),
            size: m.size,
            status: format!("{:?}", m.state).to_lowercase(),
        })
        .collect();
    state.system.store().audit(AuditEvent::ok(&actor(&key), "models"))?;
    Ok(Json(ModelList { models, backend: state.system.analyzer().backend().to_string() }).into_response())
}

/// What the service runs: the models in use, with their hashes and licences.
#[derive(Serialize, ToSchema)]
struct ServiceInfo {
    /// The detector (`centerface`, ..., or an imported `scrfd` / `retinaface`).
    detector: String,
    /// The recogniser (`arcface`, ..., or `imported:NAME`).
    recognizer: String,
    /// The inference backend in use (`ort` or `tract`).
    backend: String,
    /// Every model file detection and recognition run, with its SHA-256 and licence (for an imported
    /// model, the licence stated when it was imported).
    models: Vec<visage::in_use::ModelInUse>,
}

/// Which models (name, file hash, licence) the service uses for detection and recognition.
#[utoipa::path(get, path = "/v1/info", tag = "service", security(("api_key" = ["identify"])),
    responses((status = 200, body = ServiceInfo)))]
async fn info(State(state): Shared, headers: HeaderMap) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let analyzer = state.system.analyzer();
    let body = ServiceInfo {
        detector: analyzer.detector_kind().to_string(),
        recognizer: analyzer.recognizer_kind().to_string(),
        backend: analyzer.backend().to_string(),
        models: analyzer.models_in_use(),
    };
    state.system.store().audit(AuditEvent::ok(&actor(&key), "info"))?;
    Ok(Json(body).into_response())
}

#[derive(Serialize, ToSchema)]
struct SubjectSummary {
    subject: Subject,
    templates: usize,
}

/// Every enrolled subject, with its number of templates.
#[utoipa::path(get, path = "/v1/subjects", tag = "gallery", security(("api_key" = ["admin"])),
    responses((status = 200, body = Vec<SubjectSummary>)))]
async fn subjects(State(state): Shared, headers: HeaderMap) -> AppResult {
    let key = authorize(&state, &headers, "admin")?;
    let list = state.system.subjects()?;
    state
        .system
        .store()
        .audit(AuditEvent::ok(&actor(&key), "list-subjects").detail(json!({"subjects": list.len()})))?;
    let rows: Vec<SubjectSummary> =
        list.into_iter().map(|(subject, templates)| SubjectSummary { subject, templates }).collect();
    Ok(Json(rows).into_response())
}

/// The subject id in a route's path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct SubjectId {
    /// 1-128 characters from A-Z a-z 0-9 . _ @ -, not starting with a dot.
    #[param(pattern = r"^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,127}$")]
    id: String,
}

#[derive(Serialize, ToSchema)]
struct SubjectDetail {
    subject: Subject,
    consents: Vec<Consent>,
    templates: usize,
}

/// One subject: metadata, consent records and number of templates (no biometric data).
#[utoipa::path(get, path = "/v1/subjects/{id}", tag = "gallery", security(("api_key" = ["admin"])),
    params(SubjectId),
    responses(
        (status = 200, body = SubjectDetail),
        (status = 404, description = "Unknown subject", body = ErrorBody),
    ))]
async fn subject(State(state): Shared, headers: HeaderMap, Path(id): Path<String>) -> AppResult {
    let key = authorize(&state, &headers, "admin")?;
    let store = state.system.store();
    let Some(subject) = store.subject(&id)? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_subject", format!("unknown subject '{id}'")));
    };
    let consents = store.consents(&id)?;
    let templates = store.template_ids(&id)?.len();
    store.audit(AuditEvent::ok(&actor(&key), "read").subject(&id))?;
    Ok(Json(SubjectDetail { subject, consents, templates }).into_response())
}

#[derive(Serialize, ToSchema)]
struct Erasure {
    subject: String,
    templates_erased: usize,
}

/// Erase a subject (right to erasure): templates, consent and index entries; the audit log keeps a
/// tombstone without biometric data.
#[utoipa::path(delete, path = "/v1/subjects/{id}", tag = "gallery", security(("api_key" = ["admin"])),
    params(SubjectId),
    responses(
        (status = 200, body = Erasure),
        (status = 404, description = "Unknown subject", body = ErrorBody),
    ))]
async fn delete_subject(State(state): Shared, headers: HeaderMap, Path(id): Path<String>) -> AppResult {
    let key = authorize(&state, &headers, "admin")?;
    let templates_erased = state.system.delete(&id, &actor(&key))?;
    Ok(Json(Erasure { subject: id, templates_erased }).into_response())
}

#[derive(Deserialize, IntoParams)]
struct ExportQuery {
    /// Include the embeddings (biometric data).
    #[serde(default)]
    include_templates: bool,
}

/// Everything stored about a subject (right of access); embeddings only when asked for.
#[utoipa::path(get, path = "/v1/subjects/{id}/export", tag = "gallery", security(("api_key" = ["admin"])),
    params(SubjectId, ExportQuery),
    responses(
        (status = 200, body = SubjectExport),
        (status = 404, description = "Unknown subject", body = ErrorBody),
    ))]
async fn export(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<ExportQuery>, QueryRejection>,
) -> AppResult {
    let Query(q) = q.map_err(query_error)?;
    let key = authorize(&state, &headers, "admin")?;
    Ok(Json(state.system.export(&id, q.include_templates, &actor(&key))?).into_response())
}

/// Record a further consent (another purpose) for an enrolled subject.
#[utoipa::path(post, path = "/v1/subjects/{id}/consent", tag = "gallery", security(("api_key" = ["enroll"])),
    params(SubjectId),
    request_body(content((ConsentFields = "application/json"), (ConsentFields = "multipart/form-data"))),
    responses(
        (status = 201, body = Consent),
        (status = 404, description = "Unknown subject", body = ErrorBody),
    ))]
async fn grant_consent(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Request,
) -> AppResult {
    let key = authorize(&state, &headers, "enroll")?;
    let upload = read_upload(request, &[]).await?;
    let grant = consent_grant(&upload)?;
    let consent = state.system.grant_consent(&id, &grant, &actor(&key))?;
    Ok((StatusCode::CREATED, Json(consent)).into_response())
}

/// The consent fields of an enrolment or a grant.
fn consent_grant(upload: &crate::images::Upload) -> Result<ConsentGrant, ApiError> {
    Ok(ConsentGrant {
        purpose: upload.required("purpose")?.to_string(),
        evidence: upload.required("evidence")?.to_string(),
        legal_basis: upload.field("legal_basis").unwrap_or("consent").to_string(),
        expires_at: upload.field("expires").map(time_util::parse_user_date).transpose()?,
    })
}

#[derive(Serialize, ToSchema)]
struct Revocation {
    subject: String,
    templates_removed: usize,
}

/// Revoke consent, for one purpose or all; the templates go when no active consent is left.
#[utoipa::path(post, path = "/v1/subjects/{id}/consent/revoke", tag = "gallery", security(("api_key" = ["admin"])),
    params(SubjectId),
    request_body(content((RevokeRequest = "application/json"))),
    responses(
        (status = 200, body = Revocation),
        (status = 404, description = "Unknown subject or no such consent", body = ErrorBody),
    ))]
async fn revoke_consent(
    State(state): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    request: Request,
) -> AppResult {
    let key = authorize(&state, &headers, "admin")?;
    let upload = read_upload(request, &[]).await?;
    let templates_removed = state.system.revoke_consent(&id, upload.field("purpose"), &actor(&key))?;
    Ok(Json(Revocation { subject: id, templates_removed }).into_response())
}

#[derive(Deserialize, IntoParams)]
struct AuditQuery {
    /// Only this subject's entries.
    subject: Option<String>,
    /// Only this action (enroll, identify, verify, delete, export, ...).
    action: Option<String>,
    /// Entries at or after this time (YYYY-MM-DD or RFC 3339).
    since: Option<String>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 10_000)]
    limit: Option<u32>,
}

/// Audit entries, newest last, with filters.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("api_key" = ["admin"])), params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>)))]
async fn audit_list(
    State(state): Shared,
    headers: HeaderMap,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> AppResult {
    authorize(&state, &headers, "admin")?;
    let Query(q) = q.map_err(query_error)?;
    let limit = match q.limit {
        None => 100,
        Some(n @ 1..=10_000) => n as usize,
        Some(_) => return Err(ApiError::bad_request("invalid_request", "limit must be from 1 to 10000")),
    };
    let since = q.since.as_deref().map(time_util::parse_user_date).transpose()?;
    let filter = AuditFilter { subject: q.subject, action: q.action, since, limit: Some(limit) };
    Ok(Json(state.system.audit_entries(&filter)?).into_response())
}

/// Check the audit hash chain: intact, or the first entry that was edited, inserted or deleted.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", security(("api_key" = ["admin"])),
    responses((status = 200, body = AuditVerification)))]
async fn audit_verify(State(state): Shared, headers: HeaderMap) -> AppResult {
    authorize(&state, &headers, "admin")?;
    Ok(Json(state.system.audit_verify()?).into_response())
}
