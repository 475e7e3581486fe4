//! Where each SQL source stands: the cursor of its last row read, who is polling it (a lease,
//! so one daemon polls a source at a time and another takes over when it died), and what its
//! polls counted. The contacts of a batch and the cursor that passes them are written in one
//! transaction, so a row is stored exactly when the cursor moves past it.

use super::{Store, StoreError, StoreTx, with_pool, with_tx};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A source's record, for `surveyd sources list` and the poller's schedule.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SourceState {
    pub source: String,
    /// The last row read, as JSON (`closed_at` and `contact_id` with the source's types).
    pub cursor: Option<String>,
    pub owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// When the last poll finished.
    pub polled_at: Option<DateTime<Utc>>,
    pub read: i64,
    pub imported: i64,
    pub rejected: i64,
    pub last_error: Option<String>,
}

/// What one batch of a poll read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    pub read: u64,
    pub imported: u64,
    pub rejected: u64,
}

impl Store {
    /// Takes `source` for `owner` until `lease_until`, unless another daemon holds it at
    /// `now`. Returns the stored cursor (`Some(None)`: none yet), or `None` when it is held.
    pub async fn claim_source(
        &self,
        source: &str,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Option<String>>, StoreError> {
        let claimed: Option<(Option<String>,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO source_cursors (source, owner, lease_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (source) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until \
                 WHERE source_cursors.lease_until IS NULL OR source_cursors.lease_until <= $4 \
                 OR source_cursors.owner = excluded.owner \
                 RETURNING cursor",
            )
            .bind(source)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(claimed.map(|(cursor,)| cursor))
    }

    /// Ends `owner`'s poll of `source` at `now`: the lease is let go, the poll's time and
    /// error (`None`: it went well) recorded.
    pub async fn release_source(
        &self,
        source: &str,
        owner: &str,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE source_cursors SET lease_until = NULL, polled_at = $1, last_error = $2 \
                 WHERE source = $3 AND owner = $4",
            )
            .bind(now)
            .bind(error)
            .bind(source)
            .bind(owner)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every source's record, by name.
    pub async fn source_states(&self) -> Result<Vec<SourceState>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT source, cursor, owner, lease_until, polled_at, read, imported, rejected, last_error \
                 FROM source_cursors ORDER BY source",
            )
            .fetch_all(pool)
            .await?
        }))
    }
}

impl StoreTx {
    /// Moves `source`'s cursor to `cursor` and adds `counts`, renewing `owner`'s lease until
    /// `lease_until`. Fails with a conflict when `owner` no longer holds the source (its lease
    /// ran out and another daemon took it): the caller rolls the batch back.
    pub async fn advance_source(
        &mut self,
        source: &str,
        owner: &str,
        cursor: &str,
        counts: SourceCounts,
        lease_until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let moved = with_tx!(self, conn => {
            sqlx::query(
                "UPDATE source_cursors SET cursor = $1, read = read + $2, imported = imported + $3, \
                 rejected = rejected + $4, lease_until = $5 WHERE source = $6 AND owner = $7",
            )
            .bind(cursor)
            .bind(counts.read as i64)
            .bind(counts.imported as i64)
            .bind(counts.rejected as i64)
            .bind(lease_until)
            .bind(source)
            .bind(owner)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if moved == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "source `{source}` is being polled by another daemon now (this one's lease ran out)"
            )))
        }
    }
}
