//! Typed settings: the embedded `config/default.toml`, then an optional file (`--config` or
//! `SURVEYD_CONFIG`), then `SURVEYD_*` environment variables, the last one winning.
//!
//! Environment variables name a section and a key joined by the first underscore:
//! `SURVEYD_DATABASE_URL` is `database.url`, `SURVEYD_HTTP_MAX_BODY_BYTES` is
//! `http.max_body_bytes`. Secrets print as `[redacted]` in `Debug` and in `config show`.

use crate::domain::{Locale, TimeZone};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The defaults shipped inside the binary.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub defaults: Defaults,
    pub api: ApiSettings,
    pub intake: IntakeSettings,
    pub templates: TemplateSettings,
    pub log: LogSettings,
    /// The survey campaigns; a file that lists campaigns replaces the default ones.
    #[serde(default)]
    pub campaigns: Vec<crate::campaign::Campaign>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user:pass@host/db`.
    pub url: DatabaseUrl,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
}

/// What applies to a customer whose record does not say.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub locale: Locale,
    pub time_zone: TimeZone,
    /// ISO 3166 country that phone numbers without a `+` are read in.
    pub country: Country,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Bearer tokens accepted by the HTTP API, stored as the SHA-256 of the token
    /// (`surveyd tokens hash` prints it). Tokens made with `surveyd tokens create` live in
    /// the database instead.
    #[serde(default)]
    pub tokens: Vec<ConfiguredToken>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredToken {
    pub name: String,
    pub sha256: Secret<crate::auth::TokenHash>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IntakeSettings {
    /// Contacts parsed and written together (one set of statements) during an import.
    pub batch_size: usize,
    /// Contacts committed per database transaction during an import. Larger is faster;
    /// on SQLite other writers wait while a transaction is open.
    pub rows_per_transaction: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSettings {
    /// The folder holding `questionnaires/` and the message templates.
    pub dir: PathBuf,
}

impl Settings {
    /// Loads the questionnaires and checks the campaigns against them; every problem is
    /// reported, each naming its file or campaign.
    pub fn load_campaigns(&self) -> Result<Vec<crate::questionnaire::Questionnaire>, ConfigError> {
        use crate::questionnaire::Questionnaire;
        let dir = self.templates.dir.join("questionnaires");
        let questionnaires = Questionnaire::load_dir(&dir, &self.defaults.locale).map_err(|e| {
            ConfigError::Invalid(
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        crate::campaign::check(&self.campaigns, &questionnaires)
            .map_err(|problems| ConfigError::Invalid(problems.join("; ")))?;
        Ok(questionnaires)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter such as `info` or `surveyd=debug,tower_http=info`; `RUST_LOG` wins.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A phone-number region, e.g. `ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country(pub phonenumber::country::Id);

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_ref())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        crate::domain::parse_region(&text)
            .map(Country)
            .map_err(serde::de::Error::custom)
    }
}

/// A value that never shows itself: `Debug` and `Serialize` print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
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
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("REDACTED"));
                f.write_str(&url.as_str().replacen(":REDACTED@", ":[redacted]@", 1))
            }
            _ => f.write_str(&self.0),
        }
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

/// A configuration that could not be loaded; the message names the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads the defaults, then `file` if given, then `SURVEYD_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            figment = figment.merge(Toml::file(path));
        }
        let env = Env::prefixed("SURVEYD_")
            .ignore(&["CONFIG"])
            .map(|key| key.as_str().replacen('_', ".", 1).into());
        figment = figment.merge(env);
        figment.extract::<Settings>().map_err(|e| {
            let reasons: Vec<String> = e.into_iter().map(describe).collect();
            ConfigError::Invalid(reasons.join("; "))
        })
    }

    /// The settings as TOML, secrets redacted.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("settings serialise to TOML")
    }
}

/// One figment error as "key `a.b`: reason (in file X)".
fn describe(error: figment::Error) -> String {
    let key = if error.path.is_empty() {
        "(top level)".to_owned()
    } else {
        error.path.join(".")
    };
    let source = error
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(source) => format!(" (from {source})"),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    format!("key `{key}`: {}{source}", error.kind)
}
