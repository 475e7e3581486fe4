//! Value types that can only be built by parsing, so nothing invalid gets past the edge.
//!
//! Each type's `Deserialize` goes through its `parse`, and its `Display` / `Serialize` give back
//! the canonical text (an E.164 number, a canonical locale tag, an IANA zone name).

mod answer_time;
mod contact;
mod defaults;
pub mod duration;
mod email;
mod locale;
mod message;
mod phone;
mod problem;
pub mod redact;
mod secret;
mod status;
mod text;
mod time_zone;

pub use answer_time::AnswerTime;
pub use contact::{ContactChannel, ContactRecord, ExternalId, Resolution};
pub use defaults::Defaults;
pub use email::Email;
pub use locale::Locale;
pub use message::{Channel, ChatMode, InboxOutcome, InvitationState, MessageKind, SurveyChannel};
pub use phone::{Country, Phone, parse_region};
pub use problem::Problem;
pub use secret::Secret;
pub use status::ProviderStatus;
pub use text::{is_break, single_line};
pub use time_zone::{DateArg, TimeZone};

/// `text` as both databases can store it: NUL, which PostgreSQL's text cannot hold, as
/// U+FFFD (the mark invalid UTF-8 already gets).
pub fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Why a piece of text is not a valid value; the caller adds where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Implements `FromStr`, `Display`, `Serialize` and `Deserialize` for a value type through its
/// `parse` and `as_str`, so the text form and the checks live in one place.
macro_rules! text_value {
    ($ty:ty) => {
        impl std::str::FromStr for $ty {
            type Err = $crate::domain::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::parse(s)
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl serde::Serialize for $ty {
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
pub(crate) use text_value;
