//! When `surveyd serve` plans a campaign by itself: on a cron expression read in
//! `defaults.time_zone`, or every so often. Ticks missed while no daemon ran are made up by
//! one run, not one per tick.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::time::Duration;

/// `schedule = { cron = "0 9 * * *" }` (minute hour day month weekday; a leading seconds field
/// is allowed) or `schedule = { every = "15m" }`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Cron(Box<CronExpression>),
    #[serde(with = "crate::domain::duration")]
    Every(Duration),
}

/// A checked cron expression, kept as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronExpression {
    text: String,
    parsed: cron::Schedule,
}

impl TryFrom<String> for CronExpression {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        // The cron crate counts seconds first; the usual five fields get second 0.
        let fields = text.split_whitespace().count();
        let full = if fields == 5 {
            format!("0 {text}")
        } else {
            text.clone()
        };
        let parsed = cron::Schedule::from_str(&full)
            .map_err(|e| format!("`{text}` is not a cron expression: {e}"))?;
        Ok(CronExpression { text, parsed })
    }
}

impl CronExpression {
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<CronExpression> for String {
    fn from(cron: CronExpression) -> String {
        cron.text
    }
}

/// As the command line shows it: `cron 0 9 * * *`, `every 15m`.
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Cron(cron) => write!(f, "cron {}", cron.as_str()),
            Schedule::Every(every) => {
                write!(f, "every {}", crate::domain::duration::format(*every))
            }
        }
    }
}

impl Schedule {
    /// The tick to plan at `now`, if one is due: for cron, the latest tick at or before `now`
    /// that is later than `last` (the last tick planned; none yet: the latest tick counts);
    /// for `every`, `now` once `every` has passed since `last`.
    pub fn due(
        &self,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        zone: Tz,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(cron) => {
                let tick = latest_tick(&cron.parsed, now, zone)?;
                last.is_none_or(|last| tick > last).then_some(tick)
            }
            // Due when the next look is not in the future (it is then `now`).
            Schedule::Every(_) => self.next(last, now, zone).filter(|next| *next <= now),
        }
    }

    /// When to look again after `now`: the next cron tick, or when `every` will have passed
    /// since `last`.
    pub fn next(
        &self,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        zone: Tz,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(cron) => cron
                .parsed
                .after(&now.with_timezone(&zone))
                .next()
                .map(|t| t.with_timezone(&Utc)),
            Schedule::Every(every) => {
                let every = chrono::Duration::from_std(*every).unwrap_or_default();
                Some(last.map_or(now, |last| (last + every).max(now)))
            }
        }
    }
}

/// The longest [`keep_looking`] sleeps between looks (a daemon that starts late catches up
/// then).
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Calls `look` until `shutdown`: again at the moment it returns, and at least every minute.
/// A look that fails (the database does not answer) is logged and tried again at the next.
pub async fn keep_looking<F, Fut>(
    what: &str,
    clock: &crate::clock::Clock,
    shutdown: tokio::sync::watch::Receiver<bool>,
    mut look: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<DateTime<Utc>>>>,
{
    crate::process::repeat(shutdown, || {
        let looked = look();
        async move {
            match looked.await {
                Ok(Some(wake)) => (wake - clock.now())
                    .to_std()
                    .unwrap_or_default()
                    .clamp(Duration::from_secs(1), MAX_WAIT),
                Ok(None) => MAX_WAIT,
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "cannot look at {what}; trying again"
                    );
                    MAX_WAIT
                }
            }
        }
    })
    .await
}

/// The latest tick at or before `now`.
fn latest_tick(schedule: &cron::Schedule, now: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
    let just_after = (now + chrono::Duration::seconds(1)).with_timezone(&zone);
    schedule
        .after(&just_after)
        .next_back()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn cron(text: &str) -> Schedule {
        Schedule::Cron(Box::new(CronExpression::try_from(text.to_owned()).unwrap()))
    }

    #[test]
    fn a_cron_tick_is_due_once_and_missed_ticks_make_one_run() {
        let jakarta = chrono_tz::Asia::Jakarta;
        // 09:00 in Jakarta is 02:00 UTC.
        let daily = cron("0 9 * * *");
        assert_eq!(
            daily.due(None, at("2026-11-20T02:00:00Z"), jakarta),
            Some(at("2026-11-20T02:00:00Z"))
        );
        let last = Some(at("2026-11-20T02:00:00Z"));
        assert_eq!(daily.due(last, at("2026-11-20T02:00:30Z"), jakarta), None);
        assert_eq!(daily.due(last, at("2026-11-21T01:59:59Z"), jakarta), None);
        assert_eq!(
            daily.due(last, at("2026-11-21T02:00:00Z"), jakarta),
            Some(at("2026-11-21T02:00:00Z"))
        );
        // Down for three days: one run, for the latest tick.
        assert_eq!(
            daily.due(last, at("2026-11-23T05:00:00Z"), jakarta),
            Some(at("2026-11-23T02:00:00Z"))
        );
        assert_eq!(
            daily.next(last, at("2026-11-23T05:00:00Z"), jakarta),
            Some(at("2026-11-24T02:00:00Z"))
        );
        // Six fields: seconds first.
        let quarterly = cron("30 */15 * * * *");
        assert_eq!(
            quarterly.due(None, at("2026-11-20T02:20:00Z"), jakarta),
            Some(at("2026-11-20T02:15:30Z"))
        );
    }

    #[test]
    fn every_runs_when_the_period_has_passed() {
        let zone = chrono_tz::Asia::Jakarta;
        let every = Schedule::Every(Duration::from_secs(900));
        let now = at("2026-11-20T02:00:00Z");
        assert_eq!(every.due(None, now, zone), Some(now));
        assert_eq!(every.due(Some(now), at("2026-11-20T02:14:59Z"), zone), None);
        assert_eq!(
            every.due(Some(now), at("2026-11-20T02:15:00Z"), zone),
            Some(at("2026-11-20T02:15:00Z"))
        );
        assert_eq!(
            every.next(Some(now), at("2026-11-20T02:01:00Z"), zone),
            Some(at("2026-11-20T02:15:00Z"))
        );
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        let err = toml::from_str::<Schedule>(r#"cron = "every morning""#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`every morning` is not a cron expression"),
            "{err}"
        );
        let err = toml::from_str::<Schedule>(r#"hourly = true"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `hourly`"), "{err}");
    }
}
