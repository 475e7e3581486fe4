//! The report settings: the default period, breakdowns and the least answers a row shows.

use crate::domain::{Defaults, Problem, TimeZone};
use serde::{Deserialize, Serialize};

/// How reports count and present scores.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// The zone periods are counted in; `defaults.time_zone` when left out.
    pub time_zone: Option<TimeZone>,
    /// The period of a `period` breakdown when a report does not name one.
    pub period: crate::store::Period,
    /// Groups with fewer answers are "not enough answers" and never ranked.
    pub min_answers: u64,
    /// The lowest CSAT rating (1–5) that counts as satisfied.
    pub csat_top_box: i16,
    /// FCR from contact records: a contact after whose close the customer opened another of
    /// the same category within this time was not resolved at first contact.
    #[serde(with = "crate::domain::duration")]
    pub repeat_window: std::time::Duration,
}

impl ReportSettings {
    /// The report of invitations sent in `[since, until)`, grouped `by`, as these settings
    /// count it at `now` (`period` overrides the configured period).
    pub fn query(
        &self,
        defaults: &Defaults,
        by: Vec<crate::store::Breakdown>,
        period: Option<crate::store::Period>,
        (since, until): (
            Option<chrono::DateTime<chrono::Utc>>,
            Option<chrono::DateTime<chrono::Utc>>,
        ),
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::store::ReportQuery {
        crate::store::ReportQuery {
            by,
            period: period.unwrap_or(self.period),
            time_zone: self.time_zone(defaults),
            since,
            until,
            csat_top_box: self.csat_top_box,
            repeat_window: Some(self.repeat_window()),
            now,
        }
    }

    /// How the per-day summary reports read is counted.
    pub fn summary(&self, defaults: &Defaults) -> crate::store::SummarySettings {
        crate::store::SummarySettings {
            time_zone: self.time_zone(defaults),
            repeat_window: self.repeat_window(),
            csat_top_box: self.csat_top_box,
        }
    }

    fn repeat_window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.repeat_window).unwrap_or(chrono::Duration::MAX)
    }

    /// The zone periods are counted in.
    pub fn time_zone(&self, defaults: &Defaults) -> TimeZone {
        self.time_zone.unwrap_or(defaults.time_zone)
    }

    pub fn check(&self) -> Result<(), Problem> {
        if self.min_answers == 0 {
            return Err(Problem::at("reports.min_answers", "must be at least 1"));
        }
        if !(2..=5).contains(&self.csat_top_box) {
            return Err(Problem::at(
                "reports.csat_top_box",
                "must be a rating from 2 to 5",
            ));
        }
        if self.repeat_window.is_zero() {
            return Err(Problem::at(
                "reports.repeat_window",
                "must be longer than 0s",
            ));
        }
        Ok(())
    }
}
