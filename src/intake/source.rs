//! SQL sources: closed contacts read straight from a helpdesk's database (PostgreSQL or
//! SQLite), for helpdesks that can be read directly rather than export files.
//!
//! A source is a query returning rows in the import format (columns named as the CSV header:
//! `contact_id`, `closed_at`, `customer_id`, …; `attr.NAME` columns fill attributes). surveyd
//! wraps it, ordered by `(closed_at, contact_id)` and read in batches after a cursor — the
//! last row read, kept with the source's own column types so it compares as the source does —
//! so each row is read once: the batch's contacts and the cursor that passes them are stored
//! in one transaction. Rows closed within `settle` of now are left for the next poll (their
//! helpdesk transactions may still be committing beside them); so is a row closing more than
//! a day ahead, which every intake path refuses: each poll names it in its warnings, the rows
//! closing before it are read meanwhile (a cursor past it would skip them), and it is read
//! once its time has come. One daemon polls a source at a time (a lease); `surveyd serve`
//! polls on each source's schedule, `surveyd sources poll` by hand. A row that is not a valid
//! contact is skipped, counted and logged with its contact id and the field; the rows beside
//! it are stored. Text is cleaned as every intake path cleans it (`record`).

mod values;

use super::record::{Column, ParseContext, RawContact};
use crate::campaign::schedule::Schedule;
use crate::clock::Clock;
use crate::store::{Backend, DatabaseUrl};
use crate::store::{SourceCounts, Store, UpsertCounts};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::watch;
pub use values::{Cursor, SqlValue};
use values::{SourceRow, fetch, postgres_row, sqlite_row};

/// How many rejected rows a poll report quotes (the log has them all).
const REJECTS_QUOTED: usize = 20;

/// A `[[sources]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSettings {
    /// Unique; letters, digits, `-` and `_`.
    pub name: String,
    /// `postgres://reader:…@host/helpdesk`, or `sqlite://path/helpdesk.db` (opened read-only).
    pub url: DatabaseUrl,
    /// Returns closed contacts in the import format; surveyd adds the order, the cursor and
    /// the limit around it.
    pub query: String,
    /// When `surveyd serve` polls it: `{ every = "5m" }` or `{ cron = "*/10 * * * *" }`.
    pub schedule: Schedule,
    /// Rows read per batch (and stored per transaction).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Rows closed less than this long ago wait for the next poll.
    #[serde(default = "default_settle", with = "crate::domain::duration")]
    pub settle: Duration,
}

fn default_batch_size() -> usize {
    1000
}

fn default_settle() -> Duration {
    Duration::from_secs(60)
}

/// Checks the sources; every problem is listed, each naming its source.
pub fn check(sources: &[SourceSettings]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for s in sources {
        let place = format!("source `{}`", s.name);
        if !crate::campaign::is_name(&s.name) {
            problems.push(format!(
                "{place}: the name must be letters, digits, `-` and `_`"
            ));
        }
        if !names.insert(s.name.as_str()) {
            problems.push(format!("{place} is defined twice"));
        }
        if s.query.trim().trim_end_matches(';').trim().is_empty() {
            problems.push(format!("{place}: query is empty"));
        }
        if s.batch_size == 0 {
            problems.push(format!("{place}: batch_size must be at least 1"));
        }
        if let Schedule::Every(every) = &s.schedule
            && every.as_secs() < 10
        {
            problems.push(format!(
                "{place}: schedule.every must be at least 10 seconds, not {}",
                crate::campaign::describe(*every)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// What one poll did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollReport {
    pub source: String,
    /// Another daemon was polling the source: this poll read nothing.
    pub held_elsewhere: bool,
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// The first rejected rows, each with its contact id and reason.
    pub rejects: Vec<String>,
    /// Columns of the query that are not in the import format (ignored), and the row closing
    /// more than a day ahead that waits, if one does.
    pub warnings: Vec<String>,
}

/// A source, connected lazily: a helpdesk that is down fails its polls, not the daemon.
pub struct SqlSource {
    pub settings: SourceSettings,
    pool: Pool,
    cx: ParseContext,
    /// How long a daemon holds the source while it polls (renewed with each batch).
    lease: chrono::Duration,
}

impl SqlSource {
    /// The source `settings` names, read against `cx`, held for `lease` while polled.
    pub fn new(
        settings: &SourceSettings,
        cx: ParseContext,
        lease: Duration,
    ) -> anyhow::Result<SqlSource> {
        let place = || format!("source `{}`: url {}", settings.name, settings.url);
        let backend = settings
            .url
            .backend()
            .map_err(anyhow::Error::msg)
            .with_context(place)?;
        let pool = match backend {
            Backend::Sqlite => {
                use std::str::FromStr;
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(settings.url.expose())
                    .with_context(place)?
                    .read_only(true);
                Pool::Sqlite(
                    sqlx::sqlite::SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_lazy_with(options),
                )
            }
            Backend::Postgres => Pool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_lazy(settings.url.expose())
                    .with_context(place)?,
            ),
        };
        Ok(SqlSource {
            settings: settings.clone(),
            pool,
            cx,
            lease: chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX),
        })
    }

    /// Reads every settled row after the stored cursor into `store`, unless another daemon
    /// (`owner` names this one) is polling the source.
    pub async fn poll(
        &self,
        store: &Store,
        clock: &Clock,
        owner: &str,
    ) -> anyhow::Result<PollReport> {
        let name = &self.settings.name;
        let mut report = PollReport {
            source: name.clone(),
            ..PollReport::default()
        };
        let now = clock.now();
        let Some(stored) = store
            .claim_source(name, owner, now, now + self.lease)
            .await?
        else {
            report.held_elsewhere = true;
            return Ok(report);
        };
        let result = match stored.as_deref().map(serde_json::from_str::<Cursor>) {
            Some(Err(e)) => Err(anyhow::anyhow!("the stored cursor is unreadable: {e}")),
            Some(Ok(cursor)) => {
                self.read_all(store, clock, owner, Some(cursor), &mut report)
                    .await
            }
            None => self.read_all(store, clock, owner, None, &mut report).await,
        }
        .with_context(|| format!("source `{name}`"));
        let error = result.as_ref().err().map(|e| format!("{e:#}"));
        store
            .release_source(name, owner, clock.now(), error.as_deref())
            .await?;
        result.map(|()| report)
    }

    /// Reads and stores batches until the rows run out or reach the settle time.
    async fn read_all(
        &self,
        store: &Store,
        clock: &Clock,
        owner: &str,
        mut cursor: Option<Cursor>,
        report: &mut PollReport,
    ) -> anyhow::Result<()> {
        let name = &self.settings.name;
        loop {
            let rows = self.read(cursor.as_ref()).await?;
            let full = rows.len() == self.settings.batch_size;
            let settled = clock.now() - self.settings.settle;
            let mut contacts = Vec::with_capacity(rows.len());
            let mut counts = SourceCounts::default();
            let mut next = cursor.clone();
            let mut waiting = false;
            let now = clock.now();
            for row in &rows {
                let (raw, row_cursor) = self.raw_contact(row, report)?;
                let contact = raw.parse(&self.cx, now);
                if raw.closed_at(&self.cx).is_some_and(|t| t > settled) {
                    // Too recent to read yet. A row closing more than a day ahead is refused
                    // by the parse; it waits too, named on each poll, so that the cursor
                    // never passes the rows that close before it.
                    if let Err(errors) = &contact
                        && let Some(ahead) = errors
                            .iter()
                            .find(|e| e.field.as_deref() == Some(Column::ClosedAt.name()))
                    {
                        let warning =
                            format!("contact {}: {ahead}; it waits until then", id(&row_cursor));
                        tracing::warn!(source = %name, "{warning}");
                        report.warnings.push(warning);
                    }
                    waiting = true;
                    break;
                }
                counts.read += 1;
                match contact {
                    Ok(contact) => {
                        contacts.push(contact);
                        counts.imported += 1;
                    }
                    Err(errors) => {
                        counts.rejected += 1;
                        let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        let reject = format!("contact {}: {}", id(&row_cursor), reasons.join("; "));
                        tracing::warn!(source = %name, "{reject}");
                        if report.rejects.len() < REJECTS_QUOTED {
                            report.rejects.push(reject);
                        }
                    }
                }
                // A row with no closed_at or contact_id cannot be passed: the cursor stays.
                if row_cursor.is_some() {
                    next = row_cursor;
                }
            }
            if counts.read > 0 {
                let moved = next != cursor;
                let now = clock.now();
                let mut tx = store.begin().await?;
                let stored = tx.upsert_contacts(&contacts, now).await?;
                if let Some(next) = next.as_ref().filter(|_| moved) {
                    let text = serde_json::to_string(next)?;
                    tx.advance_source(name, owner, &text, counts, now + self.lease)
                        .await?;
                }
                tx.commit().await?;
                add(report, counts, stored);
                tracing::info!(source = %name, read = counts.read, rejected = counts.rejected, "source batch stored");
                if full && !moved {
                    // A whole batch of rows without a cursor value: reading on would loop.
                    anyhow::bail!(
                        "{} rows without closed_at or contact_id fill a batch; filter them out in the query",
                        counts.read
                    );
                }
                cursor = next;
            }
            if waiting || !full {
                return Ok(());
            }
        }
    }

    /// The query, ordered by the cursor's columns, after the cursor when there is one.
    fn statement(&self, after_cursor: bool) -> String {
        let query = self.settings.query.trim().trim_end_matches(';');
        let after = if after_cursor {
            " WHERE surveyd_source.closed_at > $1 \
             OR (surveyd_source.closed_at = $1 AND surveyd_source.contact_id > $2)"
        } else {
            ""
        };
        format!(
            "SELECT * FROM ({query}) AS surveyd_source{after} \
             ORDER BY surveyd_source.closed_at, surveyd_source.contact_id LIMIT {}",
            self.settings.batch_size
        )
    }

    /// One batch of rows after `cursor`.
    async fn read(&self, cursor: Option<&Cursor>) -> anyhow::Result<Vec<SourceRow>> {
        let sql = self.statement(cursor.is_some());
        let rows = match &self.pool {
            Pool::Sqlite(pool) => {
                drop(pool.acquire().await.map_err(|e| self.failed(e, true))?);
                fetch(pool, &sql, cursor)
                    .await
                    .map_err(|e| self.failed(e, false))?
                    .iter()
                    .map(sqlite_row)
                    .collect::<Result<Vec<_>, _>>()
            }
            Pool::Postgres(pool) => {
                drop(pool.acquire().await.map_err(|e| self.failed(e, true))?);
                fetch(pool, &sql, cursor)
                    .await
                    .map_err(|e| self.failed(e, false))?
                    .iter()
                    .map(postgres_row)
                    .collect::<Result<Vec<_>, _>>()
            }
        };
        rows.map_err(anyhow::Error::msg)
    }

    /// Why a read failed: the database could not be reached (`connecting`), or it refused the
    /// query — then the usual cause is a query that does not return the import format.
    fn failed(&self, e: sqlx::Error, connecting: bool) -> anyhow::Error {
        let why = if connecting {
            format!("cannot read the database {}", self.settings.url)
        } else {
            "the query failed (it must return the import format, \
             with `closed_at` and `contact_id` among its columns)"
                .to_owned()
        };
        anyhow::Error::new(e).context(why)
    }

    /// A row in the import format, and the cursor it would leave (`None`: its closed_at or
    /// contact_id is NULL). Columns outside the format are noted once in `report`.
    fn raw_contact<'r>(
        &self,
        row: &'r SourceRow,
        report: &mut PollReport,
    ) -> anyhow::Result<(RawContact<'r>, Option<Cursor>)> {
        let mut raw = RawContact::default();
        let (mut closed_at, mut contact_id) = (None, None);
        let (mut has_closed_at, mut has_contact_id) = (false, false);
        for (name, value) in row {
            if let Some(attribute) = name.strip_prefix(Column::ATTRIBUTE_PREFIX) {
                if let Some(value) = value {
                    raw.attributes.insert(attribute.to_owned(), value.json());
                }
                continue;
            }
            if name == "attributes" {
                match value.as_ref().map(|v| match v {
                    SqlValue::Text(text) => serde_json::from_str(text).ok(),
                    other => Some(other.json()),
                }) {
                    Some(Some(serde_json::Value::Object(map))) => raw.attributes = map,
                    None => {}
                    Some(_) => anyhow::bail!("column `attributes` must hold a JSON object"),
                }
                continue;
            }
            let Some(column) = Column::named(name) else {
                let warning = format!("column `{name}` is not in the import format; ignored");
                if !report.warnings.contains(&warning) {
                    report.warnings.push(warning);
                }
                continue;
            };
            match column {
                Column::ClosedAt => (has_closed_at, closed_at) = (true, value.clone()),
                Column::ContactId => (has_contact_id, contact_id) = (true, value.clone()),
                _ => {}
            }
            if let Some(value) = value {
                raw.set(column, value.text());
            }
        }
        if !(has_closed_at && has_contact_id) {
            anyhow::bail!(
                "the query must return the columns `closed_at` and `contact_id` (the import format)"
            );
        }
        let cursor = closed_at
            .zip(contact_id)
            .map(|(closed_at, contact_id)| Cursor {
                closed_at,
                contact_id,
            });
        Ok((raw, cursor))
    }
}

/// How a poll's messages name a row: by its contact id.
fn id(cursor: &Option<Cursor>) -> String {
    cursor.as_ref().map_or_else(
        || "without an id".into(),
        |c| c.contact_id.text().escape_debug().to_string(),
    )
}

fn add(report: &mut PollReport, counts: SourceCounts, stored: UpsertCounts) {
    report.read += counts.read;
    report.rejected += counts.rejected;
    report.inserted += stored.inserted;
    report.updated += stored.updated;
    report.unchanged += stored.unchanged;
}

/// The daemon's poller: polls each source when its schedule says, until shutdown.
pub struct SourcePoller {
    store: Store,
    sources: Vec<SqlSource>,
    clock: Clock,
    zone: chrono_tz::Tz,
    owner: String,
}

impl SourcePoller {
    /// The poller of `sources`, each job held for `lease` (`scheduler.lease`).
    pub fn new(
        store: Store,
        sources: &[SourceSettings],
        defaults: &crate::domain::Defaults,
        lease: std::time::Duration,
        clock: Clock,
    ) -> anyhow::Result<SourcePoller> {
        let cx = ParseContext::of(defaults);
        Ok(SourcePoller {
            store,
            sources: sources
                .iter()
                .map(|s| SqlSource::new(s, cx.clone(), lease))
                .collect::<anyhow::Result<_>>()?,
            clock,
            zone: defaults.time_zone.tz(),
            owner: crate::process::name(),
        })
    }

    /// Polls every source that is due; returns when to look again.
    pub async fn tick(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let mut wake: Option<DateTime<Utc>> = None;
        for source in &self.sources {
            let schedule = &source.settings.schedule;
            let polled_at = self.polled_at(&source.settings.name).await?;
            let now = self.clock.now();
            if schedule.due(polled_at, now, self.zone).is_some() {
                match source.poll(&self.store, &self.clock, &self.owner).await {
                    Ok(report) if !report.held_elsewhere => tracing::info!(
                        source = %report.source,
                        read = report.read,
                        inserted = report.inserted,
                        rejected = report.rejected,
                        "source polled"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "source poll failed"),
                }
            }
            let polled_at = self.polled_at(&source.settings.name).await?;
            let next = schedule.next(polled_at, self.clock.now(), self.zone);
            wake = match (wake, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(wake)
    }

    async fn polled_at(&self, source: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok(self
            .store
            .source_states()
            .await?
            .into_iter()
            .find(|s| s.source == source)
            .and_then(|s| s.polled_at))
    }

    /// Polls until `shutdown`.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        if self.sources.is_empty() {
            return;
        }
        crate::campaign::schedule::keep_looking("the sources", &self.clock, shutdown, || {
            self.tick()
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(toml: &str) -> SourceSettings {
        toml::from_str(toml).unwrap()
    }

    const GOOD: &str = r#"
name = "helpdesk"
url = "postgres://reader:s3cret@helpdesk.internal/tickets"
query = "SELECT * FROM closed_contacts;"
schedule = { every = "5m" }
"#;

    #[test]
    fn defaults_and_checks() {
        let s = source(GOOD);
        assert_eq!((s.batch_size, s.settle), (1000, Duration::from_secs(60)));
        assert!(check(std::slice::from_ref(&s)).is_ok());
        // The password never shows.
        let shown = toml::to_string(&s).unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");

        let mut bad = source(&GOOD.replace("5m", "5s"));
        bad.batch_size = 0;
        bad.query = " ; ".into();
        let twin = source(GOOD);
        assert_eq!(
            check(&[s, bad, twin]).unwrap_err(),
            [
                "source `helpdesk` is defined twice",
                "source `helpdesk`: query is empty",
                "source `helpdesk`: batch_size must be at least 1",
                "source `helpdesk`: schedule.every must be at least 10 seconds, not 5s",
                "source `helpdesk` is defined twice",
            ]
        );
        let err = toml::from_str::<SourceSettings>(&GOOD.replace("postgres://", "mysql://"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is neither sqlite://"), "{err}");
    }
}
