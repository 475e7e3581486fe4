//! The storage settings: which database, how many connections, and how long personal data
//! is kept.

use crate::domain::{Problem, redact};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user:pass@host/db`.
    pub url: DatabaseUrl,
    pub max_connections: u32,
}

/// How long personal data is kept (see [`crate::store::Store::apply_retention`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Personal data of closed invitations is erased this long after; `0s` keeps it.
    #[serde(with = "crate::domain::duration")]
    pub personal_data: std::time::Duration,
    /// How often the daemon applies retention.
    #[serde(with = "crate::domain::duration")]
    pub every: std::time::Duration,
}

impl RetentionSettings {
    /// The moment before which personal data is erased at `now`; `None` when it is kept.
    pub fn cutoff(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        if self.personal_data.is_zero() {
            return None;
        }
        Some(now - chrono::Duration::from_std(self.personal_data).unwrap_or(chrono::Duration::MAX))
    }

    /// A retention shorter than a campaign's lookback, delay and expiry together would erase
    /// customers' addresses before they are surveyed.
    pub fn check(&self, campaigns: &[crate::campaign::Campaign]) -> Result<(), Problem> {
        if self.personal_data.is_zero() {
            return Ok(());
        }
        if self.every.is_zero() {
            return Err(Problem::at("retention.every", "must be longer than 0s"));
        }
        for campaign in campaigns {
            let needed = campaign.audience.lookback + campaign.delay + campaign.expiry;
            if self.personal_data <= needed {
                return Err(Problem::at(
                    "retention.personal_data",
                    format!(
                        "must be longer than campaign {}'s lookback, delay and expiry together \
                         ({}), or its customers are erased before they are surveyed",
                        campaign.name,
                        crate::domain::duration::format(needed)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A database URL whose password never shows in `Debug`, `Display` or `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

/// Which storage backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let url = DatabaseUrl(text.to_owned());
        url.backend()?;
        if url.backend()? == Backend::Postgres {
            url::Url::parse(text).map_err(|e| format!("`{}` is not a URL: {e}", url))?;
        }
        Ok(url)
    }

    pub fn backend(&self) -> Result<Backend, String> {
        if self.0.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if self.0.starts_with("postgres://") || self.0.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(format!(
                "`{self}` is neither sqlite://path/to/file.db nor postgres://…"
            ))
        }
    }

    /// The full URL, password included: for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact::url(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DatabaseUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}
