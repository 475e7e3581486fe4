//! The closed-contact record as it comes in (import file, API) and as `contacts list` shows it.

use super::{Email, Locale, ParseError, Phone, TimeZone, text_value};
use chrono::{DateTime, Utc};
use serde::Serialize;
use strum::VariantNames;

/// An id from another system (the helpdesk's ticket id, a customer or agent id): non-empty,
/// trimmed, at most 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternalId(String);

impl ExternalId {
    pub const MAX_LEN: usize = 200;

    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ParseError("is empty".into()));
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(ParseError(format!(
                "is longer than {} characters",
                Self::MAX_LEN
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ParseError("contains a control character".into()));
        }
        Ok(ExternalId(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(ExternalId);

/// Implements parsing and text for a closed set of snake_case words, forgiving case, spaces
/// and dashes (`Walk-in` is `walk_in`), and naming the accepted words when refusing.
macro_rules! word_enum {
    ($ty:ty, $what:literal) => {
        impl $ty {
            pub fn parse(input: &str) -> Result<Self, ParseError> {
                let word = input.trim().to_ascii_lowercase().replace(['-', ' '], "_");
                word.parse::<$ty>().map_err(|_| {
                    ParseError(format!(
                        "`{}` is not a {}; expected one of: {}",
                        input.trim(),
                        $what,
                        <$ty>::VARIANTS.join(", ")
                    ))
                })
            }

            pub fn as_str(&self) -> &'static str {
                self.into()
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$ty>::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// How the customer reached the service desk.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
pub enum ContactChannel {
    Phone,
    Email,
    Chat,
    Whatsapp,
    Sms,
    Social,
    WalkIn,
    Web,
    Other,
}
word_enum!(ContactChannel, "contact channel");

/// How the contact ended.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
pub enum Resolution {
    Resolved,
    Escalated,
    Unresolved,
}
word_enum!(Resolution, "resolution");

/// One closed contact with its customer, agent and team, keyed by the helpdesk's ids. The
/// field names are the import format's column names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactRecord {
    pub contact_id: ExternalId,
    pub closed_at: DateTime<Utc>,
    pub opened_at: Option<DateTime<Utc>>,
    pub customer_id: ExternalId,
    pub customer_name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub whatsapp: Option<Phone>,
    pub locale: Option<Locale>,
    pub time_zone: Option<TimeZone>,
    pub segment: Option<String>,
    pub agent_id: Option<ExternalId>,
    pub agent_name: Option<String>,
    pub team: Option<ExternalId>,
    pub contact_channel: Option<ContactChannel>,
    pub category: Option<String>,
    pub resolution: Option<Resolution>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_forgiving_and_name_the_choices() {
        assert_eq!(
            ContactChannel::parse("Walk-in").unwrap(),
            ContactChannel::WalkIn
        );
        assert_eq!(
            ContactChannel::parse(" WhatsApp ").unwrap(),
            ContactChannel::Whatsapp
        );
        assert_eq!(ContactChannel::WalkIn.as_str(), "walk_in");
        let err = Resolution::parse("done").unwrap_err().0;
        assert!(err.contains("resolved, escalated, unresolved"), "{err}");
    }

    #[test]
    fn external_ids_are_trimmed_and_bounded() {
        assert_eq!(ExternalId::parse(" T-1 ").unwrap().as_str(), "T-1");
        assert!(ExternalId::parse("  ").is_err());
        assert!(ExternalId::parse(&"x".repeat(201)).is_err());
        assert!(ExternalId::parse("a\u{0}b").is_err());
    }
}
