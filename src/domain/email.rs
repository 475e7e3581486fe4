//! An email address, checked by lettre's `Address` parser (the one the mailer will use), with
//! a domain that can be reached on the internet: one with a dot (`ani@example` is a typo).

use super::{ParseError, text_value};

/// A syntactically valid email address with a dotted domain, trimmed; the domain part is
/// lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let email = Self::parse_syntax(input)?;
        let domain = email.domain();
        if domain.starts_with('[') {
            return Ok(email); // an address literal, `user@[192.0.2.1]`
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return Err(ParseError(format!(
                "`{}` is not a valid email address (its domain `{domain}` needs a dot between \
                 non-empty parts, such as example.com)",
                email.0
            )));
        }
        Ok(email)
    }

    /// An address as stored: the syntax checked, not the dotted domain (addresses stored
    /// before that check stay readable).
    pub fn parse_stored(input: &str) -> Result<Self, ParseError> {
        Self::parse_syntax(input)
    }

    fn parse_syntax(input: &str) -> Result<Self, ParseError> {
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

    fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
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
        assert!(Email::parse("ani@[192.0.2.1]").is_ok());
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["", "budi", "budi@", "@example.com", "a b@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn refuses_a_domain_without_a_dot() {
        let err = Email::parse("ani@example").unwrap_err().0;
        assert_eq!(
            err,
            "`ani@example` is not a valid email address (its domain `example` needs a dot \
             between non-empty parts, such as example.com)"
        );
        for bad in [
            "ani@localhost",
            "ani@example.",
            "ani@.example",
            "ani@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
        // Stored addresses are read back as they were accepted.
        assert_eq!(
            Email::parse_stored("care@localhost").unwrap().as_str(),
            "care@localhost"
        );
    }
}
