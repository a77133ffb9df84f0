//! The service against slow, hostile and careless clients, over real loopback sockets where the
//! connection matters: header timeouts and the connection cap, keep-alive after an early refusal,
//! security headers, failed-authentication throttling, the target-FAR policy, rate accounting of
//! refusals, decode memory and truncated images, and extra faces in verification.

use base64::Engine;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use visage::system::{FaceRecognitionSystem, SystemConfig};
use visage::AnalyzerConfig;
use visage_server::{router, serve_listener, Limits};
use visage_testkit::{models_home, sample_photos};

struct Service {
    addr: SocketAddr,
    admin: String,
    identify: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _data: tempfile::TempDir,
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn system(dir: &std::path::Path, calibration: Option<visage::recognize::Calibration>) -> FaceRecognitionSystem {
    let mut config = SystemConfig::new(dir);
    config.analyzer = AnalyzerConfig {
        home: models_home(),
        progress: false,
        calibration: calibration.map(Into::into),
        ..AnalyzerConfig::default()
    };
    FaceRecognitionSystem::open(config).unwrap()
}

/// The service on a loopback port, with an admin and an identify-only key.
async fn start(limits: Limits, calibration: Option<visage::recognize::Calibration>) -> Service {
    let data = tempfile::tempdir().unwrap();
    let system = system(data.path(), calibration);
    let (_, admin) = system.store().create_api_key(&["admin".into()], &[], None, "test").unwrap();
    let (_, identify) = system.store().create_api_key(&["identify".into()], &[], None, "test").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = router(system, limits.clone());
    tokio::spawn(async move {
        serve_listener(listener, app, &limits, async {
            let _ = stopped.await;
        })
        .await
    });
    Service { addr, admin, identify, stop: Some(stop), _data: data }
}

/// A parsed response: status, lower-case headers, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads one response (headers, then a Content-Length or chunked body) from `stream`.
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "the connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string())).collect();
    let mut body = buf[head_end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let length: Option<usize> = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok());
    let complete = |b: &[u8]| match (chunked, length) {
        (true, _) => b.ends_with(b"0\r\n\r\n"),
        (false, Some(n)) => b.len() >= n,
        (false, None) => false,
    };
    while !complete(&body) {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut chunk)).await.unwrap().unwrap();
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    if chunked {
        body = dechunk(&body);
    }
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    Answer { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
    out
}

/// Sends one request on `stream` (kept alive unless the request says otherwise).
async fn send(stream: &mut TcpStream, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n", body.len());
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    read_answer(stream).await
}

/// One request on a new connection.
async fn once(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut all = headers.to_vec();
    all.push(("Connection", "close"));
    send(&mut stream, method, path, &all, body).await
}

/// Whether the server closes `stream` within `wait` (reading whatever it sends meanwhile).
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match tokio::time::timeout(deadline - Instant::now(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
    false
}

fn json_body(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn portrait() -> Vec<u8> {
    let img = image::open(&sample_photos()[0]).unwrap().to_rgb8();
    let crop = image::imageops::crop_imm(&img, 300, 250, 450, 450).to_image();
    encode(image::DynamicImage::ImageRgb8(crop), image::ImageFormat::Jpeg)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_are_cut_off_and_connections_are_capped() {
    let limits = Limits { header_read_timeout: Duration::from_millis(500), max_connections: 2, ..Limits::default() };
    let service = start(limits, None).await;
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(service.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: loc").await.unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Both slots are taken: a third connection is closed without an answer.
    let mut third = TcpStream::connect(service.addr).await.unwrap();
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer)).await.unwrap();
    assert!(answer.is_empty(), "a connection beyond the cap was served: {}", String::from_utf8_lossy(&answer));
    // The slow ones are closed after the header timeout, well before 5 s.
    for s in &mut slow {
        assert!(closed_within(s, Duration::from_secs(5)).await, "a slow client held its connection");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let a = once(service.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(a.status, 200, "the slots are free again");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_before_the_body_is_read_closes_the_connection_cleanly() {
    let service = start(Limits::default(), None).await;
    let mut stream = TcpStream::connect(service.addr).await.unwrap();
    let body = vec![b'x'; 2000];
    let first = send(&mut stream, "POST", "/v1/identify", &[("Content-Type", "application/json")], &body).await;
    assert_eq!(first.status, 401);
    assert_eq!(first.header("connection"), Some("close"), "the client must not reuse this connection");
    // A client that honours it opens a new connection, and is served.
    let auth = bearer(&service.identify);
    let second = once(service.addr, "GET", "/v1/models", &[("Authorization", &auth)], b"").await;
    assert_eq!(second.status, 200);
    // Answers to bodiless requests keep the connection alive.
    let mut stream = TcpStream::connect(service.addr).await.unwrap();
    for _ in 0..2 {
        let a = send(&mut stream, "GET", "/v1/models", &[("Authorization", &auth)], b"").await;
        assert_eq!((a.status, a.header("connection")), (200, None));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_has_security_headers_and_the_page_needs_no_inline_code() {
    let service = start(Limits::default(), None).await;
    for path in ["/", "/app.js", "/app.css", "/healthz", "/v1/models", "/nothing"] {
        let a = once(service.addr, "GET", path, &[], b"").await;
        assert!(a.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")), "{path}");
        assert!(a.header("content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")));
        assert_eq!(a.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(a.header("referrer-policy"), Some("no-referrer"), "{path}");
    }
    let page = once(service.addr, "GET", "/", &[], b"").await;
    let html = page.body.as_str().unwrap();
    assert!(html.contains(r#"<script src="/app.js"></script>"#) && !html.contains("<script>"), "no inline script");
    assert!(!html.contains("<style") && !html.contains("style="), "no inline style");
    let js = once(service.addr, "GET", "/app.js", &[], b"").await;
    assert!(js.status == 200 && js.header("content-type") == Some("text/javascript"));
    assert!(js.body.as_str().unwrap().contains("fetch("));
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_authentication_is_slowed_down_per_client_address() {
    let service = start(Limits { failed_auth_per_minute: 20, ..Limits::default() }, None).await;
    let mut statuses = Vec::new();
    for i in 0..25 {
        let wrong = bearer(&format!("vsg_k{i}_wrong"));
        let a = once(service.addr, "GET", "/v1/models", &[("Authorization", &wrong)], b"").await;
        statuses.push(a.status);
        if a.status == 429 {
            assert_eq!(a.body["error"]["code"], "too_many_failed_authentications");
            assert!(a.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s))));
        }
    }
    assert!(statuses[..20].iter().all(|s| *s == 401) && statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    // Refused before the key is checked: even a valid key from this address waits.
    let good = bearer(&service.identify);
    let a = once(service.addr, "GET", "/v1/models", &[("Authorization", &good)], b"").await;
    assert_eq!(a.status, 429);
    // Requests without a key guess nothing: the health check still answers.
    assert_eq!(once(service.addr, "GET", "/healthz", &[], b"").await.status, 200);
}

/// A calibration of the installed embedding model from constructed scores (10,000 impostors over
/// [-0.2, 0.8): target FARs down to 3e-3).
fn calibration() -> visage::recognize::Calibration {
    let model = visage::models::Manifest::default_pack().model(visage::models::ids::EMBEDDING).unwrap().clone();
    let source = visage::recognize::calibration::CalibrationSource {
        model: "embedding".into(),
        model_sha256: model.sha256,
        pipeline: "test".into(),
        data: "constructed".into(),
        skipped_pairs: 0,
        created: "now".into(),
    };
    let impostor: Vec<f32> = (0..10_000).map(|i| -0.2 + i as f32 / 10_000.0).collect();
    let genuine: Vec<f32> = (0..100).map(|i| 0.5 + i as f32 / 250.0).collect();
    visage::recognize::Calibration::from_scores(&genuine, &impostor, source, 30).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn target_far_is_bounded_by_the_operators_policy_and_every_decision_audits_its_threshold() {
    let service = start(Limits::default(), Some(calibration())).await;
    let (auth, admin) = (bearer(&service.identify), bearer(&service.admin));
    let json_ct = ("Content-Type", "application/json");
    let p = b64(&portrait());
    for far in [0.5, 0.0100001] {
        let body = json_body(json!({"image1": p, "image2": p, "target_far": far}));
        let a = once(service.addr, "POST", "/v1/verify", &[("Authorization", &auth), json_ct], &body).await;
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (400, Some("target_far_above_policy")), "{}", a.body);
    }
    let body = json_body(json!({"image1": p, "image2": p, "target_far": 0.01}));
    let a = once(service.addr, "POST", "/v1/verify", &[("Authorization", &auth), json_ct], &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let body = json_body(json!({"image": p, "target_far": 0.01}));
    let a = once(service.addr, "POST", "/v1/identify", &[("Authorization", &auth), json_ct], &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    for action in ["verify", "identify"] {
        let a =
            once(service.addr, "GET", &format!("/v1/audit?action={action}"), &[("Authorization", &admin)], b"").await;
        let entries = a.body.as_array().unwrap();
        assert!(!entries.is_empty(), "{action}: {}", a.body);
        assert!(entries.iter().all(|e| e["detail"]["threshold"].is_number()), "{action}: {}", a.body);
    }

    // An operator who allows any FAR still never gets a decision without a threshold.
    let open = start(Limits { max_target_far: 1.0, ..Limits::default() }, Some(calibration())).await;
    let auth = bearer(&open.identify);
    let body = json_body(json!({"image1": p, "image2": p, "target_far": 0.9999999999999999}));
    let a = once(open.addr, "POST", "/v1/verify", &[("Authorization", &auth), json_ct], &body).await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (400, Some("invalid_request")), "{}", a.body);
    let body = json_body(json!({"image": p, "target_far": 0.9999999999999999}));
    let a = once(open.addr, "POST", "/v1/identify", &[("Authorization", &auth), json_ct], &body).await;
    assert_eq!(a.status, 400, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_for_overload_do_not_use_up_the_rate_limit() {
    let limits = Limits { requests_per_minute: 20, max_concurrent_inference: 0, ..Limits::default() };
    let service = start(limits, None).await;
    let auth = bearer(&service.identify);
    let body = json_body(json!({"image": b64(&portrait())}));
    for _ in 0..30 {
        let a = once(
            service.addr,
            "POST",
            "/v1/detect",
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            &body,
        )
        .await;
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (503, Some("overloaded")), "{}", a.body);
    }
    let a = once(service.addr, "GET", "/v1/models", &[("Authorization", &auth)], b"").await;
    assert_eq!(a.status, 200, "503s are not counted against the key");
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_and_truncated_images_are_refused_before_decoding() {
    let service = start(Limits::default(), None).await;
    let auth = bearer(&service.identify);
    let json_ct = ("Content-Type", "application/json");
    // 7990x7990 zeros: a few hundred KB of PNG, 190 MB of pixels.
    let zeros = encode(image::DynamicImage::ImageLuma8(image::GrayImage::new(7990, 7990)), image::ImageFormat::Png);
    assert!(zeros.len() < 1 << 20);
    let started = Instant::now();
    let a = once(
        service.addr,
        "POST",
        "/v1/detect",
        &[("Authorization", &auth), json_ct],
        &json_body(json!({"image": b64(&zeros)})),
    )
    .await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (413, Some("image_too_large")), "{}", a.body);
    assert!(started.elapsed() < Duration::from_secs(5), "refused from the header, not decoded");
    // A JPEG whose header says 7999x7999, cut to 4 KB.
    let big = encode(image::DynamicImage::ImageLuma8(image::GrayImage::new(7999, 7999)), image::ImageFormat::Jpeg);
    let cut = &big[..4096];
    let a = once(
        service.addr,
        "POST",
        "/v1/detect",
        &[("Authorization", &auth), json_ct],
        &json_body(json!({"image": b64(cut)})),
    )
    .await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (422, Some("invalid_image")), "{}", a.body);
    assert!(a.body["error"]["message"].as_str().unwrap().contains("truncated"), "{}", a.body);
    // A PNG without its IEND chunk.
    let png = encode(image::DynamicImage::ImageLuma8(image::GrayImage::new(64, 64)), image::ImageFormat::Png);
    let a = once(
        service.addr,
        "POST",
        "/v1/detect",
        &[("Authorization", &auth), json_ct],
        &json_body(json!({"image": b64(&png[..png.len() - 12])})),
    )
    .await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (422, Some("invalid_image")), "{}", a.body);

    // The decode budget is shared: a service whose budget cannot hold one photo refuses it.
    let tight = start(Limits { decode_budget_bytes: 1 << 20, ..Limits::default() }, None).await;
    let auth = bearer(&tight.identify);
    let a = once(
        tight.addr,
        "POST",
        "/v1/detect",
        &[("Authorization", &auth), json_ct],
        &json_body(json!({"image": b64(&portrait())})),
    )
    .await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (413, Some("image_too_large")), "{}", a.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_extra_faces_and_can_require_a_single_one() {
    let service = start(Limits::default(), None).await;
    let auth = bearer(&service.identify);
    let json_ct = ("Content-Type", "application/json");
    let group = std::fs::read(&sample_photos()[0]).unwrap();
    let detected = once(
        service.addr,
        "POST",
        "/v1/detect",
        &[("Authorization", &auth), json_ct],
        &json_body(json!({"image": b64(&group)})),
    )
    .await;
    let faces = detected.body["faces"].as_array().unwrap().len();
    assert!(faces >= 3, "a group photo: {faces}");
    let body = json_body(json!({"image1": b64(&group), "image2": b64(&portrait())}));
    let a = once(service.addr, "POST", "/v1/verify", &[("Authorization", &auth), json_ct], &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["images"][0]["faces"].as_u64(), Some(faces as u64), "{}", a.body);
    assert_eq!(a.body["images"][1]["faces"].as_u64(), Some(1), "{}", a.body);
    assert!(a.body["note"].as_str().is_some_and(|n| n.contains(&format!("{faces} faces"))), "{}", a.body);
    let body = json_body(json!({"image1": b64(&group), "image2": b64(&portrait()), "require_single": true}));
    let a = once(service.addr, "POST", "/v1/verify", &[("Authorization", &auth), json_ct], &body).await;
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (422, Some("several_faces")), "{}", a.body);
}
