//! Per-key rate limits and request latency for the API.
//!
//! Each API key has two buckets (GCRA, from the `governor` crate): one for ingest
//! (`POST /v1/events`) and one for everything else, so a phone system posting a burst
//! never starves its own admins, and one key cannot use up the service for the others.
//! A request past its limit is answered `429 Too Many Requests` with `Retry-After` (whole
//! seconds, at least 1) and the API's error body. Requests without a key share one
//! anonymous bucket per class; health checks are never limited.
//!
//! `governor` is used directly rather than through `tower_governor` because the bucket's
//! key is the API key (hashed), not the peer address, and the refusal must carry the
//! API's JSON error body.
//!
//! The same middleware records each request's latency in the
//! `callsync_http_request_duration_seconds` histogram, by endpoint class and status class.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest as _, Sha256};

use crate::config::HttpConfig;

/// The two buckets of every key. `None` for a class means unlimited.
#[derive(Debug)]
pub struct RateLimits {
    ingest: Option<DefaultKeyedRateLimiter<String>>,
    api: Option<DefaultKeyedRateLimiter<String>>,
}

/// Which bucket and which latency series a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Ingest,
    Api,
    /// `/healthz`, `/readyz`: never limited, not measured.
    Health,
}

impl Class {
    fn of(method: &Method, path: &str) -> Class {
        match path {
            "/healthz" | "/readyz" => Class::Health,
            "/v1/events" if method == Method::POST => Class::Ingest,
            _ => Class::Api,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Class::Ingest => "ingest",
            Class::Api => "api",
            Class::Health => "health",
        }
    }
}

fn limiter(per_second: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

impl RateLimits {
    /// The limits `config` sets (a rate of 0 turns that class's limit off).
    pub fn new(config: &HttpConfig) -> RateLimits {
        RateLimits {
            ingest: limiter(config.ingest_per_second, config.burst),
            api: limiter(config.api_per_second, config.burst),
        }
    }

    /// No limits at all (tests and benchmarks that drive the API in-process).
    pub fn unlimited() -> RateLimits {
        RateLimits {
            ingest: None,
            api: None,
        }
    }

    /// `Ok`, or how long the caller must wait.
    fn check(&self, class: Class, key: &str) -> Result<(), Duration> {
        let limiter = match class {
            Class::Ingest => &self.ingest,
            Class::Api => &self.api,
            Class::Health => return Ok(()),
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets buckets that are full again, so keys seen once do not pile up in memory.
    pub fn forget_idle(&self) {
        for limiter in [&self.ingest, &self.api].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The bucket key of a request: a hash of its bearer key (never the key itself, which
/// would then sit in memory next to every other), or `anonymous`.
fn bucket_key(request: &Request) -> String {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|key| hex::encode(&Sha256::digest(key.trim().as_bytes())[..16]))
        .unwrap_or_else(|| "anonymous".to_owned())
}

/// The middleware: refuse past the limit, else run the request and record its latency.
pub(super) async fn limit_and_measure(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let class = Class::of(request.method(), request.uri().path());
    if let Err(wait) = limits.check(class, &bucket_key(&request)) {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        metrics::counter!(crate::metrics::HTTP_RATE_LIMITED, "endpoint" => class.label())
            .increment(1);
        let mut response = super::error::plain_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "too many {} requests with this API key; try again in {seconds} s",
                class.label()
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    let started = Instant::now();
    let response = next.run(request).await;
    if class != Class::Health {
        let status = match response.status().as_u16() {
            200..=399 => "ok",
            400..=499 => "client_error",
            _ => "server_error",
        };
        metrics::histogram!(
            crate::metrics::HTTP_REQUEST_SECONDS,
            "endpoint" => class.label(),
            "status" => status,
        )
        .record(started.elapsed().as_secs_f64());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_past_its_burst_must_wait_and_another_key_is_not_held_up() {
        let limits = RateLimits::new(&HttpConfig {
            ingest_per_second: 1,
            api_per_second: 1,
            burst: 2,
            ..HttpConfig::default()
        });
        assert!(limits.check(Class::Ingest, "a").is_ok());
        assert!(limits.check(Class::Ingest, "a").is_ok());
        let wait = limits.check(Class::Ingest, "a").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limits.check(Class::Ingest, "b").is_ok(), "another key");
        assert!(limits.check(Class::Api, "a").is_ok(), "the other class");
        assert!(limits.check(Class::Health, "a").is_ok());
        assert!(RateLimits::unlimited().check(Class::Ingest, "a").is_ok());
    }
}
