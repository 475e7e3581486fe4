//! What approved chat templates share, on Meta's Cloud API and on Twilio's Content API alike:
//! the template's language (or content) for the customer's locale, and its parameters' values —
//! one line each, never empty (both providers refuse an empty parameter).

use std::collections::BTreeMap;

/// The entry of `by_locale` for `locale` (`en-GB`): the locale itself, else its language
/// (`en`). Keys are compared without regard to case or `-`/`_`.
pub fn for_locale<'a>(by_locale: &'a BTreeMap<String, String>, locale: &str) -> Option<&'a str> {
    let same = |key: &str, wanted: &str| key.replace('_', "-").eq_ignore_ascii_case(wanted);
    let language = locale.split(['-', '_']).next().unwrap_or(locale);
    by_locale
        .iter()
        .find(|(key, _)| same(key, locale))
        .or_else(|| by_locale.iter().find(|(key, _)| same(key, language)))
        .map(|(_, value)| value.as_str())
}

/// The values of a template's `parameters` (chat variables by name) from `vars` (the
/// message's variables as JSON), each on one line with single spaces (Meta refuses a line
/// break, a tab or four spaces in a row); an empty one takes its value from `fallbacks`, and
/// without one the template cannot be sent (the error names the parameter).
pub fn values(
    template: &str,
    parameters: &[String],
    fallbacks: &BTreeMap<String, String>,
    vars: &serde_json::Value,
) -> Result<Vec<String>, String> {
    parameters
        .iter()
        .map(|name| {
            let clean = |text: &str| {
                crate::domain::single_line(text)
                    .split(' ')
                    .filter(|word| !word.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let value = clean(vars[name.as_str()].as_str().unwrap_or_default());
            if !value.is_empty() {
                return Ok(value);
            }
            match fallbacks.get(name).map(|text| clean(text)) {
                Some(fallback) if !fallback.is_empty() => Ok(fallback),
                _ => Err(format!(
                    "template `{template}`: parameter `{name}` is empty for this customer and has \
                     no fallback (set it in the template's `fallbacks`, e.g. {{ {name} = \"…\" }})"
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locale_finds_its_own_entry_then_its_language() {
        let table: BTreeMap<String, String> = [("id", "id"), ("en", "en_US"), ("en_GB", "en_GB")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        assert_eq!(for_locale(&table, "en-GB"), Some("en_GB"));
        assert_eq!(for_locale(&table, "en-AU"), Some("en_US"));
        assert_eq!(for_locale(&table, "id-ID"), Some("id"));
        assert_eq!(for_locale(&table, "ms"), None);
    }

    #[test]
    fn an_empty_parameter_takes_its_fallback_or_is_refused_by_name() {
        let vars = serde_json::json!({"customer_name": "Budi\nSantoso", "agent_name": "  "});
        let names = ["customer_name".to_owned(), "agent_name".to_owned()];
        let none = BTreeMap::new();
        let error = values("survey_invite", &names, &none, &vars).unwrap_err();
        assert!(error.contains("`agent_name`"), "{error}");
        let fallbacks = [("agent_name".to_owned(), "tim kami".to_owned())].into();
        assert_eq!(
            values("survey_invite", &names, &fallbacks, &vars).unwrap(),
            ["Budi Santoso", "tim kami"]
        );
    }
}
