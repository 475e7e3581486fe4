//! What applies to a customer whose record does not say: locale, time zone, phone country,
//! and the cap on invitations per customer.

use super::{Country, Locale, TimeZone};
use serde::{Deserialize, Serialize};

/// What applies to a customer whose record does not say.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub locale: Locale,
    pub time_zone: TimeZone,
    /// ISO 3166 country that phone numbers without a `+` are read in.
    pub country: Country,
    /// At most one invitation per customer in this period, across all campaigns (`0s`: no
    /// cap); a campaign's own `frequency_cap` overrides it.
    #[serde(with = "crate::domain::duration")]
    pub frequency_cap: std::time::Duration,
}
