//! The inbox: provider callbacks stored as received, before they are interpreted. The unique
//! (provider, event id) makes a provider's retry of an event a no-op; an event whose
//! interpretation failed keeps the error and can be replayed.

use super::{Store, StoreError, with_pool};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored callback.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct InboxEvent {
    pub id: i64,
    pub provider: String,
    pub event_id: String,
    /// `message`, `status`, or `unknown` for a signed body that could not be split into events.
    pub kind: String,
    pub payload: String,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    /// What interpreting it did (`answer`, `opt_out`, `no_invitation`, `status`…).
    pub outcome: Option<String>,
    pub error: Option<String>,
}

/// Inbox events by outcome, and those that failed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct InboxStatus {
    pub total: u64,
    pub failed: u64,
    pub unprocessed: u64,
    /// Processed events by outcome, in name order.
    pub outcomes: Vec<(String, u64)>,
}

impl Store {
    /// Stores a callback unless the same (provider, event id) is already stored. Returns the
    /// new row's id, `None` for a repeat.
    pub async fn inbox_insert(
        &self,
        provider: &str,
        event_id: &str,
        kind: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO inbox (provider, event_id, kind, payload, received_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, event_id) DO NOTHING RETURNING id",
            )
            .bind(provider)
            .bind(event_id)
            .bind(kind)
            .bind(payload)
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Records what interpreting event `id` did, or why it failed.
    pub async fn inbox_processed(
        &self,
        id: i64,
        result: Result<&str, &str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (outcome, error) = match result {
            Ok(outcome) => (Some(outcome), None),
            Err(error) => (None, Some(error)),
        };
        with_pool!(self, pool => {
            sqlx::query("UPDATE inbox SET processed_at = $1, outcome = $2, error = $3 WHERE id = $4")
                .bind(now)
                .bind(outcome)
                .bind(error)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Events to interpret again, oldest first, after id `after`: those whose interpretation
    /// failed and, with `unfinished`, those never interpreted (the process stopped between
    /// storing and interpreting).
    pub async fn inbox_to_replay(
        &self,
        unfinished: bool,
        after: i64,
        limit: i64,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, provider, event_id, kind, payload, received_at, processed_at, outcome, error \
                 FROM inbox WHERE id > $1 AND (error IS NOT NULL OR ($2 AND processed_at IS NULL)) \
                 ORDER BY id LIMIT $3",
            )
            .bind(after)
            .bind(unfinished)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Counts of stored events.
    pub async fn inbox_status(&self) -> Result<InboxStatus, StoreError> {
        let rows: Vec<(Option<String>, bool, bool, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT outcome, error IS NOT NULL, processed_at IS NULL, COUNT(*) FROM inbox \
                 GROUP BY outcome, error IS NOT NULL, processed_at IS NULL ORDER BY outcome",
            )
            .fetch_all(pool)
            .await?
        });
        let mut status = InboxStatus::default();
        for (outcome, failed, unprocessed, count) in rows {
            let count = count as u64;
            status.total += count;
            if failed {
                status.failed += count;
            } else if unprocessed {
                status.unprocessed += count;
            } else if let Some(outcome) = outcome {
                status.outcomes.push((outcome, count));
            }
        }
        Ok(status)
    }
}
