//! The outbox: deliveries are claimed in batches under a lease, sent outside any transaction,
//! and their outcomes recorded in batches. A worker that dies leaves its claims to expire;
//! the next claim after `lease_until` takes them over. On PostgreSQL claims skip rows another
//! daemon has locked (`FOR UPDATE SKIP LOCKED`); on SQLite the single writer serialises them.
//! A live process takes back its own lapsed claims too, those it no longer has in hand
//! ([`Store::requeue_lost_claims`]).
//!
//! What operators read: the queue by channel ([`Store::queue_depth`]), claims stuck past
//! their lease ([`Store::stuck_deliveries`]), and the totals, the retries waiting and the
//! latest error of each channel ([`Store::outbox_status`]).

use super::Backend;
use super::{
    ROWS_PER_STATEMENT, Store, StoreError, StoreTx, cacheable, push_typed, with_pool, with_tx,
};
use crate::campaign::SurveyChannel;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

/// A claimed delivery with everything needed to write and address its message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub delivery_id: i64,
    pub invitation_id: i64,
    /// The invitation's contact: with the campaign, what its survey token is made from.
    pub contact_id: i64,
    pub customer_id: i64,
    /// Attempts so far, this one included.
    pub attempts: i32,
    pub kind: String,
    pub channel: String,
    /// The question a chat message asks (a next question or a re-ask).
    pub question: Option<String>,
    pub campaign: String,
    pub questionnaire: String,
    pub customer_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub whatsapp: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub agent_name: Option<String>,
    pub category: Option<String>,
    pub closed_at: DateTime<Utc>,
    /// The invitation's state (`planned`, `sent`, `answered`, `failed`…): a reminder goes
    /// only while it is `sent`.
    pub invitation_state: String,
    /// Opted out of the delivery's channel after the invitation was planned.
    pub opted_out: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// When the customer last wrote in this invitation's conversation (WhatsApp's window).
    pub last_inbound_at: Option<DateTime<Utc>>,
}

/// What became of one claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The provider accepted it; `follow_up` says what else that changes.
    Sent {
        delivery_id: i64,
        invitation_id: i64,
        message_id: String,
        follow_up: FollowUp,
    },
    /// A transient failure: try again at `due_at`.
    Retry {
        delivery_id: i64,
        due_at: DateTime<Utc>,
        error: String,
    },
    /// Claimed but not started: back to the queue as it was (the worker is stopping), or due
    /// `until` (the send window's next opening).
    Released {
        delivery_id: i64,
        until: Option<DateTime<Utc>>,
    },
    /// Given up: a permanent failure, too many attempts, expired, or opted out since planning.
    /// An invitation whose channel failed moves to the first of `fallback` (the campaign's
    /// channels after this one) that can reach the customer.
    Failed {
        delivery_id: i64,
        invitation_id: i64,
        status: FinalStatus,
        error: String,
        fallback: Vec<crate::campaign::SurveyChannel>,
    },
}

/// What a sent message changes beyond its own delivery.
#[derive(Debug, Clone, Default)]
pub enum FollowUp {
    /// Nothing (a question, the thanks, a confirmation, an email reminder).
    #[default]
    Nothing,
    /// The invitation went out: it can be answered until `expires_at`, and `reminders` are
    /// queued for the case that it is not.
    Invitation {
        expires_at: DateTime<Utc>,
        reminders: Vec<ReminderDue>,
    },
    /// A reminder went out on a chat channel: replies there belong to the invitation, so its
    /// conversation moves to that channel.
    ConversationOn(SurveyChannel),
}

/// A reminder to queue: due `due_at`, on the first of `channels` that reaches the customer
/// (else on the last).
#[derive(Debug, Clone)]
pub struct ReminderDue {
    pub due_at: DateTime<Utc>,
    pub channels: Vec<SurveyChannel>,
}

/// How a delivery that was not sent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum FinalStatus {
    Failed,
    Expired,
    Cancelled,
}

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
    /// Claims up to `limit` deliveries on `channel` that are due at `now` (or whose lease ran
    /// out) for `owner` until `lease_until`, counting the attempt.
    pub async fn claim_due(
        &self,
        channel: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Claimed>, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // Another process's claims on this channel whose lease ran out (it died) go back to
        // the queue first, keeping their due time, so the ordered claim below takes them
        // before newer ones. This process's own come back through its recorder (sent, or
        // released unsent when they waited past the lease): taking them here could send a
        // message still on its way; those it lost are taken back by `requeue_lost_claims`.
        // (Each channel's claimer returns only its channel's: two returning the same rows at
        // once could deadlock on PostgreSQL.)
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE deliveries SET status = 'queued', lease_owner = NULL, lease_until = NULL, \
                 updated_at = $1 WHERE status = 'sending' AND lease_until <= $1 AND channel = $2 \
                 AND lease_owner <> $3",
            )
            .bind(now)
            .bind(channel)
            .bind(owner)
            .execute(pool)
            .await?;
        });
        // Walks the index of queued deliveries by (channel, due_at) in order and stops after
        // `limit` rows.
        let claim = format!(
            "UPDATE deliveries SET status = 'sending', lease_owner = $1, lease_until = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM deliveries WHERE status = 'queued' AND channel = $5 \
               AND due_at <= $3 ORDER BY due_at LIMIT $4{lock}) \
             RETURNING id"
        );
        let ids: Vec<i64> = with_pool!(self, pool => {
            sqlx::query_scalar(&claim)
                .bind(owner)
                .bind(lease_until)
                .bind(now)
                .bind(limit as i64)
                .bind(channel)
                .fetch_all(pool)
                .await?
        });
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut claimed: Vec<Claimed> = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(
                "SELECT d.id AS delivery_id, d.invitation_id, i.contact_id, i.customer_id, d.attempts, d.kind, d.channel, d.question, \
                 i.campaign, i.questionnaire, cu.name AS customer_name, cu.email, cu.phone, cu.whatsapp, cu.locale, \
                 cu.time_zone, a.name AS agent_name, c.category, c.closed_at, i.state AS invitation_state, \
                 EXISTS (SELECT 1 FROM opt_outs o WHERE o.customer_id = i.customer_id \
                   AND o.channel = d.channel) AS opted_out, i.expires_at, i.last_inbound_at \
                 FROM deliveries d JOIN invitations i ON i.id = d.invitation_id \
                 JOIN contacts c ON c.id = i.contact_id JOIN customers cu ON cu.id = i.customer_id \
                 LEFT JOIN agents a ON a.id = c.agent_id WHERE d.id IN (",
            );
            let mut list = q.separated(", ");
            for id in &ids {
                list.push_bind(*id);
            }
            q.push(")");
            q.build_query_as().persistent(false).fetch_all(pool).await?
        });
        claimed.sort_by_key(|c| c.delivery_id);
        Ok(claimed)
    }

    /// Puts back in the queue `owner`'s claims on `channel` whose lease ran out by `now` while
    /// still `sending` and that `in_hand` says it no longer holds (the job was lost without
    /// an outcome), keeping their due time and the attempt they used (the message may have
    /// gone). Claims still in hand are left to their worker, which sends or releases them.
    /// Returns the deliveries put back (at most a thousand per call).
    pub async fn requeue_lost_claims(
        &self,
        channel: &str,
        owner: &str,
        now: DateTime<Utc>,
        in_hand: impl Fn(i64) -> bool,
    ) -> Result<Vec<i64>, StoreError> {
        // Through the partial index of sending deliveries by lease: only lapsed ones are read.
        let lapsed: Vec<i64> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT id FROM deliveries WHERE status = 'sending' AND lease_until <= $1 \
                 AND channel = $2 AND lease_owner = $3 ORDER BY lease_until LIMIT $4",
            )
            .bind(now)
            .bind(channel)
            .bind(owner)
            .bind(ROWS_PER_STATEMENT as i64)
            .fetch_all(pool)
            .await?
        });
        let lost: Vec<i64> = lapsed.into_iter().filter(|id| !in_hand(*id)).collect();
        if lost.is_empty() {
            return Ok(lost);
        }
        with_pool!(self, pool => {
            let mut q = QueryBuilder::new(
                "UPDATE deliveries SET status = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = ",
            );
            q.push_bind(now)
                .push(" WHERE status = 'sending' AND lease_until <= ")
                .push_bind(now)
                .push(" AND lease_owner = ")
                .push_bind(owner)
                .push(" AND id IN (");
            let mut list = q.separated(", ");
            for id in &lost {
                list.push_bind(*id);
            }
            q.push(")");
            q.build().persistent(false).execute(pool).await?;
        });
        Ok(lost)
    }

    /// Records outcomes together in one transaction. A retry or failure is recorded only while
    /// `owner` still holds the lease; a send is recorded whoever holds it (it happened).
    pub async fn record_outcomes(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        outcomes: &[Outcome],
    ) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let postgres = self.backend() == Backend::Postgres;
        let sent: Vec<(i64, i64, &str, Option<DateTime<Utc>>)> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Sent {
                    delivery_id,
                    invitation_id,
                    message_id,
                    follow_up,
                } => {
                    let expires_at = match follow_up {
                        FollowUp::Invitation { expires_at, .. } => Some(*expires_at),
                        _ => None,
                    };
                    Some((
                        *delivery_id,
                        *invitation_id,
                        message_id.as_str(),
                        expires_at,
                    ))
                }
                _ => None,
            })
            .collect();
        // Invitations whose delivery was given up: moved to another channel or marked after.
        let mut given_up = Vec::new();
        let mut tx = self.begin().await?;
        with_tx!(&mut tx, conn => {
            if !sent.is_empty() {
                let mut q = QueryBuilder::new("WITH v (id, message_id) AS (");
                q.push_values(&sent, |mut row, (delivery, _, message_id, _)| {
                    push_typed(&mut row, postgres, *delivery, "BIGINT");
                    push_typed(&mut row, postgres, *message_id, "TEXT");
                });
                q.push(") UPDATE deliveries SET status = 'sent', provider_message_id = v.message_id, sent_at = ")
                    .push_bind(now)
                    .push(", updated_at = ")
                    .push_bind(now)
                    .push(
                        ", lease_owner = NULL, lease_until = NULL, last_error = NULL \
                         FROM v WHERE deliveries.id = v.id AND deliveries.status = 'sending'",
                    );
                // SQLite (3.46) scans the whole table for each batch unless the join is repeated
                // as `IN`; PostgreSQL would then materialise `v` and compare every pair of rows.
                if !postgres {
                    q.push(" AND deliveries.id IN (SELECT id FROM v)");
                }
                q.build().persistent(false).execute(&mut *conn).await?;

                // An invitation that went out can be answered until its new expiry.
                let mut q = QueryBuilder::new("WITH v (id, expires_at) AS (");
                q.push_values(&sent, |mut row, (_, invitation, _, expires_at)| {
                    push_typed(&mut row, postgres, *invitation, "BIGINT");
                    push_typed(&mut row, postgres, *expires_at, "TIMESTAMPTZ");
                });
                q.push(") UPDATE invitations SET state = 'sent', sent_at = COALESCE(sent_at, ")
                    .push_bind(now)
                    .push(
                        "), expires_at = COALESCE(v.expires_at, invitations.expires_at) \
                         FROM v WHERE invitations.id = v.id AND invitations.state IN ('planned', 'sent')",
                    );
                if !postgres {
                    q.push(" AND invitations.id IN (SELECT id FROM v)");
                }
                q.build().persistent(false).execute(&mut *conn).await?;
            }
            for outcome in outcomes {
                match outcome {
                    Outcome::Sent { .. } => {}
                    Outcome::Released { delivery_id, until } => {
                        sqlx::query(
                            "UPDATE deliveries SET status = 'queued', attempts = attempts - 1, \
                             due_at = COALESCE($4, due_at), \
                             lease_owner = NULL, lease_until = NULL, updated_at = $1 \
                             WHERE id = $2 AND lease_owner = $3 AND status = 'sending'",
                        )
                        .bind(now)
                        .bind(*delivery_id)
                        .bind(owner)
                        .bind(*until)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Outcome::Retry { delivery_id, due_at, error } => {
                        sqlx::query(
                            "UPDATE deliveries SET status = 'queued', due_at = $1, last_error = $2, \
                             lease_owner = NULL, lease_until = NULL, updated_at = $3 \
                             WHERE id = $4 AND lease_owner = $5 AND status = 'sending'",
                        )
                        .bind(*due_at)
                        .bind(error.as_str())
                        .bind(now)
                        .bind(*delivery_id)
                        .bind(owner)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Outcome::Failed { delivery_id, invitation_id, status, error, fallback } => {
                        let changed = sqlx::query(
                            "UPDATE deliveries SET status = $1, last_error = $2, \
                             lease_owner = NULL, lease_until = NULL, updated_at = $3 \
                             WHERE id = $4 AND lease_owner = $5 AND status = 'sending'",
                        )
                        .bind(status.as_ref())
                        .bind(error.as_str())
                        .bind(now)
                        .bind(*delivery_id)
                        .bind(owner)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                        if changed == 1 {
                            given_up.push((*invitation_id, *status, fallback.as_slice()));
                        }
                    }
                }
            }
        });
        tx.follow_up(outcomes, now).await?;
        for (invitation_id, status, fallback) in given_up {
            let moved = match status {
                FinalStatus::Expired => None,
                FinalStatus::Failed | FinalStatus::Cancelled => {
                    tx.fall_back(invitation_id, fallback, now).await?
                }
            };
            if moved.is_none() {
                with_tx!(&mut tx, conn => {
                    sqlx::query("UPDATE invitations SET state = $1 WHERE id = $2 AND state = 'planned'")
                        .bind(status.as_ref())
                        .bind(invitation_id)
                        .execute(&mut *conn)
                        .await?;
                });
            }
        }
        tx.commit().await
    }

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

impl StoreTx {
    /// Queues the reminders of invitations that went out, and moves conversations to the chat
    /// channel a reminder went on.
    async fn follow_up(
        &mut self,
        outcomes: &[Outcome],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut reminders: Vec<(i64, &ReminderDue)> = Vec::new();
        for outcome in outcomes {
            match outcome {
                Outcome::Sent {
                    invitation_id,
                    follow_up: FollowUp::Invitation { reminders: due, .. },
                    ..
                } => reminders.extend(due.iter().map(|r| (*invitation_id, r))),
                Outcome::Sent {
                    invitation_id,
                    follow_up: FollowUp::ConversationOn(channel),
                    ..
                } => {
                    // A conversation starts afresh on the new channel (nothing was answered).
                    with_tx!(self, conn => {
                        sqlx::query(
                            "UPDATE invitations SET channel = $1, question = NULL, reasked = FALSE \
                             WHERE id = $2 AND channel <> $1",
                        )
                        .bind(channel.as_str())
                        .bind(*invitation_id)
                        .execute(&mut *conn)
                        .await?;
                    });
                }
                _ => {}
            }
        }
        if reminders.is_empty() {
            return Ok(());
        }
        // Where a reminder may go on more than one channel, the customer's addresses decide.
        let choosing: Vec<i64> = reminders
            .iter()
            .filter(|(_, r)| r.channels.len() > 1)
            .map(|(invitation, _)| *invitation)
            .collect();
        let reach = self.reach_of(&choosing, &SurveyChannel::ALL).await?;
        let queued: Vec<(i64, SurveyChannel, DateTime<Utc>)> = reminders
            .iter()
            .filter_map(|(invitation, r)| {
                let last = *r.channels.last()?;
                let channel = reach
                    .get(invitation)
                    .and_then(|reach| {
                        r.channels
                            .iter()
                            .copied()
                            .find(|ch| reach.reachable(*ch) == (true, false))
                    })
                    .unwrap_or(last);
                Some((*invitation, channel, r.due_at))
            })
            .collect();
        for chunk in queued.chunks(ROWS_PER_STATEMENT) {
            with_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO deliveries (invitation_id, channel, kind, status, due_at, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut row, (invitation, channel, due)| {
                    row.push_bind(*invitation)
                        .push_bind(channel.as_str())
                        .push_bind("reminder")
                        .push_bind("queued")
                        .push_bind(*due)
                        .push_bind(now)
                        .push_bind(now);
                });
                q.build().persistent(cacheable(chunk)).execute(&mut *conn).await?;
            });
        }
        Ok(())
    }
}
