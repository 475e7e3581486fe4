//! Tokens, kept only as their SHA-256: API bearer tokens (256 random bits, shown once) and
//! survey tokens (128 bits derived from the survey key and the invitation's campaign and
//! contact, so the planner stores the hash and every attempt to send carries the same link).

use crate::domain::ParseError;
use crate::domain::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
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

/// The SHA-256 of a survey token, as invitations store it (32 bytes: half the size of hex in
/// the unique index every planned invitation is added to).
pub fn survey_token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token (prefixed `sd_` so it is recognisable in a leaked file) and its hash.
pub fn new_token() -> (String, TokenHash) {
    let bytes: [u8; 32] = rand::random();
    let token = format!("sd_{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = TokenHash::of(&token);
    (token, hash)
}

/// The secret survey tokens are derived from. Without it nobody can make a valid token; with
/// it a token can be made again for the same invitation (a retried email keeps its link).
#[derive(Clone)]
pub struct SurveyKey([u8; 32]);

impl std::fmt::Debug for SurveyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SurveyKey([redacted])")
    }
}

impl SurveyKey {
    /// Reads 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key)
            .map_err(|_| ParseError("a survey key is 64 hex digits".into()))?;
        Ok(SurveyKey(key))
    }

    /// The configured key, or the one kept in `file` (made, readable by its owner only, when
    /// the file does not exist yet).
    pub fn load(configured: Option<&str>, file: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        if let Some(text) = configured {
            return Self::parse(text).context("survey.key");
        }
        match std::fs::read_to_string(file) {
            Ok(text) => Self::parse(&text).with_context(|| format!("{}", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(file),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", file.display())),
        }
    }

    fn create(file: &std::path::Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        use std::io::Write;
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let key: [u8; 32] = rand::random();
        match crate::private::new_file().open(file) {
            Ok(mut f) => {
                f.write_all(hex::encode(key).as_bytes())
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("cannot write {}", file.display()))?;
                tracing::info!(file = %file.display(), "created a new survey key");
                Ok(SurveyKey(key))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                Self::parse(&text).with_context(|| format!("{}", file.display()))
            }
            Err(e) => Err(e).with_context(|| format!("cannot create {}", file.display())),
        }
    }

    /// A key for another purpose (`dashboard session`), derived from this one: daemons that
    /// share the survey key share it too.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"surveyd key\0");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The token of the invitation of `campaign` for contact `contact_id` (there is one such
    /// invitation, ever): HMAC-SHA256 of the pair, the first 128 bits, URL-safe base64 (22
    /// characters).
    pub fn token(&self, campaign: &str, contact_id: i64) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"surveyd invitation\0");
        mac.update(campaign.as_bytes());
        mac.update(b"\0");
        mac.update(contact_id.to_string().as_bytes());
        let digest = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&digest[..16])
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Bearer tokens accepted by the HTTP API, stored as the SHA-256 of the token
    /// (`surveyd tokens hash` prints it). Tokens made with `surveyd tokens create` live in
    /// the database instead.
    #[serde(default)]
    pub tokens: Vec<ConfiguredToken>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredToken {
    pub name: String,
    pub sha256: Secret<TokenHash>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_tokens_are_stable_per_key_and_invitation() {
        let key = SurveyKey::parse(&"ab".repeat(32)).unwrap();
        let other = SurveyKey::parse(&"cd".repeat(32)).unwrap();
        assert_eq!(key.token("a", 7), key.token("a", 7));
        assert_ne!(key.token("a", 7), key.token("a", 8));
        assert_ne!(key.token("a", 7), key.token("b", 7));
        assert_ne!(key.token("a", 7), other.token("a", 7));
        assert_eq!(key.token("a", 7).len(), 22);
        assert!(SurveyKey::parse("abc").is_err());
        assert!(!format!("{key:?}").contains("ab"));
    }

    #[test]
    fn a_survey_key_file_is_made_once_and_read_after() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys/survey.key");
        let made = SurveyKey::load(None, &file).unwrap();
        let read = SurveyKey::load(None, &file).unwrap();
        assert_eq!(made.token("a", 1), read.token("a", 1));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

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
