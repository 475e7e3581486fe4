//! `surveyd templates check`: loads every questionnaire and template and renders each email
//! and page for every locale with sample data, reporting each problem with its file (and
//! line).

use crate::config::Settings;
use crate::domain::Locale;
use crate::questionnaire::Questionnaire;
use crate::render::page::Pages;
use crate::render::{EmailVars, Invitee, Renderer, SurveyLinks};
use crate::survey::{FormView, MESSAGE_PAGES};
use clap::Subcommand;
use std::collections::HashMap;

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Render every template for every locale with sample data; list errors and warnings
    /// (such as a text missing in a locale) with file and line. Exit status 1 on any error.
    Check,
}

pub fn run(settings: Settings, command: TemplatesCommand) -> anyhow::Result<()> {
    match command {
        TemplatesCommand::Check => check(&settings),
    }
}

fn check(settings: &Settings) -> anyhow::Result<()> {
    let dir = &settings.templates.dir;
    let fallback = &settings.defaults.locale;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let questionnaires = Questionnaire::load_dir(&dir.join("questionnaires"), fallback)
        .unwrap_or_else(|e| {
            errors.extend(e.iter().map(ToString::to_string));
            Vec::new()
        });
    for q in &questionnaires {
        warnings.extend(
            q.locale_gaps(fallback)
                .into_iter()
                .map(|gap| format!("{}: {gap}", q.path.display())),
        );
    }

    match Renderer::load(dir) {
        Err(problems) => errors.extend(problems),
        Ok(renderer) => {
            let mut rendered = 0;
            for q in &questionnaires {
                for tag in renderer.email_locales() {
                    let locale = Locale::parse(tag)?;
                    match renderer.email(&locale, fallback, &sample(q, &locale, fallback)) {
                        Ok(_) => rendered += 1,
                        Err(e) => errors.push(e),
                    }
                }
            }
            if renderer.email_locale(fallback, fallback).is_none() {
                errors.push(format!(
                    "{}: no email templates for the default locale `{fallback}`",
                    dir.join("email").display()
                ));
            }
            println!(
                "{} questionnaire(s), email templates for {}; {rendered} rendering(s) with sample data",
                questionnaires.len(),
                renderer.email_locales().collect::<Vec<_>>().join(", ")
            );
        }
    }

    match Pages::load(dir) {
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

/// Sample values for every variable a template may use.
fn sample(q: &Questionnaire, locale: &Locale, fallback: &Locale) -> EmailVars {
    let base: url::Url = "https://surveys.example.com".parse().expect("a valid URL");
    let invitee = Invitee {
        customer_name: "Budi Santoso",
        agent_name: Some("Sari Wijaya"),
        category: Some("billing"),
        closed_at: chrono::DateTime::from_timestamp(1_795_000_000, 0).expect("a valid time"),
        time_zone: chrono_tz::Asia::Jakarta,
    };
    EmailVars::new(
        q,
        locale,
        fallback,
        &SurveyLinks::new(&base, "SAMPLE"),
        &invitee,
    )
}
