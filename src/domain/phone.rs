//! A phone number in E.164 form, parsed with the `phonenumber` crate (libphonenumber's data).

use super::{ParseError, text_value};
use phonenumber::country;
use serde::{Deserialize, Serialize};

/// A valid phone number, held as E.164 text (`+6281234567890`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Parses a number written the way customers and helpdesks write them. Numbers without a
    /// `+` are read in `region` (`0812…` and `62812…` are both Indonesian numbers when the
    /// region is `ID`); a leading `00` is the international prefix.
    pub fn parse_in(input: &str, region: country::Id) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        let invalid = || ParseError(format!("`{trimmed}` is not a valid phone number"));
        if trimmed.is_empty() {
            return Err(invalid());
        }
        let international;
        let text = match trimmed.strip_prefix("00") {
            Some(rest) => {
                international = format!("+{rest}");
                international.as_str()
            }
            None => trimmed,
        };
        let number = phonenumber::parse(Some(region), text).map_err(|_| invalid())?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid());
        }
        // E.164 is `+`, the country code, the national number's leading zeros, then its
        // digits; written out directly, which is cheaper than the crate's formatter.
        let national = number.national();
        Ok(Phone(format!(
            "+{}{}{}",
            number.code().value(),
            "0".repeat(usize::from(national.zeros())),
            national.value()
        )))
    }

    /// Parses an international number (`+…` or `00…`); used where no region applies.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let trimmed = input.trim();
        if !(trimmed.starts_with('+') || trimmed.starts_with("00")) {
            return Err(ParseError(format!(
                "`{trimmed}` is not an international phone number (it must start with + or 00)"
            )));
        }
        Self::parse_in(trimmed, country::Id::ID)
    }

    /// The E.164 text, with the leading `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The national number's digits (`81234567890` of `+6281234567890`): what every way of
    /// writing the number contains (`0812…`, `62812…`, `%2B62812…`).
    pub fn national_digits(&self) -> Option<String> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        Some(number.national().to_string())
    }
}

text_value!(Phone);

/// Parses an ISO 3166 country code (`ID`, `SG`) as a phone-number region.
pub fn parse_region(code: &str) -> Result<country::Id, ParseError> {
    code.trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| ParseError(format!("`{code}` is not an ISO 3166 country code")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indonesian_forms_become_e164() {
        for input in [
            "081234567890",
            "0812-3456-7890",
            "6281234567890",
            "+62 812 3456 7890",
            "0062 812 3456 7890",
            "+62-812-3456-7890",
        ] {
            let p = Phone::parse_in(input, country::Id::ID).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.as_str(), "+6281234567890", "from {input}");
        }
    }

    #[test]
    fn other_countries_keep_their_code() {
        let p = Phone::parse_in("+44 20 7946 0958", country::Id::ID).unwrap();
        assert_eq!(p.as_str(), "+442079460958");
    }

    #[test]
    fn invalid_numbers_are_refused() {
        for bad in ["08123", "", "abc", "+62", "0812345678901234567", "+999 123"] {
            assert!(Phone::parse_in(bad, country::Id::ID).is_err(), "{bad}");
        }
    }

    #[test]
    fn national_digits_are_in_every_spelling() {
        let p = Phone::parse_in("0812-3456-7890", country::Id::ID).unwrap();
        assert_eq!(p.national_digits().as_deref(), Some("81234567890"));
        let italian = Phone::parse_in("+39 06 6982 0000", country::Id::IT).unwrap();
        assert_eq!(italian.national_digits().as_deref(), Some("0669820000"));
    }

    #[test]
    fn national_leading_zeros_are_kept() {
        // Italian fixed-line numbers keep their leading zero in E.164.
        let p = Phone::parse_in("+39 06 6982 0000", country::Id::IT).unwrap();
        assert_eq!(p.as_str(), "+390669820000");
        let formatted = phonenumber::parse(None, "+39 06 6982 0000")
            .unwrap()
            .format()
            .mode(phonenumber::Mode::E164)
            .to_string();
        assert_eq!(p.as_str(), formatted);
    }

    #[test]
    fn stored_form_round_trips() {
        let p = Phone::parse("+6281234567890").unwrap();
        assert_eq!(Phone::parse(p.as_str()).unwrap(), p);
        assert!(Phone::parse("081234567890").is_err());
    }
}

/// A phone-number region, e.g. `ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country(pub phonenumber::country::Id);

impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_ref())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_region(&text)
            .map(Country)
            .map_err(serde::de::Error::custom)
    }
}
