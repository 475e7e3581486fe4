//! Web pages from `templates/page/`: `layout.hbs` (the frame, with its inline style: pages
//! load nothing from elsewhere), `survey.hbs` (the questionnaire form) and `message.hbs` (a
//! heading, a sentence and maybe one button), with their words per locale in
//! `templates/page/text/{locale}.toml`. Rendered in strict mode, every value HTML-escaped.

use crate::domain::Locale;
use crate::templates::TemplateFiles;
use handlebars::Handlebars;
use serde::Serialize;
use std::collections::BTreeMap;

const PAGES: [&str; 3] = ["layout", "survey", "message"];

/// The loaded page templates and words.
pub struct Pages {
    registry: Handlebars<'static>,
    /// Words per locale tag.
    texts: BTreeMap<String, serde_json::Value>,
    files: TemplateFiles,
}

/// A page with a heading, a sentence, and optionally a button posting to `action`.
#[derive(Debug, Serialize)]
pub struct MessagePage<'a> {
    pub lang: &'a str,
    pub heading: String,
    pub body: String,
    pub button: Option<String>,
    pub action: Option<String>,
}

/// The questionnaire form.
#[derive(Debug, Serialize)]
pub struct SurveyPage<'a> {
    pub lang: &'a str,
    pub t: &'a serde_json::Value,
    pub heading: String,
    pub note: Option<String>,
    /// Whether some answers were refused (the page then opens with a summary).
    pub errors: bool,
    pub action: String,
    pub questions: Vec<QuestionField>,
}

/// One question on the form: radio options, or a text box when `options` is `None`.
#[derive(Debug, Serialize)]
pub struct QuestionField {
    pub id: String,
    pub text: String,
    pub optional: bool,
    pub options: Option<Vec<OptionField>>,
    /// What the text box holds.
    pub value: String,
    pub max_length: usize,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OptionField {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

impl Pages {
    /// Loads the templates and the words of every locale; every problem is returned, each
    /// naming its file.
    pub fn load(files: &TemplateFiles) -> Result<Pages, Vec<String>> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        let mut problems = Vec::new();
        for name in PAGES {
            let path = format!("page/{name}.hbs");
            let result = match files.read(&path) {
                Ok(Some(file)) => registry
                    .register_template_string(name, file.text)
                    .map_err(|e| format!("{}: {}", file.place, super::describe_template_error(&e))),
                Ok(None) => Err(format!("{}: missing", files.place(&path))),
                Err(e) => Err(e),
            };
            if let Err(problem) = result {
                problems.push(problem);
            }
        }
        let mut texts = BTreeMap::new();
        for path in files.list("page/text") {
            let Some(stem) = path
                .strip_prefix("page/text/")
                .and_then(|n| n.strip_suffix(".toml"))
            else {
                continue;
            };
            let place = files.place(&path);
            let loaded = Locale::parse(stem)
                .map_err(|e| format!("the file name is not a locale: {e}"))
                .and_then(|locale| {
                    let source = match files.read(&path)? {
                        Some(file) => file.text,
                        None => return Err("missing".into()),
                    };
                    let table: toml::Table = toml::from_str(&source).map_err(|e| {
                        let line = e
                            .span()
                            .map(|s| source[..s.start].lines().count().max(1))
                            .map(|l| format!("line {l}: "))
                            .unwrap_or_default();
                        format!("{line}{}", e.message())
                    })?;
                    let value = serde_json::to_value(table).map_err(|e| e.to_string())?;
                    Ok((locale.as_str().to_owned(), value))
                });
            match loaded {
                Ok((locale, value)) => {
                    texts.insert(locale, value);
                }
                Err(reason) => problems.push(format!("{place}: {reason}")),
            }
        }
        if texts.is_empty() && problems.is_empty() {
            problems.push(format!(
                "{}: no locale files (e.g. en.toml)",
                files.place("page/text")
            ));
        }
        if problems.is_empty() {
            Ok(Pages {
                registry,
                texts,
                files: files.clone(),
            })
        } else {
            Err(problems)
        }
    }

    /// The locales pages have words for.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.texts.keys().map(String::as_str)
    }

    /// Words some locale has and another lacks, one line per gap, for `templates check`.
    pub fn missing_texts(&self) -> Vec<String> {
        let all: std::collections::BTreeSet<&str> = self
            .texts
            .values()
            .filter_map(|v| v.as_object())
            .flat_map(|o| o.keys().map(String::as_str))
            .collect();
        let mut gaps = Vec::new();
        for (locale, words) in &self.texts {
            for key in &all {
                if words.get(key).and_then(|v| v.as_str()).is_none() {
                    gaps.push(format!(
                        "{}: `{key}` is missing",
                        self.files.place(&format!("page/text/{locale}.toml"))
                    ));
                }
            }
        }
        gaps
    }

    /// The locale a page is shown in for `locale`: its exact tag, its language, `fallback`,
    /// else the first one there is.
    pub fn locale(&self, locale: &Locale, fallback: &Locale) -> &str {
        [locale.as_str(), locale.language(), fallback.as_str()]
            .into_iter()
            .find_map(|l| self.texts.get_key_value(l).map(|(k, _)| k.as_str()))
            .or_else(|| self.texts.keys().next().map(String::as_str))
            .unwrap_or("en")
    }

    /// All the words of a page locale (as given by [`Pages::locale`]).
    pub fn texts(&self, page_locale: &str) -> &serde_json::Value {
        static EMPTY: serde_json::Value = serde_json::Value::Null;
        self.texts.get(page_locale).unwrap_or(&EMPTY)
    }

    /// One word of a page locale; a missing one is named in its place (`templates check`
    /// reports it).
    pub fn text(&self, page_locale: &str, key: &str) -> String {
        self.texts(page_locale)
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("[{key}]"))
    }

    /// A message page with the heading `{name}_heading` and body `{name}_body` of the locale,
    /// and a button `{name}_button` when `action` is given.
    pub fn message(
        &self,
        page_locale: &str,
        name: &str,
        action: Option<String>,
    ) -> Result<String, String> {
        let page = MessagePage {
            lang: page_locale,
            heading: self.text(page_locale, &format!("{name}_heading")),
            body: self.text(page_locale, &format!("{name}_body")),
            button: action
                .as_ref()
                .map(|_| self.text(page_locale, &format!("{name}_button"))),
            action,
        };
        self.render("message", &page)
    }

    pub fn survey(&self, page: &SurveyPage<'_>) -> Result<String, String> {
        self.render("survey", page)
    }

    fn render<T: Serialize>(&self, name: &str, data: &T) -> Result<String, String> {
        self.registry.render(name, data).map_err(|e| {
            let place = self.files.place(&format!("page/{name}.hbs"));
            match e.line_no {
                Some(line) => format!("{place}: line {line}: {}", e.reason()),
                None => format!("{place}: {}", e.reason()),
            }
        })
    }
}
