//! Meta's WhatsApp Cloud API: `POST {base}/{version}/{phone_number_id}/messages` with a Bearer
//! token and JSON. Inside the 24-hour window a question goes as an interactive message —
//! buttons (up to 3) or a list (up to 10 rows) — or as text; outside it only an approved
//! template may open the conversation. Meta answers with `messages[0].id` (`wamid.…`), or an
//! error whose `code` says what went wrong.

use super::{Answer, ChatOutbound, HttpApi, SendError};
use super::{WhatsappSettings, WhatsappTemplate, template};
use crate::domain::MessageKind;
use anyhow::Context;
use serde_json::{Value, json};

/// Meta's error codes that mean "not now": they come back as HTTP 400 and are retried, with
/// the lane's breaker counting them (Cloud API error codes reference).
const RATE_LIMITS: [i64; 5] = [
    4,      // application request limit reached
    80007,  // the WhatsApp Business Account's rate limit
    130429, // throughput limit of the phone number
    131048, // spam rate limit: too many messages refused by customers lately
    131056, // too many messages to one customer
];

/// Whether Meta's error `code` (on a send, or in a failed status) is a rate limit: the
/// message may go again later.
pub fn rate_limited(code: i64) -> bool {
    RATE_LIMITS.contains(&code)
}

/// The Cloud API's limits on interactive messages.
const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE: usize = 20;
const MAX_ROWS: usize = 10;
const MAX_ROW_TITLE: usize = 24;
const MAX_BODY: usize = 1024;

#[derive(Debug, Clone)]
pub struct Meta {
    api: HttpApi,
    messages_url: String,
    token: String,
    template: Option<WhatsappTemplate>,
    reminder_template: Option<WhatsappTemplate>,
}

impl Meta {
    pub fn new(settings: &WhatsappSettings) -> anyhow::Result<Self> {
        let phone_number_id = settings
            .phone_number_id
            .as_deref()
            .context("whatsapp.phone_number_id is needed to send through the Cloud API")?;
        let token = settings
            .access_token
            .as_ref()
            .context("whatsapp.access_token is needed to send through the Cloud API")?
            .expose()
            .clone();
        let base = settings.base_url.as_str().trim_end_matches('/');
        Ok(Meta {
            api: HttpApi::new(
                "whatsapp",
                settings.timeout,
                settings.max_connections,
                settings.rate_per_second,
            )?,
            messages_url: format!("{base}/{}/{phone_number_id}/messages", settings.api_version),
            token,
            template: settings.template.clone(),
            reminder_template: settings.reminder_template.clone(),
        })
    }

    /// The HTTP client, connection cap and rate limit it sends with.
    pub fn api(&self) -> &HttpApi {
        &self.api
    }

    /// Sends one message; returns its `wamid`.
    pub async fn send(&self, message: &ChatOutbound) -> Result<String, SendError> {
        let request = self
            .api
            .client
            .post(&self.messages_url)
            .bearer_auth(&self.token)
            .json(&self.body(message).map_err(SendError::Permanent)?);
        let answer = HttpApi::fetch("WhatsApp", request).await?;
        let body = answer.json();
        if answer.status.is_success() {
            return body["messages"][0]["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| {
                    SendError::Transient(format!(
                        "WhatsApp answered {} without a message id",
                        answer.status
                    ))
                });
        }
        Err(classify(&answer, &body))
    }

    /// The request body: a template outside the window (when one is configured), else an
    /// interactive message when the question has options that fit, else text. `Err` (why)
    /// when the template cannot be sent to this customer: no approved language for their
    /// locale, or a parameter empty with no fallback.
    pub fn body(&self, message: &ChatOutbound) -> Result<Value, String> {
        let to = message.to.trim_start_matches('+');
        let template = match message.kind {
            MessageKind::Reminder => self.reminder_template.as_ref().or(self.template.as_ref()),
            _ => self.template.as_ref(),
        };
        let content = match (template, message.window_open) {
            (Some(template), false) => template_message(template, message)?,
            _ => interactive_or_text(message),
        };
        let mut body =
            json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": to });
        if let (Some(body), Value::Object(content)) = (body.as_object_mut(), content) {
            body.extend(content);
        }
        Ok(body)
    }
}

fn template_message(template: &WhatsappTemplate, message: &ChatOutbound) -> Result<Value, String> {
    let locale = &message.vars.locale;
    let language = template::for_locale(&template.languages, locale).ok_or_else(|| {
        format!(
            "template `{}` has no approved language for locale {locale} (add it to the \
             template's `languages`, e.g. {{ {locale} = \"…\" }})",
            template.name
        )
    })?;
    let vars = serde_json::to_value(&message.vars).unwrap_or_default();
    let parameters: Vec<Value> = template::values(
        &template.name,
        &template.parameters,
        &template.fallbacks,
        &vars,
    )?
    .into_iter()
    .map(|text| json!({ "type": "text", "text": text }))
    .collect();
    let mut components = vec![json!({ "type": "body", "parameters": parameters })];
    for (index, payload) in template.buttons.iter().enumerate() {
        components.push(json!({
            "type": "button",
            "sub_type": "quick_reply",
            "index": index.to_string(),
            "parameters": [{ "type": "payload", "payload": payload }],
        }));
    }
    Ok(json!({
        "type": "template",
        "template": { "name": template.name, "language": { "code": language }, "components": components },
    }))
}

fn interactive_or_text(message: &ChatOutbound) -> Value {
    let (text, options) = (&message.text, &message.options);
    let body = json!({ "text": truncate(text, MAX_BODY) });
    if !options.is_empty()
        && options.len() <= MAX_BUTTONS
        && options
            .iter()
            .all(|o| o.title.chars().count() <= MAX_BUTTON_TITLE)
    {
        let buttons: Vec<Value> = options
            .iter()
            .map(|o| json!({ "type": "reply", "reply": { "id": o.id, "title": o.title } }))
            .collect();
        return json!({
            "type": "interactive",
            "interactive": { "type": "button", "body": body, "action": { "buttons": buttons } },
        });
    }
    if !options.is_empty() && options.len() <= MAX_ROWS {
        let rows: Vec<Value> = options
            .iter()
            .map(|o| json!({ "id": o.id, "title": truncate(&o.title, MAX_ROW_TITLE) }))
            .collect();
        return json!({
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": body,
                "action": {
                    "button": truncate(&message.list_button, MAX_BUTTON_TITLE),
                    "sections": [{ "title": truncate(&message.list_button, MAX_ROW_TITLE), "rows": rows }],
                },
            },
        });
    }
    json!({ "type": "text", "text": { "body": text } })
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// Sorts a Cloud API error: rate limits ([`RATE_LIMITS`]) and server trouble are retried; the
/// rest (131047 outside the window, 190 bad token, an invalid number…) is not.
fn classify(answer: &Answer, body: &Value) -> SendError {
    let error = &body["error"];
    let code = error["code"].as_i64();
    let reason = answer.reason(
        "WhatsApp",
        code,
        error["message"].as_str().unwrap_or("no message"),
    );
    match code {
        Some(code) if rate_limited(code) => answer.throttled(reason),
        _ => answer.by_status(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SurveyChannel;
    use crate::render::{ChatVars, Invitee};

    #[test]
    fn rate_limits_are_retried_and_other_refusals_are_final() {
        let refused = |code: i64| {
            let body = json!({"error": {"message": "refused", "code": code}});
            let answer = Answer {
                status: reqwest::StatusCode::BAD_REQUEST,
                retry_after: None,
                body: body.to_string(),
            };
            classify(&answer, &body)
        };
        for code in [4, 80007, 130429, 131048, 131056] {
            assert!(
                matches!(refused(code), SendError::Throttled { .. }),
                "{code}"
            );
        }
        for code in [131047, 190, 131026, 100] {
            assert!(matches!(refused(code), SendError::Permanent(_)), "{code}");
        }
    }

    #[test]
    fn template_parameters_are_single_lines() {
        let locale = crate::domain::Locale::parse("id").unwrap();
        let invitee = Invitee {
            customer_name: "Budi\nSantoso",
            agent_name: Some("Sari\t\t    Dewi"),
            category: None,
            closed_at: chrono::Utc::now(),
            time_zone: chrono_tz::Asia::Jakarta,
        };
        let message = ChatOutbound {
            delivery_id: 1,
            kind: MessageKind::Invite,
            channel: SurveyChannel::Whatsapp,
            to: "+6281234567890".into(),
            text: "Halo Budi\nSantoso".into(),
            options: Vec::new(),
            list_button: String::new(),
            window_open: false,
            vars: ChatVars::new(&invitee, &locale, "https://s.example/s/t".into(), None),
        };
        let mut template = WhatsappTemplate {
            name: "survey_invite".into(),
            languages: [("id".to_owned(), "id".to_owned())].into(),
            parameters: vec!["customer_name".into(), "agent_name".into()],
            fallbacks: Default::default(),
            buttons: Vec::new(),
        };
        let body = template_message(&template, &message).unwrap();
        assert_eq!(body["template"]["language"]["code"], "id");
        let parameters = &body["template"]["components"][0]["parameters"];
        assert_eq!(parameters[0]["text"], "Budi Santoso");
        assert_eq!(parameters[1]["text"], "Sari Dewi");
        // A locale with no approved language is refused by name, not sent as `id-ID`.
        template.languages = [("en".to_owned(), "en_US".to_owned())].into();
        let refused = template_message(&template, &message).unwrap_err();
        assert!(
            refused.contains("no approved language for locale id"),
            "{refused}"
        );
    }
}
