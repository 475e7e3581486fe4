//! `SURVEYD_*` environment variables: which setting each one names, and its value.
//!
//! A variable's name is the setting's key in capitals with every `.` written as `_`:
//! `SURVEYD_EMAIL_SMTP_PASSWORD` is `email.smtp.password`, `SURVEYD_HTTP_RATE_LIMIT_PAGES` is
//! `http.rate_limit.pages`. Since keys contain `_` themselves, a name is read against the keys
//! that exist: those of the embedded defaults and the file, and the optional keys listed in
//! [`OPTIONAL`]. Named entries are addressed by their name: `SURVEYD_GATEWAYS_FONNTE_SEND_URL`
//! is `gateways.fonnte.send.url`, `SURVEYD_SOURCES_HELPDESK_URL` the `url` of the source named
//! `helpdesk`, `SURVEYD_CAMPAIGNS_POST_CONTACT_EMAIL_DELAY` the `delay` of campaign
//! `post-contact-email`. A name that is still ambiguous can be written with `__` between the
//! levels: `SURVEYD_GATEWAYS__MY_GATEWAY__SEND__URL`.
//!
//! The value is taken as written when the setting is text; otherwise it is read like a TOML
//! value (`8`, `true`, `["sms", "email"]`, `{ per_second = 2, burst = 30 }`).

mod keys;

use figment::value::{Dict, Value};
use keys::Node;
use std::collections::BTreeMap;

/// The prefix of every variable; `SURVEYD_CONFIG` names the file instead.
pub const PREFIX: &str = "SURVEYD_";

/// The keys that have no value in the embedded defaults, as patterns: `*` stands for a name
/// (a gateway's, a team's, a channel's), and a pattern ending in `=` is not text (its value is
/// read as TOML). Every other key of these is text.
pub const OPTIONAL: &[&str] = &[
    "survey.key",
    "templates.dir",
    "reports.time_zone",
    "email.smtp.username",
    "email.smtp.password",
    "email.smtp.hello_name",
    "email.smtp.ca_file",
    "email.dkim.selector",
    "email.dkim.domain",
    "email.dkim.private_key_file",
    "email.dkim.algorithm",
    "alerts.webhook.url",
    "alerts.webhook.secret",
    "alerts.webhook.timeout",
    "alerts.team_leads.*",
    "dispatch.daily_caps.*=",
    "channels.sms",
    "channels.whatsapp",
    "twilio.account_sid",
    "twilio.auth_token",
    "twilio.webhook_shared_key",
    "twilio.from",
    "twilio.messaging_service_sid",
    "twilio.whatsapp_from",
    "whatsapp.phone_number_id",
    "whatsapp.access_token",
    "whatsapp.app_secret",
    "whatsapp.verify_token",
    "whatsapp.template.name",
    "whatsapp.template.languages.*",
    "whatsapp.template.parameters=",
    "whatsapp.template.fallbacks.*",
    "whatsapp.template.buttons=",
    "whatsapp.reminder_template.name",
    "whatsapp.reminder_template.languages.*",
    "whatsapp.reminder_template.parameters=",
    "whatsapp.reminder_template.fallbacks.*",
    "whatsapp.reminder_template.buttons=",
    "twilio.whatsapp_template.content_sids.*",
    "twilio.whatsapp_template.parameters=",
    "twilio.whatsapp_template.fallbacks.*",
    "twilio.whatsapp_reminder_template.content_sids.*",
    "twilio.whatsapp_reminder_template.parameters=",
    "twilio.whatsapp_reminder_template.fallbacks.*",
    "gateways.*.channel",
    "gateways.*.mode",
    "gateways.*.send.method",
    "gateways.*.send.url",
    "gateways.*.send.auth.kind",
    "gateways.*.send.auth.name",
    "gateways.*.send.auth.value",
    "gateways.*.send.auth.token",
    "gateways.*.send.auth.username",
    "gateways.*.send.auth.password",
    "gateways.*.send.auth.fields.*",
    "gateways.*.send.auth.token_url",
    "gateways.*.send.auth.grant",
    "gateways.*.send.auth.client_id",
    "gateways.*.send.auth.client_secret",
    "gateways.*.send.auth.scope",
    "gateways.*.send.auth.secret",
    "gateways.*.send.auth.headers=",
    "gateways.*.send.auth.body_format",
    "gateways.*.send.body_format",
    "gateways.*.send.body.*",
    "gateways.*.send.phone_format",
    "gateways.*.send.success.pointer",
    "gateways.*.send.success.value=",
    "gateways.*.send.message_id",
    "gateways.*.send.error",
    "gateways.*.send.retry_on=",
    "gateways.*.send.max_connections=",
    "gateways.*.send.rate_per_second=",
    "gateways.*.send.timeout",
    "gateways.*.inbound.secret",
    "gateways.*.inbound.check",
    "gateways.*.inbound.signature_header",
    "gateways.*.inbound.format",
    "gateways.*.inbound.id",
    "gateways.*.inbound.from",
    "gateways.*.inbound.from_format",
    "gateways.*.inbound.group",
    "gateways.*.inbound.text",
    "gateways.*.inbound.reply_to",
    "gateways.*.inbound.status_id",
    "gateways.*.inbound.status",
    "gateways.*.inbound.statuses.*",
    "campaigns.*.window.start",
    "campaigns.*.window.end",
    "campaigns.*.window.weekdays_only=",
    "campaigns.*.frequency_cap",
    "campaigns.*.sample.share=",
    "campaigns.*.sample.min_per_agent=",
    "campaigns.*.schedule.cron",
    "campaigns.*.schedule.every",
    "campaigns.*.reminders=",
    "campaigns.*.audience.teams=",
    "campaigns.*.audience.categories=",
    "campaigns.*.audience.contact_channels=",
    "campaigns.*.audience.resolutions=",
    "sources.*.batch_size=",
    "sources.*.settle",
];

/// One step of a key: a table's key, or an entry of a list of named tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// What a variable sets.
#[derive(Debug, Clone)]
pub struct Override {
    /// The variable, e.g. `SURVEYD_EMAIL_SMTP_PASSWORD`.
    pub variable: String,
    pub key: Vec<Step>,
    pub value: Value,
}

impl Override {
    /// The key as written in a file: `email.smtp.password`, `campaigns.0.delay`.
    pub fn dotted(&self) -> String {
        dotted(&self.key)
    }
}

/// A key as a dotted path.
pub fn dotted(key: &[Step]) -> String {
    key.iter()
        .map(|step| match step {
            Step::Key(k) => k.clone(),
            Step::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A variable that names no setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub variable: String,
    /// The closest setting's variable, when one is close.
    pub suggestion: Option<String>,
}

/// The settings `variables` name, read against `known` (the defaults and the file merged).
pub fn overrides(
    known: &Dict,
    variables: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Override>, Vec<Unknown>> {
    let tree = Node::of(known);
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for (variable, raw) in variables {
        let Some(name) = variable.strip_prefix(PREFIX) else {
            continue;
        };
        if name == "CONFIG" || name.is_empty() {
            continue;
        }
        match tree.resolve_name(name) {
            Some((key, text)) => {
                let value = if text {
                    Value::from(raw)
                } else {
                    raw.parse().expect("reading a value never fails")
                };
                found.push(Override {
                    variable,
                    key,
                    value,
                });
            }
            None => unknown.push(Unknown {
                suggestion: tree.closest(name),
                variable,
            }),
        }
    }
    if unknown.is_empty() {
        Ok(found)
    } else {
        Err(unknown)
    }
}

/// Writes `overrides` into `data` (for keys inside lists of named tables, which a figment
/// layer cannot set by path), returning the lists changed by name.
pub fn apply_to_lists(data: &Dict, overrides: &[Override]) -> BTreeMap<String, Value> {
    let mut lists: BTreeMap<String, Value> = BTreeMap::new();
    for o in overrides {
        let Some(Step::Key(list)) = o.key.first() else {
            continue;
        };
        if !o.key.iter().any(|s| matches!(s, Step::Index(_))) {
            continue;
        }
        let entry = lists.entry(list.clone()).or_insert_with(|| {
            data.get(list)
                .cloned()
                .unwrap_or(Value::from(Vec::<Value>::new()))
        });
        set(entry, &o.key[1..], o.value.clone());
    }
    lists
}

fn set(target: &mut Value, key: &[Step], value: Value) {
    let Some((first, rest)) = key.split_first() else {
        *target = value;
        return;
    };
    match (first, target) {
        (Step::Index(i), Value::Array(_, items)) if *i < items.len() => {
            set(&mut items[*i], rest, value)
        }
        (Step::Key(k), Value::Dict(_, dict)) => {
            let child = dict
                .entry(k.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            set(child, rest, value);
        }
        (_, target) => {
            // Not a table where a table is needed: the nested value replaces it.
            let mut fresh = Value::from(Dict::new());
            set(&mut fresh, key, value);
            *target = fresh;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::keys::normalise;
    use super::*;
    use figment::Figment;
    use figment::providers::{Format, Toml};

    fn known(toml: &str) -> Dict {
        Figment::from(Toml::string(super::super::DEFAULT_TOML))
            .merge(Toml::string(toml))
            .extract()
            .unwrap()
    }

    fn key(toml: &str, variable: &str) -> Option<String> {
        overrides(&known(toml), [(variable.to_owned(), "x".to_owned())])
            .ok()
            .map(|o| o[0].dotted())
    }

    #[test]
    fn nested_and_optional_keys_resolve() {
        for (variable, expected) in [
            ("SURVEYD_EMAIL_SMTP_PASSWORD", "email.smtp.password"),
            (
                "SURVEYD_EMAIL_SMTP_MAX_CONNECTIONS",
                "email.smtp.max_connections",
            ),
            ("SURVEYD_ALERTS_WEBHOOK_SECRET", "alerts.webhook.secret"),
            ("SURVEYD_HTTP_MAX_BODY_BYTES", "http.max_body_bytes"),
            ("SURVEYD_HTTP_RATE_LIMIT_PAGES", "http.rate_limit.pages"),
            (
                "SURVEYD_HTTP_RATE_LIMIT_FORWARDED_FOR",
                "http.rate_limit.forwarded_for",
            ),
            ("SURVEYD_TWILIO_AUTH_TOKEN", "twilio.auth_token"),
            ("SURVEYD_WHATSAPP_TEMPLATE_NAME", "whatsapp.template.name"),
            (
                "SURVEYD_CAMPAIGNS_POST_CONTACT_EMAIL_DELAY",
                "campaigns.0.delay",
            ),
            (
                "SURVEYD_CAMPAIGNS_POST_CONTACT_EMAIL_AUDIENCE_LOOKBACK",
                "campaigns.0.audience.lookback",
            ),
            (
                "SURVEYD_GATEWAYS_FONNTE_SEND_AUTH_VALUE",
                "gateways.fonnte.send.auth.value",
            ),
            (
                "SURVEYD_GATEWAYS_MY_GW_INBOUND_SECRET",
                "gateways.my_gw.inbound.secret",
            ),
            (
                "SURVEYD_GATEWAYS__MY_GW__SEND__URL",
                "gateways.my_gw.send.url",
            ),
        ] {
            assert_eq!(key("", variable).as_deref(), Some(expected), "{variable}");
        }
    }

    #[test]
    fn names_from_the_file_keep_their_spelling() {
        let file = "[alerts]\nteam_leads = { Billing = \"lead@example.com\" }\n\
                    [[sources]]\nname = \"help-desk\"\nurl = \"sqlite://h.db\"\nquery = \"SELECT 1\"\n\
                    schedule = { every = \"5m\" }\n";
        assert_eq!(
            key(file, "SURVEYD_ALERTS_TEAM_LEADS_BILLING").as_deref(),
            Some("alerts.team_leads.Billing")
        );
        assert_eq!(
            key(file, "SURVEYD_SOURCES_HELP_DESK_URL").as_deref(),
            Some("sources.0.url")
        );
    }

    #[test]
    fn text_stays_text_and_other_values_are_read() {
        let o = overrides(
            &known(""),
            [
                (
                    "SURVEYD_EMAIL_SMTP_PASSWORD".to_owned(),
                    "123456".to_owned(),
                ),
                ("SURVEYD_EMAIL_SMTP_PORT".to_owned(), "587".to_owned()),
            ],
        )
        .unwrap();
        assert_eq!(o[0].value.as_str(), Some("123456"));
        assert_eq!(o[1].value.to_u128(), Some(587));
    }

    #[test]
    fn a_typo_is_unknown_with_a_suggestion() {
        let err = overrides(
            &known(""),
            [("SURVEYD_EMAIL_SMTP_PASWORD".to_owned(), "x".to_owned())],
        )
        .unwrap_err();
        assert_eq!(
            err[0].suggestion.as_deref(),
            Some("SURVEYD_EMAIL_SMTP_PASSWORD")
        );
    }

    /// Every key of `value` as (variable name, key), entries of named lists by their name.
    fn leaves(value: &toml::Value, name: &str, key: &str, out: &mut Vec<(String, String)>) {
        let join = |a: &str, b: &str, sep: &str| {
            if a.is_empty() {
                b.to_owned()
            } else {
                format!("{a}{sep}{b}")
            }
        };
        match value {
            toml::Value::Table(table) => {
                for (k, v) in table {
                    leaves(v, &join(name, &normalise(k), "_"), &join(key, k, "."), out);
                }
            }
            toml::Value::Array(items)
                if items
                    .iter()
                    .all(|i| i.get("name").is_some_and(toml::Value::is_str))
                    && !items.is_empty() =>
            {
                for (i, item) in items.iter().enumerate() {
                    let entry = normalise(item["name"].as_str().unwrap());
                    leaves(
                        item,
                        &join(name, &entry, "_"),
                        &join(key, &i.to_string(), "."),
                        out,
                    );
                }
            }
            _ => out.push((
                format!("{PREFIX}{}", name.to_ascii_uppercase()),
                key.to_owned(),
            )),
        }
    }

    /// Every key the shipped configuration files set can be set by its variable, whether the
    /// defaults have it or not.
    #[test]
    fn every_key_of_the_shipped_files_has_a_variable() {
        let files = [
            include_str!("../../config/production.example.toml"),
            include_str!("../../config/fonnte.toml"),
            include_str!("../../config/qontak.toml"),
            include_str!("../../config/zenziva.toml"),
            include_str!("../../tests/fixtures/every-key.toml"),
        ];
        for file in files {
            let mut all = Vec::new();
            leaves(&toml::from_str(file).unwrap(), "", "", &mut all);
            assert!(!all.is_empty());
            for (variable, key) in all {
                // Entries of named lists exist only once a file lists them; other keys must
                // be known from the defaults and the optional keys alone.
                let tree = if key.starts_with("campaigns.") || key.starts_with("sources.") {
                    known(file)
                } else {
                    known("")
                };
                let found =
                    overrides(&tree, [(variable.clone(), "x".to_owned())]).map(|o| o[0].dotted());
                // A team's or gateway's name from the file comes back in lower case.
                assert_eq!(
                    found.map(|k| k.to_ascii_lowercase()),
                    Ok(key.to_ascii_lowercase()),
                    "{variable}"
                );
            }
        }
    }
}
