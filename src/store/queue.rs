//! What the outbox holds, for operators and monitoring: the queue by channel
//! ([`Store::queue_depth`]), claims stuck past their lease ([`Store::stuck_deliveries`]), the
//! totals, the retries waiting and the latest error of each channel ([`Store::outbox_status`]),
//! the deliveries given up and putting them back in the queue ([`Store::retry_deliveries`]).

use super::{Store, StoreError, with_pool, with_tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Deliveries by status, how late the oldest due one is, the retries waiting, and the
/// latest error of each channel.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct OutboxStatus {
    pub queued: u64,
    /// Of the queued ones, those due now.
    pub due: u64,
    /// Of the queued ones, those tried before (waiting to retry after a transient failure).
    pub retrying: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
    pub expired: u64,
    pub cancelled: u64,
    pub oldest_due_at: Option<DateTime<Utc>>,
    /// Per channel, the error of the delivery that failed (or will be retried) most recently.
    pub latest_errors: Vec<LatestError>,
}

/// A channel's most recent error, as its delivery holds it (a delivery sent since has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LatestError {
    pub channel: String,
    pub delivery_id: i64,
    /// `queued` (to be retried), `failed`, `expired` or `cancelled`.
    pub status: String,
    pub at: DateTime<Utc>,
    pub error: String,
}

/// A channel's claims still `sending` after their lease ran out: no worker recorded what
/// became of them in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StuckDeliveries {
    pub channel: String,
    pub deliveries: i64,
    /// When the lease of the longest-stuck one ran out.
    pub oldest_lease_until: DateTime<Utc>,
}

/// One channel's queue: what waits, what is due, what is on its way.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct QueueDepth {
    pub channel: String,
    pub queued: i64,
    /// Of the queued ones, those due now.
    pub due: i64,
    /// Claimed by a worker, on their way.
    pub sending: i64,
    /// When the longest-waiting queued delivery fell due (late when in the past).
    pub oldest_queued_due_at: Option<DateTime<Utc>>,
}

impl QueueDepth {
    /// A channel with nothing queued or on its way.
    pub fn empty(channel: &str) -> Self {
        QueueDepth {
            channel: channel.into(),
            queued: 0,
            due: 0,
            sending: 0,
            oldest_queued_due_at: None,
        }
    }
}

/// A delivery that was given up, with the reason.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FailedDelivery {
    pub delivery_id: i64,
    pub status: String,
    pub campaign: String,
    pub customer: String,
    pub channel: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Messages sent on `channel` since `since` (any kind), and those being sent now.
    pub async fn sent_since(&self, channel: &str, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM deliveries WHERE channel = $1 AND sent_at >= $2) + \
                 (SELECT COUNT(*) FROM deliveries WHERE status = 'sending' AND channel = $1)",
            )
            .bind(channel)
            .bind(since)
            .fetch_one(pool)
            .await?
        });
        Ok(count as u64)
    }

    /// Each channel's queue at `now` (channels with nothing queued or sending left out). Reads
    /// only queued and sending deliveries, through their partial indexes.
    pub async fn queue_depth(&self, now: DateTime<Utc>) -> Result<Vec<QueueDepth>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT channel, CAST(SUM(queued) AS BIGINT) AS queued, CAST(SUM(due) AS BIGINT) AS due, \
                 CAST(SUM(sending) AS BIGINT) AS sending, \
                 MIN(oldest) AS oldest_queued_due_at FROM ( \
                   SELECT channel, COUNT(*) AS queued, \
                   SUM(CASE WHEN due_at <= $1 THEN 1 ELSE 0 END) AS due, 0 AS sending, \
                   MIN(due_at) AS oldest FROM deliveries WHERE status = 'queued' GROUP BY channel \
                   UNION ALL \
                   SELECT channel, 0, 0, COUNT(*), NULL FROM deliveries WHERE status = 'sending' \
                   GROUP BY channel \
                 ) AS queues GROUP BY channel ORDER BY channel",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Per channel, the claims still `sending` at `now` after their lease ran out (channels
    /// with none left out). Reads only lapsed claims, through the index of sending ones.
    pub async fn stuck_deliveries(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<StuckDeliveries>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT channel, COUNT(*) AS deliveries, MIN(lease_until) AS oldest_lease_until \
                 FROM deliveries WHERE status = 'sending' AND lease_until <= $1 \
                 GROUP BY channel ORDER BY channel",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Deliveries by status at `now`, the retries waiting, and each channel's latest error.
    /// Reads the whole table (a command's question, not a scrape's).
    pub async fn outbox_status(&self, now: DateTime<Utc>) -> Result<OutboxStatus, StoreError> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
                .fetch_all(pool)
                .await?
        });
        let (due, retrying, oldest_due_at): (i64, i64, Option<DateTime<Utc>>) = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(CASE WHEN due_at <= $1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 MIN(CASE WHEN due_at <= $1 THEN due_at END) \
                 FROM deliveries WHERE status = 'queued'",
            )
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        // Errors are cleared when a delivery is sent: what is left is still a problem.
        let latest_errors: Vec<LatestError> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT channel, delivery_id, status, at, error FROM ( \
                   SELECT channel, id AS delivery_id, status, updated_at AS at, last_error AS error, \
                   ROW_NUMBER() OVER (PARTITION BY channel ORDER BY updated_at DESC, id DESC) AS n \
                   FROM deliveries WHERE last_error IS NOT NULL \
                 ) AS latest WHERE n = 1 ORDER BY channel",
            )
            .fetch_all(pool)
            .await?
        });
        let mut status = OutboxStatus {
            due: due as u64,
            retrying: retrying as u64,
            oldest_due_at,
            latest_errors,
            ..OutboxStatus::default()
        };
        for (name, count) in rows {
            let count = count as u64;
            match name.as_str() {
                "queued" => status.queued = count,
                "sending" => status.sending = count,
                "sent" => status.sent = count,
                "failed" => status.failed = count,
                "expired" => status.expired = count,
                "cancelled" => status.cancelled = count,
                other => {
                    return Err(StoreError::Corrupt {
                        what: "delivery status",
                        reason: format!("unknown status `{other}`"),
                    });
                }
            }
        }
        Ok(status)
    }

    /// Deliveries that were given up (failed, expired, cancelled), newest first.
    pub async fn failed_deliveries(&self, limit: i64) -> Result<Vec<FailedDelivery>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT d.id AS delivery_id, d.status, i.campaign, cu.external_id AS customer, \
                 d.channel, d.attempts, d.last_error, d.updated_at \
                 FROM deliveries d JOIN invitations i ON i.id = d.invitation_id \
                 JOIN customers cu ON cu.id = i.customer_id \
                 WHERE d.status IN ('failed', 'expired', 'cancelled') \
                 ORDER BY d.updated_at DESC, d.id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Queues given-up deliveries again, due at `now` with a fresh count of attempts: one
    /// (`Some(id)`) or all failed ones. Returns how many were requeued.
    pub async fn retry_deliveries(
        &self,
        id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // One given-up delivery by id, or (no id) every failed one.
        const CHOSEN: &str = "status IN ('failed', 'expired', 'cancelled') \
             AND (id = $1 OR ($1 IS NULL AND status = 'failed'))";
        let mut tx = self.begin().await?;
        let count = with_tx!(&mut tx, conn => {
            let invitations = format!(
                "UPDATE invitations SET state = 'planned' WHERE state <> 'sent' AND id IN \
                 (SELECT invitation_id FROM deliveries WHERE {CHOSEN})"
            );
            sqlx::query(&invitations).bind(id).execute(&mut *conn).await?;
            let deliveries = format!(
                "UPDATE deliveries SET status = 'queued', due_at = $2, attempts = 0, \
                 lease_owner = NULL, lease_until = NULL, updated_at = $2 WHERE {CHOSEN}"
            );
            sqlx::query(&deliveries)
                .bind(id)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        tx.commit().await?;
        if let (Some(id), 0) = (id, count) {
            return Err(StoreError::NotFound(format!(
                "no failed, expired or cancelled delivery {id}"
            )));
        }
        Ok(count)
    }
}
