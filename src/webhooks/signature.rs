//! Webhook signatures, checked over exactly what the provider signed and compared in constant
//! time: Twilio's `X-Twilio-Signature` (HMAC-SHA1 of the URL and the POST parameters), Meta's
//! `X-Hub-Signature-256` and a generic gateway's HMAC-SHA256 (both over the raw body).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Twilio's signature of a request to `url` with form `params`: for each parameter name in
/// sorted order and each of its values in sorted order, name then value are appended to the
/// URL; the result is signed with HMAC-SHA1 under the auth token and written in base64.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mac = twilio_mac(auth_token, url, &twilio_signed_params(params));
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` (the `X-Twilio-Signature` header) signs a request to `url` with
/// `params`. The URL is accepted as given, with its default port added, and without it, as
/// Twilio's own validator does (Twilio signs whichever form it called). The parameters are
/// sorted once; each form of the URL costs one HMAC over them.
pub fn twilio_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let signed = twilio_signed_params(params);
    url_forms(url).iter().any(|form| {
        twilio_mac(auth_token, form, &signed)
            .verify_slice(&expected)
            .is_ok()
    })
}

/// The parameters as Twilio signs them: sorted, each name followed by its value.
fn twilio_signed_params(params: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_unstable();
    let mut signed = Vec::with_capacity(params.iter().map(|(k, v)| k.len() + v.len()).sum());
    for (name, value) in sorted {
        signed.extend_from_slice(name.as_bytes());
        signed.extend_from_slice(value.as_bytes());
    }
    signed
}

fn twilio_mac(auth_token: &str, url: &str, signed_params: &[u8]) -> Hmac<Sha1> {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(url.as_bytes());
    mac.update(signed_params);
    mac
}

/// `url` as given, plus the same URL with its scheme's default port written out or left out.
fn url_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return forms;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return forms,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // The port follows the last ':' unless that ':' is inside an IPv6 literal ("[::1]").
    let port_at = authority
        .rfind(':')
        .filter(|&i| !authority[i..].contains(']'));
    match port_at {
        Some(i) if &authority[i + 1..] == default_port => {
            forms.push(format!("{scheme}://{}{tail}", &authority[..i]));
        }
        Some(_) => {}
        None => forms.push(format!("{scheme}://{authority}:{default_port}{tail}")),
    }
    forms
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
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
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
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms_add_or_drop_the_default_port_only() {
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
            ["http://a.example:8080/x"]
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
