//! The inbox: provider callbacks stored as received, before they are interpreted. The unique
//! (provider, event id) makes a provider's retry of an event a no-op; an event whose
//! interpretation failed keeps the error and can be replayed.

use super::{ROWS_PER_STATEMENT, Store, StoreError, StoreTx, cacheable, with_pool, with_tx};
use crate::domain::storable;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;
use std::borrow::Cow;
use std::collections::HashMap;

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

/// A callback event as it is stored in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// `twilio`, `whatsapp` or `gateway:{name}`.
    pub provider: String,
    /// The provider's id of the event: unique per provider.
    pub event_id: String,
    /// `message`, `status`, or `unknown` (a signed body that is not a known event).
    pub kind: &'static str,
    pub payload: String,
}

/// What interpreting a stored event did, or why it failed.
#[derive(Debug, Clone, Copy)]
pub struct Processed<'a> {
    pub id: i64,
    /// The outcome, or the error.
    pub result: Result<&'a str, &'a str>,
    pub at: DateTime<Utc>,
    /// For a parked status: the provider's message id it waits for.
    pub awaits: Option<&'a str>,
}

impl StoreTx {
    /// Stores the events, each received at its time, skipping those whose (provider, event
    /// id) is already stored or came earlier in the list. Returns, in order, each event's new
    /// row id, `None` for a repeat.
    pub async fn inbox_insert(
        &mut self,
        events: &[(&RawEvent, DateTime<Utc>)],
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let mut new: HashMap<(String, String), i64> = HashMap::with_capacity(events.len());
        let texts: Vec<(Cow<str>, Cow<str>)> = events
            .iter()
            .map(|(e, _)| (storable(&e.event_id), storable(&e.payload)))
            .collect();
        for (chunk, texts) in events
            .chunks(ROWS_PER_STATEMENT)
            .zip(texts.chunks(ROWS_PER_STATEMENT))
        {
            let rows: Vec<(i64, String, String)> = with_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO inbox (provider, event_id, kind, payload, received_at) ",
                );
                q.push_values(chunk.iter().zip(texts), |mut row, ((e, at), (id, payload))| {
                    row.push_bind(e.provider.as_str())
                        .push_bind(id.as_ref())
                        .push_bind(e.kind)
                        .push_bind(payload.as_ref())
                        .push_bind(*at);
                });
                q.push(" ON CONFLICT (provider, event_id) DO NOTHING RETURNING id, provider, event_id");
                q.build_query_as()
                    .persistent(cacheable(chunk))
                    .fetch_all(&mut *conn)
                    .await?
            });
            new.extend(rows.into_iter().map(|(id, p, e)| ((p, e), id)));
        }
        // The first of repeats within the list takes the row.
        Ok(events
            .iter()
            .zip(&texts)
            .map(|((e, _), (id, _))| new.remove(&(e.provider.clone(), id.to_string())))
            .collect())
    }

    /// Records what interpreting each event did, or why it failed.
    pub async fn inbox_processed(&mut self, processed: &[Processed<'_>]) -> Result<(), StoreError> {
        let dialect = self.dialect();
        for chunk in processed.chunks(ROWS_PER_STATEMENT) {
            with_tx!(self, conn => {
                let mut q = QueryBuilder::new("WITH v (id, at, outcome, error, awaits) AS (");
                q.push_values(chunk, |mut row, p| {
                    dialect.push_typed(&mut row, p.id, "BIGINT");
                    dialect.push_typed(&mut row, p.at, "TIMESTAMPTZ");
                    dialect.push_typed(&mut row, p.result.ok(), "TEXT");
                    dialect.push_typed(&mut row, p.result.err(), "TEXT");
                    dialect.push_typed(&mut row, p.awaits, "TEXT");
                });
                q.push(
                    ") UPDATE inbox SET processed_at = v.at, outcome = v.outcome, error = v.error, \
                     awaits = v.awaits FROM v WHERE inbox.id = v.id",
                );
                q.push(dialect.join_on_values("inbox"));
                q.build()
                    .persistent(cacheable(chunk))
                    .execute(&mut *conn)
                    .await?;
            });
        }
        Ok(())
    }
}

/// The parked statuses ready to be interpreted again: a delivery now carries the message id
/// each waits for, or it was received before `$1` (it waited long enough).
const PARKED_READY: &str = "SELECT i.id, i.provider, i.event_id, i.kind, i.payload, i.received_at, \
     i.processed_at, i.outcome, i.error FROM inbox i WHERE i.outcome = 'status_parked' \
     AND (i.received_at < $1 OR EXISTS \
     (SELECT 1 FROM deliveries d WHERE d.provider_message_id = i.awaits)) ORDER BY i.id LIMIT $2";

impl StoreTx {
    /// Up to `limit` parked statuses ready to be interpreted again (a delivery now carries
    /// their message id, or they were received before `given_up_before`), oldest first, held
    /// until the commit (PostgreSQL skips those another daemon holds).
    pub async fn inbox_parked(
        &mut self,
        given_up_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        let sql = format!("{PARKED_READY}{}", self.dialect().skip_locked());
        Ok(with_tx!(self, conn => {
            sqlx::query_as(&sql)
                .bind(given_up_before)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?
        }))
    }
}

impl Store {
    /// Whether a parked status is ready to be interpreted again (see
    /// [`StoreTx::inbox_parked`]); read without a transaction, so that looking often costs
    /// no write lock.
    pub async fn inbox_parked_ready(
        &self,
        given_up_before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let ready: Vec<InboxEvent> = with_pool!(self, pool => {
            sqlx::query_as(PARKED_READY)
                .bind(given_up_before)
                .bind(1_i64)
                .fetch_all(pool)
                .await?
        });
        Ok(!ready.is_empty())
    }

    /// Events to interpret again, oldest first, after id `after`: those whose interpretation
    /// failed and, with `unfinished`, those with no outcome recorded.
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
