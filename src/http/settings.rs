//! The HTTP server's settings (`[http]`): where it listens, its body, request, header and
//! connection limits, and the request rates of `[http.rate_limit]`.

use crate::domain::Problem;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// A request not answered within this (its body included) gets 408.
    #[serde(with = "crate::domain::duration")]
    pub request_timeout: std::time::Duration,
    /// A connection that has not sent a request's headers this long after it opened, or
    /// after the previous response (a keep-alive connection left idle), is closed.
    #[serde(with = "crate::domain::duration")]
    pub header_timeout: std::time::Duration,
    /// Connections open at once; one more is closed as soon as it is accepted, and counted in
    /// `surveyd_http_connections_refused_total`.
    pub max_connections: usize,
    pub rate_limit: RateLimitSettings,
}

impl HttpSettings {
    pub fn check(&self) -> Result<(), Problem> {
        if self.max_connections == 0 {
            return Err(Problem::at("http.max_connections", "must be at least 1"));
        }
        if self.header_timeout.is_zero() {
            return Err(Problem::at("http.header_timeout", "must be longer than 0s"));
        }
        Ok(())
    }
}

/// Requests allowed from one client address on the public routes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Survey and unsubscribe pages, and the dashboard's pages.
    pub pages: RequestRate,
    /// The unsubscribe POST (one-click, RFC 8058): mailbox providers send it for many
    /// recipients from a few addresses.
    pub unsubscribe: RequestRate,
    /// Provider callbacks under `/webhooks/`.
    pub webhooks: RequestRate,
    /// Sign-in attempts at the dashboard.
    pub sign_in: RequestRate,
    /// Requests per API token (`/v1/…`, `/metrics`), wherever they come from.
    pub api: RequestRate,
    /// Count the client by the last `X-Forwarded-For` address (behind a reverse proxy that
    /// writes it); otherwise by the connection's address.
    pub forwarded_for: bool,
}

/// A bucket of `burst` requests refilled at `per_second` (fractions allowed; 0: no limit).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRate {
    pub per_second: f64,
    pub burst: u32,
}

impl RateLimitSettings {
    pub fn check(&self) -> Result<(), Problem> {
        for (routes, rate) in [
            ("pages", &self.pages),
            ("unsubscribe", &self.unsubscribe),
            ("webhooks", &self.webhooks),
            ("sign_in", &self.sign_in),
            ("api", &self.api),
        ] {
            rate.refill(routes)?;
        }
        Ok(())
    }
}

impl RequestRate {
    /// How often one request is added back to a bucket of `routes`
    /// (`http.rate_limit.{routes}`), and the bucket's size; `None` when the rate is 0 (no
    /// limit).
    pub fn refill(
        &self,
        routes: &str,
    ) -> Result<Option<(std::time::Duration, std::num::NonZeroU32)>, Problem> {
        if self.per_second == 0.0 {
            return Ok(None);
        }
        let key = |field: &str| format!("http.rate_limit.{routes}.{field}");
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(Problem::at(
                key("per_second"),
                "must be 0 (no limit) or a positive number",
            ));
        }
        let burst = std::num::NonZeroU32::new(self.burst)
            .ok_or_else(|| Problem::at(key("burst"), "must be at least 1"))?;
        let period = std::time::Duration::from_secs_f64(1.0 / self.per_second);
        if period.is_zero() {
            return Err(Problem::at(key("per_second"), "is too high"));
        }
        Ok(Some((period, burst)))
    }
}
