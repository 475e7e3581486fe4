//! Typed settings: the embedded `config/default.toml`, then an optional file (`--config` or
//! `SURVEYD_CONFIG`), then `SURVEYD_*` environment variables, the last one winning.
//!
//! Every key can be set by a variable ([`env`]): `SURVEYD_DATABASE_URL` is `database.url`,
//! `SURVEYD_EMAIL_SMTP_PASSWORD` is `email.smtp.password`. A problem is refused at start with
//! where it was set (the file's absolute path and line, or the variable), the key, the value
//! and what is allowed ([`problems`]). Secrets print as `[redacted]` in `Debug` and in
//! `config show`.

mod env;
mod problems;

pub use crate::alerts::{AlertSettings, AlertWebhook};
pub use crate::auth::{ApiSettings, ConfiguredToken};
pub use crate::channels::{
    BodyFormat, ChannelSettings, EmailSettings, EmailTransport, GatewayAuth, GatewayInbound,
    GatewaySend, GatewaySettings, OauthGrant, PhoneFormat, SmtpSettings, SmtpTls, SuccessRule,
    TwilioSettings, WhatsappSettings, WhatsappTemplate,
};
pub use crate::dashboard::{DashboardSettings, DashboardUser, SignInSettings};
pub use crate::dispatch::DispatchSettings;
pub use crate::domain::{Country, Defaults, Problem, Secret, redact};
pub use crate::http::{HttpSettings, RateLimitSettings, RequestRate};
pub use crate::intake::IntakeSettings;
pub use crate::scheduler::SchedulerSettings;
pub use crate::scoring::ReportSettings;
pub use crate::store::{Backend, DatabaseSettings, DatabaseUrl, RetentionSettings};
pub use crate::survey::SurveySettings;
pub use crate::templates::TemplateSettings;
pub use env::OPTIONAL as OPTIONAL_KEYS;

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The defaults shipped inside the binary.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub defaults: Defaults,
    pub api: ApiSettings,
    pub intake: IntakeSettings,
    pub templates: TemplateSettings,
    pub survey: SurveySettings,
    pub scheduler: SchedulerSettings,
    pub reports: ReportSettings,
    pub alerts: AlertSettings,
    pub dashboard: DashboardSettings,
    pub dispatch: DispatchSettings,
    pub email: EmailSettings,
    pub channels: ChannelSettings,
    pub twilio: TwilioSettings,
    pub whatsapp: WhatsappSettings,
    /// Generic HTTP gateways (Fonnte, Zenziva, Wablas, Qontak…) by name.
    #[serde(default)]
    pub gateways: std::collections::BTreeMap<String, GatewaySettings>,
    pub retention: RetentionSettings,
    pub log: LogSettings,
    /// The survey campaigns; a file that lists campaigns replaces the default ones.
    #[serde(default)]
    pub campaigns: Vec<crate::campaign::Campaign>,
    /// Helpdesk databases read directly (`[[sources]]`), polled by the daemon.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<crate::intake::source::SourceSettings>,
}

impl Settings {
    /// What the chat providers are chosen and built from.
    pub fn providers(&self) -> crate::channels::ProviderSettings<'_> {
        crate::channels::ProviderSettings {
            channels: &self.channels,
            twilio: &self.twilio,
            whatsapp: &self.whatsapp,
            gateways: &self.gateways,
            public_url: &self.survey.public_url,
        }
    }

    /// The providers whose callbacks are received (Twilio, WhatsApp, the gateways), as
    /// configured: what webhooks are verified and stored events decoded with.
    pub fn webhook_providers(&self) -> crate::webhooks::Providers {
        crate::webhooks::Providers::new(&self.twilio, &self.whatsapp, &self.gateways)
    }

    /// The survey key: `survey.key`, or the one kept in `survey.key_file` (made on first use).
    pub fn survey_key(&self) -> anyhow::Result<crate::auth::SurveyKey> {
        crate::auth::SurveyKey::load(
            self.survey.key.as_ref().map(|k| k.expose().as_str()),
            &self.survey.key_file,
        )
    }

    /// The built-in questionnaires and templates under `templates.dir`'s files.
    pub fn template_files(&self) -> Result<crate::templates::TemplateFiles, ConfigError> {
        crate::templates::TemplateFiles::with_overrides(self.templates.dir.as_deref())
            .map_err(|reason| ConfigError::Invalid(vec![Problem::general(reason)]))
    }

    /// Loads the questionnaires (by name) and checks the campaigns against them; every
    /// problem is reported, each naming its file or campaign.
    pub fn load_campaigns(
        &self,
    ) -> Result<std::collections::HashMap<String, crate::questionnaire::Questionnaire>, ConfigError>
    {
        use crate::questionnaire::Questionnaire;
        let files = self.template_files()?;
        let questionnaires =
            Questionnaire::load_all(&files, &self.defaults.locale).map_err(|e| {
                ConfigError::Invalid(e.iter().map(|e| Problem::general(e.to_string())).collect())
            })?;
        crate::campaign::check(&self.campaigns, &questionnaires).map_err(|problems| {
            ConfigError::Invalid(problems.into_iter().map(Problem::general).collect())
        })?;
        Ok(questionnaires
            .into_iter()
            .map(|q| (q.name.clone(), q))
            .collect())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A tracing filter such as `info` or `surveyd=debug,tower_http=info`; `RUST_LOG` wins.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration that could not be loaded; each problem names where it was set, the key
/// and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the configuration file {} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("cannot read the configuration file {}: {error}", path.display())]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid configuration:{}", list_problems(.0))]
    Invalid(Vec<Problem>),
}

fn list_problems(problems: &[Problem]) -> String {
    match problems {
        [one] => format!(" {one}"),
        many => many.iter().map(|p| format!("\n  - {p}")).collect(),
    }
}

/// The file the command line reads when none is given, if it exists: where a package installs
/// the daemon's settings, so a command run on the server sees what the daemon sees.
pub const SYSTEM_FILE: &str = "/etc/surveyd/surveyd.toml";

/// The file to read: the one given, else [`SYSTEM_FILE`] when it exists.
pub fn file_or_system(given: Option<&Path>) -> Option<PathBuf> {
    given
        .map(Path::to_owned)
        .or_else(|| Some(PathBuf::from(SYSTEM_FILE)).filter(|p| p.is_file()))
}

/// A layer of settings from one environment variable (or, for a key inside a list of named
/// tables, the whole list), named after it in figment's metadata.
struct EnvLayer {
    name: String,
    key: String,
    value: figment::value::Value,
}

impl figment::Provider for EnvLayer {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("{}{}", problems::ENV_NAME, self.name))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let dict = figment::util::nest(&self.key, self.value.clone())
            .into_dict()
            .unwrap_or_default();
        Ok(figment::Profile::Default.collect(dict))
    }
}

impl Settings {
    /// Loads the defaults, then `file` if given, then the `SURVEYD_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// Loads the defaults, then `file` if given, then `variables` (those named `SURVEYD_*`).
    pub fn load_from(
        file: Option<&Path>,
        variables: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        let mut written = None;
        if let Some(path) = file {
            let path = problems::absolute(path);
            let text = std::fs::read_to_string(&path).map_err(|error| match error.kind() {
                std::io::ErrorKind::NotFound => ConfigError::Missing(path.clone()),
                _ => ConfigError::Unreadable {
                    path: path.clone(),
                    error,
                },
            })?;
            figment = figment.merge(Toml::file(&path));
            written = Some((path, text));
        }
        let placed = |overrides: &[env::Override], figment: &Figment, e: figment::Error| {
            let sources = problems::Sources {
                file: written.clone(),
                overrides,
            };
            ConfigError::Invalid(
                e.into_iter()
                    .map(|e| sources.describe(figment, e))
                    .collect(),
            )
        };
        let known: figment::value::Dict =
            figment.extract().map_err(|e| placed(&[], &figment, e))?;
        let overrides = env::overrides(&known, variables).map_err(|unknown| {
            ConfigError::Invalid(
                unknown
                    .into_iter()
                    .map(|u| Problem {
                        place: Some(format!("{}{}", problems::ENV_NAME, u.variable)),
                        key: None,
                        value: None,
                        reason: match u.suggestion {
                            Some(s) => format!("names no setting (did you mean {s}?)"),
                            None => "names no setting".into(),
                        },
                    })
                    .collect(),
            )
        })?;
        for o in overrides
            .iter()
            .filter(|o| !o.key.iter().any(|s| matches!(s, env::Step::Index(_))))
        {
            figment = figment.merge(EnvLayer {
                name: o.variable.clone(),
                key: o.dotted(),
                value: o.value.clone(),
            });
        }
        for (list, value) in env::apply_to_lists(&known, &overrides) {
            let names: Vec<&str> = overrides
                .iter()
                .filter(|o| o.key.first() == Some(&env::Step::Key(list.clone())))
                .map(|o| o.variable.as_str())
                .collect();
            figment = figment.merge(EnvLayer {
                name: names.join(", "),
                key: list,
                value,
            });
        }
        let mut settings = figment
            .extract::<Settings>()
            .map_err(|e| placed(&overrides, &figment, e))?;
        let sources = problems::Sources {
            file: written.clone(),
            overrides: &overrides,
        };
        let mut found: Vec<Problem> = Vec::new();
        if let Err(list) = crate::intake::source::check(&settings.sources) {
            found.extend(list.into_iter().map(Problem::general));
        }
        found.extend(
            [
                settings.http.check(),
                settings.reports.check(),
                settings.alerts.check(),
                settings.dashboard.check(),
                settings.retention.check(&settings.campaigns),
            ]
            .into_iter()
            .filter_map(Result::err)
            .map(|p| sources.place(&figment, p)),
        );
        if let Err(problem) = settings.http.rate_limit.check() {
            found.push(sources.place(&figment, problem));
        }
        if !found.is_empty() {
            return Err(ConfigError::Invalid(found));
        }
        // Each campaign carries its effective cap.
        for campaign in &mut settings.campaigns {
            campaign
                .frequency_cap
                .get_or_insert(settings.defaults.frequency_cap);
        }
        Ok(settings)
    }

    /// The settings as TOML, secrets redacted (those inside URLs too).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("settings serialise to TOML")
    }
}
