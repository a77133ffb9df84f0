//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the response
//! types themselves (the same structs the handlers serialise), served at `/v1/openapi.json`.
//!
//! What the annotations leave implicit is added here once for every operation: the bearer-key
//! security scheme and the error responses every authenticated route can give (401, 403, 429), plus
//! 503 for the routes that run models.

use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, ToSchema};

/// The error shape of every failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A stable machine-readable code and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: `unauthorized`, `forbidden`, `rate_limited`, `overloaded`, `payload_too_large`,
    /// `malformed_body`, `malformed_json`, `malformed_multipart`, `unsupported_media_type`,
    /// `missing_image`, `missing_field`, `invalid_request`, `invalid_image`, `no_face`,
    /// `several_faces`, `poor_quality`, `spoof`, `duplicate_subject`, `invalid_subject_id`,
    /// `unknown_subject`, `no_consent`, `no_calibration`, `unsupported_target_far`, `not_found`, `timeout`,
    /// `internal`.
    pub code: String,
    pub message: String,
}

/// An image for `/v1/detect`: a file in multipart.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DetectForm {
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
}

/// An image for `/v1/detect`: base64 (or a `data:` URL) in JSON.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DetectJson {
    #[schema(format = Byte, min_length = 1)]
    pub image: String,
}

/// An image for `/v1/identify`: a file in multipart.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub struct ImageForm {
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
    /// Candidates per face (default 3).
    #[schema(minimum = 1, maximum = 100, nullable = false)]
    pub top_k: Option<u32>,
    #[serde(flatten)]
    pub decision: DecisionFields,
}

/// An image for `/v1/identify`: base64 (or a `data:` URL) in JSON.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub struct ImageJson {
    #[schema(format = Byte, min_length = 1)]
    pub image: String,
    /// Candidates per face (default 3).
    #[schema(minimum = 1, maximum = 100, nullable = false)]
    pub top_k: Option<u32>,
    #[serde(flatten)]
    pub decision: DecisionFields,
}

/// How verify and identify decide: at a calibrated false-accept rate, whether liveness is required, and
/// for which purpose.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub struct DecisionFields {
    /// Decide at the threshold calibrated for this false-accept rate (needs `visage calibrate`).
    #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0, nullable = false)]
    pub target_far: Option<f64>,
    /// Check passive liveness and report P(live) per face; a face that fails is not matched (verify:
    /// refused with 422 `spoof`).
    #[schema(nullable = false)]
    pub require_live: Option<bool>,
    /// The purpose this decision serves: identification then searches only the subjects holding an
    /// active consent for it. A key bound to purposes must name one of them (bound to one: the default).
    #[schema(min_length = 1, max_length = 200, nullable = false)]
    pub purpose: Option<String>,
}

/// Two images for `/v1/verify`, as files in multipart.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub struct VerifyForm {
    #[schema(value_type = String, format = Binary)]
    pub image1: Vec<u8>,
    #[schema(value_type = String, format = Binary)]
    pub image2: Vec<u8>,
    /// Refuse an image with more than one face (422 `several_faces`) instead of comparing the largest.
    #[schema(nullable = false)]
    pub require_single: Option<bool>,
    #[serde(flatten)]
    pub decision: DecisionFields,
}

/// Two images for `/v1/verify`, base64 in JSON.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub struct VerifyJson {
    #[schema(format = Byte, min_length = 1)]
    pub image1: String,
    #[schema(format = Byte, min_length = 1)]
    pub image2: String,
    /// Refuse an image with more than one face (422 `several_faces`) instead of comparing the largest.
    #[schema(nullable = false)]
    pub require_single: Option<bool>,
    #[serde(flatten)]
    pub decision: DecisionFields,
}

/// An enrolment: consent and one or more photos (one face each), as multipart.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub struct EnrollForm {
    /// One or more files, each holding exactly one face.
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1)]
    pub image: Vec<Vec<u8>>,
    #[serde(flatten)]
    pub consent: EnrollFields,
}

/// An enrolment with base64 images in JSON.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub struct EnrollJson {
    /// One base64 image, or a list of them.
    #[schema(value_type = Vec<String>, min_items = 1)]
    pub image: Vec<String>,
    #[serde(flatten)]
    pub consent: EnrollFields,
}

/// The subject and consent fields of an enrolment.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub struct EnrollFields {
    #[serde(flatten)]
    pub consent: ConsentFields,
    /// Display name.
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// `true` to enrol although the face matches another subject (audited).
    #[schema(nullable = false)]
    pub allow_duplicate: Option<bool>,
}

/// A consent: what for, the proof, the legal basis and the end.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub struct ConsentFields {
    /// What the biometric data may be used for.
    #[schema(min_length = 1)]
    pub purpose: String,
    /// Where the proof of consent is kept.
    #[schema(min_length = 1)]
    pub evidence: String,
    /// Default `consent`.
    #[schema(nullable = false)]
    pub legal_basis: Option<String>,
    /// When the consent ends (YYYY-MM-DD or RFC 3339).
    #[schema(nullable = false)]
    pub expires: Option<String>,
}

/// Which consent to revoke (all when `purpose` is absent).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RevokeRequest {
    #[schema(nullable = false)]
    pub purpose: Option<String>,
}

/// Adds what every operation shares: the bearer-key scheme, and the standard error responses.
pub struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, api: &mut OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vsg_<id>_<secret>")
                    .description(Some("A key from `visage keys create --scopes ...`; each route names its scope."))
                    .build(),
            ),
        );
        let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build()
                .into()
        };
        for (path, item) in api.paths.paths.iter_mut() {
            let runs_models =
                ["/v1/detect", "/v1/verify", "/v1/identify", "/v1/subjects/{id}/enroll"].contains(&path.as_str());
            for op in [&mut item.get, &mut item.post, &mut item.delete].into_iter().flatten() {
                if op.security.as_ref().is_none_or(|s| s.is_empty()) {
                    continue; // public
                }
                let responses = &mut op.responses.responses;
                responses.entry("401".into()).or_insert_with(|| error("No key, or an unknown or revoked one"));
                responses.entry("403".into()).or_insert_with(|| error("The key lacks the route's scope"));
                responses
                    .entry("429".into())
                    .or_insert_with(|| error("Rate limit of the key exceeded (see Retry-After)"));
                responses.entry("408".into()).or_insert_with(|| error("The request took longer than the timeout"));
                if runs_models {
                    responses
                        .entry("503".into())
                        .or_insert_with(|| error("Every inference slot is busy (see Retry-After)"));
                }
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    responses
                        .entry("400".into())
                        .or_insert_with(|| error("A malformed parameter (subject id, date, number)"));
                }
                if op.request_body.is_some() {
                    responses.entry("400".into()).or_insert_with(|| error("Malformed body or missing field"));
                    responses.entry("413".into()).or_insert_with(|| error("Body larger than the limit"));
                    responses
                        .entry("415".into())
                        .or_insert_with(|| error("Neither multipart/form-data nor application/json"));
                }
            }
        }
    }
}
