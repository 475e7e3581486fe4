//! Answers: the invitation a survey token opens, the answers given to it (a new set replaces
//! the earlier one; the first set's time stays the time answered), and the opt-out an
//! unsubscribe link records.

use super::{Store, StoreError, with_pool, with_tx};
use crate::domain::AnswerTime;
use crate::domain::SurveyChannel;
use chrono::{DateTime, Utc};

/// An invitation as its survey page needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenedInvitation {
    pub id: i64,
    pub questionnaire: String,
    pub channel: String,
    pub customer_id: i64,
    pub customer_name: Option<String>,
    pub locale: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
}

impl OpenedInvitation {
    /// Whether answers are no longer taken at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// One answer as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct StoredAnswer {
    pub question: String,
    /// The score the question feeds (`csat`, `fcr`, `nps`, `ces`), if any.
    pub metric: Option<String>,
    pub number: Option<i16>,
    pub text: Option<String>,
}

/// The number answered to the question feeding `metric`, if any.
fn score(answers: &[StoredAnswer], metric: &str) -> Option<i16> {
    answers
        .iter()
        .find(|a| a.metric.as_deref() == Some(metric))
        .and_then(|a| a.number)
}

impl Store {
    /// The invitation whose token has the SHA-256 `token_sha256`.
    pub async fn invitation_by_token(
        &self,
        token_sha256: &[u8; 32],
    ) -> Result<Option<OpenedInvitation>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT i.id, i.questionnaire, i.channel, i.customer_id, cu.name AS customer_name, \
                 cu.locale, i.expires_at, i.answered_at \
                 FROM invitations i JOIN customers cu ON cu.id = i.customer_id \
                 WHERE i.token_sha256 = $1",
            )
            .bind(token_sha256.as_slice())
            .fetch_optional(pool)
            .await?
        }))
    }

    /// The answers recorded for an invitation, in no particular order.
    pub async fn answers(&self, invitation_id: i64) -> Result<Vec<StoredAnswer>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT question, metric, number, text FROM responses WHERE invitation_id = $1",
            )
            .bind(invitation_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Records `answers` as the invitation's answers, replacing any earlier ones and their
    /// scores (the time of the first answer stays, and with it the time to answer), unless the
    /// invitation expired by `now`. Returns false when it had expired.
    /// An answer that crosses a threshold of `alerts` raises the invitation's alert in the same
    /// transaction.
    pub async fn save_answers(
        &self,
        invitation_id: i64,
        answers: &[StoredAnswer],
        channel: &str,
        now: DateTime<Utc>,
        alerts: &dyn super::AlertDecision,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let open = with_tx!(&mut tx, conn => {
            // Marking it answered first takes the write lock and checks the expiry in one step.
            // A changed answer keeps the first one's time: the time to answer runs to it.
            let times: Option<(Option<DateTime<Utc>>, DateTime<Utc>)> = sqlx::query_as(
                "UPDATE invitations SET state = 'answered', answered_at = COALESCE(answered_at, $1), \
                 csat = $3, fcr = $4, nps = $5, ces = $6 \
                 WHERE id = $2 AND (expires_at IS NULL OR expires_at > $1) \
                 RETURNING sent_at, answered_at",
            )
            .bind(now)
            .bind(invitation_id)
            .bind(score(answers, "csat"))
            .bind(score(answers, "fcr"))
            .bind(score(answers, "nps"))
            .bind(score(answers, "ces"))
            .fetch_optional(&mut *conn)
            .await?;
            let open = times.is_some();
            if let Some((Some(sent_at), answered_at)) = times {
                let wait = AnswerTime::between(sent_at, answered_at);
                sqlx::query("UPDATE invitations SET answer_seconds = $1, answer_band = $2 WHERE id = $3")
                    .bind(wait.seconds)
                    .bind(wait.band)
                    .bind(invitation_id)
                    .execute(&mut *conn)
                    .await?;
            }
            if open {
                sqlx::query("DELETE FROM responses WHERE invitation_id = $1")
                    .bind(invitation_id)
                    .execute(&mut *conn)
                    .await?;
                for answer in answers {
                    sqlx::query(
                        "INSERT INTO responses (invitation_id, question, metric, number, text, channel, received_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(invitation_id)
                    .bind(answer.question.as_str())
                    .bind(answer.metric.as_deref())
                    .bind(answer.number)
                    .bind(answer.text.as_deref())
                    .bind(channel)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            open
        });
        let reasons: Vec<&str> = answers
            .iter()
            .filter_map(|a| alerts.reason(a.metric.as_deref(), a.number))
            .collect();
        if open && !reasons.is_empty() {
            tx.raise_alert(invitation_id, &reasons, alerts.channels(), now)
                .await?;
        }
        tx.commit().await?;
        Ok(open)
    }

    /// Records that customer `customer_id` wants no more surveys over `channel`. Idempotent:
    /// true when this call recorded it, false when it already was.
    pub async fn opt_out_customer(
        &self,
        customer_id: i64,
        channel: SurveyChannel,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let recorded = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO opt_outs (customer_id, channel, source, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (customer_id, channel) DO NOTHING",
            )
            .bind(customer_id)
            .bind(channel.as_str())
            .bind(source)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(recorded == 1)
    }
}
