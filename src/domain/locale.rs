//! A customer's language, as a canonical BCP 47 tag (`id`, `en`, `en-GB`).

use super::{ParseError, text_value};
use unic_langid::LanguageIdentifier;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Locale(String);

impl Locale {
    /// Accepts `id`, `EN`, `en_GB`, `en-gb`; gives the canonical tag (`en-GB`).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        let tag: LanguageIdentifier = trimmed.replace('_', "-").parse().map_err(|_| {
            ParseError(format!(
                "`{trimmed}` is not a language tag such as `id` or `en`"
            ))
        })?;
        if tag.language.is_empty() {
            return Err(ParseError(format!("`{trimmed}` names no language")));
        }
        Ok(Locale(tag.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language part alone (`en` for `en-GB`), the fallback when a template lacks a region.
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

text_value!(Locale);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(Locale::parse("ID").unwrap().as_str(), "id");
        assert_eq!(Locale::parse("en_gb").unwrap().as_str(), "en-GB");
        assert_eq!(Locale::parse("en-GB").unwrap().language(), "en");
    }

    #[test]
    fn refuses_non_tags() {
        for bad in ["", "indonesian language", "e", "12"] {
            assert!(Locale::parse(bad).is_err(), "{bad}");
        }
    }
}
