//! Request bodies with images: multipart uploads, or JSON with base64 images.

use crate::ApiError;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, StatusCode};
use base64::Engine;
use std::collections::HashMap;
use visage::ImageSource;

/// Text fields and image fields of a request.
#[derive(Default)]
pub struct Upload {
    pub fields: HashMap<String, String>,
    pub images: Vec<(String, ImageSource)>,
}

impl Upload {
    /// The images uploaded under `name` (possibly several).
    pub fn images_named(&self, name: &str) -> Vec<ImageSource> {
        self.images.iter().filter(|(n, _)| n == name).map(|(_, i)| i.clone()).collect()
    }

    /// Exactly one image under `name`.
    pub fn image(&self, name: &str) -> Result<ImageSource, ApiError> {
        let mut found = self.images_named(name);
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => {
                Err(ApiError::bad_request("missing_image", format!("the request needs an image in the field '{name}'")))
            }
            n => Err(ApiError::bad_request("invalid_request", format!("{n} images in '{name}', expected one"))),
        }
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.field(name)
            .ok_or_else(|| ApiError::bad_request("missing_field", format!("the field '{name}' is required")))
    }
}

/// Reads a multipart or JSON body. `image_fields` are the names that carry images (base64 in JSON).
pub async fn read_upload(request: Request, image_fields: &[&str]) -> Result<Upload, ApiError> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut upload = Upload::default();
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| ApiError::bad_request("malformed_multipart", e.body_text()))?;
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(body_error(e.status(), e.body_text())),
            };
            let name = field.name().unwrap_or_default().to_string();
            if image_fields.contains(&name.as_str()) {
                let file = field.file_name().map(str::to_string).unwrap_or_else(|| format!("upload:{name}"));
                let bytes = field.bytes().await.map_err(|e| body_error(e.status(), e.body_text()))?;
                upload.images.push((name, ImageSource::Bytes { name: file, bytes: bytes.to_vec() }));
            } else {
                let text = field.text().await.map_err(|e| body_error(e.status(), e.body_text()))?;
                upload.fields.insert(name, text);
            }
        }
    } else if content_type.starts_with("application/json") {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(request, &())
            .await
            .map_err(|e| body_error(e.status(), e.body_text()))?;
        let object = value
            .as_object()
            .ok_or_else(|| ApiError::bad_request("malformed_json", "the body must be a JSON object"))?;
        for (name, v) in object {
            if image_fields.contains(&name.as_str()) {
                let list: Vec<&serde_json::Value> = match v {
                    serde_json::Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for item in list {
                    let text = item.as_str().ok_or_else(|| {
                        ApiError::bad_request("malformed_json", format!("'{name}' must be a base64 string"))
                    })?;
                    // Accept data URLs from browsers as well as plain base64.
                    let data = text.split_once(";base64,").map_or(text, |(_, d)| d);
                    let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|e| {
                        ApiError::bad_request("malformed_json", format!("'{name}' is not valid base64: {e}"))
                    })?;
                    upload.images.push((name.clone(), ImageSource::Bytes { name: format!("upload:{name}"), bytes }));
                }
            } else if !v.is_null() {
                // `null` is the same as leaving the field out.
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                upload.fields.insert(name.clone(), text);
            }
        }
    } else if image_fields.is_empty() {
        return Ok(upload);
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send multipart/form-data or application/json",
        ));
    }
    Ok(upload)
}

fn body_error(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "payload_too_large", text)
    } else {
        ApiError::new(status.max(StatusCode::BAD_REQUEST), "malformed_body", text)
    }
}
