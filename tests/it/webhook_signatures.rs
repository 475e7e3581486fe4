//! Webhook signatures against the providers' own worked examples (tests/vectors, computed by
//! Twilio's helper library and by Meta's algorithm), and refused after any change.

use crate::support::twilio::{
    sdk_body_hash, sdk_signature_with, sdk_validates, sdk_validates_body,
};
use serde::Deserialize;
use surveyd::webhooks::signature::{
    TwilioAlgorithm, hmac_sha256_hex, hmac_sha256_valid, meta_signature, meta_valid,
    twilio_signature, twilio_signature_with, twilio_valid,
};

#[derive(Deserialize)]
struct TwilioVector {
    auth_token: String,
    url: String,
    params: std::collections::BTreeMap<String, String>,
    signature: String,
}

#[derive(Deserialize)]
struct MetaVector {
    app_secret: String,
    raw_body: String,
    x_hub_signature_256: String,
}

fn twilio_vectors() -> Vec<(TwilioVector, Vec<(String, String)>)> {
    let vectors: Vec<TwilioVector> =
        serde_json::from_str(include_str!("../vectors/twilio-signature.json")).unwrap();
    vectors
        .into_iter()
        .map(|v| {
            let params = v
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (v, params)
        })
        .collect()
}

#[test]
fn twilio_vectors_are_accepted_and_computed() {
    for (v, params) in twilio_vectors() {
        assert_eq!(
            twilio_signature(&v.auth_token, &v.url, &params),
            v.signature,
            "{}",
            v.url
        );
        assert!(
            twilio_valid(
                TwilioAlgorithm::Sha1,
                &v.auth_token,
                &v.url,
                &params,
                &v.signature
            ),
            "{}",
            v.url
        );
        // Parameter order in the request does not matter.
        let reversed: Vec<_> = params.iter().rev().cloned().collect();
        assert!(twilio_valid(
            TwilioAlgorithm::Sha1,
            &v.auth_token,
            &v.url,
            &reversed,
            &v.signature
        ));
    }
}

#[test]
fn twilio_accepts_the_url_with_its_default_port_or_without_any() {
    for (v, params) in twilio_vectors() {
        let with_port =
            v.url
                .replacen(".com/", ".com:443/", 1)
                .replacen(".co.id/", ".co.id:443/", 1);
        assert_ne!(with_port, v.url);
        assert!(
            twilio_valid(
                TwilioAlgorithm::Sha1,
                &v.auth_token,
                &with_port,
                &params,
                &v.signature
            ),
            "{with_port}"
        );
        // Signed with the port written out, checked against the URL without it.
        let signed = twilio_signature(&v.auth_token, &with_port, &params);
        assert!(twilio_valid(
            TwilioAlgorithm::Sha1,
            &v.auth_token,
            &v.url,
            &params,
            &signed
        ));
        // Any port is left out, as twilio-python does: a signature over the URL without it
        // holds for the URL with another port; one over that port, for that URL only.
        let other = v
            .url
            .replacen(".com/", ".com:8443/", 1)
            .replacen(".co.id/", ".co.id:8443/", 1);
        assert!(
            twilio_valid(
                TwilioAlgorithm::Sha1,
                &v.auth_token,
                &other,
                &params,
                &v.signature
            ),
            "{other}"
        );
        let signed = twilio_signature(&v.auth_token, &other, &params);
        assert!(!twilio_valid(
            TwilioAlgorithm::Sha1,
            &v.auth_token,
            &v.url,
            &params,
            &signed
        ));
    }
}

#[test]
fn twilio_refuses_any_change() {
    for (v, params) in twilio_vectors() {
        let valid = |token: &str, url: &str, params: &[(String, String)], sig: &str| {
            twilio_valid(TwilioAlgorithm::Sha1, token, url, params, sig)
        };
        assert!(!valid("wrong-token", &v.url, &params, &v.signature));
        assert!(!valid(
            &v.auth_token,
            &format!("{}x", v.url),
            &params,
            &v.signature
        ));
        assert!(!valid(
            &v.auth_token,
            &v.url.replacen("https", "http", 1),
            &params,
            &v.signature
        ));
        for i in 0..params.len() {
            let mut changed = params.clone();
            changed[i].1.push('1');
            assert!(
                !valid(&v.auth_token, &v.url, &changed, &v.signature),
                "value of {}",
                changed[i].0
            );
            let mut missing = params.clone();
            missing.remove(i);
            assert!(
                !valid(&v.auth_token, &v.url, &missing, &v.signature),
                "without {}",
                params[i].0
            );
        }
        let mut extra = params.clone();
        extra.push(("Extra".into(), "1".into()));
        assert!(!valid(&v.auth_token, &v.url, &extra, &v.signature));
        assert!(!valid(&v.auth_token, &v.url, &params, ""));
        assert!(!valid(&v.auth_token, &v.url, &params, "not base64!"));
    }
}

#[test]
fn twilio_sorts_repeated_parameters_by_value() {
    let params = vec![
        ("B".to_owned(), "2".to_owned()),
        ("A".to_owned(), "z".to_owned()),
        ("A".to_owned(), "y".to_owned()),
    ];
    let sorted = vec![
        ("A".to_owned(), "y".to_owned()),
        ("A".to_owned(), "z".to_owned()),
        ("B".to_owned(), "2".to_owned()),
    ];
    let sig = twilio_signature("t", "https://h/p", &params);
    assert_eq!(sig, twilio_signature("t", "https://h/p", &sorted));
    // The string signed is the URL, then each name and value: https://h/pAyAzB2.
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"t").unwrap();
    mac.update(b"https://h/pAyAzB2");
    assert_eq!(
        sig,
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
}

/// surveyd accepts exactly what twilio-python's `RequestValidator.validate` accepts: signed
/// by Twilio's own library over one form of the URL (with a port, without, with another),
/// with repeated and repeated identical values, with HMAC-SHA1 and HMAC-SHA256, checked
/// against every form.
#[test]
fn twilio_accepts_what_twilio_s_own_validator_accepts() {
    let secret = "9c7f0e2b4d6a8c1e3f5a7b9d0e2c4a6f";
    let base = "https://surveys.example.co.id";
    let path = "/webhooks/twilio/inbound?channel=sms";
    let urls = [
        format!("{base}{path}"),
        format!("{base}:443{path}"),
        format!("{base}:8443{path}"),
        format!("http://surveys.example.co.id:80{path}"),
        format!("http://surveys.example.co.id{path}"),
    ];
    let forms: [&[(&str, &str)]; 3] = [
        &[
            ("MessageSid", "SM0123"),
            ("Body", "4"),
            ("From", "+6281234567890"),
        ],
        // A name twice with two values, and with the same value twice.
        &[("Tag", "b"), ("Tag", "a"), ("Body", "4")],
        &[("Tag", "a"), ("Tag", "a"), ("Body", "4")],
    ];
    let mut checked = 0;
    for (algorithm, ours) in [
        ("HMAC_SHA1", TwilioAlgorithm::Sha1),
        ("HMAC_SHA256", TwilioAlgorithm::Sha256),
    ] {
        for form in forms {
            let owned: Vec<(String, String)> = form
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            for signed_url in &urls {
                let Some(signature) = sdk_signature_with(algorithm, secret, signed_url, form)
                else {
                    eprintln!("skipped: the installed twilio package has no {algorithm}");
                    continue;
                };
                assert_eq!(
                    twilio_signature_with(ours, secret, signed_url, &owned),
                    signature,
                    "{algorithm} over {signed_url} {form:?}"
                );
                for url in &urls {
                    let theirs = sdk_validates(algorithm, secret, url, form, &signature).unwrap();
                    assert_eq!(
                        twilio_valid(ours, secret, url, &owned, &signature),
                        theirs,
                        "{algorithm}: signed over {signed_url}, received at {url}, {form:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 75, "HMAC-SHA1 at least: {checked} checks");
}

#[test]
fn the_signature_settings_header_names_the_algorithm() {
    let of = TwilioAlgorithm::of_settings;
    assert_eq!(
        of("key=HKabc,algorithm=HMAC_SHA256"),
        Ok(TwilioAlgorithm::Sha256)
    );
    assert_eq!(
        of(" algorithm = hmac_sha1 , key=HKabc"),
        Ok(TwilioAlgorithm::Sha1)
    );
    assert_eq!(of("key=HKabc"), Ok(TwilioAlgorithm::Sha1));
    assert!(
        of("key=HKabc,algorithm=HMAC_MD5")
            .unwrap_err()
            .contains("HMAC_MD5")
    );
}

#[test]
fn meta_vectors_are_accepted_and_computed() {
    let vectors: Vec<MetaVector> =
        serde_json::from_str(include_str!("../vectors/whatsapp-signature.json")).unwrap();
    for v in vectors {
        let body = v.raw_body.as_bytes();
        assert_eq!(meta_signature(&v.app_secret, body), v.x_hub_signature_256);
        assert!(meta_valid(&v.app_secret, body, &v.x_hub_signature_256));
        // Refused: another secret, a changed byte, a missing prefix, a truncated signature.
        assert!(!meta_valid("other", body, &v.x_hub_signature_256));
        let mut tampered = body.to_vec();
        let at = tampered.len() / 2;
        tampered[at] ^= 1;
        assert!(!meta_valid(
            &v.app_secret,
            &tampered,
            &v.x_hub_signature_256
        ));
        assert!(!meta_valid(
            &v.app_secret,
            body,
            v.x_hub_signature_256.trim_start_matches("sha256=")
        ));
        assert!(!meta_valid(
            &v.app_secret,
            body,
            &v.x_hub_signature_256[..40]
        ));
        assert!(!meta_valid(&v.app_secret, body, ""));
        // The same body with its escapes decoded is other bytes, so not what Meta signed.
        let decoded =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(body).unwrap())
                .unwrap();
        if v.raw_body.contains("\\u") {
            assert!(!meta_valid(&v.app_secret, &decoded, &v.x_hub_signature_256));
        }
    }
}

#[test]
fn generic_hmac_accepts_hex_in_either_case_with_or_without_prefix() {
    let body = br#"{"sender":"6281234567890","message":"5"}"#;
    let sig = hmac_sha256_hex("s3cret", body);
    assert_eq!(sig.len(), 64);
    for form in [sig.clone(), sig.to_uppercase(), format!("sha256={sig}")] {
        assert!(hmac_sha256_valid("s3cret", body, &form), "{form}");
    }
    assert!(!hmac_sha256_valid("s3cret", b"{}", &sig));
    assert!(!hmac_sha256_valid("other", body, &sig));
    assert!(!hmac_sha256_valid("s3cret", body, "zz"));
}

/// A JSON body as Twilio signs it: `bodySHA256` (the body's hash, by Twilio's library) in
/// the URL, the signature over the URL alone; accepted by surveyd exactly when Twilio's own
/// `RequestValidator` accepts it, and read as a form of the same fields.
#[test]
fn twilio_json_bodies_are_checked_by_their_hash() {
    let token = "9c7f0e2b4d6a8c1e3f5a7b9d0e2c4a6f";
    let body = r#"{"MessageSid":"SM0123456789abcdef0123456789abcdef","MessageStatus":"delivered","AccountSid":"AC0123456789abcdef0123456789abcdef"}"#;
    let hash = sdk_body_hash(body);
    let url = format!("https://surveys.example.co.id/webhooks/twilio/status?bodySHA256={hash}");
    let signature = sdk_signature_with("HMAC_SHA1", token, &url, &[]).unwrap();
    let keys = surveyd::webhooks::twilio::Keys {
        auth_token: token,
        shared_key: None,
    };
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("x-twilio-signature", signature.parse().unwrap());
    let accept = |body: &str| {
        surveyd::webhooks::twilio::accept(
            &keys,
            &url,
            &headers,
            body.as_bytes(),
            surveyd::webhooks::twilio::Callback::Status,
        )
    };
    assert!(sdk_validates_body(token, &url, body, &signature));
    let event = accept(body).unwrap();
    assert_eq!(
        event.event_id,
        "SM0123456789abcdef0123456789abcdef:delivered"
    );
    assert!(
        event.payload.contains("MessageStatus=delivered"),
        "{}",
        event.payload
    );
    // A changed body no longer matches its hash, for Twilio's library as for surveyd.
    let changed = body.replace("delivered", "read");
    assert!(!sdk_validates_body(token, &url, &changed, &signature));
    assert!(accept(&changed).is_err());
}
