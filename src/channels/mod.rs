//! Channels: how a rendered message leaves surveyd. Email goes over SMTP (or into `.eml`
//! files); SMS and WhatsApp go through a provider's HTTP API. Each channel has its own number
//! of senders and, for providers, its own rate limit (waited for with `ready` before the
//! send, so a send's duration is the provider's alone), and says whether a failure is worth
//! retrying. Text bound for a single line (headers, template parameters) goes through
//! [`crate::domain::single_line`].

pub mod email;
pub mod gateway;
pub mod oauth;
mod settings;
pub mod template;
pub mod twilio;
pub mod whatsapp;

pub use settings::{
    BodyFormat, ChannelSettings, ContentTemplate, DkimAlgorithm, DkimSettings, EmailSettings,
    EmailTransport, GatewayAuth, GatewayInbound, GatewaySend, GatewaySettings, InboundCheck,
    OauthGrant, PhoneFormat, SmtpSettings, SmtpTls, SuccessRule, TwilioSettings, TwilioSmsMode,
    WhatsappSettings, WhatsappTemplate,
};

use crate::domain::{ChatMode, MessageKind, SurveyChannel};
use crate::render::ChatVars;
use std::time::Duration;

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: the network, a timeout, a busy server (SMTP 4xx, HTTP 5xx).
    #[error("{0}")]
    Transient(String),
    /// The provider asked to slow down: try again, not before `retry_after`.
    #[error("{reason}")]
    Throttled {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will not work however often it is tried: a refused address, SMTP 5xx, bad settings.
    #[error("{0}")]
    Permanent(String),
    /// The provider says the recipient opted out: recorded as an opt-out, not retried.
    #[error("{0}")]
    OptedOut(String),
}

/// A chat message (SMS or WhatsApp), rendered and addressed.
#[derive(Debug, Clone)]
pub struct ChatOutbound {
    pub delivery_id: i64,
    /// What the message is (an invitation, a reminder, a question…).
    pub kind: MessageKind,
    pub channel: SurveyChannel,
    /// E.164, with the `+`.
    pub to: String,
    pub text: String,
    /// The answers of the question it asks, for providers that can offer them as buttons or
    /// a list; a tap sends back the option's id.
    pub options: Vec<ChatOption>,
    /// The label of the button that opens a list of options ("Pilih").
    pub list_button: String,
    /// Whether the customer wrote in the last 24 hours (WhatsApp allows free-form messages
    /// only then; otherwise an approved template).
    pub window_open: bool,
    /// The variables the message was rendered with (a template's parameters come from them).
    pub vars: ChatVars,
}

/// One answer offered as a button or list row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatOption {
    /// What a tap sends back: `{question id}_{value}`, which the reply parser reads.
    pub id: String,
    pub title: String,
}

/// The provider that carries a chat channel.
#[derive(Debug, Clone)]
pub enum ChatProvider {
    Twilio(twilio::Twilio),
    Meta(whatsapp::Meta),
    Gateway(Box<gateway::Gateway>),
}

/// What choosing and building the chat providers reads: `[channels]`, `[twilio]`,
/// `[whatsapp]`, `[gateways.*]` and the public URL (Twilio's status callbacks go to it).
#[derive(Debug, Clone, Copy)]
pub struct ProviderSettings<'a> {
    pub channels: &'a ChannelSettings,
    pub twilio: &'a TwilioSettings,
    pub whatsapp: &'a WhatsappSettings,
    pub gateways: &'a std::collections::BTreeMap<String, GatewaySettings>,
    pub public_url: &'a url::Url,
}

impl ChatProvider {
    /// How this provider carries a survey to `to` (E.164), unless the campaign says
    /// otherwise: Twilio's SMS by `twilio.sms_mode`, a gateway by its `mode`; WhatsApp always
    /// as a conversation.
    pub fn mode_for(&self, to: &str) -> ChatMode {
        match self {
            ChatProvider::Twilio(twilio) => twilio.mode_for(to),
            ChatProvider::Meta(_) => ChatMode::Conversation,
            ChatProvider::Gateway(gateway) => gateway.mode(),
        }
    }

    /// The provider `[channels]` names for `channel`; `None` when it names none.
    pub fn for_channel(
        settings: ProviderSettings<'_>,
        channel: SurveyChannel,
    ) -> anyhow::Result<Option<Self>> {
        let named = match channel {
            SurveyChannel::Sms => &settings.channels.sms,
            SurveyChannel::Whatsapp => &settings.channels.whatsapp,
            SurveyChannel::Email => return Ok(None),
        };
        match named.as_deref() {
            None => Ok(None),
            Some("twilio") => Ok(Some(ChatProvider::Twilio(twilio::Twilio::new(
                settings.twilio,
                settings.public_url,
                channel,
            )?))),
            Some(named) if named.starts_with("gateway:") => {
                let name = &named["gateway:".len()..];
                let gateway = settings.gateways.get(name).ok_or_else(|| {
                    anyhow::anyhow!("channels.{}: no [gateways.{name}]", channel.as_str())
                })?;
                anyhow::ensure!(
                    gateway.channel == channel,
                    "channels.{}: gateway `{name}` carries {}",
                    channel.as_str(),
                    gateway.channel.as_str()
                );
                let send = gateway.send.as_ref().ok_or_else(|| {
                    anyhow::anyhow!("gateways.{name}.send is needed to send through it")
                })?;
                let mode = gateway.mode.unwrap_or(match gateway.inbound {
                    Some(_) => ChatMode::Conversation,
                    None => ChatMode::Link,
                });
                Ok(Some(ChatProvider::Gateway(Box::new(
                    gateway::Gateway::new(name, send, mode)?,
                ))))
            }
            Some("meta") if channel == SurveyChannel::Whatsapp => Ok(Some(ChatProvider::Meta(
                whatsapp::Meta::new(settings.whatsapp)?,
            ))),
            Some(other) => anyhow::bail!(
                "channels.{}: unknown provider `{other}` (expected {})",
                channel.as_str(),
                match channel {
                    SurveyChannel::Whatsapp => "`meta`, `twilio` or `gateway:NAME`",
                    _ => "`twilio` or `gateway:NAME`",
                }
            ),
        }
    }

    /// The provider as `[channels]` names it: `twilio`, `meta` or `gateway:NAME`.
    pub fn name(&self) -> String {
        match self {
            ChatProvider::Twilio(_) => "twilio".into(),
            ChatProvider::Meta(_) => "meta".into(),
            ChatProvider::Gateway(g) => format!("gateway:{}", g.name()),
        }
    }

    /// The provider's HTTP client, with its cap on messages at once (`concurrency`) and its
    /// rate limit (`ready`).
    pub fn api(&self) -> &HttpApi {
        match self {
            ChatProvider::Twilio(t) => t.api(),
            ChatProvider::Meta(m) => m.api(),
            ChatProvider::Gateway(g) => g.api(),
        }
    }

    /// Sends `message` (after waiting for [`HttpApi::ready`]); returns the provider's id for it.
    pub async fn send(&self, message: &ChatOutbound) -> Result<String, SendError> {
        match self {
            ChatProvider::Twilio(t) => t.send(message).await,
            ChatProvider::Meta(m) => m.send(message).await,
            ChatProvider::Gateway(g) => g.send(message).await,
        }
    }
}

/// What every HTTP provider shares: a client with its pool, the cap on requests at once, and
/// a rate limit shared by every sender of the provider in this daemon.
#[derive(Debug, Clone)]
pub struct HttpApi {
    pub client: reqwest::Client,
    max_connections: usize,
    limit: RateLimit,
}

/// A provider's answer, read whole.
pub struct Answer {
    pub status: reqwest::StatusCode,
    /// What `Retry-After` asked for (seconds).
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    /// A refusal in words: `{provider} {status}[ error {code}]: {message}`.
    pub fn reason(&self, provider: &str, code: Option<i64>, message: &str) -> String {
        format!(
            "{provider} {}{}: {message}",
            self.status.as_u16(),
            code.map(|c| format!(" error {c}")).unwrap_or_default()
        )
    }

    /// The provider asked to slow down: retried, not before its `Retry-After`.
    pub fn throttled(&self, reason: String) -> SendError {
        SendError::Throttled {
            reason,
            retry_after: self.retry_after,
        }
    }

    /// A refusal sorted by its HTTP status alone: 429 is throttling, 5xx is the provider's
    /// trouble (retried), anything else is final.
    pub fn by_status(&self, reason: String) -> SendError {
        if self.status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            self.throttled(reason)
        } else if self.status.is_server_error() {
            SendError::Transient(reason)
        } else {
            SendError::Permanent(reason)
        }
    }
}

impl HttpApi {
    /// `place` names the settings in errors (`twilio`, `gateways.fonnte.send`).
    pub fn new(
        place: &str,
        timeout: Duration,
        max_connections: usize,
        per_second: f64,
    ) -> anyhow::Result<HttpApi> {
        use anyhow::Context;
        anyhow::ensure!(
            max_connections > 0,
            "{place}.max_connections must be at least 1"
        );
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(max_connections)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(HttpApi {
            client,
            max_connections,
            limit: RateLimit::per_second(per_second)
                .with_context(|| format!("{place}.rate_per_second"))?,
        })
    }

    /// How many messages may be on their way at once.
    pub fn concurrency(&self) -> usize {
        self.max_connections
    }

    /// Waits until the rate limit lets one more message go. The dispatcher waits here before
    /// it starts the clock on a send, so the send-duration histogram times the provider alone.
    pub async fn ready(&self) {
        self.limit.ready().await;
    }

    /// Sends `request` and reads the answer (the rate limit is [`HttpApi::ready`]'s, waited
    /// for before); a network failure or a timeout is transient, reported as `provider`'s.
    pub async fn fetch(
        provider: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, SendError> {
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("{provider}: {}", network_error(&e))))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// A rate limit shared by every sender of one provider in this daemon.
#[derive(Debug, Clone)]
struct RateLimit(Option<std::sync::Arc<governor::DefaultDirectRateLimiter>>);

impl RateLimit {
    /// At most `per_second` messages a second (fractions allowed); 0 is no limit.
    fn per_second(per_second: f64) -> anyhow::Result<RateLimit> {
        if per_second == 0.0 {
            return Ok(RateLimit(None));
        }
        anyhow::ensure!(
            per_second.is_finite() && per_second > 0.0,
            "rate_per_second must be 0 (no limit) or positive, not {per_second}"
        );
        let quota = governor::Quota::with_period(Duration::from_secs_f64(1.0 / per_second))
            .ok_or_else(|| anyhow::anyhow!("rate_per_second {per_second} is too high"))?;
        Ok(RateLimit(Some(std::sync::Arc::new(
            governor::RateLimiter::direct(quota),
        ))))
    }

    /// Waits until one more message may go.
    async fn ready(&self) {
        if let Some(limiter) = &self.0 {
            limiter.until_ready().await;
        }
    }
}

/// The wait a `Retry-After` header asks for (seconds; an HTTP date is not used by these APIs).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A network failure in words (timeouts said as such).
fn network_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}
