//! The dispatch settings: workers, leases, retries, send windows, daily caps and breakers.

use serde::{Deserialize, Serialize};

/// The workers that send queued deliveries.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchSettings {
    /// Deliveries claimed per database statement.
    pub batch_size: usize,
    /// How long a claim holds; a worker that dies leaves its deliveries to others after this.
    #[serde(with = "crate::domain::duration")]
    pub lease: std::time::Duration,
    /// Attempts before a delivery that keeps failing transiently is marked failed.
    pub max_attempts: u32,
    /// The wait before the first retry; doubled each attempt (with jitter) up to `backoff_max`.
    #[serde(with = "crate::domain::duration")]
    pub backoff: std::time::Duration,
    #[serde(with = "crate::domain::duration")]
    pub backoff_max: std::time::Duration,
    /// How often `serve` looks for due deliveries when the queue was empty.
    #[serde(with = "crate::domain::duration")]
    pub poll_interval: std::time::Duration,
    /// Transient failures in a row after which a channel's provider is left alone for
    /// `breaker_cool_down`, then probed with one message (0: never).
    pub breaker_failures: u32,
    #[serde(with = "crate::domain::duration")]
    pub breaker_cool_down: std::time::Duration,
    /// Messages a day at most per channel (`{ sms = 1000 }`), the day in
    /// `defaults.time_zone`: past it, invitations wait for the next day.
    #[serde(default)]
    pub daily_caps: std::collections::BTreeMap<crate::domain::SurveyChannel, u64>,
}
