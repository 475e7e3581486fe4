//! DKIM-signed email, verified by an independent verifier: Python's `dkimpy` with the public
//! key served by a DNS stub. RSA (a PKCS#8 key as `openssl genrsa` writes it) and Ed25519
//! (RFC 8463, `openssl genpkey`); the signature covers the two one-click unsubscribe headers,
//! so changing one breaks it.

use crate::support::{SurveyLoop, TestDb, openssl};
use base64::Engine;
use surveyd::channels::{DkimAlgorithm, DkimSettings, EmailTransport};

const SELECTOR: &str = "s2026";
const DOMAIN: &str = "example.co.id";

/// A private key file for `algorithm` in `dir`, and its DNS record's `k=` and `p=`.
fn key(dir: &std::path::Path, algorithm: DkimAlgorithm) -> (std::path::PathBuf, String) {
    let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let file = dir.join("dkim.key");
    match algorithm {
        DkimAlgorithm::Rsa => {
            openssl(dir, &["genrsa", "-out", "dkim.key", "2048"]);
            let public = openssl(
                dir,
                &["rsa", "-in", "dkim.key", "-pubout", "-outform", "DER"],
            );
            (file, format!("v=DKIM1; k=rsa; p={}", b64(&public)))
        }
        DkimAlgorithm::Ed25519 => {
            openssl(
                dir,
                &["genpkey", "-algorithm", "ed25519", "-out", "dkim.key"],
            );
            let public = openssl(
                dir,
                &["pkey", "-in", "dkim.key", "-pubout", "-outform", "DER"],
            );
            // The SubjectPublicKeyInfo ends with the raw 32-byte key, which the record holds.
            let raw = &public[public.len() - 32..];
            (file, format!("v=DKIM1; k=ed25519; p={}", b64(raw)))
        }
    }
}

/// Whether dkimpy verifies `message` with `record` published for the selector.
fn dkimpy_verifies(message: &str, record: &str) -> bool {
    use std::io::Write;
    let script = "import dkim, sys\n\
                  name, record = sys.argv[1].encode(), sys.argv[2].encode()\n\
                  def dns(query, timeout=5):\n\
                  \x20   return record if query == name else None\n\
                  print(dkim.verify(sys.stdin.buffer.read(), dnsfunc=dns))";
    let name = format!("{SELECTOR}._domainkey.{DOMAIN}.");
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, &name, record])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (pip install dkimpy pynacl)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dkimpy did not run (pip install dkimpy pynacl)"
    );
    String::from_utf8(out.stdout).unwrap().trim() == "True"
}

async fn signed_email(algorithm: DkimAlgorithm) {
    let db = TestDb::sqlite().await;
    let keys = tempfile::tempdir().unwrap();
    let (file, record) = key(keys.path(), algorithm);
    let outbox = tempfile::tempdir().unwrap();
    let outbox_dir = outbox.path().to_owned();
    let run = SurveyLoop::start_with(&db, 0, |s| {
        s.email.transport = EmailTransport::File;
        s.email.outbox_dir = outbox_dir;
        s.email.from = format!("Customer Care <care@{DOMAIN}>");
        s.email.dkim = Some(DkimSettings {
            selector: SELECTOR.into(),
            domain: DOMAIN.into(),
            private_key_file: file,
            algorithm,
        });
    })
    .await;
    assert_eq!(run.invite(&db, &["budi@example.com"]).await, 1);
    assert_eq!(run.dispatch(&db).await.sent, 1);
    let eml = std::fs::read_dir(outbox.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let message = std::fs::read_to_string(eml).unwrap();
    assert!(dkimpy_verifies(&message, &record), "{message}");
    // The signed headers include the one-click unsubscribe pair (RFC 8058 §4).
    let unfolded = message.replace("\r\n ", " ").replace("\r\n\t", " ");
    let signature = unfolded
        .lines()
        .find(|l| l.starts_with("DKIM-Signature:"))
        .expect("a DKIM-Signature header");
    let signed = signature
        .split(';')
        .find_map(|tag| tag.trim().strip_prefix("h="))
        .expect("an h= tag")
        .to_ascii_lowercase();
    let signed: Vec<&str> = signed.split(':').map(str::trim).collect();
    for header in [
        "from",
        "subject",
        "date",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ] {
        assert!(signed.contains(&header), "{header} not in {signed:?}");
    }
    // A changed unsubscribe link breaks the signature.
    let forged = message.replacen(
        "List-Unsubscribe: <",
        "List-Unsubscribe: <https://evil.example/?",
        1,
    );
    assert_ne!(forged, message);
    assert!(!dkimpy_verifies(&forged, &record));
}

#[tokio::test]
async fn an_rsa_signature_verifies() {
    signed_email(DkimAlgorithm::Rsa).await;
}

#[tokio::test]
async fn an_ed25519_signature_verifies() {
    signed_email(DkimAlgorithm::Ed25519).await;
}

/// A key file that is not a key of the configured algorithm stops the channel at start,
/// naming the file.
#[tokio::test]
async fn a_wrong_key_is_refused_naming_the_file() {
    let keys = tempfile::tempdir().unwrap();
    let (file, _) = key(keys.path(), DkimAlgorithm::Ed25519);
    let db = TestDb::sqlite().await;
    let mut settings = db.settings();
    settings.email.dkim = Some(DkimSettings {
        selector: SELECTOR.into(),
        domain: DOMAIN.into(),
        private_key_file: file.clone(),
        algorithm: DkimAlgorithm::Rsa,
    });
    let error =
        surveyd::channels::email::EmailChannel::new(&settings.email, &settings.survey.public_url)
            .expect_err("refused")
            .to_string();
    assert!(
        error.contains(&file.display().to_string()) && error.contains("not an RSA private key"),
        "{error}"
    );
}
