//! DKIM signatures (RFC 6376) on every outgoing email, made by lettre's signer: relaxed
//! canonicalisation of headers and body, over the headers a receiver judges the message by —
//! From, To, Subject, Date, Message-ID — and the two RFC 8058 requires for one-click
//! unsubscribe, List-Unsubscribe and List-Unsubscribe-Post.

use super::super::{DkimAlgorithm, DkimSettings};
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

/// The headers each signature covers.
const SIGNED: [&str; 7] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// The signer `settings` describe. Fails, naming the file, when the key cannot be read or is
/// not a key of the configured algorithm; warns when `from_domain` is not the signing domain
/// or under it (DMARC would not count the signature as aligned).
pub(super) fn signer(settings: &DkimSettings, from_domain: &str) -> anyhow::Result<DkimConfig> {
    let path = &settings.private_key_file;
    let place = || format!("email.dkim.private_key_file {}", path.display());
    let pem = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", place()))?;
    let (text, algorithm) = match settings.algorithm {
        DkimAlgorithm::Rsa => (
            rsa_pkcs1(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", place()))?,
            DkimSigningAlgorithm::Rsa,
        ),
        DkimAlgorithm::Ed25519 => (
            ed25519_seed(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", place()))?,
            DkimSigningAlgorithm::Ed25519,
        ),
    };
    let key = DkimSigningKey::new(&text, algorithm)
        .map_err(|e| anyhow::anyhow!("{}: not a usable key: {e}", place()))?;
    let domain = settings.domain.trim_end_matches('.').to_ascii_lowercase();
    let from = from_domain.to_ascii_lowercase();
    if from != domain && !from.ends_with(&format!(".{domain}")) {
        tracing::warn!(
            from = %from_domain,
            dkim_domain = %domain,
            "email.from is not under email.dkim.domain: receivers applying DMARC will not count the signature"
        );
    }
    let headers = SIGNED
        .iter()
        .map(|h| HeaderName::new_from_ascii_str(h))
        .collect();
    Ok(DkimConfig::new(
        settings.selector.clone(),
        domain,
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

/// An RSA key as lettre reads it (PKCS#1 PEM), from PKCS#1 or PKCS#8 PEM.
fn rsa_pkcs1(pem: &str) -> Result<String, String> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        return Ok(pem.to_owned());
    }
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .map_err(|e| format!("not an RSA private key in PEM (PKCS#1 or PKCS#8): {e}"))?;
    key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| e.to_string())
}

/// An Ed25519 key as lettre reads it (the base64 of its 32-byte seed), from PKCS#8 PEM or
/// that base64 itself.
fn ed25519_seed(text: &str) -> Result<String, String> {
    use base64::Engine;
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    if !text.contains("-----BEGIN") {
        return Ok(text.trim().to_owned());
    }
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(text)
        .map_err(|e| format!("not an Ed25519 private key in PEM (PKCS#8): {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key.to_bytes()))
}
