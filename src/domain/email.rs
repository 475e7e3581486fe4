//! An email address, checked by lettre's `Address` parser (the one the mailer will use).

use super::{ParseError, text_value};

/// A syntactically valid email address, trimmed; the domain part is lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        let address: lettre::Address = trimmed
            .parse()
            .map_err(|e| ParseError(format!("`{trimmed}` is not a valid email address ({e})")))?;
        Ok(Email(format!(
            "{}@{}",
            address.user(),
            address.domain().to_ascii_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_domain() {
        let e = Email::parse("  Budi.Santoso@Example.CO.ID ").unwrap();
        assert_eq!(e.as_str(), "Budi.Santoso@example.co.id");
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["", "budi", "budi@", "@example.com", "a b@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
