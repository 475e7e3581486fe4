//! The channels' settings: email (SMTP or files), which provider carries SMS and WhatsApp,
//! Twilio, Meta's Cloud API and the HTTP gateways.

use crate::domain::{Secret, redact};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How invitation emails leave.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// `file` writes `{delivery id}.eml` files into `outbox_dir`; `smtp` sends to `[email.smtp]`.
    pub transport: EmailTransport,
    /// The sender, e.g. `Customer Care <care@example.com>`.
    pub from: String,
    pub outbox_dir: PathBuf,
    pub smtp: SmtpSettings,
    /// Signs every email with DKIM (RFC 6376) when set.
    pub dkim: Option<DkimSettings>,
}

/// DKIM signing: the key published at `{selector}._domainkey.{domain}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSettings {
    pub selector: String,
    /// The signing domain (`d=`): `email.from`'s domain, or one it belongs to, for DMARC.
    pub domain: String,
    /// The private key, PEM: RSA (PKCS#1 or PKCS#8, as `openssl genrsa` writes it) or
    /// Ed25519 (PKCS#8, as `openssl genpkey -algorithm ed25519` writes it, or the base64 of
    /// its 32-byte seed).
    pub private_key_file: PathBuf,
    /// `rsa` (rsa-sha256) or `ed25519` (ed25519-sha256, RFC 8463).
    #[serde(default)]
    pub algorithm: DkimAlgorithm,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    #[default]
    Rsa,
    Ed25519,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    File,
    Smtp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `none` (plain, for a local relay), `starttls` (usually port 587) or `implicit` (465).
    pub tls: SmtpTls,
    /// A PEM file of CA certificates trusted besides the system's: a relay with a private CA.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    /// Whether credentials may be sent over an unencrypted connection (`tls = "none"`): only
    /// for a relay on a network trusted not to be listened to.
    #[serde(default)]
    pub allow_insecure_auth: bool,
    /// Limit for connecting and for each message's exchange.
    #[serde(with = "crate::domain::duration")]
    pub timeout: std::time::Duration,
    /// Connections open at once (each sends one message at a time).
    pub max_connections: usize,
    /// The name given in EHLO; the machine's host name when unset.
    pub hello_name: Option<String>,
}

/// Which provider carries each chat channel.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSettings {
    /// `twilio`; unset, SMS deliveries fail ("no provider") and invitations move on.
    pub sms: Option<String>,
    /// `meta` (the WhatsApp Cloud API) or `twilio`; unset, WhatsApp deliveries fail the
    /// same way.
    pub whatsapp: Option<String>,
}

/// Twilio: SMS, and WhatsApp through Twilio.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    /// The API's base URL (changed only for tests and regional endpoints).
    #[serde(serialize_with = "redact::serialize")]
    pub base_url: url::Url,
    pub account_sid: Option<String>,
    /// The account's auth token: it authenticates sends and signs Twilio's callbacks
    /// (`X-Twilio-Signature`). Unset, the Twilio webhooks answer 404.
    pub auth_token: Option<Secret<String>>,
    /// The secret of a Webhooks shared key, for callbacks a Webhooks Rule has Twilio sign with
    /// it (they carry `X-Twilio-Webhooks-Signature-Settings`); unset, those are refused.
    pub webhook_shared_key: Option<Secret<String>>,
    /// The sending number (`+62…`), or instead a Messaging Service.
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    /// The WhatsApp sender (`+1…`, sent as `whatsapp:+1…`) when WhatsApp goes through Twilio.
    pub whatsapp_from: Option<String>,
    /// How SMS carries a survey: `auto` (a conversation, except to countries where Twilio
    /// has no two-way SMS — there the survey page's link), `conversation` or `link`.
    #[serde(default)]
    pub sms_mode: TwilioSmsMode,
    /// The approved Content template (`HX…`) a WhatsApp message through Twilio goes as outside
    /// the 24-hour window, where WhatsApp takes no free-form text (Twilio error 63016); unset,
    /// such messages go as text and fail.
    pub whatsapp_template: Option<ContentTemplate>,
    /// The Content template of a reminder outside the window; unset, `whatsapp_template`.
    pub whatsapp_reminder_template: Option<ContentTemplate>,
    /// Requests at once.
    pub max_connections: usize,
    /// Messages per second at most, for all workers of this daemon (a long code takes about
    /// one); 0 is no limit.
    pub rate_per_second: f64,
    #[serde(with = "crate::domain::duration")]
    pub timeout: std::time::Duration,
}

/// Meta's WhatsApp Cloud API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappSettings {
    /// The Graph API's base URL and version.
    #[serde(serialize_with = "redact::serialize")]
    pub base_url: url::Url,
    pub api_version: String,
    /// The business phone number's id, and the access token (system user) that sends.
    pub phone_number_id: Option<String>,
    pub access_token: Option<Secret<String>>,
    /// The app secret that signs webhook events (`X-Hub-Signature-256`). Unset, the WhatsApp
    /// webhook answers 404.
    pub app_secret: Option<Secret<String>>,
    /// The token Meta sends back in the subscription handshake (`hub.verify_token`).
    pub verify_token: Option<Secret<String>>,
    /// The approved template that opens a conversation outside the 24-hour window (the
    /// invitation, usually); without one such messages go as text and Meta refuses them.
    pub template: Option<WhatsappTemplate>,
    /// The approved template a reminder goes as outside the window; unset, `template`.
    pub reminder_template: Option<WhatsappTemplate>,
    pub max_connections: usize,
    /// Messages per second at most, for all workers of this daemon; 0 is no limit.
    pub rate_per_second: f64,
    #[serde(with = "crate::domain::duration")]
    pub timeout: std::time::Duration,
}

/// An approved WhatsApp message template.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappTemplate {
    pub name: String,
    /// Meta's code of the template's approved language for each customer locale (a locale
    /// `en-GB` finds `en-GB`, else `en`): Meta's codes are its own (`id`, `en_US`, `en_GB`,
    /// `pt_BR`…), and a customer whose locale has none is not sent this template.
    #[serde(default = "default_languages")]
    pub languages: BTreeMap<String, String>,
    /// The body's parameters, in order, by chat variable (`customer_name`, `agent_name`,
    /// `category`, `closed_date`, `survey_url`).
    #[serde(default)]
    pub parameters: Vec<String>,
    /// The value of a parameter that is empty for a customer (`{ agent_name = "tim kami" }`):
    /// Meta refuses an empty parameter.
    #[serde(default)]
    pub fallbacks: BTreeMap<String, String>,
    /// The payloads of the template's quick-reply buttons, in order (`csat_5`, `csat_1`…):
    /// what a tap sends back.
    #[serde(default)]
    pub buttons: Vec<String>,
}

/// How Twilio's SMS carries a survey.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TwilioSmsMode {
    /// A conversation, or the link to countries without two-way SMS.
    #[default]
    Auto,
    Conversation,
    Link,
}

/// An approved WhatsApp template in Twilio's Content API: one content (`HX…`) per language,
/// its variables `{{1}}`, `{{2}}`… filled from chat variables in order.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContentTemplate {
    /// The content SID of each approved language by customer locale (a locale `en-GB`
    /// finds `en-GB`, else `en`): `{ id = "HX…", en = "HX…" }`. A customer whose locale has
    /// none is not sent the template.
    pub content_sids: BTreeMap<String, String>,
    /// The chat variables of `{{1}}`, `{{2}}`…, in order (`customer_name`, `agent_name`,
    /// `category`, `closed_date`, `survey_url`).
    #[serde(default)]
    pub parameters: Vec<String>,
    /// The value of a variable that is empty for a customer.
    #[serde(default)]
    pub fallbacks: BTreeMap<String, String>,
}

/// The languages of a template when none are configured: Indonesian and US English.
fn default_languages() -> BTreeMap<String, String> {
    [("id", "id"), ("en", "en_US")]
        .map(|(locale, code)| (locale.to_owned(), code.to_owned()))
        .into()
}

/// A generic HTTP gateway, described rather than coded.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The channel its messages travel on: `sms` or `whatsapp`.
    pub channel: crate::domain::SurveyChannel,
    /// How messages are sent; unset, the gateway only receives callbacks.
    pub send: Option<GatewaySend>,
    /// How its callbacks (`POST /webhooks/gateways/{name}`) are read; unset, they answer 404.
    pub inbound: Option<GatewayInbound>,
    /// How it carries a survey: `conversation` or `link`; unset, a conversation when its
    /// callbacks are configured (`inbound`), else the link (replies could not come back).
    #[serde(default)]
    pub mode: Option<crate::domain::ChatMode>,
}

/// One request per message, described: method, URL, authentication, body, and how to read
/// the answer. The URL and each body value are handlebars templates over `to` (the number in
/// `phone_format`), `text`, `kind` (`invite`, `reminder`, `question`…) and `delivery_id`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySend {
    #[serde(default = "post")]
    pub method: String,
    #[serde(serialize_with = "redact::serialize")]
    pub url: String,
    pub auth: GatewayAuth,
    pub body_format: BodyFormat,
    pub body: BTreeMap<String, String>,
    pub phone_format: PhoneFormat,
    /// The answer is a success when the JSON at `pointer` equals `value` (many gateways
    /// answer 200 to a failure), e.g. `{ pointer = "/status", value = true }`.
    pub success: SuccessRule,
    /// Where the gateway's id for the message is (`/id/0`).
    pub message_id: String,
    /// Where a refusal's reason is (`/reason`), for the failure record.
    pub error: Option<String>,
    /// Words of a refusal's reason that mean "not now" (`["disconnected"]`: a phone linked
    /// as the gateway's device is offline): such a refusal is retried, not final. Compared
    /// without regard to case.
    #[serde(default)]
    pub retry_on: Vec<String>,
    pub max_connections: usize,
    /// Messages per second at most, for all workers of this daemon; 0 is no limit.
    pub rate_per_second: f64,
    #[serde(with = "crate::domain::duration")]
    pub timeout: std::time::Duration,
}

fn post() -> String {
    "POST".into()
}

/// Where a gateway wants its credentials.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GatewayAuth {
    /// A raw header, e.g. Fonnte's `Authorization: <token>`.
    Header {
        name: String,
        value: Secret<String>,
    },
    Bearer {
        token: Secret<String>,
    },
    Basic {
        username: String,
        password: Secret<String>,
    },
    /// Fields added to the body, e.g. Zenziva's `userkey` and `passkey`.
    Body {
        fields: BTreeMap<String, Secret<String>>,
    },
    /// A query parameter.
    Query {
        name: String,
        value: Secret<String>,
    },
    /// Each request signed with HMAC-SHA256 (the HTTP Signatures scheme Mekari's API gateway
    /// uses for Qontak): a `Date` header, and `Authorization: hmac username="…",
    /// algorithm="hmac-sha256", headers="date request-line", signature="…"` — the signature
    /// the base64 HMAC of `date: {Date}` and `{METHOD} {path} HTTP/1.1`, one per line, in the
    /// order of `headers` (which may also name `digest`: a `Digest: SHA-256=…` of the body is
    /// then sent and signed).
    Hmac {
        username: String,
        secret: Secret<String>,
        #[serde(default = "date_request_line")]
        headers: Vec<String>,
    },
    /// An OAuth 2.0 access token (RFC 6749), sent as Bearer: fetched from `token_url` with
    /// the password or client-credentials grant, kept until a minute before it expires or
    /// until the gateway refuses it. Qontak, for one, wants the password grant as JSON.
    Oauth {
        #[serde(serialize_with = "redact::serialize")]
        token_url: String,
        grant: OauthGrant,
        client_id: String,
        client_secret: Secret<String>,
        /// For the password grant.
        username: Option<String>,
        password: Option<Secret<String>>,
        scope: Option<String>,
        /// The token request's body: `form` (RFC 6749) unless the server wants `json`.
        #[serde(default = "form")]
        body_format: BodyFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OauthGrant {
    Password,
    ClientCredentials,
}

fn form() -> BodyFormat {
    BodyFormat::Form
}

fn date_request_line() -> Vec<String> {
    vec!["date".into(), "request-line".into()]
}

/// How a gateway wants numbers written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneFormat {
    /// `+6281234567890`
    E164,
    /// `6281234567890`
    International,
    /// `081234567890`
    National,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SuccessRule {
    pub pointer: String,
    pub value: serde_json::Value,
}

/// A gateway's callbacks: signed with HMAC-SHA256 of the raw body, fields found by JSON
/// pointer (`/sender`; for a form body, `/` and the field name).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayInbound {
    /// The shared secret: of the HMAC-SHA256 signature, or the token itself.
    pub secret: Secret<String>,
    /// `hmac` (the default): an HMAC-SHA256 of the raw body in `signature_header`; `token`:
    /// for gateways that cannot sign, the secret itself in `signature_header` or in the
    /// query parameter `token` (`/webhooks/gateways/NAME?token=…`) — weaker: it proves the
    /// sender knows the secret, not that the body is the gateway's, and a URL's query can end
    /// up in a proxy's log.
    #[serde(default)]
    pub check: InboundCheck,
    /// The header carrying the signature (lowercase or uppercase hex, `sha256=` allowed), or
    /// the token.
    pub signature_header: String,
    pub format: BodyFormat,
    /// The event's id, unique per gateway; without one, the SHA-256 of the body serves.
    pub id: Option<String>,
    /// A reply's sender number and text.
    pub from: String,
    /// How the sender's number is written: `international` (digits with the country code,
    /// `6281234567890`, as most gateways send it: read with a `+`), `e164`, or `national`
    /// (read in `defaults.country`). A WhatsApp address's `@s.whatsapp.net` or `@c.us` is
    /// left out; one ending `@g.us` is a group.
    #[serde(default = "international")]
    pub from_format: PhoneFormat,
    /// Where a group message names its member (Fonnte's `/member`): a message with one is
    /// from a group chat, which is no answer to a survey (kept as `group_chat`).
    pub group: Option<String>,
    pub text: String,
    /// The gateway's id of the message a reply answers, if it gives one.
    pub reply_to: Option<String>,
    /// A status callback's message id and status; a callback that has them is a status.
    pub status_id: Option<String>,
    pub status: Option<String>,
    /// The gateway's status words mapped to `sent`, `delivered`, `read`, `failed` or
    /// `undelivered`; words not listed are stored and ignored.
    #[serde(default)]
    pub statuses: BTreeMap<String, String>,
}

fn international() -> PhoneFormat {
    PhoneFormat::International
}

/// How a gateway's callbacks prove they are the gateway's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundCheck {
    #[default]
    Hmac,
    Token,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    Json,
    Form,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Implicit,
}
