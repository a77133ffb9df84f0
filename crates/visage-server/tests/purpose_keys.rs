//! Keys bound to purposes: `keys create --purposes door` gives a key whose identifications act for
//! "door" only and see only the subjects consented for it; naming another purpose is refused (403,
//! audited), a key bound to several must name one, and an unbound key may name any.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine;
use serde_json::{json, Value};
use tower::ServiceExt;
use visage::system::{FaceRecognitionSystem, SystemConfig};
use visage::AnalyzerConfig;
use visage_server::{router, Limits};
use visage_testkit::{models_home, sample_photos};

fn jpeg(img: &image::RgbImage) -> String {
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn post(app: &axum::Router, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn matches(v: &Value) -> Vec<String> {
    let mut m: Vec<String> =
        v["faces"].as_array().unwrap().iter().filter_map(|f| f["match"].as_str().map(str::to_string)).collect();
    m.sort();
    m
}

#[tokio::test]
async fn keys_bound_to_purposes_search_only_those_purposes() {
    let data = tempfile::tempdir().unwrap();
    let mut config = SystemConfig::new(data.path());
    config.analyzer = AnalyzerConfig { home: models_home(), progress: false, ..AnalyzerConfig::default() };
    let system = FaceRecognitionSystem::open(config).unwrap();
    let store = system.store();
    let (_, admin) = store.create_api_key(&["admin".into()], &[], None, "test").unwrap();
    let (_, door) = store.create_api_key(&["identify".into()], &["door".into()], None, "test").unwrap();
    let (_, both) =
        store.create_api_key(&["identify".into()], &["door".into(), "payroll".into()], None, "test").unwrap();
    assert!(store.create_api_key(&["identify".into()], &["a,b".into()], None, "test").is_err());
    let group = system.analyzer().load(&sample_photos()[3]).unwrap();
    let faces = system.analyzer().detect(&group).unwrap();
    let app = router(system, Limits::default());
    for (i, (subject, purpose)) in [("ann", "door"), ("bea", "payroll")].into_iter().enumerate() {
        let b = faces[i].bbox;
        let (w, h) = (b.width(), b.height());
        let (x, y) = ((b.x1 - w * 0.7).max(0.0) as u32, (b.y1 - h * 0.7).max(0.0) as u32);
        let crop = image::imageops::crop_imm(&group, x, y, (w * 2.4) as u32, (h * 2.4) as u32).to_image();
        let body = json!({"image": jpeg(&crop), "purpose": purpose, "evidence": "form-1"});
        let (s, v) = post(&app, &admin, &format!("/v1/subjects/{subject}/enroll"), body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let photo = jpeg(&group);
    let identify = |key: &String, extra: Value| {
        let mut body = json!({"image": photo});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (app, key) = (app.clone(), key.clone());
        async move { post(&app, &key, "/v1/identify", body).await }
    };

    // Bound to one purpose: that is the default, and only its subjects are seen.
    let (s, v) = identify(&door, json!({})).await;
    assert_eq!((s, matches(&v)), (StatusCode::OK, vec!["ann".to_string()]), "{v}");
    let (s, v) = identify(&door, json!({"purpose": "door"})).await;
    assert_eq!((s, matches(&v)), (StatusCode::OK, vec!["ann".to_string()]), "{v}");
    let (s, v) = identify(&door, json!({"purpose": "payroll"})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("purpose_not_allowed")), "{v}");
    assert!(!v.to_string().contains("bea"), "{v}");
    // Bound to two: must choose.
    let (s, v) = identify(&both, json!({})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("purpose_required")), "{v}");
    let (s, v) = identify(&both, json!({"purpose": "payroll"})).await;
    assert_eq!((s, matches(&v)), (StatusCode::OK, vec!["bea".to_string()]), "{v}");
    // Unbound: everyone without a purpose, or the purpose it names.
    let (s, v) = identify(&admin, json!({})).await;
    assert_eq!((s, matches(&v)), (StatusCode::OK, vec!["ann".to_string(), "bea".to_string()]), "{v}");
    let (s, v) = identify(&admin, json!({"purpose": "payroll"})).await;
    assert_eq!((s, matches(&v)), (StatusCode::OK, vec!["bea".to_string()]), "{v}");
    // Verification is bound too.
    let (s, v) = post(&app, &door, "/v1/verify", json!({"image1": photo, "image2": photo, "purpose": "hr"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // The refusal and the purposes served are in the audit log.
    let request = Request::get("/v1/audit?action=identify&limit=100")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let audit: Value = serde_json::from_slice(&bytes).unwrap();
    let text = audit.to_string();
    assert!(text.contains("refused-purpose"), "{text}");
    assert!(text.contains(r#""purpose":"payroll""#) && text.contains(r#""purpose":"door""#), "{text}");
}
