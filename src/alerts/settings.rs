//! The alerts' settings: which answers raise one, and who hears of it.

use crate::domain::{Problem, Secret, redact};
use serde::{Deserialize, Serialize};

/// Detractor alerts: when an answer raises one, and where it goes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// A CSAT rating at or below this raises an alert (0: never).
    pub csat_at_most: i16,
    /// An NPS answer at or below this raises an alert (-1: never).
    pub nps_at_most: i16,
    /// Whether "no" to the resolution question raises an alert.
    pub unresolved: bool,
    /// Who gets an alert by email when its team has no lead below.
    pub email: Vec<String>,
    /// The lead's email address per team (as the contacts name teams).
    pub team_leads: std::collections::BTreeMap<String, String>,
    /// An endpoint every alert is posted to as signed JSON.
    pub webhook: Option<AlertWebhook>,
}

/// Where alerts are posted, and the key their HMAC-SHA256 signature is made with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertWebhook {
    #[serde(serialize_with = "redact::serialize")]
    pub url: url::Url,
    pub secret: Secret<String>,
    /// How long a post may take before it counts as failed (and is retried).
    #[serde(with = "crate::domain::duration", default = "default_webhook_timeout")]
    pub timeout: std::time::Duration,
}

fn default_webhook_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(10)
}

impl AlertSettings {
    pub fn check(&self) -> Result<(), Problem> {
        let addresses = self
            .email
            .iter()
            .map(|a| ("alerts.email".to_owned(), a))
            .chain(
                self.team_leads
                    .iter()
                    .map(|(team, a)| (format!("alerts.team_leads.{team}"), a)),
            );
        for (key, address) in addresses {
            address.parse::<lettre::message::Mailbox>().map_err(|e| {
                Problem::at(key, format!("{address:?} is not an email address ({e})"))
            })?;
        }
        if let Some(webhook) = &self.webhook {
            if !matches!(webhook.url.scheme(), "http" | "https") {
                return Err(Problem::at(
                    "alerts.webhook.url",
                    "must be an http or https URL",
                ));
            }
            if webhook.secret.expose().len() < 16 {
                return Err(Problem::at(
                    "alerts.webhook.secret",
                    "must be at least 16 characters long",
                ));
            }
        }
        Ok(())
    }
}
