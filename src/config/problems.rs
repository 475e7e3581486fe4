//! Configuration problems as sentences a person reads: where the value was set (a file by its
//! absolute path and line, or an environment variable), the key, the value as written, and
//! what is allowed.

use super::env::Override;
use crate::domain::Problem;
use figment::error::{Actual, Kind};
use std::path::{Path, PathBuf};

/// Where the layers came from, to place a problem: the file (its absolute path and text) and
/// the environment variables.
pub struct Sources<'a> {
    pub file: Option<(PathBuf, String)>,
    pub overrides: &'a [Override],
}

impl Sources<'_> {
    /// Names where `key` was set, and its value as written there.
    pub fn place(&self, figment: &figment::Figment, problem: Problem) -> Problem {
        let Some(key) = problem.key.clone() else {
            return problem;
        };
        // The key itself, else the nearest parent figment knows (a list's entries are not
        // keys of their own).
        let mut prefix = key.as_str();
        let metadata = loop {
            match figment.find_metadata(prefix) {
                Some(m) => break Some(m),
                None => match prefix.rsplit_once('.') {
                    Some((parent, _)) => prefix = parent,
                    None => break None,
                },
            }
        };
        self.place_from(metadata, problem)
    }

    /// Names where the problem's key was set, given the layer figment says set it.
    fn place_from(&self, metadata: Option<&figment::Metadata>, mut problem: Problem) -> Problem {
        let Some(key) = problem.key.clone() else {
            return problem;
        };
        if let Some(o) = self.overrides.iter().rev().find(|o| {
            let set = o.dotted();
            key == set || key.starts_with(&format!("{set}."))
        }) {
            problem.place = Some(format!("environment variable {}", o.variable));
            if problem.value.is_none() && o.dotted() == key && !is_secret(&key) {
                problem.value = written(&o.value);
            }
            return problem;
        }
        let source = metadata
            .and_then(|m| m.source.as_ref())
            .and_then(|s| s.file_path())
            .map(Path::to_owned);
        match (&self.file, source) {
            (Some((path, text)), Some(source)) if *path == source || source.ends_with(path) => {
                let (line, value) = locate(text, &key);
                problem.place = Some(match line {
                    Some(line) => format!("{}, line {line}", path.display()),
                    None => path.display().to_string(),
                });
                if problem.value.is_none() && !is_secret(&key) {
                    problem.value = value;
                }
            }
            _ => {
                let (line, value) = locate(super::DEFAULT_TOML, &key);
                problem.place = Some(match line {
                    Some(line) => {
                        format!("the built-in defaults (config/default.toml, line {line})")
                    }
                    None => "the built-in defaults".into(),
                });
                if problem.value.is_none() && !is_secret(&key) {
                    problem.value = value;
                }
            }
        }
        problem
    }

    /// One figment error as a placed problem.
    pub fn describe(&self, figment: &figment::Figment, error: figment::Error) -> Problem {
        let mut path = error.path.clone();
        let reason = match &error.kind {
            Kind::Message(message) => plain(message),
            Kind::InvalidType(actual, expected) => {
                format!("must be {}, not {}", plain(expected), actual_words(actual))
            }
            Kind::InvalidValue(_, expected) => format!("must be {}", plain(expected)),
            Kind::InvalidLength(n, expected) => {
                format!("has {n} entries; it must have {}", plain(expected))
            }
            Kind::UnknownVariant(_, allowed) => format!("must be {}", list(allowed, "or")),
            Kind::UnknownField(field, allowed) => {
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
                let suggestion = allowed
                    .iter()
                    .map(|a| (strsim::jaro_winkler(a, field), a))
                    .filter(|(score, _)| *score > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, a)| format!(" (did you mean {a}?)"))
                    .unwrap_or_default();
                let known = match &path[..path.len() - 1] {
                    [] => "the sections are".to_owned(),
                    parent => format!("the keys of [{}] are", parent.join(".")),
                };
                format!(
                    "is not a setting{suggestion}; {known} {}",
                    list(allowed, "and")
                )
            }
            Kind::MissingField(field) => {
                path.push(field.to_string());
                "is missing; it must be set".into()
            }
            Kind::DuplicateField(_) => "is set twice".into(),
            Kind::ISizeOutOfRange(n) => format!("{n} is out of range"),
            Kind::USizeOutOfRange(n) => format!("{n} is out of range"),
            Kind::Unsupported(actual) => format!("cannot be {}", actual_words(actual)),
            Kind::UnsupportedKey(actual, _) => {
                format!("has a key that is {}", actual_words(actual))
            }
        };
        if path.is_empty() {
            // A file that is not TOML at all: figment's message names its line.
            let place = error
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .and_then(|s| s.file_path())
                .map(|p| absolute(p).display().to_string());
            return Problem {
                place,
                key: None,
                value: None,
                reason,
            };
        }
        let mut problem = Problem::at(path.join("."), reason);
        if let Some(o) = self.overrides.iter().find(|o| o.dotted() == path.join(".")) {
            problem.place = Some(format!("environment variable {}", o.variable));
            if !is_secret(&path.join(".")) {
                problem.value = written(&o.value);
            }
            return problem;
        }
        if let Some(m) = &error.metadata
            && let Some(name) = m.name.strip_prefix(ENV_NAME)
        {
            problem.place = Some(format!("environment variable {name}"));
            return problem;
        }
        match &error.metadata {
            Some(metadata) => self.place_from(Some(metadata), problem),
            None => self.place(figment, problem),
        }
    }
}

/// How an environment variable's layer is named in figment's metadata.
pub const ENV_NAME: &str = "environment variable ";

/// A value from a variable as written.
fn written(value: &figment::value::Value) -> Option<String> {
    use figment::value::Value;
    Some(match value {
        Value::String(_, s) => format!("{s:?}"),
        Value::Num(_, n) => match (n.to_u128(), n.to_i128(), n.to_f64()) {
            (Some(u), _, _) => u.to_string(),
            (_, Some(i), _) => i.to_string(),
            (_, _, Some(f)) => f.to_string(),
            _ => return None,
        },
        Value::Bool(_, b) => b.to_string(),
        _ => return None,
    })
}

/// Keys whose values are never printed.
fn is_secret(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    [
        "password",
        "secret",
        "token",
        "auth_token",
        "access_token",
        "app_secret",
        "verify_token",
        "client_secret",
        "key",
        "sha256",
        "password_hash",
        "url",
        "value",
    ]
    .contains(&last)
        || key.contains(".fields.")
}

/// `path` made absolute against the working folder.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The line `key` is written on in a TOML text (its nearest written parent when the key itself
/// is not written), and the value as written when it is.
pub fn locate(text: &str, key: &str) -> (Option<usize>, Option<String>) {
    use toml::de::{DeTable, DeValue};
    let Ok(root) = DeTable::parse(text) else {
        return (None, None);
    };
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut line = None;
    let mut value: Option<&toml::Spanned<DeValue>> = None;
    let mut table = Some(root.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue>]> = None;
    for step in key.split('.') {
        let found = if let Some(t) = table {
            t.iter()
                .find(|(k, _)| k.get_ref().as_ref() == step)
                .map(|(k, v)| (k.span().start, v))
        } else if let (Some(items), Ok(i)) = (array, step.parse::<usize>()) {
            items.get(i).map(|v| (v.span().start, v))
        } else {
            None
        };
        let Some((at, v)) = found else {
            return (line, None);
        };
        line = Some(line_of(at));
        value = Some(v);
        (table, array) = match v.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(a.as_ref())),
            _ => (None, None),
        };
    }
    // A table's text is not a value anyone wrote on one line.
    let value = value.filter(|v| !matches!(v.get_ref(), DeValue::Table(_)));
    let written = value.map(|v| text[v.span()].trim().to_owned());
    (line, written.filter(|w| !w.is_empty() && !w.contains('\n')))
}

/// serde's words for types made plain: no Rust type names.
fn plain(expected: &str) -> String {
    let words: &[(&str, &str)] = &[
        ("a string", "text"),
        ("a borrowed string", "text"),
        ("a sequence", "a list"),
        ("a map", "a table"),
        ("a boolean", "true or false"),
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 up"),
        ("u64", "a whole number from 0 up"),
        ("usize", "a whole number from 0 up"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f64", "a number"),
        (
            "socket address",
            "an address and port such as \"127.0.0.1:8080\"",
        ),
    ];
    if let Some((_, plain)) = words.iter().find(|(serde, _)| *serde == expected) {
        return (*plain).to_owned();
    }
    if expected.starts_with("internally tagged enum ") {
        return "a table with a kind".into();
    }
    for (prefix, plain) in [
        ("struct ", "a table"),
        ("tuple struct ", "a table"),
        ("untagged enum ", "a table"),
        ("enum ", "text"),
    ] {
        if let Some(rest) = expected.strip_prefix(prefix)
            && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return plain.into();
        }
    }
    expected.to_owned()
}

fn actual_words(actual: &Actual) -> String {
    match actual {
        Actual::Bool(b) => format!("{b} (true or false)"),
        Actual::Unsigned(_) | Actual::Signed(_) => "a whole number".into(),
        Actual::Float(_) => "a number".into(),
        Actual::Char(_) | Actual::Str(_) => "text".into(),
        Actual::Bytes(_) => "bytes".into(),
        Actual::Unit => "empty".into(),
        Actual::Option => "optional".into(),
        Actual::Seq => "a list".into(),
        Actual::Map => "a table".into(),
        _ => "another kind of value".into(),
    }
}

/// `a, b and c` (or `a, b or c`).
fn list(words: &[&str], conjunction: &str) -> String {
    match words {
        [] => "nothing".into(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} {conjunction} {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_on_its_line_with_its_value() {
        let text =
            "# comment\n[http]\nlisten = 8080\n\n[[campaigns]]\nname = \"a\"\ndelay = \"2x\"\n";
        assert_eq!(
            locate(text, "http.listen"),
            (Some(3), Some("8080".to_owned()))
        );
        assert_eq!(
            locate(text, "campaigns.0.delay"),
            (Some(7), Some("\"2x\"".to_owned()))
        );
        // Not written: the nearest parent's line.
        assert_eq!(locate(text, "http.max_body_bytes"), (Some(2), None));
    }

    #[test]
    fn rust_type_names_are_not_shown() {
        assert_eq!(plain("struct RequestRate"), "a table");
        assert_eq!(plain("a string"), "text");
        assert!(!plain("internally tagged enum GatewayAuth").contains("enum"));
    }
}
