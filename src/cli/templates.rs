//! `surveyd templates check`: loads every questionnaire and template and renders each email,
//! chat message (SMS, WhatsApp) and page for every locale with sample data, reporting each
//! problem with its file (and line), and each SMS message's encoding and segments.

use crate::config::Settings;
use crate::domain::Locale;
use crate::domain::{MessageKind, SurveyChannel};
use crate::questionnaire::Questionnaire;
use crate::render::page::Pages;
use crate::render::{ChatVars, EmailKind, EmailVars, Invitee, QuestionVars, Renderer, SurveyLinks};
use crate::survey::{FormView, MESSAGE_PAGES};
use crate::templates::TemplateFiles;
use clap::Subcommand;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Render every template for every locale with sample data; list errors and warnings
    /// (such as a text missing in a locale) with file and line. Exit status 1 on any error.
    Check,
    /// Write the built-in questionnaires and templates into a new folder, to customise them:
    /// point `templates.dir` at it, and keep only the files you change (each replaces the
    /// built-in file of the same path).
    Export {
        /// The folder to write (created; existing files are never overwritten).
        dir: PathBuf,
    },
}

pub fn run(settings: Settings, command: TemplatesCommand) -> anyhow::Result<()> {
    match command {
        TemplatesCommand::Check => check(&settings),
        TemplatesCommand::Export { dir } => {
            let written = TemplateFiles::export(&dir).map_err(anyhow::Error::msg)?;
            println!(
                "{} files written to {}; set templates.dir = {:?} to use them",
                written.len(),
                std::path::absolute(&dir)?.display(),
                std::path::absolute(&dir)?.display().to_string()
            );
            Ok(())
        }
    }
}

fn check(settings: &Settings) -> anyhow::Result<()> {
    let files = settings.template_files()?;
    let fallback = &settings.defaults.locale;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    match files.overrides() {
        Some(dir) => println!(
            "built-in templates, overridden by the files of {}",
            std::path::absolute(dir)?.display()
        ),
        None => println!("built-in templates (no templates.dir)"),
    }

    let questionnaires = Questionnaire::load_all(&files, fallback).unwrap_or_else(|e| {
        errors.extend(e.iter().map(ToString::to_string));
        Vec::new()
    });
    for q in &questionnaires {
        warnings.extend(
            q.locale_gaps(fallback)
                .into_iter()
                .map(|gap| format!("{}: {gap}", q.place)),
        );
    }

    match Renderer::load(&files) {
        Err(problems) => errors.extend(problems),
        Ok(renderer) => {
            let mut rendered = 0;
            for q in &questionnaires {
                for tag in renderer.email_locales() {
                    let locale = Locale::parse(tag)?;
                    let vars = sample(q, &locale, fallback);
                    for kind in [EmailKind::Invitation, EmailKind::Reminder] {
                        match renderer.email(kind, &locale, fallback, &vars) {
                            Ok(_) => rendered += 1,
                            Err(e) => errors.push(e),
                        }
                    }
                }
            }
            if renderer.email_locale(fallback, fallback).is_none() {
                errors.push(format!(
                    "{}: no email templates for the default locale `{fallback}`",
                    files.place("email")
                ));
            }
            println!(
                "{} questionnaire(s), email templates for {}; {rendered} rendering(s) with sample data",
                questionnaires.len(),
                renderer.email_locales().collect::<Vec<_>>().join(", ")
            );
            for channel in [SurveyChannel::Sms, SurveyChannel::Whatsapp] {
                check_chat(
                    settings,
                    &renderer,
                    channel,
                    &questionnaires,
                    &mut errors,
                    &mut warnings,
                )?;
            }
        }
    }

    match Pages::load(&files) {
        Err(problems) => errors.extend(problems),
        Ok(pages) => {
            errors.extend(pages.missing_texts());
            let mut rendered = 0;
            let no_answers = HashMap::new();
            for tag in pages.locales() {
                for q in &questionnaires {
                    let form = FormView {
                        questionnaire: q,
                        page_locale: tag,
                        token: "SAMPLE",
                        values: &no_answers,
                        errors: &no_answers,
                        note: Some(pages.text(tag, "answered_before")),
                    };
                    match pages.survey(&form.page(&pages, fallback)) {
                        Ok(_) => rendered += 1,
                        Err(e) => errors.push(e),
                    }
                }
                for (name, action) in MESSAGE_PAGES {
                    match pages.message(tag, name, action.map(str::to_owned)) {
                        Ok(_) => rendered += 1,
                        Err(e) => errors.push(e),
                    }
                }
            }
            println!(
                "pages in {}; {rendered} rendering(s) with sample data",
                pages.locales().collect::<Vec<_>>().join(", ")
            );
        }
    }

    for warning in &warnings {
        println!("warning: {warning}");
    }
    for error in &errors {
        println!("error: {error}");
    }
    if errors.is_empty() {
        println!("ok: {} warning(s)", warnings.len());
        Ok(())
    } else {
        anyhow::bail!("{} error(s) in the templates", errors.len())
    }
}

/// Renders every chat message of `channel` for every locale and question with sample data;
/// for SMS, prints each message's encoding and segments (the largest over the questions) and
/// warns above `templates.sms_max_segments`. A campaign on a channel without templates is an
/// error.
fn check_chat(
    settings: &Settings,
    renderer: &Renderer,
    channel: SurveyChannel,
    questionnaires: &[Questionnaire],
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<()> {
    let fallback = &settings.defaults.locale;
    let files = settings.template_files()?;
    let folder = files.place(channel.as_str());
    let locales: Vec<String> = renderer
        .locales(channel.as_str())
        .map(str::to_owned)
        .collect();
    if locales.is_empty() {
        if settings
            .campaigns
            .iter()
            .any(|c| c.channels.contains(&channel))
        {
            errors.push(format!(
                "{}: no templates, but a campaign sends on {}",
                folder,
                channel.as_str()
            ));
        }
        return Ok(());
    }
    let invitee = sample_invitee();
    let mut rendered = 0;
    for tag in &locales {
        let locale = Locale::parse(tag)?;
        // Per message, the largest SMS it came to.
        let mut largest: std::collections::BTreeMap<&str, (crate::render::sms::SmsSize, String)> =
            Default::default();
        for q in questionnaires {
            let asked = |question: &crate::questionnaire::Question| {
                Some(QuestionVars::new(question, &locale, fallback))
            };
            let mut samples: Vec<(&str, Option<QuestionVars>, String)> = Vec::new();
            if let Some(first) = q.questions.first() {
                samples.push((MessageKind::Invite.as_str(), asked(first), first.id.clone()));
                samples.push((
                    MessageKind::Reminder.as_str(),
                    asked(first),
                    first.id.clone(),
                ));
            }
            for question in &q.questions {
                samples.push((
                    MessageKind::Question.as_str(),
                    asked(question),
                    question.id.clone(),
                ));
                samples.push((
                    MessageKind::Reask.as_str(),
                    asked(question),
                    question.id.clone(),
                ));
            }
            // The invitation and reminder of a one-way channel carry the link instead.
            for kind in [
                MessageKind::Thanks.as_str(),
                MessageKind::Closed.as_str(),
                MessageKind::OptOut.as_str(),
                MessageKind::OptIn.as_str(),
                "invite_link",
                "reminder_link",
            ] {
                samples.push((kind, None, String::new()));
            }
            for (kind, question, about) in samples {
                // A link as long as a real one: the public URL's host and a 22-character token.
                let vars = ChatVars::new(
                    &invitee,
                    &locale,
                    "https://surveys.example.co.id/s/Xq2fT8vLkP0aZr4sNw7yBc".into(),
                    question,
                );
                match renderer.chat(channel, kind, &locale, fallback, &vars) {
                    Ok(text) => {
                        rendered += 1;
                        let size = crate::render::sms::size(&text);
                        let entry = largest.entry(kind).or_insert((size, String::new()));
                        if size.segments > entry.0.segments || entry.1.is_empty() {
                            *entry = (size, format!("{} {about}", q.name));
                        }
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        if channel == SurveyChannel::Sms {
            for (kind, (size, about)) in &largest {
                let file = files.place(&format!("{}/{tag}/{kind}.hbs", channel.as_str()));
                println!(
                    "  {}: {} {} units, {} segment(s) (largest: {})",
                    file,
                    size.encoding.as_ref(),
                    size.units,
                    size.segments,
                    about.trim()
                );
                if size.segments > settings.templates.sms_max_segments {
                    warnings.push(format!(
                        "{}: {} segments with sample data ({} {} units; at most {} wanted)",
                        file,
                        size.segments,
                        size.units,
                        size.encoding.as_ref(),
                        settings.templates.sms_max_segments
                    ));
                }
            }
        }
    }
    println!(
        "{} templates for {}; {rendered} rendering(s) with sample data",
        channel.as_str(),
        locales.join(", ")
    );
    Ok(())
}

fn sample_invitee() -> Invitee<'static> {
    Invitee {
        customer_name: "Budi Santoso",
        agent_name: Some("Sari Wijaya"),
        category: Some("billing"),
        closed_at: chrono::DateTime::from_timestamp(1_795_000_000, 0).expect("a valid time"),
        time_zone: chrono_tz::Asia::Jakarta,
    }
}

/// Sample values for every variable a template may use.
fn sample(q: &Questionnaire, locale: &Locale, fallback: &Locale) -> EmailVars {
    let base: url::Url = "https://surveys.example.com".parse().expect("a valid URL");
    let invitee = sample_invitee();
    EmailVars::new(
        q,
        locale,
        fallback,
        &SurveyLinks::new(&base, "SAMPLE"),
        &invitee,
    )
}
