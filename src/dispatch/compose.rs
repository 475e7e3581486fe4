//! Message composition: a claimed delivery rendered in the customer's language and addressed
//! (the invitation or reminder email, the chat message with its buttons, an alert's email),
//! with the survey and unsubscribe links its token makes. Nothing here sends or stores.

use crate::alerts::{self, AlertSettings};
use crate::auth::SurveyKey;
use crate::campaign::Campaign;
use crate::channels::email::Email;
use crate::channels::{ChatOption, ChatOutbound, ChatProvider, SendError};
use crate::domain::{Channel, ChatMode, Defaults, Locale, MessageKind, SurveyChannel, TimeZone};
use crate::questionnaire::Questionnaire;
use crate::render::{ChatVars, EmailKind, EmailVars, Invitee, QuestionVars, Renderer, SurveyLinks};
use crate::store::{Alert, Claimed};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// A message as a delivery would carry it ([`Composer::compose`]).
#[derive(Debug, Clone)]
pub enum Composed {
    Email(Email),
    Chat(Box<ChatOutbound>),
}

/// What messages are made from: the templates, the questionnaires, the survey key, the
/// daemon's public URL (for links), the defaults for customers with no locale or time zone,
/// and where alerts go.
pub struct Composer {
    pub renderer: Renderer,
    pub questionnaires: Arc<HashMap<String, Questionnaire>>,
    /// The campaigns by name: how each carries its survey on a chat channel.
    pub campaigns: Arc<HashMap<String, Campaign>>,
    pub key: SurveyKey,
    pub public_url: url::Url,
    pub default_locale: Locale,
    pub default_time_zone: TimeZone,
    pub alerts: AlertSettings,
}

impl Composer {
    pub fn new(
        renderer: Renderer,
        questionnaires: Arc<HashMap<String, Questionnaire>>,
        campaigns: Arc<HashMap<String, Campaign>>,
        key: SurveyKey,
        public_url: url::Url,
        defaults: Defaults,
        alerts: AlertSettings,
    ) -> Self {
        Composer {
            renderer,
            questionnaires,
            campaigns,
            key,
            public_url,
            default_locale: defaults.locale,
            default_time_zone: defaults.time_zone,
            alerts,
        }
    }

    /// The token the links of `c`'s messages carry.
    pub fn token(&self, c: &Claimed) -> String {
        self.key.token(&c.campaign, c.contact_id)
    }

    /// The message a delivery of `claimed` carries, composed exactly as a send composes it
    /// (rendered in the customer's language, addressed, with the links its token makes, the
    /// way `provider` carries a survey), nothing sent or recorded (`surveyd campaign preview`).
    pub fn compose(
        &self,
        claimed: &Claimed,
        provider: Option<&ChatProvider>,
        now: DateTime<Utc>,
    ) -> Result<Composed, String> {
        let token = self.token(claimed);
        match claimed.channel {
            Channel::Survey(SurveyChannel::Email) => {
                self.email_for(claimed, &token).map(Composed::Email)
            }
            Channel::Survey(_) => self
                .chat_for(claimed, &token, provider, now)
                .map(|chat| Composed::Chat(Box::new(chat))),
            Channel::Webhook => Err("only alerts go to the webhook".into()),
        }
    }

    /// The chat message for a claimed delivery on SMS or WhatsApp, in the customer's language.
    /// An invitation or reminder asks the first question — or, where the campaign or
    /// `provider` carries the survey as a link ([`ChatMode::Link`]: replies would not come
    /// back), carries the survey page's link (`invite_link`, `reminder_link`).
    pub fn chat_for(
        &self,
        c: &Claimed,
        token: &str,
        provider: Option<&ChatProvider>,
        now: DateTime<Utc>,
    ) -> Result<ChatOutbound, String> {
        let channel = match c.channel.survey() {
            Some(channel @ (SurveyChannel::Sms | SurveyChannel::Whatsapp)) => channel,
            _ => return Err(format!("`{}` is not a chat channel", c.channel)),
        };
        let to = match channel {
            SurveyChannel::Whatsapp => c.whatsapp.as_deref().or(c.phone.as_deref()),
            _ => c.phone.as_deref(),
        }
        .ok_or_else(|| format!("the customer has no number for {}", c.channel))?;
        let questionnaire = self.questionnaire(&c.questionnaire)?;
        let (locale, time_zone) = self.customer_locale(c);
        // The invitation and its reminders ask the first question; a question or a re-ask
        // names its own.
        let asked = match c.kind {
            MessageKind::Invite | MessageKind::Reminder => questionnaire.questions.first(),
            MessageKind::Question | MessageKind::Reask => c
                .question
                .as_deref()
                .and_then(|id| questionnaire.question(id)),
            _ => None,
        };
        let mode = self
            .campaigns
            .get(&c.campaign)
            .and_then(|campaign| campaign.modes.get(&channel).copied())
            .or_else(|| provider.map(|p| p.mode_for(to)))
            .unwrap_or_default();
        let (template, asked) = match (c.kind, mode) {
            (MessageKind::Invite, ChatMode::Link) => ("invite_link", None),
            (MessageKind::Reminder, ChatMode::Link) => ("reminder_link", None),
            (kind, _) => (kind.as_str(), asked),
        };
        let question = asked.map(|q| QuestionVars::new(q, &locale, &self.default_locale));
        let links = SurveyLinks::new(&self.public_url, token);
        let vars = ChatVars::new(&self.invitee(c, time_zone), &locale, links.survey, question);
        let text = self
            .renderer
            .chat(channel, template, &locale, &self.default_locale, &vars)?;
        let word = |kind| {
            self.renderer
                .chat(channel, kind, &locale, &self.default_locale, &vars)
        };
        let (options, list_button) = match (&vars.question, channel) {
            (Some(q), SurveyChannel::Whatsapp) => (
                chat_options(q, (word("yes")?, word("no")?)),
                word("choose")?,
            ),
            _ => (Vec::new(), String::new()),
        };
        let window_open = c
            .last_inbound_at
            .is_some_and(|at| now - at < chrono::Duration::hours(24));
        Ok(ChatOutbound {
            delivery_id: c.delivery_id,
            kind: c.kind,
            channel,
            to: to.to_owned(),
            text,
            options,
            list_button,
            window_open,
            vars,
        })
    }

    /// The email of `c`'s alert, to its team's lead (else `alerts.email`).
    pub fn alert_email(&self, c: &Claimed, alert: &Alert) -> Result<Email, SendError> {
        let to = alerts::recipients(&self.alerts, alert)
            .map_err(SendError::Permanent)?
            .iter()
            .map(|a| a.parse())
            .collect::<Result<Vec<lettre::message::Mailbox>, _>>()
            .map_err(|e| SendError::Permanent(format!("alert recipient: {e}")))?;
        let (subject, text) = alerts::email_text(alert, &self.public_url);
        Ok(Email {
            delivery_id: c.delivery_id,
            message_key: c.message_key.clone(),
            to,
            subject,
            text,
            html: None,
            unsubscribe_url: None,
        })
    }

    /// The invitation email for a claimed delivery, in the customer's language.
    pub fn email_for(&self, c: &Claimed, token: &str) -> Result<Email, String> {
        let questionnaire = self.questionnaire(&c.questionnaire)?;
        let address = c
            .email
            .as_deref()
            .ok_or("the customer has no email address")?;
        let name = c.customer_name.as_deref().unwrap_or("");
        let to = lettre::message::Mailbox::new(
            Some(name.to_owned()).filter(|n| !n.is_empty()),
            address
                .parse()
                .map_err(|e| format!("email address `{address}`: {e}"))?,
        );
        let (locale, time_zone) = self.customer_locale(c);
        let links = SurveyLinks::new(&self.public_url, token);
        let vars = EmailVars::new(
            questionnaire,
            &locale,
            &self.default_locale,
            &links,
            &self.invitee(c, time_zone),
        );
        let kind = if c.kind == MessageKind::Reminder {
            EmailKind::Reminder
        } else {
            EmailKind::Invitation
        };
        let message = self
            .renderer
            .email(kind, &locale, &self.default_locale, &vars)?;
        Ok(Email {
            delivery_id: c.delivery_id,
            message_key: c.message_key.clone(),
            to: vec![to],
            subject: message.subject,
            text: message.text,
            html: Some(message.html),
            unsubscribe_url: Some(links.unsubscribe),
        })
    }

    fn questionnaire(&self, name: &str) -> Result<&Questionnaire, String> {
        self.questionnaires
            .get(name)
            .ok_or_else(|| format!("questionnaire `{name}` is not configured any more"))
    }

    /// The customer's locale and time zone, else the defaults.
    fn customer_locale(&self, c: &Claimed) -> (Locale, TimeZone) {
        let locale = c
            .locale
            .as_deref()
            .and_then(|l| Locale::parse(l).ok())
            .unwrap_or_else(|| self.default_locale.clone());
        let time_zone = super::policy::customer_time_zone(c, self.default_time_zone);
        (locale, time_zone)
    }

    fn invitee<'a>(&self, c: &'a Claimed, time_zone: TimeZone) -> Invitee<'a> {
        Invitee {
            customer_name: c.customer_name.as_deref().unwrap_or(""),
            agent_name: c.agent_name.as_deref(),
            category: c.category.as_deref(),
            closed_at: c.closed_at,
            time_zone: time_zone.tz(),
        }
    }
}

/// A question's answers as buttons or list rows: yes and no, each point of a scale of at most
/// ten, or each option of a choice; none for free text or a longer scale (the customer types).
fn chat_options(q: &QuestionVars, (yes, no): (String, String)) -> Vec<ChatOption> {
    let option = |value: String, title: String| ChatOption {
        id: format!("{}_{value}", q.id),
        title,
    };
    if q.yes_no {
        return vec![option("1".into(), yes), option("0".into(), no)];
    }
    if let (Some(min), Some(max)) = (q.min, q.max) {
        // Highest first, as people read a satisfaction scale.
        return if max - min < 10 {
            (min..=max)
                .rev()
                .map(|n| option(n.to_string(), n.to_string()))
                .collect()
        } else {
            Vec::new()
        };
    }
    q.options
        .iter()
        .map(|o| option(o.value.clone(), o.text.clone()))
        .collect()
}
