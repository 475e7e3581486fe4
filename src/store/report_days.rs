//! The per-day report summary (migration 0010): per local day and per value of one breakdown
//! (or of none), the tallies of the invitations sent and the contacts closed that day, with a
//! histogram of the times to answer. Triggers note each change to what it counts;
//! [`Store::refresh_report_days`] turns the changes into dirty days and counts those again.
//! [`Store::report_tallies`] reads whole clean days here and the rest — the partial days at a
//! range's ends, the days changed since — from the rows, so a report is exact in any state of
//! the summary and reads a few hundred rows a day instead of every answer.

use super::Backend;
use super::report::{DATA_SPAN, survey_counts, within_days};
use super::{
    BandCounts, Breakdown, GroupCounts, GroupKeys, Parts, Period, ROWS_PER_STATEMENT, RepeatCounts,
    ReportQuery, Store, StoreError, SurveyCounts, Tallies, with_pool, with_tx,
};
use crate::domain::TimeZone;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
fn local_day(tz: TimeZone, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz.tz()).date_naive()
}

/// The first instant of a local day: midnight, or the first hour after it where the clocks
/// skip midnight.
fn day_start(tz: TimeZone, day: NaiveDate) -> DateTime<Utc> {
    (0..24)
        .find_map(|hour| tz.to_utc(day.and_hms_opt(hour, 0, 0)?).ok())
        .expect("a day has an hour")
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().expect("a day before the end of time")
}

/// A range of instants `[since, until)` as whole local days `[first, end)` read from the
/// summary and stretches read from the rows: the partial days at its ends and dirty days.
#[derive(Debug, PartialEq)]
struct Split {
    first: Option<NaiveDate>,
    end: Option<NaiveDate>,
    rows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Split {
    fn new(
        tz: TimeZone,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        dirty: &BTreeSet<NaiveDate>,
    ) -> Split {
        let first = since.map(|s| {
            let day = local_day(tz, s);
            if day_start(tz, day) == s {
                day
            } else {
                next_day(day)
            }
        });
        let end = until.map(|u| local_day(tz, u));
        if let (Some(f), Some(e)) = (first, end)
            && f >= e
        {
            // Not one whole day: all of it from the rows.
            let rows = match (since, until) {
                (Some(s), Some(u)) if s < u => vec![(s, u)],
                _ => Vec::new(),
            };
            return Split {
                first: Some(f),
                end: Some(f),
                rows,
            };
        }
        let mut rows = Vec::new();
        if let (Some(s), Some(f)) = (since, first) {
            let start = day_start(tz, f);
            if s < start {
                rows.push((s, start));
            }
        }
        let mut stretch: Option<(NaiveDate, NaiveDate)> = None;
        for &day in dirty {
            if first.is_some_and(|f| day < f) || end.is_some_and(|e| day >= e) {
                continue;
            }
            stretch = match stretch {
                Some((from, to)) if to == day => Some((from, next_day(day))),
                Some((from, to)) => {
                    rows.push((day_start(tz, from), day_start(tz, to)));
                    Some((day, next_day(day)))
                }
                None => Some((day, next_day(day))),
            };
        }
        if let Some((from, to)) = stretch {
            rows.push((day_start(tz, from), day_start(tz, to)));
        }
        if let (Some(u), Some(e)) = (until, end) {
            let start = day_start(tz, e);
            if start < u {
                rows.push((start, u));
            }
        }
        Split { first, end, rows }
    }

    fn holds(&self, day: NaiveDate) -> bool {
        self.first.is_none_or(|f| day >= f) && self.end.is_none_or(|e| day < e)
    }
}

/// How a day is labelled as a period (as the database labels it when reading rows).
fn period_label(day: NaiveDate, period: Period) -> String {
    match period {
        Period::Day => day.to_string(),
        Period::Week => {
            (day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))).to_string()
        }
        Period::Month => day.format("%Y-%m").to_string(),
    }
}

/// One group's tallies added up from the rows and the summary.
struct GroupTotals {
    keys: GroupKeys,
    counts: SurveyCounts,
    /// Answers by band (the index).
    bands: Vec<i64>,
    contacts: i64,
    repeated: i64,
}

impl GroupTotals {
    fn add_band(&mut self, band: i16, answers: i64) {
        let band = usize::try_from(band).unwrap_or(0);
        if self.bands.len() <= band {
            self.bands.resize(band + 1, 0);
        }
        self.bands[band] += answers;
    }
}

/// Tallies added up by group from the rows and the summary.
#[derive(Default)]
struct Merged {
    groups: HashMap<(String, String), GroupTotals>,
}

impl Merged {
    fn group(&mut self, keys: &GroupKeys) -> &mut GroupTotals {
        self.groups
            .entry((keys.key1.clone(), keys.key2.clone()))
            .or_insert_with(|| GroupTotals {
                keys: keys.clone(),
                counts: SurveyCounts::default(),
                bands: Vec::new(),
                contacts: 0,
                repeated: 0,
            })
    }

    fn add(&mut self, tallies: Tallies) {
        for g in tallies.groups {
            self.group(&g.keys).counts.add(&g.counts);
        }
        for b in tallies.bands {
            self.group(&b.keys).add_band(b.band, b.answers);
        }
        for r in tallies.repeats.unwrap_or_default() {
            let group = self.group(&r.keys);
            group.contacts += r.contacts;
            group.repeated += r.repeated;
        }
    }

    /// The tallies in key order (`repeats`: whether contacts were counted).
    fn into_tallies(self, repeats: bool) -> Tallies {
        let mut groups: Vec<GroupTotals> = self.groups.into_values().collect();
        groups.sort_by(|a, b| (&a.keys.key1, &a.keys.key2).cmp(&(&b.keys.key1, &b.keys.key2)));
        let mut tallies = Tallies {
            repeats: repeats.then(Vec::new),
            ..Tallies::default()
        };
        for g in groups {
            for (band, &answers) in g.bands.iter().enumerate().filter(|(_, n)| **n > 0) {
                tallies.bands.push(BandCounts {
                    keys: g.keys.clone(),
                    band: band as i16,
                    answers,
                });
            }
            if let Some(repeats) = tallies.repeats.as_mut().filter(|_| g.contacts > 0) {
                repeats.push(RepeatCounts {
                    keys: g.keys.clone(),
                    contacts: g.contacts,
                    repeated: g.repeated,
                });
            }
            if g.counts.sent > 0 {
                tallies.groups.push(GroupCounts {
                    keys: g.keys,
                    counts: g.counts,
                });
            }
        }
        tallies
    }
}

/// An agent's or team's key, name and (agents) team, by row id as the summary keeps them.
type Names = HashMap<String, (String, Option<String>, String)>;

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
        // PostgreSQL truncates: a deleted million changes would be read past until vacuumed.
        let empty = match self {
            Store::Sqlite(_) => "DELETE FROM",
            Store::Postgres(_) => "TRUNCATE",
        };
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
        let backend = if self.is_postgres() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let sql = changed_times(backend);
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
fn changed_times(backend: Backend) -> String {
    let opened = "COALESCE(b.opened_at, b.at)";
    let earlier = |category: &str| {
        format!(
            "SELECT b.id, p.closed_at FROM batch b JOIN contacts p ON p.customer_id = b.customer_id \
               AND {category} AND p.closed_at < {opened} AND {} \
             WHERE b.customer_id IS NOT NULL",
            within_days(backend, opened, "p.closed_at", "$2")
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

fn days_touched(
    tz: TimeZone,
    touched: Vec<(i64, Option<DateTime<Utc>>)>,
) -> (Vec<i64>, BTreeSet<NaiveDate>) {
    let mut ids: Vec<i64> = touched.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let days = touched
        .into_iter()
        .filter_map(|(_, at)| at.map(|t| local_day(tz, t)))
        .collect();
    (ids, days)
}

/// The group keys of a summary row for `query`'s breakdowns.
fn summary_keys(query: &ReportQuery, names: &Names, day: &NaiveDate, value: &str) -> GroupKeys {
    let named = |b: Breakdown| -> (String, Option<String>) {
        match b {
            Breakdown::Period => (period_label(*day, query.period), None),
            Breakdown::Agent | Breakdown::Team => names
                .get(value)
                .map_or((String::new(), None), |(key, name, _)| {
                    (key.clone(), name.clone())
                }),
            _ => (value.to_owned(), None),
        }
    };
    let (key1, name1) = query
        .by
        .first()
        .map_or(("all".to_owned(), None), |b| named(*b));
    let (key2, name2) = query.by.get(1).map_or((String::new(), None), |b| named(*b));
    let team = query.by.contains(&Breakdown::Agent).then(|| {
        names
            .get(value)
            .map_or_else(String::new, |(_, _, team)| team.clone())
    });
    GroupKeys {
        key1,
        name1,
        key2,
        name2,
        team,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_split_into_whole_days_and_stretches() {
        let jakarta = TimeZone::parse("Asia/Jakarta").unwrap();
        let dirty = BTreeSet::from([day("2026-11-03"), day("2026-11-04"), day("2026-11-07")]);
        // From 06:00 on the 1st to 12:00 on the 9th, Jakarta time.
        let split = Split::new(
            jakarta,
            Some(at("2026-10-31T23:00:00Z")),
            Some(at("2026-11-09T05:00:00Z")),
            &dirty,
        );
        assert_eq!(split.first, Some(day("2026-11-02")));
        assert_eq!(split.end, Some(day("2026-11-09")));
        assert_eq!(
            split.rows,
            [
                (at("2026-10-31T23:00:00Z"), at("2026-11-01T17:00:00Z")),
                (at("2026-11-02T17:00:00Z"), at("2026-11-04T17:00:00Z")),
                (at("2026-11-06T17:00:00Z"), at("2026-11-07T17:00:00Z")),
                (at("2026-11-08T17:00:00Z"), at("2026-11-09T05:00:00Z")),
            ]
        );
        assert!(split.holds(day("2026-11-02")) && !split.holds(day("2026-11-09")));
        // Within one day: all from the rows; unbounded: whole days only.
        let inside = Split::new(
            jakarta,
            Some(at("2026-11-01T01:00:00Z")),
            Some(at("2026-11-01T02:00:00Z")),
            &BTreeSet::new(),
        );
        assert_eq!(
            inside.rows,
            [(at("2026-11-01T01:00:00Z"), at("2026-11-01T02:00:00Z"))]
        );
        assert!(!inside.holds(day("2026-11-01")));
        let all = Split::new(jakarta, None, None, &BTreeSet::new());
        assert!(all.rows.is_empty() && all.holds(day("1999-01-01")));
    }

    #[test]
    fn days_start_at_the_first_local_instant() {
        // Santiago moved its clocks from 00:00 to 01:00 on 2026-09-06.
        let santiago = TimeZone::parse("America/Santiago").unwrap();
        assert_eq!(
            day_start(santiago, day("2026-09-06")),
            at("2026-09-06T04:00:00Z")
        );
        let new_york = TimeZone::parse("America/New_York").unwrap();
        assert_eq!(
            day_start(new_york, day("2026-11-02")),
            at("2026-11-02T05:00:00Z")
        );
    }

    #[test]
    fn periods_are_labelled_like_the_database() {
        assert_eq!(period_label(day("2026-11-22"), Period::Week), "2026-11-16");
        assert_eq!(period_label(day("2026-11-23"), Period::Week), "2026-11-23");
        assert_eq!(period_label(day("2026-11-23"), Period::Month), "2026-11");
        assert_eq!(period_label(day("2026-11-23"), Period::Day), "2026-11-23");
    }
}
