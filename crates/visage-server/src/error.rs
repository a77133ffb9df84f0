//! One error shape for every failure: `{"error": {"code": "...", "message": "..."}}` with a stable code.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use visage::store::StoreError;
use visage::VisageError;

/// An API error: status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = crate::openapi::ErrorBody {
            error: crate::openapi::ErrorDetail { code: self.code.to_string(), message: self.message },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

impl From<VisageError> for ApiError {
    fn from(e: VisageError) -> ApiError {
        let message = e.to_string();
        let (status, code) = match &e {
            VisageError::Image { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_image"),
            VisageError::NoFace { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "no_face"),
            VisageError::SeveralFaces { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "several_faces"),
            VisageError::PoorQuality { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "poor_quality"),
            VisageError::Spoof { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "spoof"),
            VisageError::Duplicate { .. } => (StatusCode::CONFLICT, "duplicate_subject"),
            VisageError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            VisageError::NoCalibration => (StatusCode::BAD_REQUEST, "no_calibration"),
            VisageError::Calibration(_) => (StatusCode::BAD_REQUEST, "unsupported_target_far"),
            VisageError::Store(s) => return ApiError::from(StoreErrorRef(s, message)),
            _ => {
                tracing::error!("internal error: {message}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        ApiError::new(status, code, message)
    }
}

struct StoreErrorRef<'a>(&'a StoreError, String);

impl From<StoreErrorRef<'_>> for ApiError {
    fn from(StoreErrorRef(e, message): StoreErrorRef<'_>) -> ApiError {
        let (status, code) = match e {
            StoreError::InvalidSubjectId(_) => (StatusCode::BAD_REQUEST, "invalid_subject_id"),
            StoreError::UnknownSubject(_) => (StatusCode::NOT_FOUND, "unknown_subject"),
            StoreError::NoConsent(..) => (StatusCode::NOT_FOUND, "no_consent"),
            StoreError::InvalidDate(_) | StoreError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            _ => {
                tracing::error!("store error: {message}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        ApiError::from(StoreErrorRef(&e, message))
    }
}
