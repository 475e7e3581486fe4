//! The survey links' settings: the public address and the key tokens are made with.

use crate::domain::{Secret, redact};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The survey links the daemon hands out.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SurveySettings {
    /// The daemon's public base URL, as customers reach it (survey and unsubscribe links).
    #[serde(serialize_with = "redact::serialize")]
    pub public_url: url::Url,
    /// The key survey tokens are derived from (64 hex digits). When unset, a key is kept in
    /// `key_file`, created on first use. Daemons sharing a database must share the key.
    pub key: Option<Secret<String>>,
    pub key_file: PathBuf,
}
