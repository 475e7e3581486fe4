//! The per-day report summary (migration 0010): per local day and per value of one breakdown
//! (or of none), the tallies of the invitations sent and the contacts closed that day, with a
//! histogram of the times to answer. Triggers note each change to what it counts;
//! [`Store::refresh_report_days`] turns the changes into dirty days and counts those again.
//! [`Store::report_tallies`] reads whole clean days here and the rest — the partial days at a
//! range's ends, the days changed since — from the rows, so a report is exact in any state of
//! the summary and reads a few hundred rows a day instead of every answer.

mod days;

use super::dialect::Dialect;
use super::report::{DATA_SPAN, survey_counts};
use super::{
    Breakdown, Parts, ROWS_PER_STATEMENT, ReportQuery, Store, StoreError, SurveyCounts, Tallies,
    with_pool, with_tx,
};
use crate::domain::TimeZone;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use days::{Merged, Names, Split, day_start, days_touched, local_day, next_day, summary_keys};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, BTreeSet};

/// The breakdowns the summary keeps, `None` standing for everything in one group.
const DIMENSIONS: [Option<Breakdown>; 7] = [
    None,
    Some(Breakdown::Agent),
    Some(Breakdown::Team),
    Some(Breakdown::Campaign),
    Some(Breakdown::Channel),
    Some(Breakdown::Category),
    Some(Breakdown::ContactChannel),
];

/// Changes turned into dirty days per transaction.
const CHANGES_PER_BATCH: i64 = 10_000;

fn dimension_name(dimension: Option<Breakdown>) -> String {
    dimension.map_or_else(|| "all".to_owned(), |b| b.as_ref().to_owned())
}

/// What the summary is counted with; a report with other settings reads the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummarySettings {
    /// Days are local days here.
    pub time_zone: TimeZone,
    /// Contacts followed by another within this are repeats.
    pub repeat_window: Duration,
    /// CSAT ratings from this one up are satisfied.
    pub csat_top_box: i16,
}

impl SummarySettings {
    /// Whether the report of `query` can read a summary counted with these settings: the same
    /// zone and counting, at most one breakdown besides the period.
    fn serves(&self, query: &ReportQuery) -> bool {
        self.time_zone == query.time_zone
            && self.csat_top_box == query.csat_top_box
            && query.repeat_window.is_none_or(|w| w == self.repeat_window)
            && query.by.iter().filter(|b| **b != Breakdown::Period).count() <= 1
    }
}

#[derive(sqlx::FromRow)]
struct StoredSettings {
    time_zone: String,
    repeat_window_seconds: i64,
    csat_top_box: i16,
}

/// The breakdown values of a group of invitations (or contacts: no campaign, no channel).
#[derive(sqlx::FromRow)]
struct CellKeys {
    agent_id: Option<i64>,
    team_id: Option<i64>,
    campaign: Option<String>,
    channel: Option<String>,
    category: Option<String>,
    contact_channel: Option<String>,
}

impl CellKeys {
    /// The summary's value for `dimension` (agents and teams by their row id); `None` where
    /// the cell has no such breakdown.
    fn value(&self, dimension: Option<Breakdown>) -> Option<String> {
        let id = |id: Option<i64>| id.map_or_else(String::new, |id| id.to_string());
        Some(match dimension {
            None => String::new(),
            Some(Breakdown::Agent) => id(self.agent_id),
            Some(Breakdown::Team) => id(self.team_id),
            Some(Breakdown::Campaign) => self.campaign.clone()?,
            Some(Breakdown::Channel) => self.channel.clone()?,
            Some(Breakdown::Category) => self.category.clone().unwrap_or_default(),
            Some(Breakdown::ContactChannel) => self.contact_channel.clone().unwrap_or_default(),
            Some(Breakdown::Period) => unreachable!("periods are the summary's days"),
        })
    }
}

/// A day's invitations of one combination of breakdown values and time-to-answer band.
#[derive(sqlx::FromRow)]
struct InvitationCell {
    #[sqlx(flatten)]
    keys: CellKeys,
    band: Option<i16>,
    #[sqlx(flatten)]
    counts: SurveyCounts,
}

/// A day's contacts of one combination of breakdown values.
#[derive(sqlx::FromRow)]
struct ContactCell {
    #[sqlx(flatten)]
    keys: CellKeys,
    contacts: i64,
    repeated: i64,
}

/// One value's tallies on one day, as the summary keeps them.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ValueTallies {
    /// The breakdown's value (agents and teams by row id).
    value: String,
    counts: SurveyCounts,
    contacts: i64,
    repeated: i64,
    /// Answers per time-to-answer band, bands rising.
    bands: Vec<(i16, i64)>,
}

/// One value's tallies on one day, as they are counted.
#[derive(Debug, Default)]
struct DayTotals {
    counts: SurveyCounts,
    contacts: i64,
    repeated: i64,
    bands: BTreeMap<i16, i64>,
}

/// The local day `t` falls on.
impl Store {
    /// Counts everything a report of `query` needs: whole clean days from the per-day summary
    /// when it was counted with the query's settings, the rest from the rows.
    pub async fn report_tallies(&self, query: &ReportQuery) -> Result<Tallies, StoreError> {
        let Some(settings) = self.summary_settings().await?.filter(|s| s.serves(query)) else {
            return self.report_tallies_from_rows(query, Parts::All).await;
        };
        let tz = settings.time_zone;
        // Changes first, then dirty days: a change is always in one or the other.
        let (_, mut dirty) = self.begin().await?.changed_days(&settings, None).await?;
        dirty.extend(self.dirty_days().await?.into_iter().map(|(day, _)| day));
        let repeats = query
            .repeat_window
            .filter(|_| query.by.iter().all(|b| b.of_contacts()));
        let invitations = Split::new(tz, query.since, query.until, &dirty);
        let contacts = repeats.map(|window| {
            let settled = query.now - window;
            let until = query.until.map_or(settled, |u| u.min(settled));
            Split::new(tz, query.since, Some(until), &dirty)
        });

        let mut merged = Merged::default();
        let mut stretches: Vec<_> = invitations
            .rows
            .iter()
            .map(|r| (*r, Parts::Invitations))
            .collect();
        if let Some(c) = &contacts {
            stretches.extend(c.rows.iter().map(|r| (*r, Parts::Contacts)));
        }
        for ((since, until), parts) in stretches {
            let stretch = ReportQuery {
                since: Some(since),
                until: Some(until),
                ..query.clone()
            };
            merged.add(self.report_tallies_from_rows(&stretch, parts).await?);
        }

        let dimension = query.by.iter().copied().find(|b| *b != Breakdown::Period);
        let names = self.summary_names(dimension).await?;
        let lowest = |a: Option<NaiveDate>, b: Option<NaiveDate>| a.zip(b).map(|(a, b)| a.min(b));
        let (first, end) = match &contacts {
            Some(c) => (
                lowest(invitations.first, c.first),
                invitations.end.zip(c.end).map(|(a, b)| a.max(b)),
            ),
            None => (invitations.first, invitations.end),
        };
        let days: Vec<(NaiveDate, Vec<u8>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT day, tallies FROM report_days \
                 WHERE dimension = $1 AND ($2 IS NULL OR day >= $2) AND ($3 IS NULL OR day < $3)",
            )
            .bind(dimension_name(dimension))
            .bind(first)
            .bind(end)
            .fetch_all(pool)
            .await?
        });
        for (day, tallies) in days {
            if dirty.contains(&day) {
                continue;
            }
            let values: Vec<ValueTallies> =
                postcard::from_bytes(&tallies).map_err(|e| StoreError::Corrupt {
                    what: "report summary",
                    reason: format!("{day}: {e}"),
                })?;
            for v in values {
                let group = merged.group(&summary_keys(query, &names, &day, &v.value));
                if invitations.holds(day) {
                    group.counts.add(&v.counts);
                    for (band, answers) in v.bands {
                        group.add_band(band, answers);
                    }
                }
                if contacts.as_ref().is_some_and(|c| c.holds(day)) {
                    group.contacts += v.contacts;
                    group.repeated += v.repeated;
                }
            }
        }
        Ok(merged.into_tallies(repeats.is_some()))
    }

    /// Brings the summary up to date for `settings`: counts it afresh when it was counted with
    /// others (or never), turns the changes noted since into dirty days, and counts each dirty
    /// day again. Returns the days counted.
    pub async fn refresh_report_days(
        &self,
        settings: &SummarySettings,
    ) -> Result<usize, StoreError> {
        if self.summary_settings().await?.as_ref() != Some(settings) {
            self.restart_summary(settings).await?;
        }
        while self.mark_changed_days(settings).await? {}
        let mut counted = 0;
        for (day, version) in self.dirty_days().await? {
            self.count_day(settings, day, version).await?;
            counted += 1;
        }
        Ok(counted)
    }

    async fn summary_settings(&self) -> Result<Option<SummarySettings>, StoreError> {
        let stored: Option<StoredSettings> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT time_zone, repeat_window_seconds, csat_top_box FROM report_summary WHERE id = 1",
            )
            .fetch_optional(pool)
            .await?
        });
        Ok(stored.and_then(|s| {
            Some(SummarySettings {
                time_zone: TimeZone::parse(&s.time_zone).ok()?,
                repeat_window: Duration::seconds(s.repeat_window_seconds),
                csat_top_box: s.csat_top_box,
            })
        }))
    }

    /// The dirty days with their versions.
    async fn dirty_days(&self) -> Result<Vec<(NaiveDate, i64)>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as("SELECT day, version FROM report_dirty_days ORDER BY day")
                .fetch_all(pool)
                .await?
        }))
    }

    /// Empties the summary, records `settings` and marks every day with data dirty.
    async fn restart_summary(&self, settings: &SummarySettings) -> Result<(), StoreError> {
        let empty = self.dialect().empty_table();
        let mut tx = self.begin_write().await?;
        let span: (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = with_tx!(tx, conn => {
            for table in ["report_days", "report_dirty_days", "report_changes"] {
                sqlx::query(&format!("{empty} {table}")).execute(&mut *conn).await?;
            }
            sqlx::query(
                "INSERT INTO report_summary (id, time_zone, repeat_window_seconds, csat_top_box) \
                 VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET time_zone = excluded.time_zone, \
                 repeat_window_seconds = excluded.repeat_window_seconds, csat_top_box = excluded.csat_top_box",
            )
            .bind(settings.time_zone.as_str())
            .bind(settings.repeat_window.num_seconds())
            .bind(settings.csat_top_box)
            .execute(&mut *conn)
            .await?;
            sqlx::query_as(DATA_SPAN).fetch_one(&mut *conn).await?
        });
        let tz = settings.time_zone;
        if let (Some(first), Some(last)) = span {
            let days: Vec<NaiveDate> = local_day(tz, first)
                .iter_days()
                .take_while(|d| *d <= local_day(tz, last))
                .collect();
            // Counting from scratch takes about 20 s per million answers: say so.
            tracing::info!(
                days = days.len(),
                time_zone = tz.as_str(),
                "counting the reports' per-day summary from scratch"
            );
            tx.mark_dirty(&days).await?;
        }
        tx.commit().await
    }

    /// Turns a batch of noted changes into dirty days; whether there were any.
    async fn mark_changed_days(&self, settings: &SummarySettings) -> Result<bool, StoreError> {
        // Read outside the write lock; the write marks the days and removes exactly the
        // changes read (another process doing the same at once marks them twice, harmlessly).
        let (ids, days) = self
            .begin()
            .await?
            .changed_days(settings, Some(CHANGES_PER_BATCH))
            .await?;
        if ids.is_empty() {
            return Ok(false);
        }
        let mut tx = self.begin_write().await?;
        tx.mark_dirty(&days.into_iter().collect::<Vec<_>>()).await?;
        with_tx!(tx, conn => {
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new("DELETE FROM report_changes WHERE id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                q.build().execute(&mut *conn).await?;
            }
        });
        tx.commit().await?;
        Ok(true)
    }

    /// Agents' or teams' keys and names by row id, for a summary of that breakdown.
    async fn summary_names(&self, dimension: Option<Breakdown>) -> Result<Names, StoreError> {
        let sql = match dimension {
            Some(Breakdown::Agent) => {
                "SELECT CAST(a.id AS TEXT), a.external_id, CAST(a.name AS TEXT), \
                 COALESCE(t.external_id, '') FROM agents a LEFT JOIN teams t ON t.id = a.team_id"
            }
            Some(Breakdown::Team) => {
                "SELECT CAST(id AS TEXT), external_id, CAST(name AS TEXT), '' FROM teams"
            }
            _ => return Ok(Names::new()),
        };
        let rows: Vec<(String, String, Option<String>, String)> = with_pool!(self, pool => {
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, key, name, team)| (id, (key, name, team)))
            .collect())
    }

    /// Counts one dirty day again, and leaves it dirty if it changed since `version` was read.
    async fn count_day(
        &self,
        settings: &SummarySettings,
        day: NaiveDate,
        version: i64,
    ) -> Result<(), StoreError> {
        let (start, end) = (
            day_start(settings.time_zone, day),
            day_start(settings.time_zone, next_day(day)),
        );
        let window_days = settings.repeat_window.num_seconds() as f64 / 86_400.0;
        let invitations_sql = format!(
            "SELECT c.agent_id, c.team_id, i.campaign, i.channel, c.category, c.contact_channel, \
             i.answer_band AS band, {} \
             FROM invitations i JOIN contacts c ON c.id = i.contact_id \
             WHERE i.sent_at >= $1 AND i.sent_at < $2 \
             GROUP BY c.agent_id, c.team_id, i.campaign, i.channel, c.category, c.contact_channel, i.answer_band",
            survey_counts("$3")
        );
        let contacts_sql = format!(
            "SELECT c.agent_id, c.team_id, CAST(NULL AS TEXT) AS campaign, CAST(NULL AS TEXT) AS channel, \
             c.category, c.contact_channel, COUNT(*) AS contacts, \
             COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0) AS repeated \
             FROM contacts c WHERE c.closed_at >= $1 AND c.closed_at < $2 \
             GROUP BY c.agent_id, c.team_id, c.category, c.contact_channel",
            self.repeated("$3"),
        );
        let (invitations, contacts): (Vec<InvitationCell>, Vec<ContactCell>) = with_pool!(self, pool => {(
            sqlx::query_as(&invitations_sql)
                .bind(start)
                .bind(end)
                .bind(settings.csat_top_box)
                .fetch_all(pool)
                .await?,
            sqlx::query_as(&contacts_sql)
                .bind(start)
                .bind(end)
                .bind(window_days)
                .fetch_all(pool)
                .await?,
        )});
        let mut rows = Vec::new();
        for dimension in DIMENSIONS {
            let mut totals: BTreeMap<String, DayTotals> = BTreeMap::new();
            for cell in &invitations {
                if let Some(value) = cell.keys.value(dimension) {
                    let t = totals.entry(value).or_default();
                    t.counts.add(&cell.counts);
                    if let Some(band) = cell.band {
                        *t.bands.entry(band).or_default() += cell.counts.sent;
                    }
                }
            }
            for cell in &contacts {
                if let Some(value) = cell.keys.value(dimension) {
                    let t = totals.entry(value).or_default();
                    t.contacts += cell.contacts;
                    t.repeated += cell.repeated;
                }
            }
            let values: Vec<ValueTallies> = totals
                .into_iter()
                .map(|(value, t)| ValueTallies {
                    value,
                    counts: t.counts,
                    contacts: t.contacts,
                    repeated: t.repeated,
                    bands: t.bands.into_iter().collect(),
                })
                .collect();
            let tallies = postcard::to_allocvec(&values).expect("tallies encode");
            rows.push((dimension_name(dimension), tallies));
        }
        // Claim the day at the version read: if it changed since, or another process counted
        // it meanwhile, write nothing (it stays dirty, or is counted already).
        let mut tx = self.begin_write().await?;
        let claimed = with_tx!(tx, conn => {
            sqlx::query("DELETE FROM report_dirty_days WHERE day = $1 AND version = $2")
                .bind(day)
                .bind(version)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if claimed == 0 {
            return Ok(());
        }
        with_tx!(tx, conn => {
            sqlx::query("DELETE FROM report_days WHERE day = $1")
                .bind(day)
                .execute(&mut *conn)
                .await?;
            for (dimension, tallies) in &rows {
                sqlx::query("INSERT INTO report_days (day, dimension, tallies) VALUES ($1, $2, $3)")
                    .bind(day)
                    .bind(dimension)
                    .bind(tallies)
                    .execute(&mut *conn)
                    .await?;
            }
        });
        tx.commit().await
    }
}

impl super::StoreTx {
    /// The ids of the noted changes (the first `limit`) and the local days they touch, with
    /// the summary's settings.
    async fn changed_days(
        &mut self,
        settings: &SummarySettings,
        limit: Option<i64>,
    ) -> Result<(Vec<i64>, BTreeSet<NaiveDate>), StoreError> {
        let sql = changed_times(self.dialect());
        let window_days = settings.repeat_window.num_seconds() as f64 / 86_400.0;
        let touched = with_tx!(self, conn => {
            sqlx::query_as(&sql)
                .bind(limit.unwrap_or(i64::MAX))
                .bind(window_days)
                .fetch_all(&mut *conn)
                .await?
        });
        Ok(days_touched(settings.time_zone, touched))
    }

    /// Marks `days` dirty, raising the version of those already dirty.
    async fn mark_dirty(&mut self, days: &[NaiveDate]) -> Result<(), StoreError> {
        with_tx!(self, conn => {
            for chunk in days.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::new("INSERT INTO report_dirty_days (day, version) ");
                q.push_values(chunk, |mut row, day| {
                    row.push_bind(*day).push("1");
                });
                q.push(" ON CONFLICT (day) DO UPDATE SET version = report_dirty_days.version + 1");
                q.build().execute(&mut *conn).await?;
            }
        });
        Ok(())
    }
}

/// Per noted change (the first `$1`): its id and each time whose day it touches — its own
/// time; for a contact, the closes of the customer's contacts of its category that it is (or
/// was) a repeat of, those closed within the repeat window (`$2` days) before it opened; and
/// the sends of its invitations.
fn changed_times(dialect: Dialect) -> String {
    let opened = "COALESCE(b.opened_at, b.at)";
    let earlier = |category: &str| {
        format!(
            "SELECT b.id, p.closed_at FROM batch b JOIN contacts p ON p.customer_id = b.customer_id \
               AND {category} AND p.closed_at < {opened} AND {} \
             WHERE b.customer_id IS NOT NULL",
            dialect.within_days(opened, "p.closed_at", "$2")
        )
    };
    format!(
        "WITH batch AS (\
           SELECT id, at, opened_at, contact_id, customer_id, category FROM report_changes \
           ORDER BY id LIMIT $1) \
         SELECT b.id, b.at FROM batch b \
         UNION ALL {} \
         UNION ALL {} \
         UNION ALL \
         SELECT b.id, i.sent_at FROM batch b JOIN invitations i ON i.contact_id = b.contact_id \
           WHERE i.sent_at IS NOT NULL",
        earlier("p.category = b.category"),
        earlier("p.category IS NULL AND b.category IS NULL"),
    )
}
