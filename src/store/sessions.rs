//! Dashboard accounts' server-side state, shared by every daemon on the database: sessions
//! (stored by the SHA-256 of their id, ended by signing out or by `surveyd dashboard
//! end-sessions`) and the count of wrong passwords in a row that locks an account for a while.

use super::{Store, StoreError, with_pool};
use chrono::{DateTime, Utc};

/// A stored session, as the dashboard checks it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredSession {
    pub user_name: String,
    /// The SHA-256 of the password hash the session was opened with.
    pub credential: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl StoredSession {
    /// Whether it still opens the dashboard at `now`.
    pub fn live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

impl Store {
    /// Stores a new session of `user` until `expires_at`, and forgets the ones expired by `now`.
    pub async fn open_session(
        &self,
        id_sha256: &[u8; 32],
        user: &str,
        credential: &[u8; 32],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO dashboard_sessions (id_sha256, user_name, credential, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id_sha256[..])
            .bind(user)
            .bind(&credential[..])
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The session with this id digest, live or not.
    pub async fn session(&self, id_sha256: &[u8; 32]) -> Result<Option<StoredSession>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT user_name, credential, expires_at, revoked_at FROM dashboard_sessions \
                 WHERE id_sha256 = $1",
            )
            .bind(&id_sha256[..])
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Ends one session (signing out).
    pub async fn end_session(
        &self,
        id_sha256: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE dashboard_sessions SET revoked_at = $1 \
                 WHERE id_sha256 = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(&id_sha256[..])
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Ends every live session of `user`; how many there were.
    pub async fn end_sessions_of(&self, user: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query(
                "UPDATE dashboard_sessions SET revoked_at = $1 \
                 WHERE user_name = $2 AND revoked_at IS NULL AND expires_at > $1",
            )
            .bind(now)
            .bind(user)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// Until when `user` refuses sign-in, if it does at `now`.
    pub async fn sign_in_locked(
        &self,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let until: Option<Option<DateTime<Utc>>> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT locked_until FROM dashboard_sign_in_failures WHERE user_name = $1",
            )
            .bind(user)
            .fetch_optional(pool)
            .await?
        });
        Ok(until.flatten().filter(|t| *t > now))
    }

    /// Counts a wrong password for `user`; `lock` turns the count of failures in a row into how
    /// long the account then refuses sign-in (`None`: not yet). Returns the count.
    pub async fn sign_in_failed(
        &self,
        user: &str,
        now: DateTime<Utc>,
        lock: impl Fn(u32) -> Option<chrono::Duration>,
    ) -> Result<u32, StoreError> {
        let failures: i32 = with_pool!(self, pool => {
            sqlx::query_scalar(
                "INSERT INTO dashboard_sign_in_failures (user_name, failures) VALUES ($1, 1) \
                 ON CONFLICT (user_name) DO UPDATE \
                 SET failures = dashboard_sign_in_failures.failures + 1 \
                 RETURNING failures",
            )
            .bind(user)
            .fetch_one(pool)
            .await?
        });
        let failures = failures.max(0) as u32;
        if let Some(wait) = lock(failures) {
            with_pool!(self, pool => {
                sqlx::query(
                    "UPDATE dashboard_sign_in_failures SET locked_until = $1 WHERE user_name = $2",
                )
                .bind(now + wait)
                .bind(user)
                .execute(pool)
                .await?;
            });
        }
        Ok(failures)
    }

    /// Forgets `user`'s failures after a right password.
    pub async fn sign_in_succeeded(&self, user: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM dashboard_sign_in_failures WHERE user_name = $1")
                .bind(user)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
