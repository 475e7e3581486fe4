//! API tokens made with `surveyd tokens create`, stored only as their SHA-256.

use super::{Store, StoreError, with_pool};
use crate::auth::TokenHash;
use chrono::{DateTime, Utc};

/// A stored token's public facts (never the token).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct ApiToken {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores a token's hash under a unique name.
    pub async fn create_token(
        &self,
        name: &str,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = with_pool!(self, pool => {
            sqlx::query("INSERT INTO api_tokens (name, token_sha256, created_at) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(hash.as_str())
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("a token named `{name}` already exists"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// The name of the stored token with this hash, noting its use.
    pub async fn use_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar(
                "UPDATE api_tokens SET last_used_at = $1 WHERE token_sha256 = $2 RETURNING name",
            )
            .bind(now)
            .bind(hash.as_str())
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as("SELECT name, created_at, last_used_at FROM api_tokens ORDER BY name")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Deletes the token named `name`.
    pub async fn revoke_token(&self, name: &str) -> Result<(), StoreError> {
        let deleted = with_pool!(self, pool => {
            sqlx::query("DELETE FROM api_tokens WHERE name = $1")
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("no token named `{name}`")));
        }
        Ok(())
    }
}
