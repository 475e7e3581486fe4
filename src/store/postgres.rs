//! PostgreSQL specifics: a pooled connection to the server named by the URL.

use super::DatabaseUrl;
use super::StoreError;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect(url.expose())
        .await?)
}
