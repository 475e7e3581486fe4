//! Messages from templates: `templates/email/{locale}/subject.hbs`, `body.txt.hbs` and
//! `body.html.hbs`, rendered with handlebars in strict mode (a variable that does not exist is
//! an error, never an empty string). Values in HTML bodies are HTML-escaped; subjects and text
//! bodies are left as they are.

pub mod page;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use serde::Serialize;

use crate::domain::Locale;
use crate::questionnaire::Questionnaire;

/// The parts of an email, each a file in `templates/email/{locale}/`.
const EMAIL_PARTS: [(&str, Escape); 3] = [
    ("subject.hbs", Escape::None),
    ("body.txt.hbs", Escape::None),
    ("body.html.hbs", Escape::Html),
];

#[derive(Clone, Copy)]
enum Escape {
    None,
    Html,
}

/// What an invitation email may say. Every key is always present (absent values are `null`),
/// so strict mode refuses only names that do not exist.
#[derive(Debug, Clone, Serialize)]
pub struct EmailVars {
    pub customer_name: String,
    pub agent_name: Option<String>,
    pub category: Option<String>,
    /// The contact's closing date, in the customer's time zone.
    pub closed_date: String,
    /// The first rating question's text, in the customer's language.
    pub question: String,
    pub survey_url: String,
    /// One link per point of the first rating question's scale.
    pub rating_links: Vec<RatingLink>,
    pub unsubscribe_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RatingLink {
    pub value: i16,
    pub url: String,
}

/// The links of one invitation: `{public_url}/s/{token}` and `{public_url}/u/{token}`.
#[derive(Debug, Clone)]
pub struct SurveyLinks {
    pub survey: String,
    pub unsubscribe: String,
}

impl SurveyLinks {
    pub fn new(public_url: &url::Url, token: &str) -> Self {
        let base = public_url.as_str().trim_end_matches('/');
        SurveyLinks {
            survey: format!("{base}/s/{token}"),
            unsubscribe: format!("{base}/u/{token}"),
        }
    }
}

/// Who is invited, about which contact.
#[derive(Debug, Clone)]
pub struct Invitee<'a> {
    pub customer_name: &'a str,
    pub agent_name: Option<&'a str>,
    pub category: Option<&'a str>,
    pub closed_at: chrono::DateTime<chrono::Utc>,
    pub time_zone: chrono_tz::Tz,
}

impl EmailVars {
    /// The variables of an invitation to `questionnaire` in `locale`: the first rating
    /// question's text, and one link per point of its scale (`{survey}?r={value}`).
    pub fn new(
        questionnaire: &Questionnaire,
        locale: &Locale,
        fallback: &Locale,
        links: &SurveyLinks,
        invitee: &Invitee<'_>,
    ) -> Self {
        let first = questionnaire.first_rating();
        EmailVars {
            customer_name: invitee.customer_name.to_owned(),
            agent_name: invitee.agent_name.map(str::to_owned),
            category: invitee.category.map(str::to_owned),
            closed_date: long_date(invitee.closed_at, invitee.time_zone, locale),
            question: first
                .map(|q| q.text.get(locale, fallback).to_owned())
                .unwrap_or_default(),
            survey_url: links.survey.clone(),
            rating_links: first
                .and_then(|q| q.scale())
                .map(|(min, max)| {
                    (min..=max)
                        .map(|value| RatingLink {
                            value,
                            url: format!("{}?r={value}", links.survey),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            unsubscribe_url: links.unsubscribe.clone(),
        }
    }
}

/// A date as people of `locale` write it in full ("22 November 2026", "22 Mei 2026"), in the
/// time zone `tz`.
pub fn long_date(at: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz, locale: &Locale) -> String {
    let language = locale.language();
    let posix = format!("{language}_{}", language.to_ascii_uppercase());
    let names = chrono::Locale::try_from(locale.as_str().replace('-', "_").as_str())
        .or_else(|_| chrono::Locale::try_from(posix.as_str()))
        .unwrap_or(chrono::Locale::POSIX);
    at.with_timezone(&tz)
        .format_localized("%-d %B %Y", names)
        .to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The loaded templates.
pub struct Renderer {
    plain: Handlebars<'static>,
    html: Handlebars<'static>,
    /// Locales with a complete set of email templates.
    email_locales: BTreeSet<String>,
    dir: PathBuf,
}

impl Renderer {
    /// Loads every template under `dir`; all problems are returned, each naming its file and,
    /// for a syntax error, the line.
    pub fn load(dir: &Path) -> Result<Renderer, Vec<String>> {
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut renderer = Renderer {
            plain,
            html,
            email_locales: BTreeSet::new(),
            dir: dir.to_owned(),
        };
        let email_dir = dir.join("email");
        let mut problems = Vec::new();
        let mut locales: Vec<PathBuf> = match std::fs::read_dir(&email_dir) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return Err(vec![format!("{}: {e}", email_dir.display())]),
        };
        locales.sort();
        for folder in locales.iter().filter(|p| p.is_dir()) {
            let name = folder.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let locale = match Locale::parse(name) {
                Ok(locale) => locale,
                Err(e) => {
                    problems.push(format!("{}: not a locale folder: {e}", folder.display()));
                    continue;
                }
            };
            let mut complete = true;
            for (part, escape) in EMAIL_PARTS {
                let path = folder.join(part);
                let registry = match escape {
                    Escape::None => &mut renderer.plain,
                    Escape::Html => &mut renderer.html,
                };
                let source = match std::fs::read_to_string(&path) {
                    Ok(source) => source,
                    Err(e) => {
                        problems.push(format!("{}: {e}", path.display()));
                        complete = false;
                        continue;
                    }
                };
                if let Err(e) = registry.register_template_string(&email_key(&locale, part), source)
                {
                    problems.push(format!(
                        "{}: {}",
                        path.display(),
                        describe_template_error(&e)
                    ));
                    complete = false;
                }
            }
            if complete {
                renderer.email_locales.insert(locale.to_string());
            }
        }
        if problems.is_empty() {
            Ok(renderer)
        } else {
            Err(problems)
        }
    }

    /// The locales that have email templates.
    pub fn email_locales(&self) -> impl Iterator<Item = &str> {
        self.email_locales.iter().map(String::as_str)
    }

    /// The template locale used for `locale`: its exact tag, its language, else `fallback`.
    pub fn email_locale(&self, locale: &Locale, fallback: &Locale) -> Option<String> {
        [locale.as_str(), locale.language(), fallback.as_str()]
            .into_iter()
            .find(|l| self.email_locales.contains(*l))
            .map(str::to_owned)
    }

    /// Renders the invitation email for a customer of `locale`.
    pub fn email(
        &self,
        locale: &Locale,
        fallback: &Locale,
        vars: &EmailVars,
    ) -> Result<EmailMessage, String> {
        let chosen = self.email_locale(locale, fallback).ok_or_else(|| {
            format!(
                "{}: no email templates for `{locale}` nor the default `{fallback}`",
                self.dir.join("email").display()
            )
        })?;
        let chosen = Locale::parse(&chosen).map_err(|e| e.to_string())?;
        // The variables turned into template data once for the three parts.
        let data = handlebars::Context::wraps(vars).map_err(|e| e.to_string())?;
        let render = |part: &str, escape: Escape| {
            let registry = match escape {
                Escape::None => &self.plain,
                Escape::Html => &self.html,
            };
            registry
                .render_with_context(&email_key(&chosen, part), &data)
                .map_err(|e| {
                    let path = self.dir.join("email").join(chosen.as_str()).join(part);
                    match e.line_no {
                        Some(line) => format!("{}: line {line}: {}", path.display(), e.reason()),
                        None => format!("{}: {}", path.display(), e.reason()),
                    }
                })
        };
        Ok(EmailMessage {
            subject: render("subject.hbs", Escape::None)?.trim().to_owned(),
            text: render("body.txt.hbs", Escape::None)?,
            html: render("body.html.hbs", Escape::Html)?,
        })
    }
}

fn email_key(locale: &Locale, part: &str) -> String {
    format!("email/{locale}/{part}")
}

/// A template syntax error as "line L, column C: reason".
pub(crate) fn describe_template_error(e: &handlebars::TemplateError) -> String {
    match e.pos() {
        Some((line, column)) => format!("line {line}, column {column}: {}", e.reason()),
        None => e.reason().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> EmailVars {
        EmailVars {
            customer_name: "Budi <script>".into(),
            agent_name: Some("Sari & Co".into()),
            category: None,
            closed_date: "20 November 2026".into(),
            question: "Seberapa puas Anda?".into(),
            survey_url: "https://survey.example/s/abc".into(),
            rating_links: (1..=5)
                .map(|value| RatingLink {
                    value,
                    url: format!("https://survey.example/s/abc?r={value}"),
                })
                .collect(),
            unsubscribe_url: "https://survey.example/u/abc".into(),
        }
    }

    fn shipped() -> Renderer {
        Renderer::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")).unwrap()
    }

    #[test]
    fn shipped_templates_render_per_locale_with_html_escaped() {
        let r = shipped();
        assert_eq!(r.email_locales().collect::<Vec<_>>(), ["en", "id"]);
        let id = Locale::parse("id").unwrap();
        let m = r.email(&id, &id, &vars()).unwrap();
        assert_eq!(m.subject, "Bagaimana layanan kami bersama Sari & Co?");
        assert!(m.text.contains("Halo Budi <script>,"), "{}", m.text);
        assert!(m.html.contains("Halo Budi &lt;script&gt;,"), "{}", m.html);
        assert!(m.html.contains("Sari &amp; Co"));
        assert!(
            m.html
                .contains("href=\"https://survey.example/s/abc?r&#x3D;4\""),
            "{}",
            m.html
        );
        assert!(!m.text.contains("mengenai"), "no category, no clause");

        let en_gb = Locale::parse("en-GB").unwrap();
        let m = r.email(&en_gb, &id, &vars()).unwrap();
        assert!(m.text.starts_with("Hello Budi"), "{}", m.text);
        let fr = Locale::parse("fr").unwrap();
        assert!(r.email(&fr, &id, &vars()).unwrap().text.starts_with("Halo"));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("email/id");
        std::fs::create_dir_all(&id).unwrap();
        std::fs::write(id.join("subject.hbs"), "Halo {{customer_name}}").unwrap();
        std::fs::write(id.join("body.txt.hbs"), "a\nb {{#if x}} never closed\n").unwrap();
        let problems = Renderer::load(dir.path()).err().unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("body.txt.hbs: line"), "{problems:?}");
        assert!(problems[1].contains("body.html.hbs"), "{problems:?}");

        std::fs::write(id.join("body.txt.hbs"), "ok\n{{customer_nme}}\n").unwrap();
        std::fs::write(id.join("body.html.hbs"), "<p>{{survey_url}}</p>").unwrap();
        let r = Renderer::load(dir.path()).unwrap();
        let locale = Locale::parse("id").unwrap();
        let err = r.email(&locale, &locale, &vars()).unwrap_err();
        assert!(err.contains("email/id/body.txt.hbs: line 2:"), "{err}");
        assert!(err.contains("customer_nme"), "{err}");
    }
}
