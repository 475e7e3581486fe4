//! The summary's arithmetic, without SQL: local days, the split of a range into whole days
//! read from the summary and stretches read from the rows, and the merge of both tallies.

use crate::domain::TimeZone;
use crate::store::{
    BandCounts, Breakdown, GroupCounts, GroupKeys, Period, RepeatCounts, ReportQuery, SurveyCounts,
    Tallies,
};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::collections::{BTreeSet, HashMap};

pub(super) fn local_day(tz: TimeZone, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz.tz()).date_naive()
}

/// The first instant of a local day: midnight, or the first hour after it where the clocks
/// skip midnight.
pub(super) fn day_start(tz: TimeZone, day: NaiveDate) -> DateTime<Utc> {
    (0..24)
        .find_map(|hour| tz.to_utc(day.and_hms_opt(hour, 0, 0)?).ok())
        .expect("a day has an hour")
}

pub(super) fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().expect("a day before the end of time")
}

/// A range of instants `[since, until)` as whole local days `[first, end)` read from the
/// summary and stretches read from the rows: the partial days at its ends and dirty days.
#[derive(Debug, PartialEq)]
pub(super) struct Split {
    pub(super) first: Option<NaiveDate>,
    pub(super) end: Option<NaiveDate>,
    pub(super) rows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Split {
    pub(super) fn new(
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

    pub(super) fn holds(&self, day: NaiveDate) -> bool {
        self.first.is_none_or(|f| day >= f) && self.end.is_none_or(|e| day < e)
    }
}

/// How a day is labelled as a period (as the database labels it when reading rows).
pub(super) fn period_label(day: NaiveDate, period: Period) -> String {
    match period {
        Period::Day => day.to_string(),
        Period::Week => {
            (day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))).to_string()
        }
        Period::Month => day.format("%Y-%m").to_string(),
    }
}

/// One group's tallies added up from the rows and the summary.
pub(super) struct GroupTotals {
    pub(super) keys: GroupKeys,
    pub(super) counts: SurveyCounts,
    /// Answers by band (the index).
    pub(super) bands: Vec<i64>,
    pub(super) contacts: i64,
    pub(super) repeated: i64,
}

impl GroupTotals {
    pub(super) fn add_band(&mut self, band: i16, answers: i64) {
        let band = usize::try_from(band).unwrap_or(0);
        if self.bands.len() <= band {
            self.bands.resize(band + 1, 0);
        }
        self.bands[band] += answers;
    }
}

/// Tallies added up by group from the rows and the summary.
#[derive(Default)]
pub(super) struct Merged {
    groups: HashMap<(String, String), GroupTotals>,
}

impl Merged {
    pub(super) fn group(&mut self, keys: &GroupKeys) -> &mut GroupTotals {
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

    pub(super) fn add(&mut self, tallies: Tallies) {
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
    pub(super) fn into_tallies(self, repeats: bool) -> Tallies {
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
pub(super) type Names = HashMap<String, (String, Option<String>, String)>;

pub(super) fn days_touched(
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
pub(super) fn summary_keys(
    query: &ReportQuery,
    names: &Names,
    day: &NaiveDate,
    value: &str,
) -> GroupKeys {
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
