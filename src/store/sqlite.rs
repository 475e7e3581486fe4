//! SQLite specifics: the file (0600) and its folders (0700) are created on first use; WAL journal so readers
//! never wait for the writer; a busy timeout so concurrent writers queue instead of failing.

use super::DatabaseUrl;
use super::StoreError;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The file an SQLite URL names; `None` for an in-memory database.
pub fn file(url: &DatabaseUrl) -> Option<std::path::PathBuf> {
    let options = SqliteConnectOptions::from_str(url.expose()).ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty() && path.as_os_str() != ":memory:").then(|| path.to_owned())
}

pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url.expose())?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true)
        // 64 MiB of page cache per connection (SQLite's default is 2 MiB): indexes on
        // scattered keys (customer ids) stay in memory, so large imports keep their pace.
        .pragma("cache_size", "-65536")
        // Checkpoint the WAL back into the file every 64 MiB (SQLite's default is 4 MiB): a
        // bulk write (planning, an import) rewrites each scattered index page once per
        // checkpoint, so fewer, larger checkpoints write and sync far less.
        .pragma("wal_autocheckpoint", "16384");
    if let Some(folder) = options.get_filename().parent()
        && !folder.as_os_str().is_empty()
    {
        crate::private::create_dir_all(folder).map_err(|error| StoreError::Folder {
            path: folder.to_owned(),
            error,
        })?;
    }
    // A new database file is the owner's alone (SQLite gives its journal files the file's mode).
    if let Some(path) = file(url) {
        match crate::private::new_file().open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(StoreError::File { path, error }),
        }
    }
    Ok(SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?)
}
