//! Messages from templates, one folder per channel and locale under `templates/`:
//! `email/{locale}/` holds the invitation's `subject.hbs`, `body.txt.hbs` and `body.html.hbs`
//! and the reminder's `reminder_subject.hbs`, `reminder_body.txt.hbs` and
//! `reminder_body.html.hbs`; `sms/{locale}/` and `whatsapp/{locale}/` hold one template per
//! chat message (`invite.hbs`, `reminder.hbs`, `question.hbs`, `reask.hbs`, `thanks.hbs`,
//! `closed.hbs`, `opt_out.hbs`, `opt_in.hbs`; WhatsApp also the button titles `yes.hbs`,
//! `no.hbs` and `choose.hbs`). All are rendered
//! with handlebars in strict mode (a variable that does not exist is an error, never an empty
//! string). Values in HTML bodies are HTML-escaped; everything else is left as it is.

pub mod page;
pub mod sms;
mod vars;

pub use vars::{
    ChatVars, EmailVars, Invitee, InviteeVars, OptionVars, QuestionVars, RatingLink, SurveyLinks,
    long_date,
};

use crate::templates::TemplateFiles;
use std::collections::{BTreeMap, BTreeSet};

use handlebars::Handlebars;

use crate::domain::Locale;
use crate::domain::SurveyChannel;

/// A channel's templates: its folder under `templates/` and the parts each locale has (the
/// channel's shared set, then its own).
struct Family {
    folder: &'static str,
    parts: &'static [(&'static str, Escape)],
    own: &'static [(&'static str, Escape)],
    /// Whether the folder must exist (a deployment without SMS may leave `sms/` out).
    required: bool,
}

impl Family {
    fn all_parts(&self) -> impl Iterator<Item = &(&'static str, Escape)> {
        self.parts.iter().chain(self.own)
    }
}

const EMAIL: Family = Family {
    folder: "email",
    parts: &[
        ("subject.hbs", Escape::None),
        ("body.txt.hbs", Escape::None),
        ("body.html.hbs", Escape::Html),
        ("reminder_subject.hbs", Escape::None),
        ("reminder_body.txt.hbs", Escape::None),
        ("reminder_body.html.hbs", Escape::Html),
    ],
    own: &[],
    required: true,
};

/// Which email a customer gets: the invitation, or a reminder of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    Invitation,
    Reminder,
}

impl EmailKind {
    /// What the names of its templates begin with.
    fn prefix(self) -> &'static str {
        match self {
            EmailKind::Invitation => "",
            EmailKind::Reminder => "reminder_",
        }
    }
}

/// The chat messages, one template each; `question.hbs` also makes the `prompt` that the
/// invitation and the re-ask include.
const CHAT_PARTS: &[(&str, Escape)] = &[
    ("invite.hbs", Escape::None),
    ("reminder.hbs", Escape::None),
    ("question.hbs", Escape::None),
    ("reask.hbs", Escape::None),
    ("thanks.hbs", Escape::None),
    ("closed.hbs", Escape::None),
    ("opt_out.hbs", Escape::None),
    ("opt_in.hbs", Escape::None),
    ("invite_link.hbs", Escape::None),
    ("reminder_link.hbs", Escape::None),
];

const FAMILIES: [Family; 3] = [
    EMAIL,
    Family {
        folder: "sms",
        parts: CHAT_PARTS,
        own: &[],
        required: false,
    },
    // WhatsApp also has the titles of the yes and no buttons and the label of the button that
    // opens a list.
    Family {
        folder: "whatsapp",
        parts: CHAT_PARTS,
        own: &[
            ("yes.hbs", Escape::None),
            ("no.hbs", Escape::None),
            ("choose.hbs", Escape::None),
        ],
        required: false,
    },
];

#[derive(Clone, Copy)]
enum Escape {
    None,
    Html,
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
    /// Per channel folder, the locales with a complete set of templates.
    locales: BTreeMap<&'static str, BTreeSet<String>>,
    files: TemplateFiles,
}

impl Renderer {
    /// Loads every message template; all problems are returned, each naming its file and,
    /// for a syntax error, the line.
    pub fn load(files: &TemplateFiles) -> Result<Renderer, Vec<String>> {
        let mut plain = Handlebars::new();
        plain.set_strict_mode(true);
        plain.register_escape_fn(handlebars::no_escape);
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut renderer = Renderer {
            plain,
            html,
            locales: BTreeMap::new(),
            files: files.clone(),
        };
        let mut problems = Vec::new();
        for family in &FAMILIES {
            renderer.load_family(family, &mut problems);
        }
        if problems.is_empty() {
            Ok(renderer)
        } else {
            Err(problems)
        }
    }

    fn load_family(&mut self, family: &Family, problems: &mut Vec<String>) {
        // The locale folders: `email/en/subject.hbs` is in `en`.
        let folders: BTreeSet<String> = self
            .files
            .list(family.folder)
            .iter()
            .filter_map(|path| {
                let mut parts = path.split('/').skip(1);
                let folder = parts.next()?;
                parts.next().map(|_| folder.to_owned())
            })
            .collect();
        if folders.is_empty() && family.required {
            return problems.push(format!("{}: no templates", self.files.place(family.folder)));
        }
        let complete = self.locales.entry(family.folder).or_default();
        for name in &folders {
            let place = || self.files.place(&format!("{}/{name}", family.folder));
            let locale = match Locale::parse(name) {
                Ok(locale) => locale,
                Err(e) => {
                    problems.push(format!("{}: not a locale folder: {e}", place()));
                    continue;
                }
            };
            let mut all_loaded = true;
            for (part, escape) in family.all_parts() {
                let path = format!("{}/{name}/{part}", family.folder);
                let registry = match escape {
                    Escape::None => &mut self.plain,
                    Escape::Html => &mut self.html,
                };
                let loaded = match self.files.read(&path) {
                    Ok(Some(file)) => registry
                        .register_template_string(&key(family.folder, &locale, part), file.text)
                        .map_err(|e| format!("{}: {}", file.place, describe_template_error(&e))),
                    Ok(None) => Err(format!(
                        "{}: missing (every locale folder needs all of the channel's messages)",
                        self.files.place(&path)
                    )),
                    Err(e) => Err(e),
                };
                if let Err(problem) = loaded {
                    problems.push(problem);
                    all_loaded = false;
                }
            }
            if all_loaded {
                complete.insert(locale.to_string());
            }
        }
    }

    /// The locales that have a complete set of templates in a channel's folder.
    pub fn locales(&self, folder: &str) -> impl Iterator<Item = &str> {
        self.locales
            .get(folder)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// The locales that have email templates.
    pub fn email_locales(&self) -> impl Iterator<Item = &str> {
        self.locales(EMAIL.folder)
    }

    /// The template locale used for `locale` in a channel's folder: its exact tag, its
    /// language, else `fallback`.
    fn locale_in(
        &self,
        folder: &str,
        locale: &Locale,
        fallback: &Locale,
    ) -> Result<Locale, String> {
        let known = self.locales.get(folder);
        [locale.as_str(), locale.language(), fallback.as_str()]
            .into_iter()
            .find(|l| known.is_some_and(|k| k.contains(*l)))
            .and_then(|l| Locale::parse(l).ok())
            .ok_or_else(|| {
                format!(
                    "{}: no templates for `{locale}` nor the default `{fallback}`",
                    self.files.place(folder)
                )
            })
    }

    /// The email template locale used for `locale`.
    pub fn email_locale(&self, locale: &Locale, fallback: &Locale) -> Option<String> {
        self.locale_in(EMAIL.folder, locale, fallback)
            .ok()
            .map(|l| l.to_string())
    }

    /// Renders one part with `data`; an error names the file and line.
    fn render(
        &self,
        folder: &str,
        locale: &Locale,
        part: &str,
        escape: Escape,
        data: &handlebars::Context,
    ) -> Result<String, String> {
        let registry = match escape {
            Escape::None => &self.plain,
            Escape::Html => &self.html,
        };
        registry
            .render_with_context(&key(folder, locale, part), data)
            .map_err(|e| {
                let place = self
                    .files
                    .place(&format!("{folder}/{}/{part}", locale.as_str()));
                match e.line_no {
                    Some(line) => format!("{place}: line {line}: {}", e.reason()),
                    None => format!("{place}: {}", e.reason()),
                }
            })
    }

    /// Renders the invitation email, or its reminder, for a customer of `locale`.
    pub fn email(
        &self,
        kind: EmailKind,
        locale: &Locale,
        fallback: &Locale,
        vars: &EmailVars,
    ) -> Result<EmailMessage, String> {
        let chosen = self.locale_in(EMAIL.folder, locale, fallback)?;
        // The variables turned into template data once for the three parts.
        let data = handlebars::Context::wraps(vars).map_err(|e| e.to_string())?;
        let render = |part: &str, escape: Escape| {
            let part = format!("{}{part}", kind.prefix());
            self.render(EMAIL.folder, &chosen, &part, escape, &data)
        };
        Ok(EmailMessage {
            subject: render("subject.hbs", Escape::None)?.trim().to_owned(),
            text: render("body.txt.hbs", Escape::None)?,
            html: render("body.html.hbs", Escape::Html)?,
        })
    }

    /// Renders chat message `kind` (`invite`, `reminder`, `question`, `reask`, `thanks`,
    /// `closed`, `opt_out`, `opt_in`; on WhatsApp also the button titles `yes`, `no` and
    /// `choose`) on `channel` (SMS or WhatsApp) for a customer of `locale`. The question's
    /// prompt (from `question.hbs`) is made first and handed to the others.
    pub fn chat(
        &self,
        channel: SurveyChannel,
        kind: &str,
        locale: &Locale,
        fallback: &Locale,
        vars: &ChatVars,
    ) -> Result<String, String> {
        let folder = channel.as_str();
        let family = FAMILIES
            .iter()
            .find(|f| f.folder == folder)
            .ok_or_else(|| format!("no chat templates for {folder}"))?;
        let part = family
            .all_parts()
            .map(|(part, _)| *part)
            .find(|part| part.strip_suffix(".hbs") == Some(kind))
            .ok_or_else(|| format!("no chat message `{kind}`"))?;
        let chosen = self.locale_in(folder, locale, fallback)?;
        let mut vars = vars.clone();
        if vars.question.is_some() {
            let data = handlebars::Context::wraps(&vars).map_err(|e| e.to_string())?;
            vars.prompt = self
                .render(folder, &chosen, "question.hbs", Escape::None, &data)?
                .trim()
                .to_owned();
        }
        let data = handlebars::Context::wraps(&vars).map_err(|e| e.to_string())?;
        Ok(self
            .render(folder, &chosen, part, Escape::None, &data)?
            .trim()
            .to_owned())
    }
}

fn key(folder: &str, locale: &Locale, part: &str) -> String {
    format!("{folder}/{locale}/{part}")
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
    use crate::questionnaire::Questionnaire;

    fn vars() -> EmailVars {
        EmailVars {
            invitee: InviteeVars {
                customer_name: "Budi <script>".into(),
                agent_name: Some("Sari & Co".into()),
                category: None,
                closed_date: "20 November 2026".into(),
            },
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
        Renderer::load(&TemplateFiles::built_in()).unwrap()
    }

    #[test]
    fn shipped_templates_render_per_locale_with_html_escaped() {
        let r = shipped();
        assert_eq!(r.email_locales().collect::<Vec<_>>(), ["en", "id"]);
        let id = Locale::parse("id").unwrap();
        let m = r.email(EmailKind::Invitation, &id, &id, &vars()).unwrap();
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
        let m = r
            .email(EmailKind::Invitation, &en_gb, &id, &vars())
            .unwrap();
        assert!(m.text.starts_with("Hello Budi"), "{}", m.text);
        let fr = Locale::parse("fr").unwrap();
        assert!(
            r.email(EmailKind::Invitation, &fr, &id, &vars())
                .unwrap()
                .text
                .starts_with("Halo")
        );

        // A reminder has its own words, with the same links.
        let m = r.email(EmailKind::Reminder, &id, &id, &vars()).unwrap();
        assert_eq!(
            m.subject,
            "Sekadar mengingatkan: bagaimana layanan kami bersama Sari & Co?"
        );
        assert!(
            m.text.contains("Kami belum menerima jawaban Anda"),
            "{}",
            m.text
        );
        assert!(
            m.text.contains("5: https://survey.example/s/abc?r=5"),
            "{}",
            m.text
        );
        assert!(m.html.contains("Halo Budi &lt;script&gt;,"), "{}", m.html);
        let m = r.email(EmailKind::Reminder, &en_gb, &id, &vars()).unwrap();
        assert!(m.subject.starts_with("A quick reminder"), "{}", m.subject);
    }

    #[test]
    fn chat_messages_carry_the_question_and_how_to_answer() {
        let r = shipped();
        let id = Locale::parse("id").unwrap();
        let en = Locale::parse("en").unwrap();
        let questionnaire = Questionnaire::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("templates/questionnaires/post-contact.toml"),
            &id,
        )
        .unwrap();
        let invitee = Invitee {
            customer_name: "Dewi",
            agent_name: None,
            category: Some("tagihan"),
            closed_at: "2026-11-20T01:00:00Z".parse().unwrap(),
            time_zone: chrono_tz::Asia::Jakarta,
        };
        let ask = |q: usize, locale: &Locale| {
            ChatVars::new(
                &invitee,
                locale,
                "https://s.example/s/t".into(),
                Some(QuestionVars::new(&questionnaire.questions[q], locale, &id)),
            )
        };
        let invite = r
            .chat(SurveyChannel::Sms, "invite", &id, &id, &ask(0, &id))
            .unwrap();
        assert_eq!(
            invite,
            "Halo Dewi, terima kasih telah menghubungi kami soal tagihan. Seberapa puas Anda dengan \
             layanan yang Anda terima? (1 = sangat tidak puas, 5 = sangat puas) Balas 1-5. \
             Balas STOP untuk berhenti."
        );
        let resolved = r
            .chat(SurveyChannel::Sms, "reask", &en, &id, &ask(1, &en))
            .unwrap();
        assert_eq!(
            resolved,
            "Sorry, we did not understand your answer. Was your issue resolved on this contact? \
             Reply YES or NO."
        );
        let comment = r
            .chat(SurveyChannel::Whatsapp, "question", &id, &id, &ask(2, &id))
            .unwrap();
        assert!(comment.ends_with("(Balas - untuk melewati)"), "{comment}");
        let thanks = ChatVars::new(&invitee, &id, String::new(), None);
        let text = r
            .chat(SurveyChannel::Sms, "thanks", &id, &id, &thanks)
            .unwrap();
        assert!(text.starts_with("Terima kasih, Dewi!"), "{text}");
        assert!(
            r.chat(SurveyChannel::Sms, "nonsense", &id, &id, &thanks)
                .is_err()
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        // A locale the built-in templates lack, so the folder holds all there is of it.
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("email/ms");
        std::fs::create_dir_all(&id).unwrap();
        let files = TemplateFiles::with_overrides(Some(dir.path())).unwrap();
        std::fs::write(id.join("subject.hbs"), "Halo {{customer_name}}").unwrap();
        std::fs::write(id.join("body.txt.hbs"), "a\nb {{#if x}} never closed\n").unwrap();
        for part in ["subject", "body.txt", "body.html"] {
            std::fs::write(id.join(format!("reminder_{part}.hbs")), "{{survey_url}}").unwrap();
        }
        let problems = Renderer::load(&files).err().unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("body.txt.hbs: line"), "{problems:?}");
        assert!(problems[1].contains("body.html.hbs"), "{problems:?}");

        std::fs::write(id.join("body.txt.hbs"), "ok\n{{customer_nme}}\n").unwrap();
        std::fs::write(id.join("body.html.hbs"), "<p>{{survey_url}}</p>").unwrap();
        let r = Renderer::load(&files).unwrap();
        let locale = Locale::parse("ms").unwrap();
        let err = r
            .email(EmailKind::Invitation, &locale, &locale, &vars())
            .unwrap_err();
        assert!(err.contains("email/ms/body.txt.hbs: line 2:"), "{err}");
        assert!(err.contains("customer_nme"), "{err}");
    }
}
