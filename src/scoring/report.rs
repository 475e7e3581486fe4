//! A report from the database's tallies: per group, every metric with its interval, agents'
//! CSAT shrunk toward their team and ranked by it, and with a period breakdown each period's
//! change from the one before it.

use super::shrink::{Prior, Shrunk};
use super::stats::{AnswerTime, Change, Mean, Nps, Proportion};
use crate::store::{
    Breakdown, GroupKeys, Period, ReportQuery, Store, StoreError, SurveyCounts, Tallies,
};
use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The CES scale.
const CES_SCALE: (f64, f64) = (1.0, 7.0);

/// A report: its settings and its rows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub by: Vec<Breakdown>,
    pub period: Option<Period>,
    pub time_zone: String,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Groups with fewer answers are marked and never ranked.
    pub min_answers: u64,
    /// CSAT ratings from this one up are satisfied.
    pub csat_top_box: i16,
    pub rows: Vec<ReportRow>,
}

/// One breakdown's value for a row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupKey {
    pub by: Breakdown,
    /// An agent's or team's id, a campaign, a channel, a category, a period's label; empty
    /// for contacts without one.
    pub key: String,
    /// The agent's or team's name, when known.
    pub name: Option<String>,
}

/// One group's scores.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    /// One per breakdown (none in a report of everything).
    pub keys: Vec<GroupKey>,
    /// Invitations sent in the period.
    pub sent: u64,
    /// Of those, the answered ones.
    pub responses: u64,
    pub response_rate: Option<Proportion>,
    /// Whether the group has at least the minimum of answers; without it, it is "not
    /// enough answers" and never ranked.
    pub enough_answers: bool,
    /// Share of CSAT answers in the top box.
    pub csat: Option<Proportion>,
    /// With an agent breakdown: the agent's CSAT shrunk toward their team's.
    pub csat_shrunk: Option<Shrunk>,
    /// With an agent breakdown: the place by shrunk CSAT among the agents with enough
    /// answers (within the other breakdown's group).
    pub rank: Option<u32>,
    pub nps: Option<Nps>,
    /// Mean effort, 1–7.
    pub ces: Option<Mean>,
    /// Share of "yes" to the resolution question.
    pub fcr: Option<Proportion>,
    /// Share of contacts closed in the period that the customer did not follow with another
    /// contact of the same category within the repeat window (from contact records).
    pub fcr_contacts: Option<Proportion>,
    /// Median time from the send to the answer, in seconds (exact to within 10%).
    pub median_answer_seconds: Option<f64>,
    /// With a period breakdown: against the group's previous period.
    pub trend: Option<Trend>,
}

/// A period's scores against the previous period's.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub previous_period: String,
    pub response_rate: Option<Change>,
    pub csat: Option<Change>,
    pub nps: Option<Change>,
}

type Key = (String, String);

fn key_of(k: &GroupKeys) -> Key {
    (k.key1.clone(), k.key2.clone())
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

impl Report {
    /// Counts and scores the report of `query`.
    pub async fn run(
        store: &Store,
        query: &ReportQuery,
        min_answers: u64,
    ) -> Result<Report, StoreError> {
        let tallies = store.report_tallies(query).await?;
        Ok(Report::new(query, tallies, min_answers))
    }

    /// The report of `query` from its tallies.
    pub fn new(query: &ReportQuery, tallies: Tallies, min_answers: u64) -> Report {
        let by = &query.by;
        let mut groups: BTreeMap<Key, (GroupKeys, Option<SurveyCounts>)> = BTreeMap::new();
        for g in tallies.groups {
            groups.insert(key_of(&g.keys), (g.keys, Some(g.counts)));
        }
        let mut repeats = HashMap::new();
        for r in tallies.repeats.unwrap_or_default() {
            let key = key_of(&r.keys);
            groups.entry(key.clone()).or_insert((r.keys.clone(), None));
            repeats.insert(key, r);
        }
        let mut bands: HashMap<Key, Vec<(i16, u64)>> = HashMap::new();
        for b in tallies.bands {
            bands
                .entry(key_of(&b.keys))
                .or_default()
                .push((b.band, count(b.answers)));
        }
        let mut rows: Vec<(Option<String>, ReportRow)> = groups
            .into_iter()
            .map(|(key, (keys, counts))| {
                let mut row = row_of(by, &keys, counts.as_ref(), min_answers);
                row.fcr_contacts = repeats.get(&key).and_then(|r| {
                    Proportion::wilson(count(r.contacts - r.repeated), count(r.contacts))
                });
                row.median_answer_seconds = bands.get(&key).and_then(|b| AnswerTime::median(b));
                (keys.team, row)
            })
            .collect();
        if let Some(agent) = by.iter().position(|b| *b == Breakdown::Agent) {
            shrink_and_rank(&mut rows, 1 - agent);
        }
        let mut rows: Vec<ReportRow> = rows.into_iter().map(|(_, row)| row).collect();
        let period = by.contains(&Breakdown::Period).then_some(query.period);
        if let Some(at) = by.iter().position(|b| *b == Breakdown::Period) {
            add_trends(&mut rows, at, query.period);
        }
        Report {
            by: by.clone(),
            period,
            time_zone: query.time_zone.as_str().to_owned(),
            since: query.since,
            until: query.until,
            min_answers,
            csat_top_box: query.csat_top_box,
            rows,
        }
    }
}

fn row_of(
    by: &[Breakdown],
    keys: &GroupKeys,
    counts: Option<&SurveyCounts>,
    min_answers: u64,
) -> ReportRow {
    let group_keys = by
        .iter()
        .zip([(&keys.key1, &keys.name1), (&keys.key2, &keys.name2)])
        .map(|(by, (key, name))| GroupKey {
            by: *by,
            key: key.clone(),
            name: name.clone().filter(|n| !n.is_empty()),
        })
        .collect();
    let c = |f: fn(&SurveyCounts) -> i64| counts.map_or(0, |g| count(f(g)));
    let responses = c(|g| g.responses);
    ReportRow {
        keys: group_keys,
        sent: c(|g| g.sent),
        responses,
        response_rate: Proportion::wilson(responses, c(|g| g.sent)),
        enough_answers: responses >= min_answers.max(1),
        csat: Proportion::wilson(c(|g| g.csat_top), c(|g| g.csat_n)),
        csat_shrunk: None,
        rank: None,
        nps: Nps::estimate(
            c(|g| g.nps_promoters),
            c(|g| g.nps_detractors),
            c(|g| g.nps_n),
        ),
        ces: Mean::estimate(
            c(|g| g.ces_n),
            c(|g| g.ces_sum) as f64,
            c(|g| g.ces_sum_sq) as f64,
            CES_SCALE,
        ),
        fcr: Proportion::wilson(c(|g| g.fcr_yes), c(|g| g.fcr_n)),
        fcr_contacts: None,
        median_answer_seconds: None,
        trend: None,
    }
}

/// Shrinks each agent's CSAT toward the prior of their team (within the same value of the
/// other breakdown, at `other`; all agents there when the team has fewer than two with
/// answers), then ranks the agents with enough answers by it.
fn shrink_and_rank(rows: &mut [(Option<String>, ReportRow)], other: usize) {
    let context = |row: &ReportRow| row.keys.get(other).map(|k| k.key.clone());
    let tally = |row: &ReportRow| row.csat.map(|p| (p.count, p.n));
    let tallies = || {
        rows.iter()
            .filter_map(|(team, row)| Some((team.clone(), context(row), tally(row)?)))
    };
    let team_priors = priors(tallies().map(|(team, context, t)| ((context, team), t)));
    let context_priors = priors(tallies().map(|(_, context, t)| (context, t)));
    for (team, row) in rows.iter_mut() {
        let prior = team_priors
            .get(&(context(row), team.clone()))
            .or_else(|| context_priors.get(&context(row)));
        if let (Some(prior), Some((x, n))) = (prior, tally(row)) {
            row.csat_shrunk = Some(prior.shrink(x, n));
        }
    }
    let mut ranked: HashMap<Option<String>, Vec<usize>> = HashMap::new();
    for (i, (_, row)) in rows.iter().enumerate() {
        if row.enough_answers && row.csat.is_some() {
            ranked.entry(context(row)).or_default().push(i);
        }
    }
    let score = |row: &ReportRow| {
        row.csat_shrunk
            .map(|s| s.value)
            .or(row.csat.map(|p| p.value))
            .unwrap_or_default()
    };
    for indexes in ranked.values_mut() {
        indexes.sort_by(|&a, &b| {
            score(&rows[b].1)
                .total_cmp(&score(&rows[a].1))
                .then(rows[b].1.responses.cmp(&rows[a].1.responses))
        });
        for (place, &i) in indexes.iter().enumerate() {
            rows[i].1.rank = Some(place as u32 + 1);
        }
    }
    // The leaderboard: within each group of the other breakdown, ranked agents first.
    rows.sort_by(|(_, a), (_, b)| {
        context(a)
            .cmp(&context(b))
            .then(a.rank.is_none().cmp(&b.rank.is_none()))
            .then(a.rank.cmp(&b.rank))
            .then(a.keys.cmp_keys(&b.keys))
    });
}

/// A prior per key, fitted to the `(count, n)` tallies of that key.
fn priors<K: std::hash::Hash + Eq>(
    tallies: impl Iterator<Item = (K, (u64, u64))>,
) -> HashMap<K, Prior> {
    let mut grouped: HashMap<K, Vec<(u64, u64)>> = HashMap::new();
    for (key, tally) in tallies {
        grouped.entry(key).or_default().push(tally);
    }
    grouped
        .into_iter()
        .filter_map(|(key, tallies)| Prior::fit(&tallies).map(|prior| (key, prior)))
        .collect()
}

trait KeyOrder {
    fn cmp_keys(&self, other: &Self) -> std::cmp::Ordering;
}

impl KeyOrder for Vec<GroupKey> {
    fn cmp_keys(&self, other: &Self) -> std::cmp::Ordering {
        self.iter()
            .map(|k| &k.key)
            .cmp(other.iter().map(|k| &k.key))
    }
}

/// Sets each row's change from the row of the same group in the previous period.
fn add_trends(rows: &mut [ReportRow], at: usize, period: Period) {
    let group = |row: &ReportRow, label: &str| -> Vec<String> {
        row.keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                if i == at {
                    label.to_owned()
                } else {
                    k.key.clone()
                }
            })
            .collect()
    };
    let index: HashMap<Vec<String>, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, row)| (group(row, &row.keys[at].key), i))
        .collect();
    for i in 0..rows.len() {
        let Some(previous_label) = previous_period(&rows[i].keys[at].key, period) else {
            continue;
        };
        let Some(&p) = index.get(&group(&rows[i], &previous_label)) else {
            continue;
        };
        let (now, before) = (&rows[i], &rows[p]);
        let trend = Trend {
            previous_period: previous_label,
            response_rate: now
                .response_rate
                .zip(before.response_rate)
                .map(|(a, b)| a.change_from(&b)),
            csat: now.csat.zip(before.csat).map(|(a, b)| a.change_from(&b)),
            nps: now.nps.zip(before.nps).map(|(a, b)| a.change_from(&b)),
        };
        rows[i].trend = Some(trend);
    }
}

/// The label of the period before the one labelled `label`.
fn previous_period(label: &str, period: Period) -> Option<String> {
    let day = |l: &str| NaiveDate::parse_from_str(l, "%Y-%m-%d").ok();
    match period {
        Period::Day => day(label).map(|d| (d - chrono::Days::new(1)).to_string()),
        Period::Week => day(label).map(|d| (d - chrono::Days::new(7)).to_string()),
        Period::Month => day(&format!("{label}-01"))
            .and_then(|d| d.checked_sub_months(Months::new(1)))
            .map(|d| d.format("%Y-%m").to_string()),
    }
}
