//! One storage API over two backends: an embedded SQLite file (the default) and PostgreSQL
//! (to share the work between daemons).
//!
//! Queries are written once: [`with_pool!`] expands a body for each backend's pool, and the
//! SQL they share is the part both databases speak (`ON CONFLICT … DO UPDATE`, `RETURNING`,
//! `IS DISTINCT FROM`). Where the backends differ, connecting and migrations are in `sqlite.rs`
//! and `postgres.rs`, and each difference in the SQL is named once in `dialect.rs`. Which
//! backend a [`Store`] runs on is its own business: callers see one API.

mod alerts;
mod contacts;
mod conversations;
mod customers;
mod dialect;
mod erasure;
mod export;
mod inbox;
mod invitations;
mod outbox;
mod postgres;
mod queue;
mod report;
mod report_days;
mod responses;
mod runs;
mod sessions;
mod settings;
mod sources;
mod sqlite;
mod tokens;

pub use alerts::{ALERT_STATES, Alert, AlertAction, AlertDecision};
pub use contacts::{TableCounts, UpsertCounts};
pub use conversations::{ChatAnswer, Conversation, StatusApplied};
pub use customers::{Customer, CustomerContact, CustomerInvitation, CustomerRecord, OptOut};
pub use erasure::{AuditEvent, Erased, Forgotten};
pub use export::AnsweredInvitation;
pub use inbox::{InboxEvent, InboxStatus, Processed, RawEvent};
pub use invitations::{Invited, PlanCounts, SkipCounts};
pub use outbox::{Claimed, FinalStatus, FollowUp, Outcome, ReminderDue};
pub use queue::{FailedDelivery, LatestError, OutboxStatus, QueueDepth, StuckDeliveries};
pub use report::{
    BandCounts, Breakdown, GroupCounts, GroupKeys, Parts, Period, RepeatCounts, ReportQuery,
    SurveyCounts, Tallies,
};
pub use report_days::SummarySettings;
pub use responses::{OpenedInvitation, StoredAnswer};
pub use runs::{CampaignRun, RunTally, TickState};
pub use sessions::StoredSession;
pub use settings::{Backend, DatabaseSettings, DatabaseUrl, RetentionSettings};
pub use sources::{SourceCounts, SourceState};
pub use tokens::ApiToken;

use dialect::Dialect;
use sqlx::{PgPool, SqlitePool};

/// A connection pool to the configured database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

/// The backend's pool: which one is the store's own business ([`Dialect`] names what differs).
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // Display carries the cause's text; no `source` chain, so reports do not repeat it.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("cannot create the database folder {path}: {error}")]
    Folder {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("cannot create the database file {path}: {error}")]
    File {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("stored {what} is invalid: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// Opened to read, but nothing is there: a file that does not exist, a database with no
    /// surveyd tables.
    #[error("no database at {0}")]
    NoDatabase(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

/// Rows per statement, well under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 1000;

/// Whether a bulk statement over `rows` is worth keeping prepared: only full chunks repeat the
/// same text; caching every odd length fills the statement cache with large one-off programs.
pub(crate) fn cacheable<T>(rows: &[T]) -> bool {
    rows.len() == ROWS_PER_STATEMENT
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body is compiled once per backend.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Runs `$body` with `$conn` bound to the backend's open transaction (as `&mut` connection).
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match &mut ($tx).conn {
            $crate::store::TxConn::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            $crate::store::TxConn::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use with_tx;

/// An open transaction: several writes that land together or not at all.
#[derive(Debug)]
pub struct StoreTx {
    conn: TxConn,
    /// Rows inserted in bulk at commit (chat messages and answers of webhook batches).
    deferred: conversations::Deferred,
    /// What was deferred when the mark was set.
    mark: conversations::DeferredLen,
}

/// The backend's transaction.
#[derive(Debug)]
pub(crate) enum TxConn {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl StoreTx {
    fn new(conn: TxConn) -> Self {
        StoreTx {
            conn,
            deferred: Default::default(),
            mark: Default::default(),
        }
    }

    /// Writes the deferred rows, then commits.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        self.write_deferred().await?;
        match self.conn {
            TxConn::Sqlite(tx) => tx.commit().await?,
            TxConn::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub(crate) fn dialect(&self) -> Dialect {
        Dialect::of(match self.conn {
            TxConn::Sqlite(_) => Backend::Sqlite,
            TxConn::Postgres(_) => Backend::Postgres,
        })
    }

    /// Marks the point [`StoreTx::undo`] returns to; [`StoreTx::keep`] drops the mark and
    /// keeps what was written since. One mark at a time.
    pub async fn mark(&mut self) -> Result<(), StoreError> {
        self.mark = self.deferred.len();
        self.raw("SAVEPOINT mark").await
    }

    /// Writes what was deferred since the mark, then drops the mark: a failure here is still
    /// the marked work's, for [`StoreTx::undo`].
    pub async fn keep(&mut self) -> Result<(), StoreError> {
        self.write_deferred().await?;
        self.raw("RELEASE SAVEPOINT mark").await
    }

    /// Undoes what was written (or deferred) since the mark (and, on PostgreSQL, clears a
    /// failed statement's abort of the transaction), keeping what came before.
    pub async fn undo(&mut self) -> Result<(), StoreError> {
        self.deferred.truncate(self.mark);
        self.raw("ROLLBACK TO SAVEPOINT mark").await?;
        self.raw("RELEASE SAVEPOINT mark").await
    }

    async fn raw(&mut self, sql: &'static str) -> Result<(), StoreError> {
        with_tx!(self, conn => {
            sqlx::query(sql).execute(&mut *conn).await?;
        });
        Ok(())
    }
}

impl StoreError {
    /// Whether trying the same work again may succeed: a deadlock or serialization failure
    /// on PostgreSQL, a busy or locked database on SQLite.
    pub fn is_retryable(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(e)) = self else {
            return false;
        };
        if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
            // The primary code is the low byte of the extended one (517 is BUSY_SNAPSHOT).
            e.code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6))
        } else {
            matches!(e.code().as_deref(), Some("40P01" | "40001"))
        }
    }
}

impl Store {
    /// Connects to `url` (creating an SQLite file and its folders if missing) without migrating.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Store, StoreError> {
        let backend = url
            .backend()
            .map_err(|e| StoreError::Database(sqlx::Error::Configuration(e.into())))?;
        Ok(match backend {
            Backend::Sqlite => Pool::Sqlite(sqlite::connect(url, max_connections).await?),
            Backend::Postgres => Pool::Postgres(postgres::connect(url, max_connections).await?),
        })
        .map(|pool| Store { pool })
    }

    /// Connects and runs pending migrations: what the daemon and the CLI do on start.
    pub async fn open(url: &DatabaseUrl, max_connections: u32) -> Result<Store, StoreError> {
        let store = Store::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a database that already holds surveyd's tables, upgrading it if needed; creates
    /// nothing (a command that only reads, run in the wrong folder, must not make a new,
    /// empty database and report zeros from it).
    pub async fn open_existing(
        url: &DatabaseUrl,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        if url.backend() == Ok(Backend::Sqlite)
            && let Some(path) = sqlite::file(url)
            && !path.exists()
        {
            let shown = std::path::absolute(&path).unwrap_or(path);
            return Err(StoreError::NoDatabase(shown.display().to_string()));
        }
        let store = Store::connect(url, max_connections).await?;
        if store.applied_migrations().await? == 0 {
            store.close().await;
            return Err(StoreError::NoDatabase(format!(
                "{url} (it has no surveyd tables)"
            )));
        }
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not yet applied; safe to run from several daemons at once
    /// (PostgreSQL migrations take an advisory lock). Returns how many were applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let before = self.applied_migrations().await?;
        match &self.pool {
            Pool::Sqlite(pool) => sqlite::MIGRATOR.run(pool).await?,
            Pool::Postgres(pool) => postgres::MIGRATOR.run(pool).await?,
        }
        Ok(self.applied_migrations().await? - before)
    }

    /// How many of the migrations this binary carries the database has not applied (it is
    /// being upgraded by another process, or was restored from before an upgrade).
    pub async fn pending_migrations(&self) -> Result<usize, StoreError> {
        let known = match &self.pool {
            Pool::Sqlite(_) => sqlite::MIGRATOR.iter().count(),
            Pool::Postgres(_) => postgres::MIGRATOR.iter().count(),
        };
        Ok(known.saturating_sub(self.applied_migrations().await?))
    }

    async fn applied_migrations(&self) -> Result<usize, StoreError> {
        // The table does not exist before the first migration.
        let count: Result<i64, sqlx::Error> = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await
        });
        Ok(count.map(|n| n as usize).unwrap_or(0))
    }

    /// Starts a transaction (on SQLite it takes the write lock at the first write).
    pub async fn begin(&self) -> Result<StoreTx, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => StoreTx::new(TxConn::Sqlite(pool.begin().await?)),
            Pool::Postgres(pool) => StoreTx::new(TxConn::Postgres(pool.begin().await?)),
        })
    }

    /// Starts a transaction that writes from its first statement: on SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`), so what it reads first is still current when it writes.
    pub async fn begin_write(&self) -> Result<StoreTx, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => {
                StoreTx::new(TxConn::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?))
            }
            Pool::Postgres(pool) => StoreTx::new(TxConn::Postgres(pool.begin().await?)),
        })
    }

    /// Copies what the SQLite write-ahead log holds into the database file, waiting for no one
    /// (a passive checkpoint), so a request's commit does not have to; nothing on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if let Pool::Sqlite(pool) = &self.pool {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub(crate) fn dialect(&self) -> Dialect {
        Dialect::of(match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        })
    }

    /// Whether one connection writes at a time (SQLite): more writers only wait on each other,
    /// and the write-ahead log wants checkpoints.
    pub fn single_writer(&self) -> bool {
        self.dialect().single_writer()
    }

    /// Waits for connections in use to be returned, then closes them.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}
