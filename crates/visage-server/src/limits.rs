//! Limits that keep the service up under load and abuse.

use crate::ApiError;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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
    /// Longest a client may take to send a request's headers; the connection is closed after it.
    pub header_read_timeout: Duration,
    /// Connections open at once; a further one is closed as soon as it is accepted.
    pub max_connections: usize,
    /// The highest `target_far` a request may ask for (the operator's policy); beyond it, 400.
    pub max_target_far: f64,
    /// Failed authentications per client address and minute; beyond them, 429 before any key is checked.
    pub failed_auth_per_minute: u32,
    /// Largest image a request may send, in pixels (checked from its header, before decoding).
    pub max_image_pixels: u64,
    /// Memory all requests together may spend decoding images at once, in bytes (an estimate of
    /// [`DECODE_BYTES_PER_PIXEL`] per pixel); a request that does not fit now gets 503 with Retry-After.
    pub decode_budget_bytes: u64,
}

/// The memory an image costs while it is decoded and analysed, per pixel: the decoded RGB image, the
/// decoder's buffer and the detector's resized copies (a 64-megapixel PNG measured +436 MB).
pub const DECODE_BYTES_PER_PIXEL: u64 = 8;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            requests_per_minute: 600,
            max_concurrent_inference: 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
            max_target_far: 1e-2,
            failed_auth_per_minute: 20,
            max_image_pixels: 40_000_000,
            decode_budget_bytes: 1 << 30,
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

    /// Gives back the request taken from `key`'s bucket, for a request that was refused unserved.
    pub fn refund(&self, key: &str) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((tokens, _)) = buckets.get_mut(key) {
            *tokens = (*tokens + 1.0).min(self.burst);
        }
    }
}

/// Failed authentications per client address, in one-minute windows.
pub(crate) struct FailedAuth {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl FailedAuth {
    pub fn new(per_minute: u32) -> FailedAuth {
        FailedAuth { per_minute: per_minute.max(1), windows: Mutex::new(HashMap::new()) }
    }

    /// Refuses a client that failed too often in its current window.
    pub fn check(&self, client: IpAddr) -> Result<(), ApiError> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(&client) {
            Some(&(failures, start)) if failures >= self.per_minute && start.elapsed() < WINDOW => {
                let wait = (WINDOW - start.elapsed()).as_secs().max(1);
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_failed_authentications",
                    format!("too many failed authentications from {client}; retry in {wait} s"),
                );
                e.retry_after = Some(wait);
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// Counts one failed authentication of `client`.
    pub fn record(&self, client: IpAddr) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (_, start)| start.elapsed() < WINDOW);
        }
        let entry = windows.entry(client).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

/// The memory budget for decoding images, shared by all requests.
pub(crate) struct DecodeBudget {
    kib: Arc<tokio::sync::Semaphore>,
    total_kib: u64,
}

/// Memory reserved for a request's images, given back when dropped.
pub(crate) type DecodeReservation = tokio::sync::OwnedSemaphorePermit;

impl DecodeBudget {
    pub fn new(bytes: u64) -> DecodeBudget {
        let total_kib = (bytes / 1024).min(tokio::sync::Semaphore::MAX_PERMITS as u64).min(u32::MAX as u64);
        DecodeBudget { kib: Arc::new(tokio::sync::Semaphore::new(total_kib as usize)), total_kib }
    }

    /// Reserves `bytes` of decoding memory: 413 if the budget could never hold them, 503 with
    /// Retry-After if other requests hold too much of it now.
    pub fn reserve(&self, bytes: u64) -> Result<DecodeReservation, ApiError> {
        let kib = bytes.div_ceil(1024).max(1);
        if kib > self.total_kib {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "image_too_large",
                format!(
                    "decoding these images needs about {} MB, above the service's budget of {} MB",
                    bytes >> 20,
                    self.total_kib >> 10
                ),
            ));
        }
        self.kib.clone().try_acquire_many_owned(kib as u32).map_err(|_| {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the service is decoding too many images; retry shortly",
            );
            e.retry_after = Some(1);
            e
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunded_requests_do_not_count() {
        let rate = RateLimiter::new(20); // burst 5
        for _ in 0..20 {
            rate.check("k").unwrap();
            rate.refund("k");
        }
        assert!(rate.check("k").is_ok());
    }

    #[test]
    fn failed_authentications_are_limited_per_address() {
        let failed = FailedAuth::new(3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            failed.check(a).unwrap();
            failed.record(a);
        }
        let e = failed.check(a).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::TOO_MANY_REQUESTS, "too_many_failed_authentications"));
        assert!(e.retry_after.is_some_and(|s| (1..=60).contains(&s)));
        assert!(failed.check(b).is_ok(), "another address is not affected");
    }

    #[test]
    fn the_decode_budget_is_shared_and_given_back() {
        let budget = DecodeBudget::new(10 << 20);
        let first = budget.reserve(6 << 20).unwrap();
        let e = budget.reserve(6 << 20).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::SERVICE_UNAVAILABLE, "overloaded"));
        drop(first);
        assert!(budget.reserve(6 << 20).is_ok());
        let e = budget.reserve(11 << 20).unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::PAYLOAD_TOO_LARGE, "image_too_large"));
    }
}
