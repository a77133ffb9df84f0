//! A key that may enrol but not identify learns nothing about who is enrolled: enrolling a probe photo
//! under a new id is refused without naming the subject it matches or the similarity, asking to enrol
//! anyway (which would name them) is refused, and the audit log records the attempt with the match.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine;
use serde_json::{json, Value};
use tower::ServiceExt;
use visage::store::AuditFilter;
use visage::system::{FaceRecognitionSystem, SystemConfig};
use visage::AnalyzerConfig;
use visage_server::{router, Limits};
use visage_testkit::{models_home, sample_photos};

/// The first face of demo photo 1, with a margin, as base64 JPEG.
fn portrait() -> String {
    let img = image::open(&sample_photos()[0]).unwrap().to_rgb8();
    let crop = image::imageops::crop_imm(&img, 300, 250, 450, 450).to_image();
    let mut bytes = Vec::new();
    crop.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn enrol(app: &axum::Router, key: &str, subject: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::post(format!("/v1/subjects/{subject}/enroll"))
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_enroll_only_key_cannot_learn_who_a_face_matches() {
    let data = tempfile::tempdir().unwrap();
    let mut config = SystemConfig::new(data.path());
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    let system = FaceRecognitionSystem::open(config).unwrap();
    let (_, admin) = system.store().create_api_key(&["admin".into()], &[], None, "test").unwrap();
    let (enroller, enroll_only) = system.store().create_api_key(&["enroll".into()], &[], None, "test").unwrap();
    let app = router(system, Limits::default());
    let photo = portrait();
    let body = |extra: Value| {
        let mut b = json!({"image": photo, "purpose": "door", "evidence": "form-1"});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let (s, v) = enrol(&app, &admin, "annabel", body(json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // The same face under a new id, by the enroll-only key: refused, naming no one.
    let (s, v) = enrol(&app, &enroll_only, "probe", body(json!({}))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("duplicate_subject")), "{v}");
    let text = v.to_string();
    assert!(!text.contains("annabel") && !text.contains("similarity"), "the refusal names the match: {text}");
    // Asking to enrol anyway would name the match in the answer: refused for this key.
    let (s, v) = enrol(&app, &enroll_only, "probe", body(json!({"allow_duplicate": "true"}))).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{v}");
    assert!(!v.to_string().contains("annabel"), "{v}");

    // An admin key is told whom the face matches, as before.
    let (s, v) = enrol(&app, &admin, "probe", body(json!({}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("annabel"), "{v}");

    // The refused probe is in the audit log, with the key and the match, for an admin to review.
    let data_dir = data.path().to_path_buf();
    let reopened = tokio::task::spawn_blocking(move || {
        let mut config = SystemConfig::new(&data_dir);
        config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
        FaceRecognitionSystem::open(config).unwrap()
    })
    .await
    .unwrap();
    let entries =
        reopened.audit_entries(&AuditFilter { subject: Some("probe".into()), ..AuditFilter::default() }).unwrap();
    let refusal = entries
        .iter()
        .find(|e| e.actor == format!("key:{}", enroller.id) && e.outcome == "refused-duplicate")
        .unwrap_or_else(|| panic!("no audited refusal by the enroll-only key: {entries:?}"));
    assert!(refusal.detail.to_string().contains("annabel"), "{}", refusal.detail);
}
