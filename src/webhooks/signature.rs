//! Webhook signatures, checked over exactly what the provider signed and compared in constant
//! time: Twilio's `X-Twilio-Signature` (HMAC-SHA1 of the URL and the POST parameters under the
//! auth token, or HMAC-SHA256 under a shared key), Meta's
//! `X-Hub-Signature-256` and a generic gateway's HMAC-SHA256 (both over the raw body).

use base64::Engine;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// How Twilio signed a callback: HMAC-SHA1 under the auth token unless the request carries
/// `X-Twilio-Webhooks-Signature-Settings` (a Webhooks Rule matched its URL), which names the
/// algorithm of a shared key (twilio-python's `get_signature_algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwilioAlgorithm {
    Sha1,
    Sha256,
}

impl TwilioAlgorithm {
    /// The algorithm the `X-Twilio-Webhooks-Signature-Settings` header names
    /// (`key=…,algorithm=HMAC_SHA256`); no `algorithm=` is HMAC-SHA1. An algorithm surveyd
    /// does not know is refused, named.
    pub fn of_settings(header: &str) -> Result<TwilioAlgorithm, String> {
        let named = header.split(',').find_map(|part| {
            let (name, value) = part.split_once('=')?;
            (name.trim() == "algorithm" && !value.trim().is_empty()).then(|| value.trim())
        });
        match named.map(str::to_ascii_uppercase).as_deref() {
            None | Some("HMAC_SHA1") => Ok(TwilioAlgorithm::Sha1),
            Some("HMAC_SHA256") => Ok(TwilioAlgorithm::Sha256),
            Some(_) => Err(format!(
                "algorithm {:?} is not one Twilio signs with (HMAC_SHA1, HMAC_SHA256)",
                named.unwrap_or_default()
            )),
        }
    }
}

/// Twilio's signature of a request to `url` with form `params`: for each parameter name in
/// sorted order and each of its distinct values in sorted order, name then value are
/// appended to the URL; the result is signed with HMAC-SHA1 under the auth token and written
/// in base64.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    twilio_signature_with(TwilioAlgorithm::Sha1, auth_token, url, params)
}

/// [`twilio_signature`] with `algorithm` under `secret` (a shared key's, for HMAC-SHA256).
pub fn twilio_signature_with(
    algorithm: TwilioAlgorithm,
    secret: &str,
    url: &str,
    params: &[(String, String)],
) -> String {
    let mac = twilio_mac(algorithm, secret, url, &twilio_signed_params(params));
    base64::engine::general_purpose::STANDARD.encode(mac.into_bytes())
}

/// Whether `signature` (the `X-Twilio-Signature` header) signs a request to `url` with
/// `params` under `secret`, as twilio-python's `RequestValidator.validate` decides: over the
/// URL without its port (any port) or with its scheme's default port added when it has
/// none. The parameters are sorted once; each form of the URL costs one HMAC over them.
pub fn twilio_valid(
    algorithm: TwilioAlgorithm,
    secret: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let signed = twilio_signed_params(params);
    url_forms(url)
        .iter()
        .any(|form| twilio_mac(algorithm, secret, form, &signed).verify(&expected))
}

/// The parameters as Twilio signs them: sorted, each distinct pair once, each name followed
/// by its value.
fn twilio_signed_params(params: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut signed = Vec::with_capacity(params.iter().map(|(k, v)| k.len() + v.len()).sum());
    for (name, value) in sorted {
        signed.extend_from_slice(name.as_bytes());
        signed.extend_from_slice(value.as_bytes());
    }
    signed
}

/// Twilio's HMAC of `url` and the signed parameters, by the algorithm it signed with.
enum TwilioMac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
}

impl TwilioMac {
    fn into_bytes(self) -> Vec<u8> {
        match self {
            TwilioMac::Sha1(mac) => mac.finalize().into_bytes().to_vec(),
            TwilioMac::Sha256(mac) => mac.finalize().into_bytes().to_vec(),
        }
    }

    /// Compared in constant time.
    fn verify(self, expected: &[u8]) -> bool {
        match self {
            TwilioMac::Sha1(mac) => mac.verify_slice(expected).is_ok(),
            TwilioMac::Sha256(mac) => mac.verify_slice(expected).is_ok(),
        }
    }
}

fn twilio_mac(algorithm: TwilioAlgorithm, secret: &str, url: &str, signed: &[u8]) -> TwilioMac {
    fn keyed<M: Mac + KeyInit>(secret: &str, url: &str, signed: &[u8]) -> M {
        let mut mac =
            <M as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(url.as_bytes());
        mac.update(signed);
        mac
    }
    match algorithm {
        TwilioAlgorithm::Sha1 => TwilioMac::Sha1(keyed(secret, url, signed)),
        TwilioAlgorithm::Sha256 => TwilioMac::Sha256(keyed(secret, url, signed)),
    }
}

/// The two forms of `url` twilio-python checks: without its port, whichever it is, and with
/// its scheme's default port (443 for `https`, else 80) when it has none.
fn url_forms(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_owned()];
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // The port follows the last ':' unless that ':' is inside an IPv6 literal ("[::1]").
    let port_at = authority
        .rfind(':')
        .filter(|&i| !authority[i..].contains(']'));
    match port_at {
        Some(i) => vec![
            url.to_owned(),
            format!("{scheme}://{}{tail}", &authority[..i]),
        ],
        None => {
            let port = if scheme.eq_ignore_ascii_case("https") {
                "443"
            } else {
                "80"
            };
            vec![
                url.to_owned(),
                format!("{scheme}://{authority}:{port}{tail}"),
            ]
        }
    }
}

/// Meta's `X-Hub-Signature-256` header for `body`: `sha256=` and the lowercase hex
/// HMAC-SHA256 under the app secret.
pub fn meta_signature(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(app_secret, body))
}

/// Whether `header` is Meta's signature of the raw `body`.
pub fn meta_valid(app_secret: &str, body: &[u8], header: &str) -> bool {
    header
        .trim()
        .strip_prefix("sha256=")
        .is_some_and(|hex| hmac_sha256_valid(app_secret, body, hex))
}

/// The lowercase hex HMAC-SHA256 of `body` under `secret`: a generic gateway's signature.
pub fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `hex_signature` (either case; a `sha256=` prefix is allowed) is the HMAC-SHA256 of
/// `body` under `secret`.
pub fn hmac_sha256_valid(secret: &str, body: &[u8], hex_signature: &str) -> bool {
    let hex_signature = hex_signature.trim();
    let hex_signature = hex_signature
        .strip_prefix("sha256=")
        .unwrap_or(hex_signature);
    let Ok(expected) = hex::decode(hex_signature) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms_drop_any_port_or_add_the_default_one() {
        assert_eq!(
            url_forms("https://a.example/x?y=1"),
            ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
        );
        assert_eq!(
            url_forms("https://a.example:443/x"),
            ["https://a.example:443/x", "https://a.example/x"]
        );
        assert_eq!(
            url_forms("http://a.example:8080/x"),
            ["http://a.example:8080/x", "http://a.example/x"]
        );
        assert_eq!(
            url_forms("http://[::1]/x"),
            ["http://[::1]/x", "http://[::1]:80/x"]
        );
        assert_eq!(
            url_forms("http://a.example"),
            ["http://a.example", "http://a.example:80"]
        );
    }
}
