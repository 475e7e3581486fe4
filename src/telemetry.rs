//! What operations watch: the Prometheus metrics served at `GET /metrics`.
//!
//! Counters and histograms are kept by this process as things happen (deliveries sent or
//! given up and how long the provider took, webhook events and refusals, planner runs); the
//! gauges of the queue, of stuck claims, of alerts and the tallies of campaign runs are read
//! from the database at each scrape, so every daemon on one database reports the same — and
//! the runs of `surveyd campaign run`, a process that exits before any scrape, are counted
//! too. Every series has a `# HELP` line; `surveyd_build_info` names the version. Names and
//! labels are listed in the README ("Monitoring").

use crate::store::{QueueDepth, Store, StoreError};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// A delivery's end (or a retry, a deferral, a hand-back): `channel`, `provider`, `outcome`.
pub const DELIVERIES: &str = "surveyd_deliveries_total";
/// How long a provider took to accept (or refuse) one message, the wait for the rate limit
/// left out: `channel`, `provider`.
pub const SEND_SECONDS: &str = "surveyd_send_duration_seconds";
/// Verified webhook events: `provider`, `outcome` (what interpreting it did, `duplicate`
/// for a provider's repeat, `failed` when it could not be interpreted).
pub const WEBHOOK_EVENTS: &str = "surveyd_webhook_events_total";
/// Webhook changes acknowledged without being stored: `provider`, `reason` (`other_field`:
/// a subscription surveyd does not act on; `other_number`: a business number not its own).
pub const WEBHOOK_SKIPPED: &str = "surveyd_webhook_skipped_total";
/// Parked statuses (those that came before their send was recorded) interpreted again:
/// `provider`, `outcome` (`status`, `status_failed`, … or `status_unknown` when no send
/// came to carry their message id).
pub const WEBHOOK_PARKED: &str = "surveyd_webhook_parked_total";
/// Webhook calls refused for a missing or wrong signature: `provider`, `reason`.
pub const SIGNATURE_FAILURES: &str = "surveyd_webhook_signature_failures_total";
/// Requests refused by the per-address rate limit: `route` (`survey`, `webhook`, …).
pub const RATE_LIMITED: &str = "surveyd_rate_limited_total";
/// Connections closed as soon as accepted, `http.max_connections` being open already.
pub const CONNECTIONS_REFUSED: &str = "surveyd_http_connections_refused_total";
/// Campaign runs this daemon planned: `campaign`, `trigger`, `outcome` (`ok`, `error`).
pub const PLANNER_RUNS: &str = "surveyd_planner_runs_total";
/// Invitations the planner created: `campaign`.
pub const INVITATIONS_PLANNED: &str = "surveyd_invitations_planned_total";
/// Deliveries queued, due and on their way (from the database): `channel`, `state`.
pub const QUEUE_DELIVERIES: &str = "surveyd_queue_deliveries";
/// How late the longest-waiting due delivery is (from the database): `channel`.
pub const QUEUE_OLDEST_DUE: &str = "surveyd_queue_oldest_due_seconds";
/// How long the claim stuck longest in `sending` has been past its lease (from the
/// database): `channel`.
pub const QUEUE_OLDEST_SENDING: &str = "surveyd_queue_oldest_sending_seconds";
/// Detractor alerts by state (from the database): `state`.
pub const ALERTS: &str = "surveyd_alerts";
/// Every campaign run recorded, whoever started it (from the database): `campaign`,
/// `trigger`, `outcome` (`ok`, `error`, `running`).
pub const CAMPAIGN_RUNS: &str = "surveyd_campaign_runs_total";
/// When the latest recorded run started, Unix seconds (from the database): `campaign`,
/// `trigger`.
pub const CAMPAIGN_LAST_RUN: &str = "surveyd_campaign_last_run_timestamp_seconds";
/// Always 1: `version` names the running binary's.
pub const BUILD_INFO: &str = "surveyd_build_info";

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
        describe();
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// The `# HELP` text of every series.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        DELIVERIES,
        "Deliveries handled by this daemon, by outcome: sent, retried, deferred (send window, \
         daily cap, open breaker), released (handed back unsent), failed, expired, cancelled."
    );
    describe_histogram!(
        SEND_SECONDS,
        "Seconds a provider took to accept or refuse one message (rate-limit wait excluded)."
    );
    describe_counter!(
        WEBHOOK_EVENTS,
        "Verified webhook events stored, by what interpreting them did."
    );
    describe_counter!(
        WEBHOOK_SKIPPED,
        "Webhook changes acknowledged and not stored: another field, or another number."
    );
    describe_counter!(
        WEBHOOK_PARKED,
        "Statuses parked until their send was recorded, by what interpreting them again did."
    );
    describe_counter!(
        SIGNATURE_FAILURES,
        "Webhook calls refused for a missing or invalid signature."
    );
    describe_counter!(
        RATE_LIMITED,
        "Requests refused by the per-address rate limit."
    );
    describe_counter!(
        CONNECTIONS_REFUSED,
        "HTTP connections closed as soon as accepted: http.max_connections were open."
    );
    describe_counter!(
        PLANNER_RUNS,
        "Campaign runs this daemon planned (scheduled ticks and API calls), by outcome."
    );
    describe_counter!(
        INVITATIONS_PLANNED,
        "Invitations created by the runs this daemon planned."
    );
    describe_gauge!(
        QUEUE_DELIVERIES,
        "Deliveries queued, due now, and sending (claimed), from the database."
    );
    describe_gauge!(
        QUEUE_OLDEST_DUE,
        "Seconds the longest-waiting due delivery is late, from the database."
    );
    describe_gauge!(
        QUEUE_OLDEST_SENDING,
        "Seconds the longest-stuck claim has been in sending past its lease (0: none), \
         from the database."
    );
    describe_gauge!(ALERTS, "Detractor alerts by state, from the database.");
    describe_counter!(
        CAMPAIGN_RUNS,
        "Campaign runs recorded in the database by any process (schedule, cli, api), by \
         outcome; the same on every daemon."
    );
    describe_gauge!(
        CAMPAIGN_LAST_RUN,
        "Unix time the latest recorded run of the campaign by the trigger started."
    );
    describe_gauge!(BUILD_INFO, "The running surveyd's version (always 1).");
}

/// Seconds from `since` to `now`, none when `since` is later.
fn seconds_since(now: DateTime<Utc>, since: DateTime<Utc>) -> f64 {
    (now - since).num_milliseconds().max(0) as f64 / 1000.0
}

/// The exposition text: the process's counters and histograms, with the gauges and run
/// tallies read from `store` at `now`; each of `channels` has its queue's gauges, zero when
/// it is empty.
pub async fn render(
    store: &Store,
    now: DateTime<Utc>,
    channels: impl IntoIterator<Item = &str>,
) -> Result<String, StoreError> {
    let handle = recorder();
    let mut queues = store.queue_depth(now).await?;
    // A channel whose queue emptied reads zero rather than its last value.
    for channel in channels {
        if !queues.iter().any(|q| q.channel == channel) {
            queues.push(QueueDepth::empty(channel));
        }
    }
    let stuck = store.stuck_deliveries(now).await?;
    for queue in queues {
        let channel = queue.channel;
        for (state, count) in [
            ("queued", queue.queued),
            ("due", queue.due),
            ("sending", queue.sending),
        ] {
            metrics::gauge!(QUEUE_DELIVERIES, "channel" => channel.clone(), "state" => state)
                .set(count as f64);
        }
        let late = queue
            .oldest_queued_due_at
            .map_or(0.0, |due| seconds_since(now, due));
        metrics::gauge!(QUEUE_OLDEST_DUE, "channel" => channel.clone()).set(late);
        let stuck_for = stuck
            .iter()
            .find(|s| s.channel == channel)
            .map_or(0.0, |s| seconds_since(now, s.oldest_lease_until));
        metrics::gauge!(QUEUE_OLDEST_SENDING, "channel" => channel).set(stuck_for);
    }
    let alerts = store.alert_counts().await?;
    for state in crate::store::ALERT_STATES {
        let count = alerts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(ALERTS, "state" => state).set(count as f64);
    }
    let mut latest: Vec<(String, String, DateTime<Utc>)> = Vec::new();
    for tally in store.run_tallies().await? {
        metrics::counter!(
            CAMPAIGN_RUNS,
            "campaign" => tally.campaign.clone(),
            "trigger" => tally.trigger.clone(),
            "outcome" => tally.outcome,
        )
        .absolute(tally.runs as u64);
        match latest
            .iter_mut()
            .find(|(c, t, _)| *c == tally.campaign && *t == tally.trigger)
        {
            Some((_, _, at)) => *at = (*at).max(tally.latest_started_at),
            None => latest.push((tally.campaign, tally.trigger, tally.latest_started_at)),
        }
    }
    for (campaign, trigger, at) in latest {
        metrics::gauge!(CAMPAIGN_LAST_RUN, "campaign" => campaign, "trigger" => trigger)
            .set(at.timestamp_micros() as f64 / 1e6);
    }
    handle.run_upkeep();
    Ok(handle.render())
}
