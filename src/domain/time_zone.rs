//! An IANA time zone (`Asia/Jakarta`, `Asia/Makassar`, `Asia/Jayapura`), from chrono-tz.

use super::{ParseError, text_value};
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(Tz);

impl TimeZone {
    pub const UTC: TimeZone = TimeZone(Tz::UTC);

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        trimmed.parse::<Tz>().map(TimeZone).map_err(|_| {
            ParseError(format!(
                "`{trimmed}` is not an IANA time zone such as `Asia/Jakarta`"
            ))
        })
    }

    pub fn as_str(&self) -> &str {
        self.0.name()
    }

    pub fn tz(&self) -> Tz {
        self.0
    }

    /// `instant` as people read it on this zone's clock, to the minute and with the zone's
    /// abbreviation (its offset where it has none): `2026-12-03 14:20 WIB`,
    /// `2026-12-03 07:20 UTC`, `2026-12-03 11:20 +04`. The one format of times shown to people.
    pub fn show(&self, instant: DateTime<Utc>) -> String {
        instant
            .with_timezone(&self.0)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    /// The instant a wall-clock time in this zone stands for. A time skipped by a daylight
    /// saving change is refused; a repeated one takes its first occurrence.
    pub fn to_utc(&self, local: NaiveDateTime) -> Result<DateTime<Utc>, ParseError> {
        match self.0.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Ok(t.with_timezone(&Utc)),
            LocalResult::None => Err(ParseError(format!(
                "{local} does not exist in {} (a daylight saving gap)",
                self.as_str()
            ))),
        }
    }
}

text_value!(TimeZone);

/// A date as people write it on the command line or in a query string: `YYYY-MM-DD`
/// (midnight in a time zone) or an RFC 3339 instant.
#[derive(Debug, Clone, Copy)]
pub enum DateArg {
    Day(chrono::NaiveDate),
    Instant(chrono::DateTime<chrono::Utc>),
}

impl std::str::FromStr for DateArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(DateArg::Day(day));
        }
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| DateArg::Instant(t.to_utc()))
            .map_err(|_| format!("`{text}` is neither YYYY-MM-DD nor an RFC 3339 time"))
    }
}

impl DateArg {
    /// The instant it stands for; a day starts at midnight in `time_zone`.
    pub fn instant(self, time_zone: TimeZone) -> Result<DateTime<Utc>, ParseError> {
        match self {
            DateArg::Instant(t) => Ok(t),
            DateArg::Day(day) => time_zone.to_utc(day.and_time(chrono::NaiveTime::MIN)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_convert_in_their_zone() {
        let local =
            NaiveDateTime::parse_from_str("2026-03-01 09:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let wib = TimeZone::parse("Asia/Jakarta")
            .unwrap()
            .to_utc(local)
            .unwrap();
        let wit = TimeZone::parse("Asia/Jayapura")
            .unwrap()
            .to_utc(local)
            .unwrap();
        assert_eq!(wib.to_rfc3339(), "2026-03-01T02:00:00+00:00");
        assert_eq!(wit.to_rfc3339(), "2026-03-01T00:00:00+00:00");
    }

    #[test]
    fn instants_show_on_the_zone_s_clock_with_its_name() {
        let t: DateTime<Utc> = "2026-12-03T07:20:59Z".parse().unwrap();
        let zone = |name| TimeZone::parse(name).unwrap().show(t);
        assert_eq!(zone("Asia/Jakarta"), "2026-12-03 14:20 WIB");
        assert_eq!(zone("Asia/Makassar"), "2026-12-03 15:20 WITA");
        assert_eq!(zone("Asia/Dubai"), "2026-12-03 11:20 +04");
        assert_eq!(TimeZone::UTC.show(t), "2026-12-03 07:20 UTC");
    }

    #[test]
    fn unknown_zone_is_refused() {
        assert!(TimeZone::parse("Asia/Jakarte").is_err());
        assert!(TimeZone::parse("WIB").is_err());
    }
}
