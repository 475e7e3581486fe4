//! The outbox: deliveries are claimed in batches under a lease, sent outside any transaction,
//! and their outcomes recorded in batches. A worker that dies leaves its claims to expire;
//! the next claim after `lease_until` takes them over. On PostgreSQL claims skip rows another
//! daemon has locked (`FOR UPDATE SKIP LOCKED`); on SQLite the single writer serialises them.
//! A live process takes back its own lapsed claims too, those it no longer has in hand
//! ([`Store::requeue_lost_claims`]).
//! What operators read of it is in `queue.rs`.

use super::{ROWS_PER_STATEMENT, Store, StoreError, StoreTx, cacheable, with_pool, with_tx};
use crate::domain::{Channel, InvitationState, MessageKind, SurveyChannel};
use chrono::{DateTime, Utc};
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
    #[sqlx(try_from = "String")]
    pub kind: MessageKind,
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    /// Random, set at its first claim and kept for its retries: what its email's Message-ID
    /// is made of.
    pub message_key: String,
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
    #[sqlx(try_from = "String")]
    pub invitation_state: InvitationState,
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
        fallback: Vec<crate::domain::SurveyChannel>,
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
        let lock = self.dialect().skip_locked();
        let key = self.dialect().random_key();
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
             attempts = attempts + 1, updated_at = $3, message_key = COALESCE(message_key, {key}) \
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
                "SELECT d.id AS delivery_id, d.invitation_id, i.contact_id, i.customer_id, d.attempts, d.kind, d.channel, d.message_key, d.question, \
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
        let dialect = self.dialect();
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
                    dialect.push_typed(&mut row, *delivery, "BIGINT");
                    dialect.push_typed(&mut row, *message_id, "TEXT");
                });
                q.push(") UPDATE deliveries SET status = 'sent', provider_message_id = v.message_id, sent_at = ")
                    .push_bind(now)
                    .push(", updated_at = ")
                    .push_bind(now)
                    .push(
                        ", lease_owner = NULL, lease_until = NULL, last_error = NULL \
                         FROM v WHERE deliveries.id = v.id AND deliveries.status = 'sending'",
                    );
                q.push(dialect.join_on_values("deliveries"));
                q.build().persistent(false).execute(&mut *conn).await?;

                // An invitation that went out can be answered until its new expiry.
                let mut q = QueryBuilder::new("WITH v (id, expires_at) AS (");
                q.push_values(&sent, |mut row, (_, invitation, _, expires_at)| {
                    dialect.push_typed(&mut row, *invitation, "BIGINT");
                    dialect.push_typed(&mut row, *expires_at, "TIMESTAMPTZ");
                });
                q.push(") UPDATE invitations SET state = 'sent', sent_at = COALESCE(sent_at, ")
                    .push_bind(now)
                    .push(
                        "), expires_at = COALESCE(v.expires_at, invitations.expires_at) \
                         FROM v WHERE invitations.id = v.id AND invitations.state IN ('planned', 'sent')",
                    );
                q.push(dialect.join_on_values("invitations"));
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
                        .push_bind(MessageKind::Reminder.as_str())
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
