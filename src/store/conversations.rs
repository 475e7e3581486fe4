//! Surveys as conversations over SMS and WhatsApp: finding the invitation a reply belongs to,
//! recording answers one at a time and queueing the next message, opt-outs by number, and
//! the delivery statuses providers report (forward only).

use super::{Store, StoreError, StoreTx, with_pool, with_tx};
use crate::campaign::SurveyChannel;
use crate::replies::ProviderStatus;
use chrono::{DateTime, Utc};

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
    pub answered_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The kinds of chat message a conversation queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr)]
#[strum(serialize_all = "snake_case")]
pub enum ChatMessage {
    /// The next question.
    Question,
    /// The same question again, after a reply that was no answer to it.
    Reask,
    /// Thanks, after the last question.
    Thanks,
    /// "This survey has closed": a reply after the invitation expired.
    Closed,
    /// The confirmation of an opt-out.
    OptOut,
    /// The confirmation of an opt-in.
    OptIn,
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
        invitation_id: i64,
        kind: String,
        campaign: String,
        channel: String,
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
     i.channel, i.question, i.reasked, i.answered_at, i.expires_at";

impl Store {
    /// The invitation a reply on `channel` belongs to: the one whose message it replies to
    /// (`reply_to`, the provider's message id), else the latest invitation sent on that
    /// channel to a customer with the number `phone` (E.164).
    pub async fn conversation_for(
        &self,
        channel: SurveyChannel,
        phone: Option<&str>,
        reply_to: Option<&str>,
    ) -> Result<Option<Conversation>, StoreError> {
        if let Some(reply_to) = reply_to {
            let found: Option<Conversation> = with_pool!(self, pool => {
                sqlx::query_as(&format!(
                    "SELECT {CONVERSATION_COLUMNS} FROM deliveries d \
                     JOIN invitations i ON i.id = d.invitation_id \
                     WHERE d.provider_message_id = $1 AND i.channel = $2"
                ))
                .bind(reply_to)
                .bind(channel.as_str())
                .fetch_optional(pool)
                .await?
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        let Some(phone) = phone else { return Ok(None) };
        Ok(with_pool!(self, pool => {
            // The customers with the number first (a handful, by index), then their
            // invitations: left to itself the planner may walk every sent invitation instead
            // when its statistics predate the sends.
            sqlx::query_as(&format!(
                "WITH numbered AS MATERIALIZED (SELECT cu.id FROM customers cu WHERE {}) \
                 SELECT {CONVERSATION_COLUMNS} FROM numbered \
                 JOIN invitations i ON i.customer_id = numbered.id \
                 WHERE i.channel = $2 AND i.sent_at IS NOT NULL \
                 ORDER BY i.sent_at DESC, i.id DESC LIMIT 1",
                number_matches(channel)
            ))
            .bind(phone)
            .bind(channel.as_str())
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Records an answer (or, with `answer` `None`, a skipped optional question), moves the
    /// conversation to `next` (`None`: it is over) and queues that question or the thanks,
    /// due `now`. Returns false, recording nothing, when the invitation expired by `now`.
    pub async fn record_chat_answer(
        &self,
        conversation: &Conversation,
        answer: Option<ChatAnswer<'_>>,
        next: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let score = |metric: &str| {
            answer
                .as_ref()
                .filter(|a| a.metric == Some(metric))
                .and_then(|a| a.number)
        };
        let mut tx = self.begin().await?;
        let open = with_tx!(&mut tx, conn => {
            let open = sqlx::query(
                "UPDATE invitations SET question = $1, reasked = FALSE, last_inbound_at = $2, \
                 state = CASE WHEN $3 THEN 'answered' ELSE state END, \
                 answered_at = CASE WHEN $3 THEN COALESCE(answered_at, $2) ELSE answered_at END, \
                 csat = COALESCE($4, csat), fcr = COALESCE($5, fcr) \
                 WHERE id = $6 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(next)
            .bind(now)
            .bind(answer.is_some())
            .bind(score("csat"))
            .bind(score("fcr"))
            .bind(conversation.invitation_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if let (true, Some(a)) = (open, &answer) {
                sqlx::query(
                    "INSERT INTO responses (invitation_id, question, metric, number, text, channel, received_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (invitation_id, question) DO UPDATE \
                     SET number = excluded.number, text = excluded.text, channel = excluded.channel, \
                     received_at = excluded.received_at",
                )
                .bind(conversation.invitation_id)
                .bind(a.question)
                .bind(a.metric)
                .bind(a.number)
                .bind(a.text)
                .bind(conversation.channel.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            open
        });
        if open {
            let kind = if next.is_some() {
                ChatMessage::Question
            } else {
                ChatMessage::Thanks
            };
            queue_chat(&mut tx, conversation, kind, next, now).await?;
        }
        tx.commit().await?;
        Ok(open)
    }

    /// Notes a reply that was no answer to the current question (`question`) and queues that
    /// question again.
    pub async fn reask(
        &self,
        conversation: &Conversation,
        question: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE invitations SET reasked = TRUE, question = $1, last_inbound_at = $2 WHERE id = $3")
                .bind(question)
                .bind(now)
                .bind(conversation.invitation_id)
                .execute(&mut *conn)
                .await?;
        });
        queue_chat(
            &mut tx,
            conversation,
            ChatMessage::Reask,
            Some(question),
            now,
        )
        .await?;
        tx.commit().await
    }

    /// Queues a message that answers a reply without moving the conversation: "this survey
    /// has closed", or an opt-out or opt-in confirmation.
    pub async fn queue_reply(
        &self,
        conversation: &Conversation,
        kind: ChatMessage,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE invitations SET last_inbound_at = $1 WHERE id = $2")
                .bind(now)
                .bind(conversation.invitation_id)
                .execute(&mut *conn)
                .await?;
        });
        queue_chat(&mut tx, conversation, kind, None, now).await?;
        tx.commit().await
    }

    /// Records that every customer with the number `phone` wants no more surveys on
    /// `channel` (with `opt_out` false: wants them again; `source` then is unused). Returns
    /// how many customers changed.
    pub async fn set_number_opt_out(
        &self,
        channel: SurveyChannel,
        phone: &str,
        opt_out: bool,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let matches = number_matches(channel);
        Ok(with_pool!(self, pool => {
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
                .execute(pool)
                .await?
            } else {
                sqlx::query(&format!(
                    "DELETE FROM opt_outs WHERE channel = $2 AND customer_id IN \
                     (SELECT cu.id FROM customers cu WHERE {matches})"
                ))
                .bind(phone)
                .bind(channel.as_str())
                .execute(pool)
                .await?
            }
            .rows_affected()
        }))
    }

    /// Records a provider's status for the message it knows as `message_id`, unless the
    /// delivery already has that state or a later one.
    pub async fn apply_status(
        &self,
        message_id: &str,
        status: ProviderStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StatusApplied, StoreError> {
        let updated: Option<(i64, String, String, String)> = with_pool!(self, pool => {
            sqlx::query_as(&format!(
                "UPDATE deliveries SET provider_status = $1, last_error = COALESCE($2, last_error), \
                 updated_at = $3 WHERE provider_message_id = $4 AND {STATUS_RANK} < $5 \
                 RETURNING invitation_id, kind, channel, \
                 (SELECT campaign FROM invitations i WHERE i.id = invitation_id)"
            ))
            .bind(status.as_ref())
            .bind(error)
            .bind(now)
            .bind(message_id)
            .bind(i32::from(status.rank()))
            .fetch_optional(pool)
            .await?
        });
        if let Some((invitation_id, kind, channel, campaign)) = updated {
            return Ok(StatusApplied::Recorded {
                invitation_id,
                kind,
                campaign,
                channel,
            });
        }
        let known: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT id FROM deliveries WHERE provider_message_id = $1")
                .bind(message_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(if known.is_some() {
            StatusApplied::Stale
        } else {
            StatusApplied::Unknown
        })
    }
}

impl Store {
    /// Moves an invitation whose message the provider reported undeliverable to the first of
    /// `remaining` channels that can reach the customer, or marks it failed. Returns the
    /// channel it moved to.
    pub async fn fall_back(
        &self,
        invitation_id: i64,
        remaining: &[SurveyChannel],
        now: DateTime<Utc>,
    ) -> Result<Option<SurveyChannel>, StoreError> {
        let mut tx = self.begin().await?;
        let moved = tx.fall_back(invitation_id, remaining, now).await?;
        if moved.is_none() {
            with_tx!(&mut tx, conn => {
                sqlx::query("UPDATE invitations SET state = 'failed' WHERE id = $1 AND state IN ('planned', 'sent')")
                    .bind(invitation_id)
                    .execute(&mut *conn)
                    .await?;
            });
        }
        tx.commit().await?;
        Ok(moved)
    }
}

/// Customers (aliased `cu`) whose number on `channel` is `$1`: the phone for SMS; the
/// WhatsApp number, else the phone, for WhatsApp. Written as ORs so the indexes serve.
fn number_matches(channel: SurveyChannel) -> &'static str {
    match channel {
        SurveyChannel::Whatsapp => "(cu.whatsapp = $1 OR (cu.whatsapp IS NULL AND cu.phone = $1))",
        SurveyChannel::Sms | SurveyChannel::Email => "cu.phone = $1",
    }
}

/// Queues a chat message of `kind` for the conversation, due `now`, in transaction `tx`.
async fn queue_chat(
    tx: &mut StoreTx,
    conversation: &Conversation,
    kind: ChatMessage,
    question: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO deliveries (invitation_id, channel, kind, question, status, due_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'queued', $5, $5, $5)",
        )
        .bind(conversation.invitation_id)
        .bind(conversation.channel.as_str())
        .bind(kind.as_ref())
        .bind(question)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}
