//! Twilio's Messages API: SMS, and WhatsApp through Twilio. A message is a form POST to
//! `{base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth, `To`,
//! `From` (or `MessagingServiceSid`), `Body` and a `StatusCallback` on the daemon's public
//! URL; Twilio answers 201 with the message's `sid`, or an error with Twilio's `code`.

use super::TwilioSettings;
use super::{Answer, ChatOutbound, HttpApi, SendError};
use crate::domain::SurveyChannel;
use anyhow::Context;

/// Twilio error codes: the recipient opted out (STOP) of this sender.
const OPTED_OUT: i64 = 21610;
/// Too many requests.
const TOO_MANY_REQUESTS: i64 = 20429;
/// The sender's queue is full (a 400): the messages already queued must go first.
const QUEUE_FULL: i64 = 21611;

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
}

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
        })
    }

    /// The HTTP client, connection cap and rate limit it sends with.
    pub fn api(&self) -> &HttpApi {
        &self.api
    }

    /// Sends one message; returns its `sid`.
    pub async fn send(&self, message: &ChatOutbound) -> Result<String, SendError> {
        let to = if self.whatsapp {
            format!("whatsapp:{}", message.to)
        } else {
            message.to.clone()
        };
        let form = [
            ("To", to.as_str()),
            (self.sender.0, self.sender.1.as_str()),
            ("Body", message.text.as_str()),
            ("StatusCallback", self.status_callback.as_str()),
        ];
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
