//! Surveys as conversations over SMS and WhatsApp: finding the invitation a reply belongs to,
//! recording answers one at a time and queueing the next message, opt-outs by number, and
//! the delivery statuses providers report (forward only). All of it runs inside a
//! transaction the caller holds: a batch of webhook events lands together with its inbox
//! records.

use super::{ROWS_PER_STATEMENT, StoreError, StoreTx, cacheable, with_tx};
use crate::domain::AnswerTime;
use crate::domain::ProviderStatus;
use crate::domain::{MessageKind, SurveyChannel};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

/// The invitation a chat reply belongs to, and where its conversation stands.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Conversation {
    pub invitation_id: i64,
    pub customer_id: i64,
    pub questionnaire: String,
    pub channel: String,
    /// The question asked last; `None` before the first answer (the invitation asks the
    /// first question) and after the last one.
    pub question: Option<String>,
    pub reasked: bool,
    pub sent_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One answer given in a chat, as stored.
#[derive(Debug, Clone)]
pub struct ChatAnswer<'a> {
    pub question: &'a str,
    pub metric: Option<&'a str>,
    pub number: Option<i16>,
    pub text: Option<&'a str>,
}

/// What became of a provider's status report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusApplied {
    /// Recorded on a delivery of `kind` (`invite`, `question`…) for an invitation of
    /// `campaign`, sent on `channel`.
    Recorded {
        delivery_id: i64,
        /// Attempts at the delivery so far.
        attempts: u32,
        invitation_id: i64,
        kind: MessageKind,
        campaign: String,
        channel: SurveyChannel,
    },
    /// The delivery already has this state or a later one.
    Stale,
    /// No delivery carries that provider message id.
    Unknown,
}

/// The rank of a stored provider status, in SQL (see [`ProviderStatus::rank`]).
const STATUS_RANK: &str = "CASE provider_status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 \
     WHEN 'read' THEN 3 WHEN 'failed' THEN 4 WHEN 'undelivered' THEN 4 ELSE 0 END";

const CONVERSATION_COLUMNS: &str = "i.id AS invitation_id, i.customer_id, i.questionnaire, \
     i.channel, i.question, i.reasked, i.sent_at, i.answered_at, i.expires_at";

impl StoreTx {
    /// The invitation a reply on `channel` belongs to: the one whose message it replies to
    /// (`reply_to`, the provider's message id), else the latest invitation sent on that
    /// channel to a customer with the number `phone` (E.164). On PostgreSQL the invitation is
    /// locked until the transaction ends, so two replies of one conversation handled at once
    /// (by two daemons) take turns and the second sees the first's answer.
    pub async fn conversation_for(
        &mut self,
        channel: SurveyChannel,
        phone: Option<&str>,
        reply_to: Option<&str>,
    ) -> Result<Option<Conversation>, StoreError> {
        // SQLite has a single writer, and this transaction is it already.
        let lock = self.dialect().lock_rows_of("i");
        if let Some(reply_to) = reply_to {
            let found: Option<Conversation> = with_tx!(self, conn => {
                sqlx::query_as(&format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM deliveries d \
                     JOIN invitations i ON i.id = d.invitation_id \
                     WHERE d.provider_message_id = $1 AND i.channel = $2{lock}"
                ))
                .bind(reply_to)
                .bind(channel.as_str())
                .fetch_optional(&mut *conn)
                .await?
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        let Some(phone) = phone else { return Ok(None) };
        Ok(with_tx!(self, conn => {
            // The customers with the number first (a handful, by index), then their
            // invitations: left to itself the planner may walk every sent invitation instead
            // when its statistics predate the sends.
            sqlx::query_as(&format!(
                "WITH numbered AS MATERIALIZED (SELECT cu.id FROM customers cu WHERE {}) \
                 SELECT {CONVERSATION_COLUMNS} FROM numbered \
                 JOIN invitations i ON i.customer_id = numbered.id \
                 WHERE i.channel = $2 AND i.sent_at IS NOT NULL \
                 ORDER BY i.sent_at DESC, i.id DESC LIMIT 1{lock}",
                number_matches(channel)
            ))
            .bind(phone)
            .bind(channel.as_str())
            .fetch_optional(&mut *conn)
            .await?
        }))
    }

    /// Records an answer (or, with `answer` `None`, a skipped optional question), moves the
    /// conversation to `next` (`None`: it is over) and queues that question or the thanks,
    /// due `now`; an answer crossing a threshold of `alerts` raises the invitation's alert.
    /// Returns false, recording nothing, when the invitation expired by `now`.
    pub async fn record_chat_answer(
        &mut self,
        conversation: &Conversation,
        answer: Option<ChatAnswer<'_>>,
        next: Option<&str>,
        now: DateTime<Utc>,
        alerts: &dyn super::AlertDecision,
    ) -> Result<bool, StoreError> {
        let score = |metric: &str| {
            answer
                .as_ref()
                .filter(|a| a.metric == Some(metric))
                .and_then(|a| a.number)
        };
        // The time to answer counts to the first answer, as `answered_at` does.
        let wait = conversation
            .sent_at
            .map(|sent_at| AnswerTime::between(sent_at, now));
        let open = with_tx!(self, conn => {
            sqlx::query(
                "UPDATE invitations SET question = $1, reasked = FALSE, last_inbound_at = $2, \
                 state = CASE WHEN $3 THEN 'answered' ELSE state END, \
                 answer_seconds = CASE WHEN $3 AND answered_at IS NULL THEN $9 ELSE answer_seconds END, \
                 answer_band = CASE WHEN $3 AND answered_at IS NULL THEN $10 ELSE answer_band END, \
                 answered_at = CASE WHEN $3 THEN COALESCE(answered_at, $2) ELSE answered_at END, \
                 csat = COALESCE($4, csat), fcr = COALESCE($5, fcr), \
                 nps = COALESCE($7, nps), ces = COALESCE($8, ces) \
                 WHERE id = $6 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(next)
            .bind(now)
            .bind(answer.is_some())
            .bind(score("csat"))
            .bind(score("fcr"))
            .bind(conversation.invitation_id)
            .bind(score("nps"))
            .bind(score("ces"))
            .bind(wait.map(|w| w.seconds))
            .bind(wait.map(|w| w.band))
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1
        });
        if let (true, Some(reason)) = (
            open,
            answer
                .as_ref()
                .and_then(|a| alerts.reason(a.metric, a.number)),
        ) {
            self.raise_alert(
                conversation.invitation_id,
                &[reason],
                alerts.channels(),
                now,
            )
            .await?;
        }
        if let (true, Some(a)) = (open, &answer) {
            self.deferred.responses.push(DeferredResponse {
                invitation_id: conversation.invitation_id,
                question: a.question.to_owned(),
                metric: a.metric.map(str::to_owned),
                number: a.number,
                text: a.text.map(str::to_owned),
                channel: conversation.channel.clone(),
                received_at: now,
            });
        }
        if open {
            let kind = if next.is_some() {
                MessageKind::Question
            } else {
                MessageKind::Thanks
            };
            self.queue_chat(conversation, kind, next, now);
        }
        Ok(open)
    }

    /// Notes a reply that was no answer to the current question (`question`) and queues that
    /// question again.
    pub async fn reask(
        &mut self,
        conversation: &Conversation,
        question: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_tx!(self, conn => {
            sqlx::query("UPDATE invitations SET reasked = TRUE, question = $1, last_inbound_at = $2 WHERE id = $3")
                .bind(question)
                .bind(now)
                .bind(conversation.invitation_id)
                .execute(&mut *conn)
                .await?;
        });
        self.queue_chat(conversation, MessageKind::Reask, Some(question), now);
        Ok(())
    }

    /// Queues a message that answers a reply without moving the conversation: "this survey
    /// has closed", or an opt-out or opt-in confirmation.
    pub async fn queue_reply(
        &mut self,
        conversation: &Conversation,
        kind: MessageKind,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_tx!(self, conn => {
            sqlx::query("UPDATE invitations SET last_inbound_at = $1 WHERE id = $2")
                .bind(now)
                .bind(conversation.invitation_id)
                .execute(&mut *conn)
                .await?;
        });
        self.queue_chat(conversation, kind, None, now);
        Ok(())
    }

    /// Records that every customer with the number `phone` wants no more surveys on
    /// `channel` (with `opt_out` false: wants them again; `source` then is unused). Returns
    /// how many customers changed.
    pub async fn set_number_opt_out(
        &mut self,
        channel: SurveyChannel,
        phone: &str,
        opt_out: bool,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let matches = number_matches(channel);
        Ok(with_tx!(self, conn => {
            if opt_out {
                sqlx::query(&format!(
                    "INSERT INTO opt_outs (customer_id, channel, source, created_at) \
                     SELECT cu.id, $2, $3, $4 FROM customers cu WHERE {matches} \
                     ON CONFLICT (customer_id, channel) DO NOTHING"
                ))
                .bind(phone)
                .bind(channel.as_str())
                .bind(source)
                .bind(now)
                .execute(&mut *conn)
                .await?
            } else {
                sqlx::query(&format!(
                    "DELETE FROM opt_outs WHERE channel = $2 AND customer_id IN \
                     (SELECT cu.id FROM customers cu WHERE {matches})"
                ))
                .bind(phone)
                .bind(channel.as_str())
                .execute(&mut *conn)
                .await?
            }
            .rows_affected()
        }))
    }

    /// Records a provider's status for the message it knows as `message_id`, unless the
    /// delivery already has that state or a later one.
    pub async fn apply_status(
        &mut self,
        message_id: &str,
        status: ProviderStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StatusApplied, StoreError> {
        let updated: Option<(i64, i32, i64, String, String, String)> = with_tx!(self, conn => {
            sqlx::query_as(&format!(
                "UPDATE deliveries SET provider_status = $1, last_error = COALESCE($2, last_error), \
                 updated_at = $3 WHERE provider_message_id = $4 AND {STATUS_RANK} < $5 \
                 RETURNING id, attempts, invitation_id, kind, channel, \
                 (SELECT campaign FROM invitations i WHERE i.id = invitation_id)"
            ))
            .bind(status.as_ref())
            .bind(error)
            .bind(now)
            .bind(message_id)
            .bind(i32::from(status.rank()))
            .fetch_optional(&mut *conn)
            .await?
        });
        if let Some((delivery_id, attempts, invitation_id, kind, channel, campaign)) = updated {
            let corrupt = |reason: crate::domain::ParseError| StoreError::Corrupt {
                what: "delivery",
                reason: reason.0,
            };
            let kind = MessageKind::try_from(kind).map_err(corrupt)?;
            let channel = SurveyChannel::try_from(channel).map_err(corrupt)?;
            return Ok(StatusApplied::Recorded {
                delivery_id,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                invitation_id,
                kind,
                campaign,
                channel,
            });
        }
        let known: Option<i64> = with_tx!(self, conn => {
            sqlx::query_scalar("SELECT id FROM deliveries WHERE provider_message_id = $1")
                .bind(message_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        Ok(if known.is_some() {
            StatusApplied::Stale
        } else {
            StatusApplied::Unknown
        })
    }

    /// Moves an invitation whose message the provider reported undeliverable to the first of
    /// `remaining` channels that can reach the customer, or marks it failed. Returns the
    /// channel it moved to.
    pub async fn undeliverable(
        &mut self,
        invitation_id: i64,
        remaining: &[SurveyChannel],
        now: DateTime<Utc>,
    ) -> Result<Option<SurveyChannel>, StoreError> {
        let moved = self.fall_back(invitation_id, remaining, now).await?;
        if moved.is_none() {
            with_tx!(self, conn => {
                sqlx::query("UPDATE invitations SET state = 'failed' WHERE id = $1 AND state IN ('planned', 'sent')")
                    .bind(invitation_id)
                    .execute(&mut *conn)
                    .await?;
            });
        }
        Ok(moved)
    }

    /// Sends the message of delivery `delivery_id` again at `due_at`, as a new delivery on the
    /// same channel with the attempts so far: the provider accepted it, then failed it for a
    /// passing reason (its queue overflowed, a rate limit). A resent invitation is planned
    /// again, its queued reminders giving way to those its new send queues.
    pub async fn send_again(
        &mut self,
        delivery_id: i64,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let copied: Option<(i64, String)> = with_tx!(self, conn => {
            sqlx::query_as(
                "INSERT INTO deliveries (invitation_id, channel, kind, question, status, due_at, \
                 attempts, created_at, updated_at) \
                 SELECT invitation_id, channel, kind, question, 'queued', $1, attempts, $2, $2 \
                 FROM deliveries WHERE id = $3 RETURNING invitation_id, kind",
            )
            .bind(due_at)
            .bind(now)
            .bind(delivery_id)
            .fetch_optional(&mut *conn)
            .await?
        });
        match copied {
            Some((invitation_id, kind)) if kind == MessageKind::Invite.as_str() => {
                self.plan_again(invitation_id, None, "the invitation goes again", now)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// Queues a chat message of `kind` for the conversation, due `now` (written at commit).
    fn queue_chat(
        &mut self,
        conversation: &Conversation,
        kind: MessageKind,
        question: Option<&str>,
        now: DateTime<Utc>,
    ) {
        self.deferred.deliveries.push(DeferredDelivery {
            invitation_id: conversation.invitation_id,
            channel: conversation.channel.clone(),
            kind,
            question: question.map(str::to_owned),
            due_at: now,
        });
    }

    /// Writes the deferred rows: each kind in bulk statements.
    pub(super) async fn write_deferred(&mut self) -> Result<(), StoreError> {
        let Deferred {
            deliveries,
            mut responses,
        } = std::mem::take(&mut self.deferred);
        // A question answered twice in one transaction keeps the later answer (one statement
        // may not update a row twice).
        let mut seen = std::collections::HashSet::new();
        responses.reverse();
        responses.retain(|r| seen.insert((r.invitation_id, r.question.clone())));
        responses.reverse();
        for chunk in deliveries.chunks(ROWS_PER_STATEMENT) {
            with_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO deliveries (invitation_id, channel, kind, question, status, due_at, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut row, d| {
                    row.push_bind(d.invitation_id)
                        .push_bind(d.channel.as_str())
                        .push_bind(d.kind.as_str())
                        .push_bind(d.question.as_deref())
                        .push("'queued'")
                        .push_bind(d.due_at)
                        .push_bind(d.due_at)
                        .push_bind(d.due_at);
                });
                q.build().persistent(cacheable(chunk)).execute(&mut *conn).await?;
            });
        }
        for chunk in responses.chunks(ROWS_PER_STATEMENT) {
            with_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO responses (invitation_id, question, metric, number, text, channel, received_at) ",
                );
                q.push_values(chunk, |mut row, r| {
                    row.push_bind(r.invitation_id)
                        .push_bind(r.question.as_str())
                        .push_bind(r.metric.as_deref())
                        .push_bind(r.number)
                        .push_bind(r.text.as_deref())
                        .push_bind(r.channel.as_str())
                        .push_bind(r.received_at);
                });
                q.push(
                    " ON CONFLICT (invitation_id, question) DO UPDATE \
                     SET number = excluded.number, text = excluded.text, channel = excluded.channel, \
                     received_at = excluded.received_at",
                );
                q.build().persistent(cacheable(chunk)).execute(&mut *conn).await?;
            });
        }
        Ok(())
    }
}

/// Rows a transaction writes in bulk when it commits: the chat messages conversations queue
/// and the answers they record. Nothing in a transaction reads them back before then.
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    deliveries: Vec<DeferredDelivery>,
    responses: Vec<DeferredResponse>,
}

/// How many rows of each kind were deferred at a point (see [`StoreTx::mark`]).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DeferredLen {
    deliveries: usize,
    responses: usize,
}

impl Deferred {
    pub(super) fn len(&self) -> DeferredLen {
        DeferredLen {
            deliveries: self.deliveries.len(),
            responses: self.responses.len(),
        }
    }

    /// Drops what was deferred after `len`.
    pub(super) fn truncate(&mut self, len: DeferredLen) {
        self.deliveries.truncate(len.deliveries);
        self.responses.truncate(len.responses);
    }
}

#[derive(Debug)]
struct DeferredDelivery {
    invitation_id: i64,
    channel: String,
    kind: MessageKind,
    question: Option<String>,
    due_at: DateTime<Utc>,
}

#[derive(Debug)]
struct DeferredResponse {
    invitation_id: i64,
    question: String,
    metric: Option<String>,
    number: Option<i16>,
    text: Option<String>,
    channel: String,
    received_at: DateTime<Utc>,
}

/// Customers (aliased `cu`) whose number on `channel` is `$1`: the phone for SMS; the
/// WhatsApp number, else the phone, for WhatsApp. Written as ORs so the indexes serve.
fn number_matches(channel: SurveyChannel) -> &'static str {
    match channel {
        SurveyChannel::Whatsapp => "(cu.whatsapp = $1 OR (cu.whatsapp IS NULL AND cu.phone = $1))",
        SurveyChannel::Sms | SurveyChannel::Email => "cu.phone = $1",
    }
}
