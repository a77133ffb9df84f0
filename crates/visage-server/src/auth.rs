//! API keys: `Authorization: Bearer vsg_...`, 401 without a valid key, 403 without the route's scope.

use crate::{ApiError, AppState};
use axum::http::{header, HeaderMap, StatusCode};
use visage::store::ApiKey;

/// The audit actor for a key.
pub fn actor(key: &ApiKey) -> String {
    format!("key:{}", key.id)
}

/// Checks the key, its scope and its rate limit.
pub fn authorize(state: &AppState, headers: &HeaderMap, scope: &str) -> Result<ApiKey, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        unauthorized("an API key is required: Authorization: Bearer <key> (create one with `visage keys create`)")
    })?;
    let text = value.to_str().map_err(|_| unauthorized("the Authorization header is not text"))?;
    let token = text.strip_prefix("Bearer ").ok_or_else(|| unauthorized("use Authorization: Bearer <key>"))?;
    let key = state
        .system
        .store()
        .authenticate(token.trim())?
        .ok_or_else(|| unauthorized("the API key is unknown or revoked"))?;
    if !key.has_scope(scope) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("this key lacks the '{scope}' scope")));
    }
    state.rate.check(&key.id)?;
    Ok(key)
}
