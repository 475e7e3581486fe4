//! The tallies behind the reports, counted by the database from the rows in one pass each: per
//! group (one or two breakdowns), the invitations sent in a period and their answers' scores;
//! the answers per time-to-answer band (for medians); and the contacts closed in a period with
//! those after whose close the same customer opened another contact of the same category
//! within the repeat window (FCR from the data). `report_days` reads whole days from the
//! per-day summary and the rest from here.

mod query;

use super::{Pool, Store, StoreError, with_pool};
use crate::domain::TimeZone;
use chrono::{DateTime, SecondsFormat, Utc};
pub use query::{
    BandCounts, Breakdown, GroupCounts, GroupKeys, Period, RepeatCounts, ReportQuery, SurveyCounts,
    Tallies,
};

/// What a grouped query scans.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Sent invitations `i`, with their contacts `c` when a breakdown needs them.
    Invitations,
    /// Contacts `c`.
    Contacts,
}

impl Scan {
    fn time_column(self) -> &'static str {
        match self {
            Scan::Invitations => "i.sent_at",
            Scan::Contacts => "c.closed_at",
        }
    }
}

/// How one breakdown is counted: `inner` is grouped on in the scan (small integers for agents
/// and teams), and the outer query turns `g.g{n}` into the key and name, joining the names
/// after the counting.
struct KeySql {
    inner: String,
    key: String,
    name: String,
    join: String,
}

/// The [`SurveyCounts`] of invitations `i` as SQL, CSAT from the rating `top_box` (a parameter).
pub(super) fn survey_counts(top_box: &str) -> String {
    format!(
        "COUNT(*) AS sent, COUNT(i.answered_at) AS responses, \
         COUNT(i.csat) AS csat_n, COALESCE(SUM(CASE WHEN i.csat >= {top_box} THEN 1 ELSE 0 END), 0) AS csat_top, \
         COUNT(i.fcr) AS fcr_n, COALESCE(SUM(CASE WHEN i.fcr = 1 THEN 1 ELSE 0 END), 0) AS fcr_yes, \
         COUNT(i.nps) AS nps_n, COALESCE(SUM(CASE WHEN i.nps >= 9 THEN 1 ELSE 0 END), 0) AS nps_promoters, \
         COALESCE(SUM(CASE WHEN i.nps <= 6 THEN 1 ELSE 0 END), 0) AS nps_detractors, \
         COUNT(i.ces) AS ces_n, COALESCE(SUM(i.ces), 0) AS ces_sum, COALESCE(SUM(i.ces * i.ces), 0) AS ces_sum_sq"
    )
}

/// The first and last time reports count: sends and closes.
pub(super) const DATA_SPAN: &str = "SELECT MIN(t), MAX(t) FROM (\
       SELECT MIN(sent_at) AS t FROM invitations UNION ALL \
       SELECT MAX(sent_at) FROM invitations UNION ALL \
       SELECT MIN(closed_at) FROM contacts UNION ALL \
       SELECT MAX(closed_at) FROM contacts) span";

/// `column` within the query's `[since, until)`, bound as `$1` and `$2`; an open end is left
/// out of the condition (`$n IS NULL`), so the database can read the column's index.
fn within_range(query: &ReportQuery, column: &str) -> String {
    let since = match query.since {
        Some(_) => format!("{column} >= $1"),
        None => "$1 IS NULL".to_owned(),
    };
    let until = match query.until {
        Some(_) => format!("{column} < $2"),
        None => "$2 IS NULL".to_owned(),
    };
    format!("{since} AND {until}")
}

/// Which of a report's tallies to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    /// The invitations sent (their tallies and time-to-answer bands) and the contacts closed.
    All,
    /// The invitations only.
    Invitations,
    /// The contacts only.
    Contacts,
}

impl Store {
    /// Whether contact `c` is a repeat: another contact of its customer in its category (a
    /// missing category is a category of its own) was opened (closed, when the opening is
    /// not known) after `c` closed and at most the repeat window, `$days` days (the parameter
    /// named), after. A contact opens before it closes, so those probed are the ones closed
    /// after `c`: a range of `contacts_by_customer_category`.
    pub(super) fn repeated(&self, days: &str) -> String {
        let opened = "COALESCE(n.opened_at, n.closed_at)";
        let within = self.dialect().within_days(opened, "c.closed_at", days);
        let probe = |category: &str| {
            format!(
                "EXISTS (SELECT 1 FROM contacts n \
                 WHERE n.customer_id = c.customer_id AND {category} \
                   AND n.closed_at > c.closed_at AND {opened} > c.closed_at AND {within})"
            )
        };
        format!(
            "CASE WHEN c.category IS NULL THEN {} ELSE {} END",
            probe("n.category IS NULL"),
            probe("n.category = c.category")
        )
    }

    /// Counts `parts` of the report of `query` from the invitations and contacts themselves
    /// (every row in its range).
    pub async fn report_tallies_from_rows(
        &self,
        query: &ReportQuery,
        parts: Parts,
    ) -> Result<Tallies, StoreError> {
        assert!(query.by.len() <= 2, "at most two breakdowns");
        let period = if query.by.contains(&Breakdown::Period) {
            Some(self.period_labels(query).await?)
        } else {
            None
        };
        let keys = |scan: Scan| -> Vec<KeySql> {
            query
                .by
                .iter()
                .enumerate()
                .map(|(i, b)| key_sql(*b, i + 1, scan, period.as_ref()))
                .collect()
        };
        let needs_contacts = query
            .by
            .iter()
            .any(|b| b.of_contacts() && *b != Breakdown::Period);
        let from = if needs_contacts {
            "invitations i JOIN contacts c ON c.id = i.contact_id"
        } else {
            "invitations i"
        };
        let sent = format!(
            "i.sent_at IS NOT NULL AND {}",
            within_range(query, "i.sent_at")
        );
        let groups_sql = grouped(
            &query.by,
            &keys(Scan::Invitations),
            &format!("{} FROM {from} WHERE {sent}", survey_counts("$3")),
            "g.sent, g.responses, g.csat_n, g.csat_top, g.fcr_n, g.fcr_yes, g.nps_n, \
             g.nps_promoters, g.nps_detractors, g.ces_n, g.ces_sum, g.ces_sum_sq",
            false,
        );
        let bands_sql = grouped(
            &query.by,
            &keys(Scan::Invitations),
            &format!(
                "i.answer_band AS band, COUNT(*) AS answers FROM {from} \
                 WHERE {sent} AND i.answer_band IS NOT NULL"
            ),
            "g.band, g.answers",
            true,
        );
        // A contact counts once its window has passed: closed before `now` less the window.
        let repeat_window = query
            .repeat_window
            .filter(|_| query.by.iter().all(|b| b.of_contacts()));
        let repeats_sql = repeat_window.map(|_| {
            grouped(
                &query.by,
                &keys(Scan::Contacts),
                &format!(
                    "COUNT(*) AS contacts, \
                     COALESCE(SUM(CASE WHEN {} THEN 1 ELSE 0 END), 0) AS repeated \
                     FROM contacts c WHERE {range} AND c.closed_at < $3",
                    self.repeated("$4"),
                    range = within_range(query, "c.closed_at"),
                ),
                "g.contacts, g.repeated",
                false,
            )
        });
        let window = repeat_window.unwrap_or_default();
        let window_days = window.num_seconds() as f64 / 86_400.0;
        let settled = query.now - window;
        let invitations = parts != Parts::Contacts;
        let contacts = parts != Parts::Invitations;
        Ok(with_pool!(self, pool => {
            let mut tallies = Tallies::default();
            if invitations {
                tallies.groups = sqlx::query_as(&groups_sql)
                    .bind(query.since)
                    .bind(query.until)
                    .bind(query.csat_top_box)
                    .fetch_all(pool)
                    .await?;
                tallies.bands = sqlx::query_as(&bands_sql)
                    .bind(query.since)
                    .bind(query.until)
                    .fetch_all(pool)
                    .await?;
            }
            if let (Some(sql), true) = (&repeats_sql, contacts) {
                tallies.repeats = Some(
                    sqlx::query_as(sql)
                        .bind(query.since)
                        .bind(query.until)
                        .bind(settled)
                        .bind(window_days)
                        .fetch_all(pool)
                        .await?,
                );
            }
            tallies
        }))
    }

    /// How the database names the period an instant falls in, in the report's time zone.
    /// PostgreSQL knows the zones; SQLite is given the zone's UTC offsets over the span of the
    /// stored data (one stretch for zones without daylight saving, such as Indonesia's).
    async fn period_labels(&self, query: &ReportQuery) -> Result<PeriodSql, StoreError> {
        let tz = query.time_zone;
        match &self.pool {
            Pool::Postgres(_) => {
                let name = tz.as_str();
                // IANA names are letters, digits, `/`, `_`, `+` and `-`: safe to quote inline.
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
                );
                Ok(PeriodSql::Postgres {
                    period: query.period,
                    zone: name.to_owned(),
                })
            }
            Pool::Sqlite(pool) => {
                // The span of the data, unless the range is closed at both ends.
                let (first, last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
                    match (query.since, query.until) {
                        (Some(since), Some(until)) => (Some(since), Some(until)),
                        _ => sqlx::query_as(DATA_SPAN).fetch_one(pool).await?,
                    };
                let from = query.since.or(first).unwrap_or(query.now);
                let to = query.until.or(last).unwrap_or(query.now).max(from);
                Ok(PeriodSql::Sqlite {
                    period: query.period,
                    offsets: offset_stretches(tz, from, to),
                })
            }
        }
    }
}

/// The per-backend way of naming periods.
enum PeriodSql {
    Postgres {
        period: Period,
        zone: String,
    },
    /// The zone's UTC offset (minutes) until each change, the last one open-ended.
    Sqlite {
        period: Period,
        offsets: Vec<(Option<DateTime<Utc>>, i32)>,
    },
}

impl PeriodSql {
    /// What the group's label is made of in the outer query: the grouped value itself, or
    /// (PostgreSQL) the truncated local time written as the label.
    fn key(&self, n: usize) -> String {
        match self {
            PeriodSql::Postgres { period, .. } => {
                let format = match period {
                    Period::Day | Period::Week => "YYYY-MM-DD",
                    Period::Month => "YYYY-MM",
                };
                format!("to_char(g.g{n}, '{format}')")
            }
            PeriodSql::Sqlite { .. } => format!("g.g{n}"),
        }
    }

    /// What the scan groups on for the period of `column`.
    fn label(&self, column: &str) -> String {
        match self {
            // The scan groups on the truncated local time; the label is written per group.
            PeriodSql::Postgres { period, zone } => {
                format!(
                    "date_trunc('{}', {column} AT TIME ZONE '{zone}')",
                    period.as_ref()
                )
            }
            PeriodSql::Sqlite { period, offsets } => {
                let local = |minutes: i32| match period {
                    Period::Day => format!("date({column}, '{minutes:+} minutes')"),
                    Period::Week => {
                        format!("date({column}, '{minutes:+} minutes', '-6 days', 'weekday 1')")
                    }
                    Period::Month => format!("strftime('%Y-%m', {column}, '{minutes:+} minutes')"),
                };
                match offsets.as_slice() {
                    [(_, minutes)] => local(*minutes),
                    _ => {
                        let mut sql = String::from("CASE");
                        for (until, minutes) in offsets {
                            match until {
                                Some(until) => sql.push_str(&format!(
                                    " WHEN {column} < '{}' THEN {}",
                                    until.to_rfc3339_opts(SecondsFormat::AutoSi, false),
                                    local(*minutes)
                                )),
                                None => sql.push_str(&format!(" ELSE {}", local(*minutes))),
                            }
                        }
                        sql + " END"
                    }
                }
            }
        }
    }
}

/// The UTC offsets (minutes) of `tz` between `from` and `to`: each with the instant it ends,
/// the last with `None`. Offsets change on the quarter hour at the finest.
fn offset_stretches(
    tz: TimeZone,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(Option<DateTime<Utc>>, i32)> {
    use chrono::{Offset, TimeZone as _};
    let offset = |t: DateTime<Utc>| {
        tz.tz()
            .offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
            / 60
    };
    let step = chrono::Duration::minutes(15);
    let mut stretches = Vec::new();
    let mut current = offset(from);
    let mut t = from;
    while t < to {
        let next = t + step;
        let after = offset(next);
        if after != current {
            stretches.push((Some(next), current));
            current = after;
        }
        t = next;
    }
    stretches.push((None, current));
    stretches
}

fn key_sql(by: Breakdown, n: usize, scan: Scan, period: Option<&PeriodSql>) -> KeySql {
    let text = |inner: &str| KeySql {
        inner: inner.to_owned(),
        key: format!("g.g{n}"),
        name: "NULL".into(),
        join: String::new(),
    };
    let named = |column: &str, table: &str, alias: &str| KeySql {
        inner: format!("c.{column}"),
        key: format!("COALESCE({alias}{n}.external_id, '')"),
        name: format!("{alias}{n}.name"),
        join: format!(" LEFT JOIN {table} {alias}{n} ON {alias}{n}.id = g.g{n}"),
    };
    match by {
        Breakdown::Agent => named("agent_id", "agents", "a"),
        Breakdown::Team => named("team_id", "teams", "t"),
        Breakdown::Campaign => text("i.campaign"),
        Breakdown::Channel => text("i.channel"),
        Breakdown::Category => text("COALESCE(c.category, '')"),
        Breakdown::ContactChannel => text("COALESCE(c.contact_channel, '')"),
        Breakdown::Period => {
            let period = period.expect("period labels are read for a period breakdown");
            KeySql {
                key: period.key(n),
                ..text(&period.label(scan.time_column()))
            }
        }
    }
}

/// `SELECT` of tallies grouped by the breakdowns: `inner` is the counting (its `FROM` and
/// `WHERE` included) grouped on the keys (and, `by_band`, on its first column too), `outer`
/// the tallies as the outer query passes them on.
fn grouped(by: &[Breakdown], keys: &[KeySql], inner: &str, outer: &str, by_band: bool) -> String {
    let key = |i: usize| keys.get(i);
    let g1 = key(0).map_or("0", |k| k.inner.as_str());
    let g2 = key(1).map_or("0", |k| k.inner.as_str());
    let key1 = key(0).map_or("'all'", |k| k.key.as_str());
    let key2 = key(1).map_or("''", |k| k.key.as_str());
    let name1 = key(0).map_or("NULL", |k| k.name.as_str());
    let name2 = key(1).map_or("NULL", |k| k.name.as_str());
    let mut joins: String = keys.iter().map(|k| k.join.as_str()).collect();
    let team = match by.iter().position(|b| *b == Breakdown::Agent) {
        Some(i) => {
            let n = i + 1;
            joins.push_str(&format!(" LEFT JOIN teams at ON at.id = a{n}.team_id"));
            "COALESCE(at.external_id, '')"
        }
        None => "NULL",
    };
    let extra_group = if by_band { ", 3" } else { "" };
    format!(
        "SELECT {key1} AS key1, CAST({name1} AS TEXT) AS name1, {key2} AS key2, \
         CAST({name2} AS TEXT) AS name2, CAST({team} AS TEXT) AS team, {outer} FROM (\
           SELECT {g1} AS g1, {g2} AS g2, {inner} GROUP BY 1, 2{extra_group}) g{joins}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_stretches_follow_daylight_saving() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let jakarta = TimeZone::parse("Asia/Jakarta").unwrap();
        assert_eq!(
            offset_stretches(
                jakarta,
                at("2025-01-01T00:00:00Z"),
                at("2026-12-31T00:00:00Z")
            ),
            [(None, 420)]
        );
        // New York: EST until 2026-03-08 07:00 UTC, EDT until 2026-11-01 06:00 UTC.
        let new_york = TimeZone::parse("America/New_York").unwrap();
        assert_eq!(
            offset_stretches(
                new_york,
                at("2026-01-01T00:00:00Z"),
                at("2026-12-01T00:00:00Z")
            ),
            [
                (Some(at("2026-03-08T07:00:00Z")), -300),
                (Some(at("2026-11-01T06:00:00Z")), -240),
                (None, -300)
            ]
        );
    }
}
