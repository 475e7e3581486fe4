//! What operations watch: the Prometheus metrics served at `GET /metrics`.
//!
//! Counters and histograms are kept by this process as things happen (deliveries sent or
//! given up and how long a send took, webhook events and refusals, planner runs); the gauges
//! of the queue and of alerts are read from the database at each scrape, so every daemon on
//! one database reports the same queue. Names and labels are listed in the README
//! ("Monitoring").

use crate::store::{QueueDepth, Store, StoreError};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// A delivery's end (or a retry, or a hand-back): `channel`, `provider`, `outcome`.
pub const DELIVERIES: &str = "surveyd_deliveries_total";
/// How long a provider took to accept (or refuse) one message: `channel`, `provider`.
pub const SEND_SECONDS: &str = "surveyd_send_duration_seconds";
/// Verified webhook events: `provider`, `outcome` (what interpreting it did, `duplicate`
/// for a provider's repeat, `failed` when it could not be interpreted).
pub const WEBHOOK_EVENTS: &str = "surveyd_webhook_events_total";
/// Webhook calls refused for a missing or wrong signature: `provider`, `reason`.
pub const SIGNATURE_FAILURES: &str = "surveyd_webhook_signature_failures_total";
/// Requests refused by the per-address rate limit: `route` (`survey`, `webhook`, …).
pub const RATE_LIMITED: &str = "surveyd_rate_limited_total";
/// Campaign runs planned: `campaign`, `trigger`, `outcome` (`ok`, `error`).
pub const PLANNER_RUNS: &str = "surveyd_planner_runs_total";
/// Invitations the planner created: `campaign`.
pub const INVITATIONS_PLANNED: &str = "surveyd_invitations_planned_total";

/// Send latency buckets, in seconds: a local relay answers in milliseconds, a gateway across
/// the internet in a second or more, a hang runs to the provider's timeout.
const SEND_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder, installed on first use; the `metrics` macros record into it.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(SEND_SECONDS.into()),
                &SEND_BUCKETS,
            )
            .expect("the send buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder already installed (an embedding program's) keeps recording; this
        // handle then renders only the gauges set here.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::debug!("a metrics recorder was installed already");
        }
        handle
    })
}

/// The exposition text: the process's counters and histograms, with the queue and alert
/// gauges read from `store` at `now`.
pub async fn render(store: &Store, now: DateTime<Utc>) -> Result<String, StoreError> {
    let handle = recorder();
    let mut queues = store.queue_depth(now).await?;
    // A channel whose queue emptied reads zero rather than its last value.
    for channel in crate::dispatch::channels() {
        if !queues.iter().any(|q| q.channel == channel) {
            queues.push(QueueDepth::empty(channel));
        }
    }
    for queue in queues {
        let channel = queue.channel;
        for (state, count) in [
            ("queued", queue.queued),
            ("due", queue.due),
            ("sending", queue.sending),
        ] {
            metrics::gauge!("surveyd_queue_deliveries", "channel" => channel.clone(), "state" => state)
                .set(count as f64);
        }
        let late = queue.oldest_queued_due_at.map_or(0.0, |due| {
            (now - due).num_milliseconds().max(0) as f64 / 1000.0
        });
        metrics::gauge!("surveyd_queue_oldest_due_seconds", "channel" => channel).set(late);
    }
    let alerts = store.alert_counts().await?;
    for state in crate::store::ALERT_STATES {
        let count = alerts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("surveyd_alerts", "state" => state).set(count as f64);
    }
    handle.run_upkeep();
    Ok(handle.render())
}

/// `GET /metrics` (a bearer token of `[api]`, as for the API): the exposition text.
pub async fn get_metrics(
    _client: crate::api::ApiClient,
    axum::extract::State(state): axum::extract::State<crate::server::AppState>,
) -> Result<impl axum::response::IntoResponse, crate::api::ApiError> {
    let text = render(&state.store, state.clock.now()).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
