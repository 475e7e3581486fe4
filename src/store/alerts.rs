//! Detractor alerts: raised with the answer that calls for one (their messages queued in the
//! outbox as deliveries of kind `alert`), listed, and moved from `open` to `acknowledged` to
//! `resolved` by people.

use super::{Store, StoreError, StoreTx, StoredAnswer, with_pool, with_tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Which answers raise an alert and on which outbox channels its messages go: decided outside
/// the store (by `alerts::AlertRule`), applied inside the transaction that stores the answer.
pub trait AlertDecision: Sync {
    /// Why an answer `number` to the question feeding `metric` raises an alert, if it does.
    fn reason(&self, metric: Option<&str>, number: Option<i16>) -> Option<&'static str>;
    /// The outbox channels an alert's messages go on.
    fn channels(&self) -> &[&'static str];
}

/// An alert as people see it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Alert {
    pub id: i64,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    /// Why it was raised, comma-separated: `csat`, `nps`, `unresolved`.
    pub reasons: String,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    /// What the person acknowledging it wrote (column `note`).
    pub acknowledged_note: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    /// What the person resolving it wrote (the acknowledgement's note stays).
    pub resolved_note: Option<String>,
    pub invitation_id: i64,
    pub campaign: String,
    pub channel: String,
    pub answered_at: Option<DateTime<Utc>>,
    pub customer_id: String,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub customer_phone: Option<String>,
    pub contact_id: String,
    pub category: Option<String>,
    pub closed_at: DateTime<Utc>,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub team: Option<String>,
    #[sqlx(skip)]
    pub answers: Vec<StoredAnswer>,
}

/// Where people move an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum AlertAction {
    /// Someone is on it: from `open`.
    Acknowledge,
    /// Done: from `open` or `acknowledged`.
    Resolve,
}

const ALERT_COLUMNS: &str = "a.id, a.state, a.reasons, a.created_at, a.acknowledged_at, \
     a.acknowledged_by, a.note AS acknowledged_note, a.resolved_at, a.resolved_by, a.resolved_note, a.invitation_id, i.campaign, i.channel, \
     i.answered_at, cu.external_id AS customer_id, cu.name AS customer_name, cu.email AS customer_email, \
     cu.phone AS customer_phone, c.external_id AS contact_id, c.category, c.closed_at, \
     ag.external_id AS agent_id, ag.name AS agent_name, t.external_id AS team \
     FROM alerts a JOIN invitations i ON i.id = a.invitation_id \
     JOIN customers cu ON cu.id = i.customer_id JOIN contacts c ON c.id = i.contact_id \
     LEFT JOIN agents ag ON ag.id = c.agent_id LEFT JOIN teams t ON t.id = c.team_id";

impl StoreTx {
    /// Raises the alert of invitation `invitation_id` for `reasons`, with a message queued
    /// on each of `channels` (`email`, `webhook`), unless it has one already. With no channel
    /// (no recipient is configured) it is logged as a warning: it is then seen only in
    /// `surveyd alerts`, the API and the dashboard.
    pub async fn raise_alert(
        &mut self,
        invitation_id: i64,
        reasons: &[&str],
        channels: &[&str],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_tx!(self, conn => {
            let raised: Option<i64> = sqlx::query_scalar(
                "INSERT INTO alerts (invitation_id, reasons, state, created_at, updated_at) \
                 VALUES ($1, $2, 'open', $3, $3) ON CONFLICT (invitation_id) DO NOTHING RETURNING id",
            )
            .bind(invitation_id)
            .bind(reasons.join(","))
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            if raised.is_some() {
                for channel in channels {
                    sqlx::query(
                        "INSERT INTO deliveries (invitation_id, channel, kind, status, due_at, created_at, updated_at) \
                         VALUES ($1, $2, 'alert', 'queued', $3, $3, $3)",
                    )
                    .bind(invitation_id)
                    .bind(*channel)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                if channels.is_empty() {
                    tracing::warn!(
                        invitation = invitation_id,
                        reasons = %reasons.join(","),
                        "detractor alert raised, but it goes to no one: set alerts.team_leads, \
                         alerts.email or alerts.webhook"
                    );
                } else {
                    tracing::info!(invitation = invitation_id, reasons = %reasons.join(","), "detractor alert raised");
                }
            }
        });
        Ok(())
    }
}

/// Every state an alert can be in, in order.
pub const ALERT_STATES: [&str; 3] = ["open", "acknowledged", "resolved"];

impl Store {
    /// How many alerts are in each state (states with none left out).
    pub async fn alert_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as("SELECT state, COUNT(*) FROM alerts GROUP BY state")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Alerts, newest first, in `state` if given.
    pub async fn alerts(&self, state: Option<&str>, limit: i64) -> Result<Vec<Alert>, StoreError> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} WHERE ($1 IS NULL OR a.state = $1) ORDER BY a.id DESC LIMIT $2"
        );
        let mut alerts: Vec<Alert> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(state).bind(limit).fetch_all(pool).await?
        });
        for alert in &mut alerts {
            self.add_answers(alert).await?;
        }
        Ok(alerts)
    }

    /// The alert of invitation `invitation_id`, with its answers.
    pub async fn alert_of_invitation(&self, invitation_id: i64) -> Result<Alert, StoreError> {
        self.alert_where("a.invitation_id = $1", invitation_id)
            .await
    }

    /// Alert `id`, with its answers.
    pub async fn alert(&self, id: i64) -> Result<Alert, StoreError> {
        self.alert_where("a.id = $1", id).await
    }

    async fn alert_where(&self, condition: &str, value: i64) -> Result<Alert, StoreError> {
        let sql = format!("SELECT {ALERT_COLUMNS} WHERE {condition}");
        let alert: Option<Alert> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(value).fetch_optional(pool).await?
        });
        let mut alert = alert.ok_or_else(|| StoreError::NotFound(format!("no alert {value}")))?;
        self.add_answers(&mut alert).await?;
        Ok(alert)
    }

    /// Fills in the answers of `alert`'s invitation, by question.
    async fn add_answers(&self, alert: &mut Alert) -> Result<(), StoreError> {
        alert.answers = self.answers(alert.invitation_id).await?;
        alert.answers.sort_by(|a, b| a.question.cmp(&b.question));
        Ok(())
    }

    /// Moves alert `id` on by `action`, done by `by` (a person's or token's name), with an
    /// optional note kept as that step's (acknowledging and resolving each keep their own);
    /// refused from a state the action does not start from.
    pub async fn move_alert(
        &self,
        id: i64,
        action: AlertAction,
        by: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Alert, StoreError> {
        let sql = match action {
            AlertAction::Acknowledge => {
                "UPDATE alerts SET state = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3, \
                 note = $4, updated_at = $2 WHERE id = $1 AND state = 'open'"
            }
            AlertAction::Resolve => {
                "UPDATE alerts SET state = 'resolved', resolved_at = $2, resolved_by = $3, \
                 resolved_note = $4, updated_at = $2 WHERE id = $1 AND state IN ('open', 'acknowledged')"
            }
        };
        let moved = with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(id)
                .bind(now)
                .bind(by)
                .bind(note)
                .execute(pool)
                .await?
                .rows_affected()
        });
        let alert = self.alert(id).await?;
        if moved == 0 {
            return Err(StoreError::Conflict(format!(
                "alert {id} is {}: it cannot be {}d",
                alert.state,
                action.as_ref()
            )));
        }
        Ok(alert)
    }
}
