//! Limits that keep the service up under load and abuse.

use crate::ApiError;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The service's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (uploads included).
    pub max_body_bytes: usize,
    /// Requests per minute allowed per API key (bursts up to a quarter of it).
    pub requests_per_minute: u32,
    /// Requests running models at once; more are answered 503 with Retry-After.
    pub max_concurrent_inference: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            requests_per_minute: 600,
            max_concurrent_inference: 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A token bucket per API key.
pub(crate) struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        let per_minute = per_minute.max(1) as f64;
        RateLimiter {
            per_second: per_minute / 60.0,
            burst: (per_minute / 4.0).max(5.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket, or says when to retry.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u64;
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests for key {key}; retry in {wait} s"),
        );
        e.retry_after = Some(wait);
        Err(e)
    }
}
