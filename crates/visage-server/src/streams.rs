//! Live video in the service: `POST /v1/streams` starts watching a source (a video file, camera or
//! stream the server can reach), `GET /v1/streams` lists, `DELETE /v1/streams/{id}` stops (open
//! tracks end with `track_end`), and `GET /v1/streams/{id}/events` streams the events as Server-Sent
//! Events: those already kept first, then live ones, until the stream ends. Each stream runs on its
//! own thread with the service's gallery; its decisions are audited with the stream and track ids.

use crate::auth::{actor, authorize};
use crate::openapi::ErrorBody;
use crate::{ApiError, AppState};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use utoipa::ToSchema;
use visage::store::AuditEvent;
use visage::{Decision, Threshold};
use visage_video::decision::DecisionSettings;
use visage_video::source::{
    FrameSource, ReconnectPolicy, SourceSpec, SourceStatus, DEFAULT_FRAMES_FPS, DEFAULT_GIVE_UP_AFTER,
};
use visage_video::{DetectEvery, Event, WatchOptions, WatchSummary, Watcher};

/// Streams running at once, at most.
const MAX_STREAMS: usize = 16;

/// Events kept per stream for clients that connect later (the oldest go first).
const KEPT_EVENTS: usize = 10_000;

/// The longest `reconnect_for_seconds` a stream may ask for: a day.
const MAX_RECONNECT_FOR_SECONDS: f64 = 86_400.0;

/// How long `DELETE` waits for a stream to end its tracks.
const STOP_WAIT: Duration = Duration::from_secs(15);

/// The service's streams.
#[derive(Default)]
pub(crate) struct Streams {
    running: Mutex<HashMap<String, Arc<Stream>>>,
    next_id: AtomicU64,
}

/// One watched source.
struct Stream {
    id: String,
    source: String,
    started_at: String,
    stop: Arc<AtomicBool>,
    /// Whether the source is reconnecting, and how often it did.
    status: Arc<SourceStatus>,
    log: Mutex<EventLog>,
    /// Bumped at every new event and at the end, to wake the SSE clients.
    changes: tokio::sync::watch::Sender<u64>,
}

#[derive(Default)]
struct EventLog {
    /// Index (since the stream started) of the first kept event.
    first: u64,
    events: VecDeque<Event>,
    end: Option<StreamEnd>,
}

#[derive(Clone)]
enum StreamEnd {
    Finished(WatchSummary),
    Failed(String, WatchSummary),
}

/// What to watch.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct StartStream {
    /// A video file path on the server, a V4L2 camera (`/dev/video0`), an `rtsp://` or `http(s)://`
    /// stream, or a folder / glob of frames.
    source: String,
    /// Run the detector on every Nth frame (1 to 100); absent: about 10 detections per second of
    /// video (every frame up to 14 frames/s, every 3rd frame of a 30 frames/s camera).
    #[schema(minimum = 1, maximum = 100)]
    detect_every: Option<u32>,
    /// Cosine similarity threshold in [-1, 1] (default: the configured one).
    threshold: Option<f32>,
    /// Refuse (never search) tracks that fail passive liveness.
    #[serde(default)]
    require_live: bool,
    /// Frame rate of a folder or glob of frames (default 10).
    fps: Option<f64>,
    /// A live source that drops is reopened with backoff (0.5 s doubling up to 30 s); the stream fails
    /// when no frame has come for this many seconds (default 300, at most 86,400).
    reconnect_for_seconds: Option<f64>,
    /// The purpose the stream watches for: only subjects consented for it are recognised (a key bound
    /// to purposes must name one of them; bound to one: the default).
    #[schema(min_length = 1, max_length = 200)]
    purpose: Option<String>,
}

/// A stream as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamInfo {
    id: String,
    /// The source (a URL without its password).
    source: String,
    started_at: String,
    /// `running`, `reconnecting` (a live source dropped and is being reopened with backoff; it fails
    /// after `reconnect_for_seconds` without a frame), `finished` (a file ended, or stopped) or `failed`.
    state: String,
    /// Events so far.
    events: u64,
    /// Times a live source was reopened after it dropped.
    reconnects: u64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Frames, drops, reconnects and speed, once ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<WatchSummary>,
}

impl Stream {
    fn push(&self, event: &Event) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.events.push_back(event.clone());
        if log.events.len() > KEPT_EVENTS {
            log.events.pop_front();
            log.first += 1;
        }
        drop(log);
        self.changes.send_modify(|n| *n += 1);
    }

    fn end(&self, end: StreamEnd) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).end = Some(end);
        self.changes.send_modify(|n| *n += 1);
    }

    fn info(&self) -> StreamInfo {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let (state, error, summary) = match &log.end {
            None if self.status.reconnecting() => ("reconnecting", None, None),
            None => ("running", None, None),
            Some(StreamEnd::Finished(s)) => ("finished", None, Some(s.clone())),
            Some(StreamEnd::Failed(e, s)) => ("failed", Some(e.clone()), Some(s.clone())),
        };
        StreamInfo {
            id: self.id.clone(),
            source: self.source.clone(),
            started_at: self.started_at.clone(),
            state: state.into(),
            events: log.first + log.events.len() as u64,
            reconnects: self.status.reconnects(),
            error,
            summary,
        }
    }

    fn ended(&self) -> bool {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).end.is_some()
    }
}

impl Streams {
    fn get(&self, id: &str) -> Result<Arc<Stream>, ApiError> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no stream '{id}'")))
    }
}

/// Whether a request path is an event stream, which lives longer than the request time limit.
pub(crate) fn is_long_lived(path: &str) -> bool {
    path.starts_with("/v1/streams/") && path.ends_with("/events")
}

/// Start watching a video source. Events: `GET /v1/streams/{id}/events`.
#[utoipa::path(post, path = "/v1/streams", tag = "streams", security(("api_key" = ["admin"])),
    request_body = StartStream,
    responses(
        (status = 201, body = StreamInfo),
        (status = 422, description = "The source cannot be read (or FFmpeg is missing)", body = ErrorBody),
        (status = 503, description = "Too many streams running", body = ErrorBody),
    ))]
pub(crate) async fn start_stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: Result<Json<StartStream>, JsonRejection>,
) -> Result<Response, ApiError> {
    let key = authorize(&state, &headers, "admin")?;
    // A missing or wrong body is answered in the API's error shape, not axum's plain text.
    let Json(request) = request.map_err(|e| match e {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send application/json")
        }
        other => ApiError::bad_request("invalid_request", other.body_text()),
    })?;
    let detect_every = match request.detect_every {
        None => DetectEvery::Auto,
        Some(n) => {
            DetectEvery::every(n).map_err(|e| ApiError::bad_request("invalid_request", format!("detect_every: {e}")))?
        }
    };
    let give_up_after = match request.reconnect_for_seconds {
        None => DEFAULT_GIVE_UP_AFTER,
        Some(s) if s.is_finite() && s > 0.0 && s <= MAX_RECONNECT_FOR_SECONDS => Duration::from_secs_f64(s),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("reconnect_for_seconds must be above 0 and at most {MAX_RECONNECT_FOR_SECONDS}"),
            ))
        }
    };
    let reconnect = ReconnectPolicy { give_up_after: Some(give_up_after), ..ReconnectPolicy::default() };
    if request.threshold.is_some_and(|t| !(-1.0..=1.0).contains(&t)) {
        return Err(ApiError::bad_request("invalid_request", "threshold must be in [-1, 1]"));
    }
    let running =
        state.streams.running.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|s| !s.ended()).count();
    if running >= MAX_STREAMS {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "too many streams are running"));
    }
    let fps = request.fps.unwrap_or(DEFAULT_FRAMES_FPS);
    let text = request.source.clone();
    // Probing a source can take seconds: off the executor.
    let source = tokio::task::spawn_blocking(move || FrameSource::open_with(SourceSpec::parse(&text, fps)?, reconnect))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unreadable_source", e.to_string()))?;
    let id = format!("s{}", state.streams.next_id.fetch_add(1, Ordering::Relaxed) + 1);
    let stream = Arc::new(Stream {
        id: id.clone(),
        source: source.spec().describe(),
        started_at: visage::store::time_util::now(),
        stop: Arc::default(),
        status: source.status(),
        log: Mutex::default(),
        changes: tokio::sync::watch::channel(0).0,
    });
    let actor = actor(&key);
    state
        .system
        .store()
        .audit(AuditEvent::ok(&actor, "stream-start").detail(json!({"stream": id, "source": stream.source})))?;
    let options = WatchOptions {
        detect_every,
        decision: DecisionSettings {
            decision: Decision {
                threshold: request.threshold.map_or(Threshold::Configured, Threshold::Similarity),
                require_live: request.require_live,
                purpose: crate::auth::purpose(&state, &key, request.purpose.as_deref(), "watch")?,
                ..Decision::default()
            },
            liveness: Default::default(),
        },
        stream_id: id.clone(),
        actor,
        ..WatchOptions::default()
    };
    state.streams.running.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), stream.clone());
    let shared = state.clone();
    let worker = stream.clone();
    std::thread::Builder::new()
        .name(format!("stream-{id}"))
        .spawn(move || {
            let result = Watcher::new(&shared.system, options).run(&source, &worker.stop, |e| worker.push(e));
            worker.end(match result {
                Ok(summary) => StreamEnd::Finished(summary),
                Err(failed) => StreamEnd::Failed(failed.to_string(), failed.summary),
            });
        })
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((StatusCode::CREATED, Json(stream.info())).into_response())
}

/// The streams: running, and ended ones not yet deleted.
#[utoipa::path(get, path = "/v1/streams", tag = "streams", security(("api_key" = ["admin"])),
    responses((status = 200, body = Vec<StreamInfo>)))]
pub(crate) async fn list_streams(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    authorize(&state, &headers, "admin")?;
    let mut list: Vec<StreamInfo> =
        state.streams.running.lock().unwrap_or_else(|p| p.into_inner()).values().map(|s| s.info()).collect();
    list.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    Ok(Json(list).into_response())
}

/// Stop a stream (its open tracks end with `track_end`) and forget it.
#[utoipa::path(delete, path = "/v1/streams/{id}", tag = "streams", security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The stream's id")),
    responses((status = 200, body = StreamInfo), (status = 404, description = "No such stream", body = ErrorBody)))]
pub(crate) async fn stop_stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = authorize(&state, &headers, "admin")?;
    let stream = state.streams.get(&id)?;
    stream.stop.store(true, Ordering::SeqCst);
    let mut changes = stream.changes.subscribe();
    let _ = tokio::time::timeout(STOP_WAIT, async {
        while !stream.ended() {
            if changes.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
    state.streams.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    state.system.store().audit(AuditEvent::ok(&actor(&key), "stream-stop").detail(json!({"stream": id})))?;
    Ok(Json(stream.info()).into_response())
}

/// The stream's events as Server-Sent Events (`event:` the event's name, `data:` its JSON, the same
/// objects as `visage watch --json`): the kept ones first, then live ones; a last `end` event
/// carries the stream's final state.
#[utoipa::path(get, path = "/v1/streams/{id}/events", tag = "streams", security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "The stream's id")),
    responses(
        (status = 200, description = "text/event-stream of Event objects", content_type = "text/event-stream", body = Event),
        (status = 404, description = "No such stream", body = ErrorBody),
    ))]
pub(crate) async fn stream_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "admin")?;
    let stream = state.streams.get(&id)?;
    let changes = stream.changes.subscribe();
    let events = futures_util::stream::unfold(
        (stream, 0u64, changes, false),
        |(stream, mut next, mut changes, done)| async move {
            if done {
                return None;
            }
            loop {
                {
                    let log = stream.log.lock().unwrap_or_else(|p| p.into_inner());
                    next = next.max(log.first);
                    if let Some(event) = log.events.get((next - log.first) as usize) {
                        let sse = SseEvent::default().event(event.event.name()).json_data(event).ok()?;
                        drop(log);
                        return Some((Ok::<_, std::convert::Infallible>(sse), (stream, next + 1, changes, false)));
                    }
                    if log.end.is_some() {
                        drop(log);
                        let info = stream.info();
                        let sse = SseEvent::default().event("end").json_data(&info).ok()?;
                        return Some((Ok(sse), (stream, next, changes, true)));
                    }
                }
                if changes.changed().await.is_err() {
                    return None;
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}
