//! Detractor alerts: which answers raise one ([`AlertRule`]), who receives it (and the warning
//! when no one would), and the messages that carry it — an email to the team's lead and a
//! JSON post signed with HMAC-SHA256 — which the dispatcher sends from the outbox and retries
//! like any delivery; and an alert as people read it (its answers, the steps taken with their
//! notes) for the command line, the dashboard and the email.

mod settings;

pub use settings::{AlertSettings, AlertWebhook};

use crate::channels::{HttpApi, SendError};
use crate::domain::TimeZone;
use crate::store::{Alert, StoredAnswer};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// When an answer raises an alert, and where alerts go.
#[derive(Debug, Clone, Default)]
pub struct AlertRule {
    csat_at_most: Option<i16>,
    nps_at_most: Option<i16>,
    unresolved: bool,
    /// The outbox channels an alert's messages go on.
    channels: Vec<&'static str>,
}

impl crate::store::AlertDecision for AlertRule {
    fn reason(&self, metric: Option<&str>, number: Option<i16>) -> Option<&'static str> {
        AlertRule::reason(self, metric, number)
    }

    fn channels(&self) -> &[&'static str] {
        AlertRule::channels(self)
    }
}

/// The outbox channel of alert posts.
pub const WEBHOOK: &str = crate::domain::Channel::Webhook.as_str();

impl AlertRule {
    pub fn new(settings: &AlertSettings) -> Self {
        let mut channels = Vec::new();
        if !settings.email.is_empty() || !settings.team_leads.is_empty() {
            channels.push("email");
        }
        if settings.webhook.is_some() {
            channels.push(WEBHOOK);
        }
        AlertRule {
            csat_at_most: Some(settings.csat_at_most).filter(|v| *v >= 1),
            nps_at_most: Some(settings.nps_at_most).filter(|v| *v >= 0),
            unresolved: settings.unresolved,
            channels,
        }
    }

    /// Why an answer `number` to the question feeding `metric` calls for an alert: `csat`,
    /// `nps` or `unresolved`.
    pub fn reason(&self, metric: Option<&str>, number: Option<i16>) -> Option<&'static str> {
        let number = number?;
        match metric? {
            "csat" if self.csat_at_most.is_some_and(|max| number <= max) => Some("csat"),
            "nps" if self.nps_at_most.is_some_and(|max| number <= max) => Some("nps"),
            "fcr" if self.unresolved && number == 0 => Some("unresolved"),
            _ => None,
        }
    }

    pub fn channels(&self) -> &[&'static str] {
        &self.channels
    }

    /// The warning for alerts that would reach no one: some answers raise them, but no
    /// recipient is configured (`alerts.team_leads`, `alerts.email`, `alerts.webhook`). The
    /// daemon logs it at start; such alerts are only seen in `surveyd alerts`, the API and the
    /// dashboard.
    pub fn unrouted(&self) -> Option<String> {
        let mut raised_by = Vec::new();
        if let Some(max) = self.csat_at_most {
            raised_by.push(format!("alerts.csat_at_most = {max}"));
        }
        if let Some(max) = self.nps_at_most {
            raised_by.push(format!("alerts.nps_at_most = {max}"));
        }
        if self.unresolved {
            raised_by.push("alerts.unresolved = true".into());
        }
        (!raised_by.is_empty() && self.channels.is_empty()).then(|| {
            format!(
                "detractor alerts are raised ({}) but go to no one: set alerts.team_leads, \
                 alerts.email or alerts.webhook; until then they are seen only in \
                 `surveyd alerts list`, the API and the dashboard",
                raised_by.join(", ")
            )
        })
    }
}

/// The JSON an alert is posted as: the alert with its customer, contact, agent and answers.
pub fn webhook_body(alert: &Alert) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "event": "alert.raised", "alert": alert }))
        .expect("an alert serialises")
}

/// The headers that sign `body` posted at `timestamp` (Unix seconds): `X-Surveyd-Timestamp`,
/// and `X-Surveyd-Signature: sha256=` the hex HMAC-SHA256, keyed with the webhook's secret,
/// of `{timestamp}.{body}` (so a captured post cannot be replayed later as new).
pub fn signature(webhook: &AlertWebhook, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(webhook.secret.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts `alert` to the webhook, signed; the answer sorted as any provider's: 2xx delivered,
/// 429 and 5xx retried, other refusals final.
pub async fn post(
    api: &HttpApi,
    webhook: &AlertWebhook,
    alert: &Alert,
    delivery_id: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, SendError> {
    let body = webhook_body(alert);
    let timestamp = now.timestamp();
    let request = api
        .client
        .post(webhook.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Surveyd-Delivery", delivery_id.to_string())
        .header("X-Surveyd-Timestamp", timestamp.to_string())
        .header("X-Surveyd-Signature", signature(webhook, timestamp, &body))
        .body(body);
    let answer = HttpApi::fetch("alert webhook", request).await?;
    if answer.status.is_success() {
        Ok(format!("alert-{delivery_id}"))
    } else {
        let said: String = answer.body.chars().take(200).collect();
        Err(answer.by_status(answer.reason("alert webhook", None, &said)))
    }
}

/// Who acknowledged and resolved `alert`, when (on `zone`'s clock) and what they wrote, a line
/// per step taken: `acknowledged 2026-12-03 14:20 WIB by ops: Calling her back`.
pub fn steps(alert: &Alert, zone: TimeZone) -> Vec<String> {
    [
        (
            "acknowledged",
            alert.acknowledged_at,
            &alert.acknowledged_by,
            &alert.acknowledged_note,
        ),
        (
            "resolved",
            alert.resolved_at,
            &alert.resolved_by,
            &alert.resolved_note,
        ),
    ]
    .into_iter()
    .filter_map(|(step, at, by, note)| {
        let mut line = format!("{step} {}", zone.show(at?));
        if let Some(by) = by {
            line.push_str(&format!(" by {by}"));
        }
        if let Some(note) = note {
            line.push_str(&format!(": {note}"));
        }
        Some(line)
    })
    .collect()
}

/// An answer's value as people read it: the number, else the text, else `–`.
pub fn answer_value(answer: &StoredAnswer) -> String {
    match (&answer.number, &answer.text) {
        (Some(n), _) => n.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => "–".into(),
    }
}

/// Who an alert's email goes to: its team's lead, else `alerts.email`; when no one, the
/// reason, which the delivery fails with (so the alert shows in `surveyd outbox failed`).
pub fn recipients<'a>(settings: &'a AlertSettings, alert: &Alert) -> Result<&'a [String], String> {
    if let Some(lead) = alert.team.as_ref().and_then(|t| settings.team_leads.get(t)) {
        return Ok(std::slice::from_ref(lead));
    }
    if !settings.email.is_empty() {
        return Ok(&settings.email);
    }
    let lead = match &alert.team {
        Some(team) => format!("alerts.team_leads has no lead for team `{team}`"),
        None => "its contact has no team for alerts.team_leads".into(),
    };
    Err(format!(
        "alert {} goes to no one by email: {lead}, and alerts.email is empty",
        alert.id
    ))
}

/// The subject and plain text of an alert's email.
pub fn email_text(alert: &Alert, dashboard: &url::Url) -> (String, String) {
    let customer = alert.customer_name.as_deref().unwrap_or(&alert.customer_id);
    let agent = alert
        .agent_name
        .as_deref()
        .or(alert.agent_id.as_deref())
        .unwrap_or("no agent");
    let subject = format!(
        "Detractor alert: {customer} ({}) on contact {}",
        alert.reasons.replace(',', ", "),
        alert.contact_id
    );
    let mut text = format!(
        "A customer's answers crossed the alert threshold ({}).\n\n\
         Customer: {customer} ({})\nEmail: {}\nPhone: {}\n\
         Contact: {} ({}), closed {}\nAgent: {agent}\nTeam: {}\nCampaign: {} by {}\n\nAnswers:\n",
        alert.reasons.replace(',', ", "),
        alert.customer_id,
        alert.customer_email.as_deref().unwrap_or("–"),
        alert.customer_phone.as_deref().unwrap_or("–"),
        alert.contact_id,
        alert.category.as_deref().unwrap_or("no category"),
        TimeZone::UTC.show(alert.closed_at),
        alert.team.as_deref().unwrap_or("–"),
        alert.campaign,
        alert.channel,
    );
    for a in &alert.answers {
        text.push_str(&format!("  {}: {}\n", a.question, answer_value(a)));
    }
    text.push_str(&format!(
        "\nAcknowledge or resolve it on the dashboard ({}), with `surveyd alerts`, or the API.\n",
        dashboard
            .join(&format!("dashboard/alerts#alert-{}", alert.id))
            .map(|u| u.to_string())
            .unwrap_or_default()
    ));
    (subject, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(csat: i16, nps: i16, unresolved: bool) -> AlertSettings {
        AlertSettings {
            csat_at_most: csat,
            nps_at_most: nps,
            unresolved,
            email: vec![],
            team_leads: Default::default(),
            webhook: None,
        }
    }

    fn rule(csat: i16, nps: i16, unresolved: bool) -> AlertRule {
        AlertRule::new(&settings(csat, nps, unresolved))
    }

    #[test]
    fn thresholds_decide_the_reason() {
        let r = rule(2, 6, true);
        assert_eq!(r.reason(Some("csat"), Some(2)), Some("csat"));
        assert_eq!(r.reason(Some("csat"), Some(3)), None);
        assert_eq!(r.reason(Some("nps"), Some(6)), Some("nps"));
        assert_eq!(r.reason(Some("nps"), Some(7)), None);
        assert_eq!(r.reason(Some("fcr"), Some(0)), Some("unresolved"));
        assert_eq!(r.reason(Some("fcr"), Some(1)), None);
        assert_eq!(r.reason(Some("ces"), Some(7)), None);
        assert_eq!(r.reason(None, Some(1)), None);
        let off = rule(0, -1, false);
        for (metric, n) in [("csat", 1), ("nps", 0), ("fcr", 0)] {
            assert_eq!(off.reason(Some(metric), Some(n)), None);
        }
        assert!(off.channels().is_empty());
    }

    #[test]
    fn alerts_that_reach_no_one_are_warned_of() {
        let warning = rule(2, -1, true)
            .unrouted()
            .expect("raised, and no recipient");
        assert!(
            warning.contains("(alerts.csat_at_most = 2, alerts.unresolved = true)"),
            "{warning}"
        );
        assert!(warning.contains("set alerts.team_leads, alerts.email or alerts.webhook"));
        assert_eq!(rule(0, -1, false).unrouted(), None, "never raised");
        let mut routed = settings(2, 6, true);
        routed.email = vec!["ops@example.co.id".into()];
        assert_eq!(AlertRule::new(&routed).unrouted(), None);
    }
}
