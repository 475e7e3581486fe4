//! Request limits: per client address on the public routes (survey pages, the one-click
//! unsubscribe, webhooks, the dashboard's sign-in), and per bearer token on the API. Each
//! client has a bucket of `burst` requests refilled at `per_second`; past it the request gets
//! `429 Too Many Requests` with `Retry-After`, and is counted in
//! [`crate::telemetry::RATE_LIMITED`].
//!
//! The address is the connection's peer, or, with `http.rate_limit.forwarded_for` (behind a
//! reverse proxy), the last address of `X-Forwarded-For` — the one the proxy wrote. IPv6
//! clients are counted by their /64, which one subscriber usually holds whole. An API client
//! is counted by its token's name, wherever it calls from.

use super::settings::{RateLimitSettings, RequestRate};
use crate::domain::Problem;
use crate::telemetry;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Requests between two sweeps of clients whose buckets are full again (so idle clients do
/// not pile up in memory).
const SWEEP_EVERY: u64 = 4096;

/// The limits of each group of routes (`None`: no limit).
#[derive(Clone)]
pub struct Limits {
    pub pages: Option<Arc<AddressLimit>>,
    pub unsubscribe: Option<Arc<AddressLimit>>,
    pub webhooks: Option<Arc<AddressLimit>>,
    pub sign_in: Option<Arc<AddressLimit>>,
    /// Per API token, by its name.
    pub api: Option<Arc<Buckets<String>>>,
}

impl Limits {
    pub fn new(settings: &RateLimitSettings) -> Result<Self, Problem> {
        let forwarded_for = settings.forwarded_for;
        let by_address = |routes, rate| AddressLimit::new(routes, rate, forwarded_for);
        Ok(Limits {
            pages: by_address("pages", &settings.pages)?,
            unsubscribe: by_address("unsubscribe", &settings.unsubscribe)?,
            webhooks: by_address("webhooks", &settings.webhooks)?,
            sign_in: by_address("sign_in", &settings.sign_in)?,
            api: Buckets::new("api", &settings.api)?.map(Arc::new),
        })
    }
}

/// `router` with `limit` on each of its routes (as they are now).
pub fn apply<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    limit: &Option<Arc<AddressLimit>>,
) -> axum::Router<S> {
    match limit {
        Some(limit) => router.layer(axum::middleware::from_fn_with_state(
            Arc::clone(limit),
            self::limit,
        )),
        None => router,
    }
}

/// One bucket per client `K` of a group of routes.
pub struct Buckets<K: Hash + Eq + Clone> {
    /// What the routes are, in logs and metrics: `pages`, `webhooks`, `api`…
    routes: &'static str,
    limiter: DefaultKeyedRateLimiter<K>,
    requests: AtomicU64,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// The limit `rate` on `routes` (`http.rate_limit.{routes}`); `None` when the rate is 0
    /// (no limit).
    pub fn new(routes: &'static str, rate: &RequestRate) -> Result<Option<Self>, Problem> {
        let Some((period, burst)) = rate.refill(routes)? else {
            return Ok(None);
        };
        let quota = Quota::with_period(period)
            .expect("RequestRate::refill gives a period longer than 0")
            .allow_burst(burst);
        Ok(Some(Buckets {
            routes,
            limiter: RateLimiter::keyed(quota),
            requests: AtomicU64::new(0),
        }))
    }

    /// Takes one request from `client`'s bucket; when it is empty, the whole seconds until
    /// one is let through again (the request is counted as refused).
    pub fn check(&self, client: &K) -> Result<(), u64> {
        if self.requests.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            metrics::counter!(telemetry::RATE_LIMITED, "routes" => self.routes).increment(1);
            tracing::debug!(routes = self.routes, "rate limited");
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

/// The answer to a refused request: 429 with `Retry-After` in seconds.
pub fn too_many_requests(retry_after: u64, message: impl IntoResponse) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, HeaderValue::from(retry_after))],
        message,
    )
        .into_response()
}

/// One group of public routes' limit, per client address.
pub struct AddressLimit {
    buckets: Buckets<IpAddr>,
    forwarded_for: bool,
}

impl AddressLimit {
    /// The limit `rate` on `routes`; `None` when the rate is 0 (no limit).
    pub fn new(
        routes: &'static str,
        rate: &RequestRate,
        forwarded_for: bool,
    ) -> Result<Option<Arc<Self>>, Problem> {
        Ok(Buckets::new(routes, rate)?.map(|buckets| {
            Arc::new(AddressLimit {
                buckets,
                forwarded_for,
            })
        }))
    }

    /// The client's address as this limit counts it.
    fn client(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        let forwarded = || {
            let last = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()?;
            last.trim().parse().ok()
        };
        let address = match self.forwarded_for {
            true => forwarded().or(peer.map(|p| p.ip())),
            false => peer.map(|p| p.ip()),
        }?;
        Some(match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(Ipv6Addr::from(prefix))
                }
            },
            v4 => v4,
        })
    }
}

/// The middleware: lets the request through, or answers 429.
pub async fn limit(
    State(limit): State<Arc<AddressLimit>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let Some(client) = limit.client(request.headers(), peer) else {
        return next.run(request).await;
    };
    match limit.buckets.check(&client) {
        Ok(()) => next.run(request).await,
        Err(seconds) => too_many_requests(seconds, "too many requests; try again later"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(forwarded_for: bool) -> Arc<AddressLimit> {
        let rate = RequestRate {
            per_second: 1.0,
            burst: 2,
        };
        AddressLimit::new("pages", &rate, forwarded_for)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn the_address_is_the_peer_unless_a_proxy_is_trusted() {
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", "203.0.113.9, 10.0.0.1".parse().unwrap());
        headers.append("x-forwarded-for", "198.51.100.7".parse().unwrap());
        let peer: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        assert_eq!(
            limit(false).client(&headers, Some(peer)),
            Some("192.0.2.1".parse().unwrap())
        );
        // The proxy's own entry (the last) is the one that cannot be forged.
        assert_eq!(
            limit(true).client(&headers, Some(peer)),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(
            limit(true).client(&HeaderMap::new(), Some(peer)),
            Some("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let peer = |a: &str| Some(SocketAddr::new(a.parse().unwrap(), 1));
        let limit = limit(false);
        let headers = HeaderMap::new();
        assert_eq!(
            limit.client(&headers, peer("2001:db8:1:2:aaaa::1")),
            limit.client(&headers, peer("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            limit.client(&headers, peer("2001:db8:1:2::1")),
            limit.client(&headers, peer("2001:db8:1:3::1"))
        );
        assert_eq!(
            limit.client(&headers, peer("::ffff:192.0.2.1")),
            Some("192.0.2.1".parse().unwrap())
        );
    }

    #[test]
    fn zero_is_no_limit_and_a_zero_burst_is_refused() {
        let off = RequestRate {
            per_second: 0.0,
            burst: 0,
        };
        assert!(AddressLimit::new("pages", &off, false).unwrap().is_none());
        let bad = RequestRate {
            per_second: 1.0,
            burst: 0,
        };
        let error = AddressLimit::new("webhooks", &bad, false)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(error, "http.rate_limit.webhooks.burst: must be at least 1");
    }
}
