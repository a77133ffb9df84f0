//! API keys: `Authorization: Bearer vsg_...`, 401 without a valid key, 403 without the route's scope
//! or (for a key bound to purposes) for a purpose it is not bound to.

use crate::{ApiError, AppState};
use axum::http::{header, HeaderMap, StatusCode};
use visage::store::{ApiKey, AuditEvent};

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

/// The purpose a request acts for: the one it names, which a key bound to purposes must hold (403
/// `purpose_not_allowed`, audited); when it names none, a key bound to one purpose acts for that one,
/// a key bound to several must choose (400 `purpose_required`), an unbound key acts for none.
pub fn purpose(state: &AppState, key: &ApiKey, asked: Option<&str>, action: &str) -> Result<Option<String>, ApiError> {
    if let Some(p) = asked {
        if p.trim().is_empty() || p.len() > 200 {
            return Err(ApiError::bad_request("invalid_request", "purpose must be a non-empty name"));
        }
    }
    match (asked, key.purposes.as_slice()) {
        (None, [only]) => Ok(Some(only.clone())),
        (None, []) => Ok(None),
        (None, several) => Err(ApiError::bad_request(
            "purpose_required",
            format!("this key is bound to several purposes: name one ({})", several.join(", ")),
        )),
        (Some(p), _) if key.allows_purpose(Some(p)) => Ok(Some(p.to_string())),
        (Some(p), bound) => {
            let detail = serde_json::json!({"purpose": p, "key_purposes": bound});
            state.system.store().audit(AuditEvent::new(&actor(key), action, "refused-purpose").detail(detail))?;
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "purpose_not_allowed",
                format!("this key is not bound to the purpose '{p}' (it may act for: {})", bound.join(", ")),
            ))
        }
    }
}
