//! The routes. Each handler: authorize (scope), read the request, run the work off the executor,
//! answer in the same JSON shapes as the CLI's `--json`.

use crate::auth::{actor, authorize};
use crate::images::read_upload;
use crate::openapi::{
    CommonResponses, ConsentFields, DetectForm, DetectJson, EnrollForm, EnrollJson, ErrorBody, ImageForm, ImageJson,
    RevokeRequest, VerifyForm, VerifyJson,
};
use crate::{ApiError, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
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
use visage::attributes::LivenessScore;
use visage::recognize::Verification;
use visage::store::{time_util, AuditFilter, ConsentGrant};
use visage::store::{AuditEntry, AuditVerification, Consent, Subject, SubjectExport};
use visage::system::{EnrollOutcome, EnrollRequest, Identification, IdentifiedFace};
use visage::Face;

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
        .route("/v1/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(middleware::from_fn(move |request: Request, next: Next| time_limit(timeout, request, next)))
        .layer(DefaultBodyLimit::max(body_limit))
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
    let out = infer(&state, move |s| {
        let name = image.name().display().to_string();
        let a = s.system.analyzer().analyze(image, false)?;
        s.system.store().audit(&actor(&key), "detect", None, "ok", json!({"faces": a.faces.len()}))?;
        Ok(Detections { image: name, width: a.width, height: a.height, faces: a.faces })
    })
    .await?;
    Ok(Json(out).into_response())
}

/// Are the people in two photos the same? The largest face of each is compared.
#[utoipa::path(post, path = "/v1/verify", tag = "faces", security(("api_key" = ["identify"])),
    request_body(content(
        (VerifyForm = "multipart/form-data"),
        (VerifyJson = "application/json"),
    )),
    responses(
        (status = 200, body = CalibratedVerification),
        (status = 422, description = "An image is not decodable or holds no usable face", body = ErrorBody),
    ))]
async fn verify(State(state): Shared, headers: HeaderMap, request: Request) -> AppResult {
    let key = authorize(&state, &headers, "identify")?;
    let upload = read_upload(request, &["image1", "image2"]).await?;
    let (a, b) = (upload.image("image1")?, upload.image("image2")?);
    let (threshold, target_far) = calibrated_threshold(&state, &upload)?;
    let require_live = flag(&upload, "require_live")?;
    let (v, liveness) = infer(&state, move |s| {
        if require_live {
            let live = s.system.verify_live_at(a, b, threshold, &actor(&key), true, None)?;
            Ok((live.verification, Some(live.liveness)))
        } else {
            Ok((s.system.verify_at(a, b, threshold, &actor(&key))?, None))
        }
    })
    .await?;
    let far = FarFields::of(&state, target_far, Some(v.similarity));
    Ok(Json(CalibratedVerification { verification: v, far, liveness }).into_response())
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

/// A verification with, when a calibration is active, the estimated FAR of its similarity.
#[derive(Serialize, ToSchema)]
struct CalibratedVerification {
    #[serde(flatten)]
    verification: Verification,
    #[serde(flatten)]
    far: FarFields,
    /// With `require_live`: P(live) of both faces (a spoof on either side is refused with 422 `spoof`).
    #[serde(skip_serializing_if = "Option::is_none")]
    liveness: Option<[LivenessScore; 2]>,
}

/// The calibration fields of a decision (absent without an active calibration).
#[derive(Serialize, ToSchema, Default)]
struct FarFields {
    /// The false-accept rate the request asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    target_far: Option<f64>,
    /// Share of the calibration's impostor pairs that score at least this similarity.
    #[serde(skip_serializing_if = "Option::is_none")]
    estimated_far: Option<f64>,
    /// `estimate`, or `at_most` / `at_least` where the calibration data is too thin to say more.
    #[serde(skip_serializing_if = "Option::is_none")]
    estimated_far_bound: Option<String>,
    /// 95% Clopper-Pearson interval of the estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    estimated_far_ci95: Option<[f64; 2]>,
}

impl FarFields {
    fn of(state: &AppState, target_far: Option<f64>, similarity: Option<f32>) -> FarFields {
        let Some(c) = &state.calibration else { return FarFields::default() };
        let mut out = FarFields { target_far, ..FarFields::default() };
        if let Some(s) = similarity {
            let e = c.estimated_far(s);
            out.estimated_far = Some(e.far);
            out.estimated_far_bound = serde_json::to_value(e.bound).ok().and_then(|v| v.as_str().map(str::to_string));
            out.estimated_far_ci95 = Some(e.ci95);
        }
        out
    }
}

/// The threshold for the request's `target_far` from the active calibration (none asked: the default).
fn calibrated_threshold(
    state: &AppState,
    upload: &crate::images::Upload,
) -> Result<(Option<f32>, Option<f64>), ApiError> {
    let Some(text) = upload.field("target_far") else { return Ok((None, None)) };
    let target: f64 = text
        .parse()
        .ok()
        .filter(|f: &f64| *f > 0.0 && *f < 1.0)
        .ok_or_else(|| ApiError::bad_request("invalid_request", "target_far must be a number in (0, 1)"))?;
    let calibration = state.calibration.as_ref().ok_or_else(|| {
        ApiError::bad_request(
            "no_calibration",
            "target_far needs a calibration of this model: run `visage calibrate --pairs FILE` and restart",
        )
    })?;
    let threshold = calibration
        .threshold_for_far(target)
        .map_err(|e| ApiError::bad_request("unsupported_target_far", e.to_string()))?;
    Ok((Some(threshold), Some(target)))
}

/// Who is in this photo? For each face the best subjects, and a match or `null` (unknown).
#[utoipa::path(post, path = "/v1/identify", tag = "faces", security(("api_key" = ["identify"])),
    request_body(content(
        (ImageForm = "multipart/form-data"),
        (ImageJson = "application/json"),
    )),
    responses(
        (status = 200, body = CalibratedIdentification),
        (status = 422, description = "Not a decodable image", body = ErrorBody),
    ))]
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
    let (threshold, target_far) = calibrated_threshold(&state, &upload)?;
    let require_live = flag(&upload, "require_live")?;
    let (result, liveness, liveness_threshold) = infer(&state, move |s| {
        if require_live {
            let live = s.system.identify_live_at(image, top_k, threshold, &actor(&key), true, None)?;
            let (faces, scores): (Vec<_>, Vec<_>) = live.faces.into_iter().map(|f| (f.face, Some(f.liveness))).unzip();
            let result = Identification { faces, threshold: live.threshold };
            Ok((result, scores, Some(live.liveness_threshold)))
        } else {
            let result = s.system.identify_at(image, top_k, threshold, &actor(&key))?;
            let none = vec![None; result.faces.len()];
            Ok((result, none, None))
        }
    })
    .await?;
    let faces = result
        .faces
        .into_iter()
        .zip(liveness)
        .map(|(face, liveness)| {
            let far = FarFields::of(&state, None, face.similarity);
            CalibratedFace { face, far, liveness }
        })
        .collect();
    let far = FarFields::of(&state, target_far, None);
    Ok(Json(CalibratedIdentification { faces, threshold: result.threshold, far, liveness_threshold }).into_response())
}

/// An identification with, when a calibration is active, each face's estimated FAR.
#[derive(Serialize, ToSchema)]
struct CalibratedIdentification {
    faces: Vec<CalibratedFace>,
    threshold: f32,
    #[serde(flatten)]
    far: FarFields,
    /// With `require_live`: the P(live) below which a face is not matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    liveness_threshold: Option<f32>,
}

#[derive(Serialize, ToSchema)]
struct CalibratedFace {
    #[serde(flatten)]
    face: IdentifiedFace,
    #[serde(flatten)]
    far: FarFields,
    /// With `require_live`: this face's P(live); a face that fails it is not matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    liveness: Option<LivenessScore>,
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
    state.system.store().audit(&actor(&key), "models", None, "ok", json!({}))?;
    Ok(Json(ModelList { models, backend: state.system.analyzer().backend().to_string() }).into_response())
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
    state.system.store().audit(&actor(&key), "list-subjects", None, "ok", json!({"subjects": list.len()}))?;
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
    store.audit(&actor(&key), "read", Some(&id), "ok", json!({}))?;
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
