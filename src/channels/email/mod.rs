//! The email channel: a message is built once (multipart/alternative, text then HTML, with
//! a Message-ID from the delivery id and its random key, and RFC 8058 one-click unsubscribe headers) and either
//! written as `{delivery id}.eml` into the outbox folder or sent over SMTP.
//!
//! Header-bound text (the subject, display names) may come from customer data; it is made
//! header-safe ([`crate::domain::single_line`]) before lettre sees it, so no name or subject can break a
//! header line or make the message builder fail.
//!
//! SMTP connections are opened here rather than by lettre's transport: lettre 0.11 does not
//! set `TCP_NODELAY`, which costs about 40 ms a message (Nagle's algorithm waits for the
//! server's delayed ACK). Each [`EmailSender`] owns at most one connection, so the number of
//! senders is the cap on concurrent connections.

mod dkim;
mod tls;

use super::SendError;
use super::{EmailSettings, EmailTransport, SmtpSettings, SmtpTls};
use crate::domain::single_line;
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tls::SmtpTlsConfig;
use tokio::net::TcpStream;

/// One invitation email, rendered.
#[derive(Debug, Clone)]
pub struct Email {
    pub delivery_id: i64,
    /// The delivery's random key ([`crate::store::Claimed::message_key`]).
    pub message_key: String,
    pub to: Vec<Mailbox>,
    pub subject: String,
    pub text: String,
    /// The HTML alternative, if any.
    pub html: Option<String>,
    /// The HTTPS link that unsubscribes with one POST (RFC 8058); customers' emails have one.
    pub unsubscribe_url: Option<String>,
}

/// Where emails go, shared by all senders.
#[derive(Debug, Clone)]
pub struct EmailChannel(Arc<Inner>);

struct Inner {
    from: Mailbox,
    /// Signs each message, when DKIM is configured.
    dkim: Option<lettre::message::dkim::DkimConfig>,
    /// The right-hand side of Message-IDs: the daemon's public host name.
    domain: String,
    transport: Transport,
}

#[derive(Debug)]
enum Transport {
    File(PathBuf),
    Smtp(Box<Smtp>),
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("from", &self.from)
            .field("dkim", &self.dkim.is_some())
            .field("domain", &self.domain)
            .field("transport", &self.transport)
            .finish()
    }
}

/// An SMTP server, and how its connections are secured (`None`: `tls = "none"`).
#[derive(Debug)]
struct Smtp {
    settings: SmtpSettings,
    tls: Option<SmtpTlsConfig>,
}

/// Files written at once by the file outbox.
const FILE_SENDERS: usize = 4;

impl EmailChannel {
    /// Checks the settings; the file outbox's folder is created here.
    pub fn new(settings: &EmailSettings, public_url: &url::Url) -> anyhow::Result<Self> {
        use anyhow::Context;
        let from: Mailbox = settings
            .from
            .parse()
            .with_context(|| format!("email.from: `{}` is not a mailbox", settings.from))?;
        let transport = match settings.transport {
            EmailTransport::File => {
                crate::private::create_dir_all(&settings.outbox_dir).with_context(|| {
                    format!(
                        "cannot create email.outbox_dir {}",
                        settings.outbox_dir.display()
                    )
                })?;
                Transport::File(settings.outbox_dir.clone())
            }
            EmailTransport::Smtp => {
                if settings.smtp.max_connections == 0 {
                    anyhow::bail!("email.smtp.max_connections must be at least 1");
                }
                let smtp = &settings.smtp;
                if smtp.username.is_some() != smtp.password.is_some() {
                    anyhow::bail!("email.smtp: set both username and password, or neither");
                }
                if smtp.tls == SmtpTls::None && smtp.username.is_some() && !smtp.allow_insecure_auth
                {
                    anyhow::bail!(
                        "email.smtp: the password would cross the network unencrypted (tls = \"none\"): \
                         set tls = \"starttls\" (port 587) or \"implicit\" (465), or, for a relay on \
                         a network you trust, allow_insecure_auth = true"
                    );
                }
                if smtp.tls == SmtpTls::None && smtp.ca_file.is_some() {
                    anyhow::bail!(
                        "email.smtp.ca_file is set but tls = \"none\": nothing would check it"
                    );
                }
                let tls = match smtp.tls {
                    SmtpTls::None => None,
                    SmtpTls::Starttls | SmtpTls::Implicit => {
                        Some(SmtpTlsConfig::new(&smtp.host, smtp.ca_file.as_deref())?)
                    }
                };
                Transport::Smtp(Box::new(Smtp {
                    settings: smtp.clone(),
                    tls,
                }))
            }
        };
        let dkim = match &settings.dkim {
            Some(dkim) => Some(dkim::signer(dkim, from.email.domain())?),
            None => None,
        };
        Ok(EmailChannel(Arc::new(Inner {
            from,
            dkim,
            domain: public_url.host_str().unwrap_or("localhost").to_owned(),
            transport,
        })))
    }

    /// How many senders may work at once: the SMTP connection cap, or a few file writers.
    pub fn concurrency(&self) -> usize {
        match &self.0.transport {
            Transport::File(_) => FILE_SENDERS,
            Transport::Smtp(smtp) => smtp.settings.max_connections,
        }
    }

    /// What carries the mail, as metrics name it: `smtp` or `file`.
    pub fn provider(&self) -> &'static str {
        match &self.0.transport {
            Transport::File(_) => "file",
            Transport::Smtp(_) => "smtp",
        }
    }

    /// A sender for one worker.
    pub fn sender(&self) -> EmailSender {
        EmailSender {
            channel: self.clone(),
            connection: None,
        }
    }

    /// The Message-ID of a delivery's email: the same on every attempt, so a duplicate
    /// after a crash can be recognised, and unique beyond this database (RFC 5322 §3.6.4)
    /// through the delivery's random key.
    pub fn message_id(&self, email: &Email) -> String {
        format!(
            "<delivery-{}.{}@{}>",
            email.delivery_id, email.message_key, self.0.domain
        )
    }

    /// The message as it goes on the wire.
    pub fn message(&self, email: &Email) -> Result<Message, SendError> {
        let mut builder = Message::builder()
            .message_id(Some(self.message_id(email)))
            .from(header_safe_mailbox(&self.0.from))
            .subject(single_line(&email.subject).into_owned());
        for to in &email.to {
            builder = builder.to(header_safe_mailbox(to));
        }
        if let Some(url) = &email.unsubscribe_url {
            builder = builder
                .raw_header(HeaderValue::dangerous_new_pre_encoded(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    url.clone(),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::dangerous_new_pre_encoded(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        }
        .map(|mut message| {
            if let Some(dkim) = &self.0.dkim {
                message.sign(dkim);
            }
            message
        })
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
    }
}

/// `mailbox` with a header-safe display name (none when nothing is left of it).
fn header_safe_mailbox(mailbox: &Mailbox) -> Mailbox {
    let name = mailbox
        .name
        .as_deref()
        .map(|name| single_line(name).into_owned())
        .filter(|n| !n.is_empty());
    Mailbox::new(name, mailbox.email.clone())
}

/// Sends one message at a time, keeping its SMTP connection open between messages.
pub struct EmailSender {
    channel: EmailChannel,
    connection: Option<AsyncSmtpConnection>,
}

impl EmailSender {
    /// What carries the mail: `smtp` or `file`.
    pub fn provider(&self) -> &'static str {
        self.channel.provider()
    }

    /// Sends `email`; returns its Message-ID.
    pub async fn send(&mut self, email: &Email) -> Result<String, SendError> {
        let message = self.channel.message(email)?;
        let channel = self.channel.clone();
        match &channel.0.transport {
            Transport::File(dir) => write_file(dir, email.delivery_id, &message.formatted())
                .await
                .map_err(|e| SendError::Transient(format!("cannot write to the outbox: {e}")))?,
            Transport::Smtp(smtp) => self.send_smtp(smtp, &message).await?,
        }
        Ok(self.channel.message_id(email))
    }

    async fn send_smtp(&mut self, server: &Smtp, message: &Message) -> Result<(), SendError> {
        let smtp = &server.settings;
        let mut connection = match self.connection.take() {
            Some(c) if !c.has_broken() => c,
            _ => tokio::time::timeout(smtp.timeout, connect(server))
                .await
                .map_err(|_| SendError::Transient(timed_out("connecting", smtp.timeout)))??,
        };
        let sent = tokio::time::timeout(
            smtp.timeout,
            connection.send(message.envelope(), &message.formatted()),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {
                self.connection = Some(connection);
                Ok(())
            }
            Ok(Err(e)) => {
                // lettre closes the connection after a failed command; keep it only if usable.
                if !connection.has_broken() {
                    self.connection = Some(connection);
                }
                Err(classify(&e))
            }
            // Half a message may be on the wire: this connection cannot be trusted again.
            Err(_) => Err(SendError::Transient(timed_out("sending", smtp.timeout))),
        }
    }

    /// Says goodbye to the server, if connected.
    pub async fn close(&mut self) {
        if let Some(mut connection) = self.connection.take() {
            let _ = connection.quit().await;
        }
    }
}

fn timed_out(what: &str, limit: Duration) -> String {
    format!(
        "SMTP server did not answer while {what} within {}",
        humantime::format_duration(limit)
    )
}

/// SMTP 5xx and messages the server cannot take are permanent; the rest is worth a retry.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = format!("SMTP: {e}");
    if e.is_permanent() || e.is_client() {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

/// Opens a connection as configured: TCP with `TCP_NODELAY`, TLS from the start or after
/// STARTTLS, then AUTH when credentials are set. Every failure here is transient: the server
/// or the network may come back.
async fn connect(server: &Smtp) -> Result<AsyncSmtpConnection, SendError> {
    let smtp = &server.settings;
    let transient = |what: &str, e: &dyn std::fmt::Display| {
        SendError::Transient(format!("SMTP {what} {}:{}: {e}", smtp.host, smtp.port))
    };
    let tcp = TcpStream::connect((smtp.host.as_str(), smtp.port))
        .await
        .map_err(|e| transient("cannot connect to", &e))?;
    tcp.set_nodelay(true)
        .map_err(|e| transient("cannot set TCP_NODELAY on", &e))?;
    let hello = match &smtp.hello_name {
        Some(name) => ClientId::Domain(name.clone()),
        None => ClientId::default(),
    };
    let stream: Box<dyn AsyncTokioStream> = match (smtp.tls, &server.tls) {
        (SmtpTls::Implicit, Some(tls)) => Box::new(
            tls.implicit(tcp, &smtp.host)
                .await
                .map_err(|e| transient("TLS failed with", &e))?,
        ),
        _ => Box::new(tcp),
    };
    let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &hello)
        .await
        .map_err(|e| transient("greeting failed with", &e))?;
    if let (SmtpTls::Starttls, Some(tls)) = (smtp.tls, &server.tls) {
        connection
            .starttls(tls.starttls(), &hello)
            .await
            .map_err(|e| transient("STARTTLS failed with", &e))?;
    }
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        let credentials = Credentials::new(user.clone(), password.expose().clone());
        connection
            .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
            .await
            .map_err(|e| transient("authentication failed at", &e))?;
    }
    Ok(connection)
}

/// Writes `{dir}/{delivery_id}.eml` (mode 0600: it holds a name and an address) whole or not
/// at all (a temporary file, then a rename).
async fn write_file(dir: &std::path::Path, delivery_id: i64, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let target = dir.join(format!("{delivery_id}.eml"));
    let partial = dir.join(format!(".{delivery_id}.eml.partial"));
    // A partial file left by a crash is written again.
    let mut options = crate::private::new_file();
    options.create_new(false).create(true).truncate(true);
    let mut file = tokio::fs::OpenOptions::from(options).open(&partial).await?;
    file.write_all(bytes).await?;
    file.flush().await?;
    drop(file);
    tokio::fs::rename(&partial, &target).await
}

/// With the file transport, removes the outbox's messages of `deliveries` (a forgotten
/// customer's: they hold the name and address); how many there were. `None` when email goes
/// over SMTP (nothing is kept here).
pub fn remove_from_file_outbox(
    settings: &EmailSettings,
    deliveries: &[i64],
) -> anyhow::Result<Option<u64>> {
    if settings.transport != EmailTransport::File {
        return Ok(None);
    }
    let mut removed = 0;
    for id in deliveries {
        removed += u64::from(remove(&settings.outbox_dir.join(format!("{id}.eml")))?);
    }
    Ok(Some(removed))
}

/// With the file transport, removes the outbox's messages written before `cutoff` (personal
/// data past retention); how many. `None` when email goes over SMTP.
pub fn prune_file_outbox(
    settings: &EmailSettings,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<u64>> {
    if settings.transport != EmailTransport::File {
        return Ok(None);
    }
    let dir = &settings.outbox_dir;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(0)),
        Err(e) => anyhow::bail!("cannot read email.outbox_dir {}: {e}", dir.display()),
    };
    let cutoff = std::time::SystemTime::from(cutoff);
    let mut removed = 0;
    for entry in entries {
        let path = entry
            .map_err(|e| anyhow::anyhow!("cannot read email.outbox_dir {}: {e}", dir.display()))?
            .path();
        let written = std::fs::metadata(&path).and_then(|m| m.modified());
        if path.extension().is_some_and(|e| e == "eml")
            && written.is_ok_and(|written| written < cutoff)
        {
            removed += u64::from(remove(&path)?);
        }
    }
    Ok(Some(removed))
}

/// Removes `path`; whether it was there.
fn remove(path: &std::path::Path) -> anyhow::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => anyhow::bail!("cannot remove {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(dir: &std::path::Path) -> EmailChannel {
        let settings = EmailSettings {
            transport: EmailTransport::File,
            from: "Care <care@example.com>".into(),
            outbox_dir: dir.to_owned(),
            smtp: crate::config::Settings::load(None).unwrap().email.smtp,
            dkim: None,
        };
        EmailChannel::new(&settings, &"https://survey.example.com".parse().unwrap()).unwrap()
    }

    /// The headers of `eml` (up to the blank line), each unfolded onto one line.
    fn headers(eml: &str) -> Vec<String> {
        let head = &eml[..eml.find("\r\n\r\n").unwrap()];
        head.replace("\r\n ", " ")
            .replace("\r\n\t", " ")
            .split("\r\n")
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn names_and_subjects_with_control_characters_make_one_line_headers() {
        let dir = tempfile::tempdir().unwrap();
        let channel = channel(dir.path());
        for (i, name) in [
            "Budi\nSantoso",
            "Budi\r\nSantoso",
            "Budi\rSantoso",
            "Budi\tSantoso\u{0}",
            "\u{85}Budi\u{2028}Santoso\u{1b}",
            "\n\r\t",
        ]
        .into_iter()
        .enumerate()
        {
            let email = Email {
                delivery_id: i as i64,
                message_key: format!("key{i}"),
                to: vec![Mailbox::new(
                    Some(name.into()),
                    "budi@example.co.id".parse().unwrap(),
                )],
                subject: format!("Halo {name}, bagaimana layanan kami?"),
                text: format!("Halo {name}"),
                html: None,
                unsubscribe_url: None,
            };
            let message = channel.message(&email).expect("the message builds");
            let eml = String::from_utf8(message.formatted()).unwrap();
            let headers = headers(&eml);
            let to = headers.iter().find(|h| h.starts_with("To: ")).unwrap();
            let subject = headers.iter().find(|h| h.starts_with("Subject: ")).unwrap();
            let parsed = mail_parser::MessageParser::default()
                .parse(eml.as_bytes())
                .unwrap();
            let address = parsed.to().and_then(|to| to.first()).unwrap();
            assert_eq!(address.address(), Some("budi@example.co.id"), "{to}");
            let shown = address.name().unwrap_or_default();
            let subject_shown = parsed.subject().unwrap();
            if name == "\n\r\t" {
                assert_eq!(shown, "", "nothing is left of the name: {to}");
                assert_eq!(subject_shown, "Halo , bagaimana layanan kami?");
            } else {
                assert_eq!(shown, "Budi Santoso", "{to}");
                assert!(subject_shown.starts_with("Halo Budi Santoso"), "{subject}");
            }
            assert!(
                !shown
                    .chars()
                    .chain(subject_shown.chars())
                    .any(char::is_control),
                "{to} / {subject}"
            );
            // Every header is a `Name: value` line: nothing broke out of the To or Subject.
            assert!(
                headers.iter().all(|h| h.split_once(": ").is_some()),
                "{headers:?}"
            );
            assert!(eml.contains("Halo "), "the body keeps the name as it is");
        }
    }

    #[test]
    fn single_line_turns_control_characters_into_single_spaces() {
        assert_eq!(single_line("Budi\r\nSantoso"), "Budi Santoso");
        assert_eq!(single_line("  Budi \t\t Santoso \n"), "Budi Santoso");
        assert_eq!(single_line("Sari\u{2029}Dewi\u{7f}"), "Sari Dewi");
        assert_eq!(single_line("山田\u{3000}太郎"), "山田\u{3000}太郎");
        assert_eq!(single_line("\n"), "");
    }

    #[tokio::test]
    async fn the_file_outbox_writes_one_eml_per_delivery_with_the_headers() {
        let dir = tempfile::tempdir().unwrap();
        let channel = channel(dir.path());
        let email = Email {
            delivery_id: 42,
            message_key: "6f1c0b9e2d4a48e1a3b57c90d2e4f618".into(),
            to: vec!["Budi <budi@example.co.id>".parse().unwrap()],
            subject: "Bagaimana layanan kami?".into(),
            text: "Halo Budi".into(),
            html: Some("<p>Halo Budi</p>".into()),
            unsubscribe_url: Some("https://survey.example.com/u/abc".into()),
        };
        let id = channel.sender().send(&email).await.unwrap();
        let message_id = "<delivery-42.6f1c0b9e2d4a48e1a3b57c90d2e4f618@survey.example.com>";
        assert_eq!(id, message_id);
        let eml = std::fs::read_to_string(dir.path().join("42.eml")).unwrap();
        assert!(eml.contains(&format!("Message-ID: {message_id}\r\n")));
        assert!(eml.contains("List-Unsubscribe: <https://survey.example.com/u/abc>\r\n"));
        assert!(eml.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        let text = eml.find("Content-Type: text/plain").unwrap();
        let html = eml.find("Content-Type: text/html").unwrap();
        assert!(text < html, "text part first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
