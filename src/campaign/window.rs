//! Send windows: the hours (and, optionally, only the weekdays) in which a campaign's
//! invitations may reach a customer, read on the customer's own clock. A delivery due outside
//! its window waits for the next opening; it is never dropped.

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// `start = "09:00"`, `end = "20:00"`, `weekdays_only = true`: from 09:00 up to (not
/// including) 20:00 local time, Monday to Friday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendWindow {
    #[serde(with = "clock_time")]
    pub start: NaiveTime,
    #[serde(with = "clock_time")]
    pub end: NaiveTime,
    #[serde(default)]
    pub weekdays_only: bool,
}

impl SendWindow {
    /// The first moment at or after `at` that lies inside the window on the clock of `zone`:
    /// `at` itself when it does.
    pub fn next_opening(&self, at: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let today = at.with_timezone(&zone).date_naive();
        // A week ahead always holds an open day; the 8th day covers a window that closed today.
        (0..8)
            .filter_map(|days| today.checked_add_days(Days::new(days)))
            .filter(|day| {
                !(self.weekdays_only && matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
            })
            .find_map(|day| {
                let (open, close) = (local(zone, day, self.start), local(zone, day, self.end));
                match () {
                    _ if at < open => Some(open),
                    _ if at < close => Some(at),
                    _ => None,
                }
            })
            .unwrap_or(at)
    }
}

/// `time` on `day` in `zone`, as an instant: the earlier of a repeated hour (clocks turned
/// back), and the moment the clocks resume for a skipped one (turned forward).
fn local(zone: Tz, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let wanted = day.and_time(time);
    let mut probe = wanted;
    loop {
        match zone.from_local_datetime(&probe) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return t.with_timezone(&Utc);
            }
            // In a gap: step on to the first local time that exists.
            LocalResult::None => probe += chrono::Duration::minutes(1),
        }
    }
}

/// Clock times written `HH:MM` (or `HH:MM:SS`).
mod clock_time {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&text, "%H:%M:%S"))
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a time such as 09:00")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn window(start: &str, end: &str, weekdays_only: bool) -> SendWindow {
        let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        SendWindow {
            start: t(start),
            end: t(end),
            weekdays_only,
        }
    }

    #[test]
    fn indonesia_s_three_zones_around_midnight() {
        let w = window("09:00", "20:00", false);
        // 2026-11-20 16:30 UTC: 23:30 in Jakarta (WIB), 00:30 next day in Makassar (WITA)
        // and 01:30 in Jayapura (WIT). Each waits for its own 09:00.
        let now = at("2026-11-20T16:30:00Z");
        assert_eq!(
            w.next_opening(now, chrono_tz::Asia::Jakarta),
            at("2026-11-21T02:00:00Z")
        );
        assert_eq!(
            w.next_opening(now, chrono_tz::Asia::Makassar),
            at("2026-11-21T01:00:00Z")
        );
        assert_eq!(
            w.next_opening(now, chrono_tz::Asia::Jayapura),
            at("2026-11-21T00:00:00Z")
        );
        // 12:30 UTC: 19:30 in Jakarta (open), 21:30 in Jayapura (closed since 20:00).
        let now = at("2026-11-20T12:30:00Z");
        assert_eq!(w.next_opening(now, chrono_tz::Asia::Jakarta), now);
        assert_eq!(
            w.next_opening(now, chrono_tz::Asia::Jayapura),
            at("2026-11-21T00:00:00Z")
        );
        // The window's edges: open at 09:00 sharp, closed at 20:00 sharp.
        assert_eq!(
            w.next_opening(at("2026-11-20T02:00:00Z"), chrono_tz::Asia::Jakarta),
            at("2026-11-20T02:00:00Z")
        );
        assert_eq!(
            w.next_opening(at("2026-11-20T13:00:00Z"), chrono_tz::Asia::Jakarta),
            at("2026-11-21T02:00:00Z")
        );
    }

    #[test]
    fn weekdays_only_waits_for_monday() {
        let w = window("09:00", "20:00", true);
        // Friday 2026-11-20, 21:00 in Jakarta: Monday 09:00.
        let friday_night = at("2026-11-20T14:00:00Z");
        assert_eq!(
            w.next_opening(friday_night, chrono_tz::Asia::Jakarta),
            at("2026-11-23T02:00:00Z")
        );
        // Saturday noon: Monday too; Monday noon: at once.
        assert_eq!(
            w.next_opening(at("2026-11-21T05:00:00Z"), chrono_tz::Asia::Jakarta),
            at("2026-11-23T02:00:00Z")
        );
        assert_eq!(
            w.next_opening(at("2026-11-23T05:00:00Z"), chrono_tz::Asia::Jakarta),
            at("2026-11-23T05:00:00Z")
        );
    }

    #[test]
    fn amsterdam_across_daylight_saving() {
        let amsterdam = chrono_tz::Europe::Amsterdam;
        let w = window("09:00", "20:00", false);
        // Saturday 2026-03-28 22:00 CET; the clocks go forward that night: 09:00 CEST is 07:00 UTC.
        assert_eq!(
            w.next_opening(at("2026-03-28T21:00:00Z"), amsterdam),
            at("2026-03-29T07:00:00Z")
        );
        // Saturday 2026-10-24 22:00 CEST; back that night: 09:00 CET is 08:00 UTC.
        assert_eq!(
            w.next_opening(at("2026-10-24T20:00:00Z"), amsterdam),
            at("2026-10-25T08:00:00Z")
        );
        // A window opening inside the skipped hour (02:00–03:00 on 2026-03-29) opens at 03:00 CEST.
        let night = window("02:30", "05:00", false);
        assert_eq!(
            night.next_opening(at("2026-03-28T23:00:00Z"), amsterdam),
            at("2026-03-29T01:00:00Z")
        );
        // One opening inside the repeated hour (02:00–03:00 on 2026-10-25) takes the first.
        assert_eq!(
            night.next_opening(at("2026-10-24T22:00:00Z"), amsterdam),
            at("2026-10-25T00:30:00Z")
        );
    }
}
