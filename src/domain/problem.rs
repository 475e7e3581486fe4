//! One problem with the settings, as the module that checks them states it; the configuration
//! loader adds where the value was set.

use std::fmt;

/// One problem with the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the value was set: `/etc/surveyd/surveyd.toml, line 4`, `environment variable
    /// SURVEYD_HTTP_LISTEN`, `the built-in defaults`.
    pub place: Option<String>,
    /// The setting, e.g. `http.listen`; none for a problem of the whole.
    pub key: Option<String>,
    /// The value as written (never a secret's).
    pub value: Option<String>,
    pub reason: String,
}

impl Problem {
    /// A problem with one key, to be placed by [`Sources::place`].
    pub fn at(key: impl Into<String>, reason: impl Into<String>) -> Problem {
        Problem {
            place: None,
            key: Some(key.into()),
            value: None,
            reason: reason.into(),
        }
    }

    /// A problem that names its own place (a campaign, a source, a questionnaire file).
    pub fn general(reason: impl Into<String>) -> Problem {
        Problem {
            place: None,
            key: None,
            value: None,
            reason: reason.into(),
        }
    }
}

impl std::error::Error for Problem {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(place) = &self.place {
            write!(f, "{place}: ")?;
        }
        match (&self.key, &self.value) {
            (Some(key), Some(value)) => write!(f, "{key} = {value}: ")?,
            (Some(key), None) => write!(f, "{key}: ")?,
            _ => {}
        }
        f.write_str(&self.reason)
    }
}
