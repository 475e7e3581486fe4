//! Twilio's Messages API: SMS, and WhatsApp through Twilio. A message is a form POST to
//! `{base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth, `To`,
//! `From` (or `MessagingServiceSid`), `Body` and a `StatusCallback` on the daemon's public
//! URL; Twilio answers 201 with the message's `sid`, or an error with Twilio's `code`.

use super::{Answer, ChatOutbound, HttpApi, SendError};
use super::{ContentTemplate, TwilioSettings, TwilioSmsMode, template};
use crate::domain::{ChatMode, MessageKind, SurveyChannel};
use anyhow::Context;

/// Twilio error codes: the recipient opted out (STOP) of this sender.
const OPTED_OUT: i64 = 21610;
/// Too many requests.
const TOO_MANY_REQUESTS: i64 = 20429;
/// The sender's queue is full (a 400): the messages already queued must go first.
const QUEUE_FULL: i64 = 21611;
/// The error of a status callback for a message accepted, then dropped because the sender's
/// queue overflowed: Twilio's advice is to send it again later (error 30001).
pub const QUEUE_OVERFLOW: &str = "30001";

#[derive(Debug, Clone)]
pub struct Twilio {
    api: HttpApi,
    messages_url: String,
    account_sid: String,
    auth_token: String,
    /// `("From", "+62…")`, `("From", "whatsapp:+1…")` or `("MessagingServiceSid", "MG…")`.
    sender: (&'static str, String),
    whatsapp: bool,
    status_callback: String,
    /// WhatsApp outside the 24-hour window: the Content templates of an invitation (and
    /// other messages) and of a reminder.
    template: Option<ContentTemplate>,
    reminder_template: Option<ContentTemplate>,
    sms_mode: TwilioSmsMode,
}

/// Where Twilio has no two-way SMS (its per-country SMS guidelines,
/// twilio.com/en-us/guidelines/{country}/sms: "Two-way SMS supported: No"): replies to an SMS
/// there never come back, so `sms_mode = "auto"` sends the link.
pub const ONE_WAY_SMS: &[phonenumber::country::Id] = {
    use phonenumber::country::Id::*;
    &[AE, BD, CN, EG, ID, IN, KR, NG, SA, SG, TH, TR, VN]
};

impl Twilio {
    /// Checks the settings for sending on `channel`.
    pub fn new(
        settings: &TwilioSettings,
        public_url: &url::Url,
        channel: SurveyChannel,
    ) -> anyhow::Result<Self> {
        let account_sid = settings
            .account_sid
            .clone()
            .context("twilio.account_sid is needed to send through Twilio")?;
        let auth_token = settings
            .auth_token
            .as_ref()
            .context("twilio.auth_token is needed to send through Twilio")?
            .expose()
            .clone();
        let whatsapp = channel == SurveyChannel::Whatsapp;
        let sender = if whatsapp {
            let from = settings.whatsapp_from.as_deref().context(
                "twilio.whatsapp_from is needed to send WhatsApp messages through Twilio",
            )?;
            (
                "From",
                format!("whatsapp:{}", from.trim_start_matches("whatsapp:")),
            )
        } else {
            match (&settings.from, &settings.messaging_service_sid) {
                (_, Some(service)) => ("MessagingServiceSid", service.clone()),
                (Some(from), None) => ("From", from.clone()),
                (None, None) => anyhow::bail!(
                    "twilio.from or twilio.messaging_service_sid is needed to send SMS"
                ),
            }
        };
        let base = settings.base_url.as_str().trim_end_matches('/');
        let public = public_url.as_str().trim_end_matches('/');
        Ok(Twilio {
            api: HttpApi::new(
                "twilio",
                settings.timeout,
                settings.max_connections,
                settings.rate_per_second,
            )?,
            messages_url: format!("{base}/2010-04-01/Accounts/{account_sid}/Messages.json"),
            account_sid,
            auth_token,
            sender,
            whatsapp,
            status_callback: format!("{public}/webhooks/twilio/status"),
            template: settings.whatsapp_template.clone(),
            reminder_template: settings.whatsapp_reminder_template.clone(),
            sms_mode: settings.sms_mode,
        })
    }

    /// How a survey goes to `to` (E.164): WhatsApp as a conversation; SMS by `sms_mode`.
    pub fn mode_for(&self, to: &str) -> ChatMode {
        match (self.whatsapp, self.sms_mode) {
            (true, _) | (false, TwilioSmsMode::Conversation) => ChatMode::Conversation,
            (false, TwilioSmsMode::Link) => ChatMode::Link,
            (false, TwilioSmsMode::Auto) => {
                let country = phonenumber::parse(None, to)
                    .ok()
                    .and_then(|number| number.country().id());
                match country {
                    Some(country) if ONE_WAY_SMS.contains(&country) => ChatMode::Link,
                    _ => ChatMode::Conversation,
                }
            }
        }
    }

    /// The HTTP client, connection cap and rate limit it sends with.
    pub fn api(&self) -> &HttpApi {
        &self.api
    }

    /// The form of one message: `Body`, or on WhatsApp outside the window (with a template
    /// configured) `ContentSid` and `ContentVariables` — `{"1": "…", "2": "…"}` as JSON, no
    /// `Body` (Twilio's 63016 page: "remove Body … when you send a content template").
    /// `Err` (why) when the template cannot be sent to this customer.
    pub fn form(&self, message: &ChatOutbound) -> Result<Vec<(&'static str, String)>, String> {
        let to = if self.whatsapp {
            format!("whatsapp:{}", message.to)
        } else {
            message.to.clone()
        };
        let mut form = vec![
            ("To", to),
            (self.sender.0, self.sender.1.clone()),
            ("StatusCallback", self.status_callback.clone()),
        ];
        let template = match message.kind {
            MessageKind::Reminder => self.reminder_template.as_ref().or(self.template.as_ref()),
            _ => self.template.as_ref(),
        };
        match template {
            Some(template) if self.whatsapp && !message.window_open => {
                let locale = &message.vars.locale;
                let sid =
                    template::for_locale(&template.content_sids, locale).ok_or_else(|| {
                        format!(
                            "no approved Content template for locale {locale} (add it to the \
                         template's `content_sids`, e.g. {{ {locale} = \"HX…\" }})"
                        )
                    })?;
                let vars = serde_json::to_value(&message.vars).unwrap_or_default();
                let values =
                    template::values(sid, &template.parameters, &template.fallbacks, &vars)?;
                let variables: serde_json::Map<String, serde_json::Value> = values
                    .into_iter()
                    .enumerate()
                    .map(|(i, value)| ((i + 1).to_string(), value.into()))
                    .collect();
                form.push(("ContentSid", sid.to_owned()));
                form.push((
                    "ContentVariables",
                    serde_json::Value::Object(variables).to_string(),
                ));
            }
            _ => form.push(("Body", message.text.clone())),
        }
        Ok(form)
    }

    /// Sends one message; returns its `sid`.
    pub async fn send(&self, message: &ChatOutbound) -> Result<String, SendError> {
        let form = self.form(message).map_err(SendError::Permanent)?;
        let request = self
            .api
            .client
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form);
        let answer = HttpApi::fetch("Twilio", request).await?;
        let body = answer.json();
        if answer.status.is_success() {
            return body["sid"].as_str().map(str::to_owned).ok_or_else(|| {
                SendError::Transient(format!("Twilio answered {} without a sid", answer.status))
            });
        }
        Err(classify(&answer, &body))
    }
}

/// Sorts a Twilio error: an opt-out is recorded, throttling (20429, and 21611 a full queue)
/// and server trouble are retried, the rest (21211 invalid number, 20003 bad credentials…)
/// is final.
fn classify(answer: &Answer, body: &serde_json::Value) -> SendError {
    let code = body["code"].as_i64();
    let reason = answer.reason(
        "Twilio",
        code,
        body["message"].as_str().unwrap_or("no message"),
    );
    match code {
        Some(OPTED_OUT) => SendError::OptedOut(reason),
        Some(TOO_MANY_REQUESTS | QUEUE_FULL) => answer.throttled(reason),
        _ => answer.by_status(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_is_retried_and_a_bad_number_is_final() {
        let refused = |code: i64| {
            let body = serde_json::json!({"code": code, "message": "refused", "status": 400});
            let answer = Answer {
                status: reqwest::StatusCode::BAD_REQUEST,
                retry_after: None,
                body: body.to_string(),
            };
            classify(&answer, &body)
        };
        assert!(matches!(refused(21611), SendError::Throttled { .. }));
        assert!(matches!(refused(20429), SendError::Throttled { .. }));
        assert!(matches!(refused(21610), SendError::OptedOut(_)));
        assert!(matches!(refused(21211), SendError::Permanent(_)));
    }
}
