//! A connection of the test's own to its database, beside the store's pool, for the SQL a
//! test runs itself: an older schema, a fault injected, a checkpoint, a count the store has
//! no call for.

/// A small pool on the database at a `sqlite://` or `postgres://` URL.
pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    pub async fn connect(url: &str) -> Raw {
        if url.starts_with("sqlite:") {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let pool = sqlx::pool::PoolOptions::new()
                .max_connections(2)
                .connect_with(options.busy_timeout(std::time::Duration::from_secs(10)))
                .await
                .unwrap();
            Raw::Sqlite(pool)
        } else {
            let pool = sqlx::pool::PoolOptions::new()
                .max_connections(2)
                .connect(url)
                .await
                .unwrap();
            Raw::Postgres(pool)
        }
    }

    /// Runs `sql` (one or more statements, no parameters).
    pub async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Raw::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
    }
}
