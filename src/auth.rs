//! API bearer tokens: made from 256 random bits, shown once, kept only as their SHA-256.

use crate::domain::ParseError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// The SHA-256 of a token, as 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let text = input.trim().to_ascii_lowercase();
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(TokenHash(text))
        } else {
            Err(ParseError(
                "a token hash is 64 hex digits (the SHA-256 of the token; `surveyd tokens hash` prints it)"
                    .into(),
            ))
        }
    }

    /// The hash of a token as presented by a client.
    pub fn of(token: &str) -> Self {
        TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

crate::domain::text_value!(TokenHash);

/// A new random token (prefixed `sd_` so it is recognisable in a leaked file) and its hash.
pub fn new_token() -> (String, TokenHash) {
    let bytes: [u8; 32] = rand::random();
    let token = format!("sd_{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = TokenHash::of(&token);
    (token, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("sd_") && a.len() > 40);
        assert_eq!(TokenHash::of(&a), ha);
        assert_eq!(TokenHash::parse(ha.as_str()).unwrap(), ha);
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn malformed_hashes_are_refused() {
        assert!(TokenHash::parse("abc").is_err());
        assert!(TokenHash::parse(&"g".repeat(64)).is_err());
    }
}
