//! One contact in the import format: its columns, and parsing them into a [`ContactRecord`].
//!
//! Every intake path (CSV and JSONL files, `POST /v1/contacts`, SQL sources) ends here, so the
//! text of a record is cleaned in one place, before any column's parser sees it:
//!
//! - a NUL character is refused, naming the field (PostgreSQL cannot store it, and it never
//!   belongs in a contact);
//! - every column holds one line: each control character (C0 — TAB, CR and LF among them —,
//!   DEL, C1 — NEL among them) and each line or paragraph separator (U+2028, U+2029) becomes
//!   a space, the spaces around it join it (one space for the run), and the ends are trimmed.
//!   A line break in a name would otherwise reach an email header;
//! - the text of free attributes may span lines: its line breaks are kept, each as LF (CRLF,
//!   CR, NEL, U+2028 and U+2029 alike), TAB is kept, other control characters become spaces,
//!   and the ends are trimmed. Attribute names are single-line text.
//!
//! A contact cannot close more than a day after the parse's "now" (an injected clock's time):
//! clocks and time zones are off by hours, a closing time days ahead is a mistake.

mod clean;

use crate::domain::{
    ContactChannel, ContactRecord, Email, ExternalId, Locale, ParseError, Phone, Resolution,
    TimeZone,
};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use clean::{clean_attributes, single_line};
use std::borrow::Cow;
use std::fmt;

/// The columns of the import format (CSV header names, JSON keys).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr, strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum Column {
    ContactId,
    ClosedAt,
    OpenedAt,
    CustomerId,
    CustomerName,
    Email,
    Phone,
    Whatsapp,
    Locale,
    TimeZone,
    Segment,
    AgentId,
    AgentName,
    Team,
    ContactChannel,
    Category,
    Resolution,
}

impl Column {
    pub const COUNT: usize = 17;
    /// Columns every record must have.
    pub const REQUIRED: [Column; 3] = [Column::ContactId, Column::ClosedAt, Column::CustomerId];
    /// A column named `attr.NAME` (CSV) fills the free attribute NAME; JSON uses `attributes`.
    pub const ATTRIBUTE_PREFIX: &str = "attr.";

    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The column a header or key names, if any (case and surrounding spaces forgiven).
    pub fn named(name: &str) -> Option<Column> {
        name.trim().to_ascii_lowercase().parse().ok()
    }

    pub fn all() -> impl Iterator<Item = Column> {
        <Column as strum::IntoEnumIterator>::iter()
    }

    /// The field name of the free attribute `name` in errors: `attr.NAME`, its control
    /// characters escaped.
    pub fn attribute(name: &str) -> String {
        format!("{}{}", Column::ATTRIBUTE_PREFIX, name.escape_debug())
    }
}

/// A value in a column that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The column or key, or `None` when the record as a whole is wrong.
    pub field: Option<String>,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: Some(field.into()),
            reason: reason.into(),
        }
    }

    pub fn record(reason: impl Into<String>) -> Self {
        FieldError {
            field: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// What a record is read against when it does not say.
#[derive(Debug, Clone)]
pub struct ParseContext {
    pub time_zone: TimeZone,
    pub country: phonenumber::country::Id,
}

impl ParseContext {
    /// The configured defaults (`defaults.time_zone`, `defaults.country`).
    pub fn of(defaults: &crate::domain::Defaults) -> ParseContext {
        ParseContext {
            time_zone: defaults.time_zone,
            country: defaults.country.0,
        }
    }
}

/// Longest free text kept in a name, category or segment.
const MAX_TEXT: usize = 500;

/// How far past "now" a closing time may lie.
const FUTURE_TOLERANCE: TimeDelta = TimeDelta::days(1);

/// One record as text, before any checking.
#[derive(Debug, Default, Clone)]
pub struct RawContact<'a> {
    values: [Option<Cow<'a, str>>; Column::COUNT],
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl<'a> RawContact<'a> {
    /// Sets a column; blank text counts as absent.
    pub fn set(&mut self, column: Column, value: impl Into<Cow<'a, str>>) {
        let value = value.into();
        self.values[column as usize] = if value.trim().is_empty() {
            None
        } else {
            Some(value)
        };
    }

    fn get(&self, column: Column) -> Option<&str> {
        self.values[column as usize].as_deref().map(str::trim)
    }

    /// Reads a JSON object in the import format. Keys outside the format are returned so the
    /// caller can warn about them; values must be text or numbers (`attributes`: an object).
    pub fn from_json(
        object: &'a serde_json::Map<String, serde_json::Value>,
    ) -> (RawContact<'a>, Vec<FieldError>, Vec<&'a str>) {
        use serde_json::Value;
        let mut raw = RawContact::default();
        let mut errors = Vec::new();
        let mut unknown = Vec::new();
        for (key, value) in object {
            if key == "attributes" {
                match value {
                    Value::Object(map) => raw.attributes = map.clone(),
                    Value::Null => {}
                    _ => errors.push(FieldError::new(key, "must be an object")),
                }
                continue;
            }
            let Some(column) = Column::named(key) else {
                unknown.push(key.as_str());
                continue;
            };
            match value {
                Value::String(text) => raw.set(column, text.as_str()),
                Value::Number(n) => raw.set(column, n.to_string()),
                Value::Null => {}
                _ => errors.push(FieldError::new(key, "must be text or a number")),
            }
        }
        (raw, errors, unknown)
    }

    /// When the record says the contact closed, if that can be read; in the record's time
    /// zone, else the default one, as [`RawContact::parse`] reads it.
    pub fn closed_at(&self, cx: &ParseContext) -> Option<DateTime<Utc>> {
        let text = |column| {
            self.get(column)
                .and_then(|text| single_line(text).ok())
                .filter(|text| !text.is_empty())
        };
        let zone = text(Column::TimeZone)
            .and_then(|zone| TimeZone::parse(&zone).ok())
            .unwrap_or(cx.time_zone);
        parse_time(&text(Column::ClosedAt)?, zone).ok()
    }

    /// Checks every column and builds the contact, or lists every problem found; `now` is
    /// when it is read (a closing time more than a day after it is refused).
    pub fn parse(
        &self,
        cx: &ParseContext,
        now: DateTime<Utc>,
    ) -> Result<ContactRecord, Vec<FieldError>> {
        let mut check = Checker {
            raw: self,
            errors: Vec::new(),
        };
        let phone = |v: &str| Phone::parse_in(v, cx.country);

        let contact_id = check.required(Column::ContactId, ExternalId::parse);
        let customer_id = check.required(Column::CustomerId, ExternalId::parse);
        let time_zone = check.optional(Column::TimeZone, TimeZone::parse);
        let zone = time_zone.unwrap_or(cx.time_zone);
        let closed_at = check.required(Column::ClosedAt, |v| parse_closed_at(v, zone, now));
        let opened_at = check.optional(Column::OpenedAt, |v| parse_time(v, zone));
        let customer_name = check.optional(Column::CustomerName, parse_text);
        let email = check.optional(Column::Email, Email::parse);
        let phone_number = check.optional(Column::Phone, phone);
        let whatsapp = check.optional(Column::Whatsapp, phone);
        let locale = check.optional(Column::Locale, Locale::parse);
        let segment = check.optional(Column::Segment, parse_text);
        let agent_id = check.optional(Column::AgentId, ExternalId::parse);
        let agent_name = check.optional(Column::AgentName, parse_text);
        let team = check.optional(Column::Team, ExternalId::parse);
        let contact_channel = check.optional(Column::ContactChannel, ContactChannel::parse);
        let category = check.optional(Column::Category, parse_text);
        let resolution = check.optional(Column::Resolution, Resolution::parse);
        let mut errors = check.errors;
        let attributes = clean_attributes(&self.attributes, &mut errors);

        if let (Some(opened), Some(closed)) = (opened_at, closed_at)
            && opened > closed
        {
            errors.push(FieldError::new(
                Column::OpenedAt.name(),
                format!("{opened} is after closed_at {closed}"),
            ));
        }
        if agent_name.is_some() && agent_id.is_none() {
            errors.push(FieldError::new(
                Column::AgentName.name(),
                "is given without agent_id (agents are matched by id)",
            ));
        }
        let (Some(contact_id), Some(customer_id), Some(closed_at), true) =
            (contact_id, customer_id, closed_at, errors.is_empty())
        else {
            return Err(errors);
        };
        Ok(ContactRecord {
            contact_id,
            closed_at,
            opened_at,
            customer_id,
            customer_name,
            email,
            phone: phone_number,
            whatsapp,
            locale,
            time_zone,
            segment,
            agent_id,
            agent_name,
            team,
            contact_channel,
            category,
            resolution,
            attributes,
        })
    }
}

/// Collects the problems of one record while its columns are parsed.
struct Checker<'r, 'a> {
    raw: &'r RawContact<'a>,
    errors: Vec<FieldError>,
}

impl Checker<'_, '_> {
    fn optional<T>(
        &mut self,
        column: Column,
        parse: impl Fn(&str) -> Result<T, ParseError>,
    ) -> Option<T> {
        self.value(column, false, parse)
    }

    fn required<T>(
        &mut self,
        column: Column,
        parse: impl Fn(&str) -> Result<T, ParseError>,
    ) -> Option<T> {
        self.value(column, true, parse)
    }

    /// The column's value, its text made one line first; text that is blank once cleaned
    /// counts as absent.
    fn value<T>(
        &mut self,
        column: Column,
        required: bool,
        parse: impl Fn(&str) -> Result<T, ParseError>,
    ) -> Option<T> {
        let problem = match self.raw.get(column).map(single_line) {
            Some(Ok(text)) if !text.is_empty() => match parse(&text) {
                Ok(value) => return Some(value),
                Err(e) => e.0,
            },
            Some(Err(e)) => e.0,
            _ if required => "is required but missing or empty".into(),
            _ => return None,
        };
        self.errors.push(FieldError::new(column.name(), problem));
        None
    }
}

/// Free text (a name, a category): kept as given, up to a bound.
fn parse_text(text: &str) -> Result<String, ParseError> {
    if text.chars().count() > MAX_TEXT {
        return Err(ParseError(format!("is longer than {MAX_TEXT} characters")));
    }
    Ok(text.to_owned())
}

/// A closing time (see [`parse_time`]) no more than [`FUTURE_TOLERANCE`] after `now`.
fn parse_closed_at(
    text: &str,
    zone: TimeZone,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ParseError> {
    let closed_at = parse_time(text, zone)?;
    if closed_at > now + FUTURE_TOLERANCE {
        return Err(ParseError(format!(
            "`{text}` is more than a day in the future (it is {} now)",
            now.with_timezone(&zone.tz()).format("%Y-%m-%d %H:%M %Z")
        )));
    }
    Ok(closed_at)
}

/// Reads RFC 3339 (`2026-03-01T09:00:00+07:00`), or a wall-clock time in `zone`
/// (`2026-03-01 09:00`, `2026-03-01 09:00:00`, `T` also accepted as the separator).
pub fn parse_time(text: &str, zone: TimeZone) -> Result<DateTime<Utc>, ParseError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let normalised = text.replacen('T', " ", 1);
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(&normalised, format) {
            return zone.to_utc(local);
        }
    }
    Err(ParseError(format!(
        "`{text}` is not a date and time (use RFC 3339 such as 2026-03-01T09:30:00+07:00, \
         or 2026-03-01 09:30[:00] in the customer's time zone)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> ParseContext {
        ParseContext {
            time_zone: TimeZone::parse("Asia/Jakarta").unwrap(),
            country: phonenumber::country::Id::ID,
        }
    }

    /// When the tests' records are read.
    fn now() -> DateTime<Utc> {
        "2026-03-02T00:00:00Z".parse().unwrap()
    }

    fn raw(pairs: &[(Column, &'static str)]) -> RawContact<'static> {
        let mut r = RawContact::default();
        for (c, v) in pairs {
            r.set(*c, *v);
        }
        r
    }

    #[test]
    fn a_full_record_parses() {
        let r = raw(&[
            (Column::ContactId, "T-1"),
            (Column::ClosedAt, "2026-03-01 09:30"),
            (Column::CustomerId, "C-1"),
            (Column::Phone, "0812-3456-7890"),
            (Column::TimeZone, "Asia/Makassar"),
            (Column::ContactChannel, "Walk-in"),
        ])
        .parse(&cx(), now())
        .unwrap();
        assert_eq!(r.closed_at.to_rfc3339(), "2026-03-01T01:30:00+00:00");
        assert_eq!(r.phone.unwrap().as_str(), "+6281234567890");
        assert_eq!(r.contact_channel, Some(ContactChannel::WalkIn));
    }

    #[test]
    fn every_problem_is_named() {
        let errors = raw(&[
            (Column::ContactId, "T-1"),
            (Column::ClosedAt, "yesterday"),
            (Column::Email, "budi@"),
            (Column::Phone, "08123"),
        ])
        .parse(&cx(), now())
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.clone().unwrap()).collect();
        assert_eq!(fields, ["customer_id", "closed_at", "email", "phone"]);
    }

    #[test]
    fn opened_after_closed_is_refused() {
        let errors = raw(&[
            (Column::ContactId, "T-1"),
            (Column::ClosedAt, "2026-03-01T09:00:00Z"),
            (Column::OpenedAt, "2026-03-01T10:00:00Z"),
            (Column::CustomerId, "C-1"),
        ])
        .parse(&cx(), now())
        .unwrap_err();
        assert_eq!(errors[0].field.as_deref(), Some("opened_at"));
    }

    #[test]
    fn every_column_is_cleaned_and_nul_is_named() {
        let mut r = raw(&[
            (Column::ContactId, "T-\n1"),
            (Column::ClosedAt, "2026-03-01\u{2028}09:30"),
            (Column::CustomerId, "C-1\r\n"),
            (Column::CustomerName, "Budi\nSantoso"),
            (Column::Email, "budi@example.com\r\n"),
            (Column::AgentId, "A-1"),
            (Column::AgentName, "Sari\u{2029}Wijaya"),
            (Column::Team, "Bill\ting"),
            (Column::Category, "billing\r"),
            (Column::Segment, "\u{2028}retail"),
        ]);
        r.attributes
            .insert("note\n".into(), "line one\r\nline two".into());
        let c = r.parse(&cx(), now()).unwrap();
        assert_eq!(c.contact_id.as_str(), "T- 1");
        assert_eq!(c.customer_id.as_str(), "C-1");
        assert_eq!(c.customer_name.as_deref(), Some("Budi Santoso"));
        assert_eq!(c.agent_name.as_deref(), Some("Sari Wijaya"));
        assert_eq!(c.team.unwrap().as_str(), "Bill ing");
        assert_eq!(c.category.as_deref(), Some("billing"));
        assert_eq!(c.segment.as_deref(), Some("retail"));
        assert_eq!(c.email.unwrap().as_str(), "budi@example.com");
        assert_eq!(c.closed_at.to_rfc3339(), "2026-03-01T02:30:00+00:00");
        assert_eq!(c.attributes["note"], "line one\nline two");

        let mut r = raw(&[
            (Column::ContactId, "T-1"),
            (Column::ClosedAt, "2026-03-01 09:30"),
            (Column::CustomerId, "\0"),
            (Column::CustomerName, "Bu\0di"),
        ]);
        r.attributes
            .insert("note".into(), serde_json::json!({"deep": ["a\0"]}));
        let errors = r.parse(&cx(), now()).unwrap_err();
        let named: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_deref().unwrap(), e.reason.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                (
                    "customer_id",
                    "contains a NUL character (character 1), which cannot be stored"
                ),
                (
                    "customer_name",
                    "contains a NUL character (character 3), which cannot be stored"
                ),
                (
                    "attr.note",
                    "contains a NUL character (character 2), which cannot be stored"
                ),
            ]
        );
        // A value that is nothing but control characters is absent.
        let errors = raw(&[
            (Column::ContactId, "T-1"),
            (Column::ClosedAt, "2026-03-01 09:30"),
            (Column::CustomerId, "\u{1}\u{2}"),
        ])
        .parse(&cx(), now())
        .unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "field `customer_id`: is required but missing or empty"
        );
    }

    #[test]
    fn a_closing_time_more_than_a_day_ahead_is_refused() {
        let at = |closed_at: &'static str| {
            raw(&[
                (Column::ContactId, "T-1"),
                (Column::ClosedAt, closed_at),
                (Column::CustomerId, "C-1"),
            ])
            .parse(&cx(), now())
        };
        // now() is 2026-03-02 07:00 in Jakarta: a day later is fine, a minute more is not.
        assert!(at("2026-03-03 07:00").is_ok());
        let errors = at("2026-03-03 07:01").unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "field `closed_at`: `2026-03-03 07:01` is more than a day in the future (it is 2026-03-02 07:00 WIB now)"
        );
        // The record's own zone reads the time and shows the clock.
        let mut r = raw(&[
            (Column::ContactId, "T-1"),
            (Column::ClosedAt, "2027-01-05 09:00"),
            (Column::CustomerId, "C-1"),
            (Column::TimeZone, "Asia/Jayapura"),
        ]);
        let errors = r.parse(&cx(), now()).unwrap_err();
        assert_eq!(
            errors[0].reason,
            "`2027-01-05 09:00` is more than a day in the future (it is 2026-03-02 09:00 WIT now)"
        );
        assert_eq!(
            r.closed_at(&cx()).unwrap().to_rfc3339(),
            "2027-01-05T00:00:00+00:00"
        );
        r.set(Column::TimeZone, "Mars/Olympus");
        assert_eq!(
            r.closed_at(&cx()).unwrap().to_rfc3339(),
            "2027-01-05T02:00:00+00:00",
            "an unknown zone falls back to the default, as parse does"
        );
    }
}
