//! The cleaning every record's text goes through before a column's parser sees it (the
//! rules are in the parent module's documentation): NUL refused, one-line text, multi-line
//! attribute text, attributes and JSON values cleaned throughout.

use super::{Column, FieldError};
use crate::domain::ParseError;
use std::borrow::Cow;

/// Refuses text holding NUL.
fn refuse_nul(text: &str) -> Result<(), ParseError> {
    match text.chars().position(|c| c == '\0') {
        Some(at) => Err(ParseError(format!(
            "contains a NUL character (character {}), which cannot be stored",
            at + 1
        ))),
        None => Ok(()),
    }
}

/// Text made one line ([`crate::domain::single_line`]); NUL refused.
pub(super) fn single_line(text: &str) -> Result<Cow<'_, str>, ParseError> {
    refuse_nul(text)?;
    Ok(crate::domain::single_line(text))
}

/// Text that may span lines (see the module's documentation); NUL refused.
pub(super) fn multi_line(text: &str) -> Result<Cow<'_, str>, ParseError> {
    refuse_nul(text)?;
    let text = text.trim();
    if !text.contains(|c| crate::domain::is_break(c) && c != '\n' && c != '\t') {
        return Ok(Cow::Borrowed(text));
    }
    let mut lines = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                lines.push('\n');
            }
            '\u{85}' | '\u{2028}' | '\u{2029}' => lines.push('\n'),
            '\n' | '\t' => lines.push(c),
            c if crate::domain::is_break(c) => lines.push(' '),
            c => lines.push(c),
        }
    }
    Ok(Cow::Owned(lines))
}

/// The free attributes cleaned: names one line, text as [`multi_line`]; an attribute holding
/// NUL is named in `errors`.
pub(super) fn clean_attributes(
    attributes: &serde_json::Map<String, serde_json::Value>,
    errors: &mut Vec<FieldError>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut clean = serde_json::Map::new();
    for (name, value) in attributes {
        match single_line(name)
            .map_err(|e| ParseError(format!("its name {e}")))
            .and_then(|clean_name| Ok((clean_name.into_owned(), clean_json(value)?)))
        {
            Ok((name, value)) => {
                clean.insert(name, value);
            }
            Err(e) => errors.push(FieldError::new(Column::attribute(name), e.0)),
        }
    }
    clean
}

/// A JSON value with its text cleaned: strings as [`multi_line`], object keys one line.
fn clean_json(value: &serde_json::Value) -> Result<serde_json::Value, ParseError> {
    use serde_json::Value;
    Ok(match value {
        Value::String(text) => Value::String(multi_line(text)?.into_owned()),
        Value::Array(items) => {
            Value::Array(items.iter().map(clean_json).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| Ok((single_line(key)?.into_owned(), clean_json(value)?)))
                .collect::<Result<_, ParseError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_text_loses_its_breaks_and_control_characters() {
        for (given, kept) in [
            ("Budi Santoso", "Budi Santoso"),
            ("  Budi  Santoso ", "Budi  Santoso"),
            ("Budi\nSantoso", "Budi Santoso"),
            ("Budi \r\n Santoso\r\n", "Budi Santoso"),
            ("Budi\tSantoso", "Budi Santoso"),
            ("Budi\u{2028}\u{2029}Santoso", "Budi Santoso"),
            ("Budi\u{85}Santoso\u{7f}", "Budi Santoso"),
            ("\u{1}\u{1b}[31mBudi", "[31mBudi"),
            ("\r\n", ""),
        ] {
            assert_eq!(single_line(given).unwrap(), kept, "{given:?}");
        }
        let err = single_line("Bu\0di").unwrap_err().0;
        assert_eq!(
            err,
            "contains a NUL character (character 3), which cannot be stored"
        );
    }

    #[test]
    fn multi_line_text_keeps_its_breaks_as_lf() {
        assert_eq!(
            multi_line(" first\r\nsecond\rthird\u{2028}fourth\u{85}fifth\n\tsixth\u{7}! ").unwrap(),
            "first\nsecond\nthird\nfourth\nfifth\n\tsixth !"
        );
        assert!(multi_line("a\0").is_err());
    }
}
