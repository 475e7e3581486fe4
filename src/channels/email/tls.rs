//! TLS to the SMTP server, STARTTLS and implicit alike, checked against one set of trusted
//! roots: the system's trust store (where a company's own CA is usually installed), else the
//! web's roots, plus the certificates of `email.smtp.ca_file` — so a relay with a private CA
//! (an on-premises Exchange or Postfix) is verified rather than left unchecked.

use lettre::transport::smtp::client::{
    AsyncTokioStream, Certificate, CertificateStore, TlsParameters,
};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// How connections to one SMTP host are secured: lettre's parameters for STARTTLS, and a
/// rustls configuration for implicit TLS, over the same roots.
#[derive(Clone)]
pub(super) struct SmtpTlsConfig {
    starttls: TlsParameters,
    implicit: Arc<ClientConfig>,
}

impl std::fmt::Debug for SmtpTlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTlsConfig").finish_non_exhaustive()
    }
}

impl SmtpTlsConfig {
    /// TLS to `host`, trusting the system's roots (the web's when the system has none) and
    /// those of `ca_file` (PEM). Fails, naming the file, when it cannot be read or holds no
    /// certificate.
    pub(super) fn new(host: &str, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let system = system_roots();
        let mut store = RootCertStore::empty();
        let mut builder = TlsParameters::builder(host.to_owned());
        let mut roots = match system {
            Some(roots) => {
                builder = builder.certificate_store(CertificateStore::None);
                roots
            }
            None => {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                builder = builder.certificate_store(CertificateStore::WebpkiRoots);
                Vec::new()
            }
        };
        if let Some(path) = ca_file {
            roots.extend(read_ca_file(path)?);
        }
        let (_, ignored) = store.add_parsable_certificates(roots.iter().cloned());
        if ignored > 0 {
            tracing::debug!(
                ignored,
                "trusted roots that rustls cannot use were left out"
            );
        }
        for root in &roots {
            if let Ok(certificate) = Certificate::from_der(root.to_vec()) {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let starttls = builder
            .build_rustls()
            .map_err(|e| anyhow::anyhow!("TLS settings for {host}: {e}"))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let implicit = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(SmtpTlsConfig {
            starttls,
            implicit: Arc::new(implicit),
        })
    }

    /// The parameters of a STARTTLS upgrade.
    pub(super) fn starttls(&self) -> TlsParameters {
        self.starttls.clone()
    }

    /// TLS from the first byte (port 465) over `tcp` to `host`.
    pub(super) async fn implicit(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> std::io::Result<ImplicitTls> {
        let name = ServerName::try_from(host.to_owned()).map_err(std::io::Error::other)?;
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(&self.implicit))
            .connect(name, tcp)
            .await?;
        Ok(ImplicitTls(stream))
    }
}

/// The system's trusted roots (`/etc/ssl/certs` and the like, through `rustls-native-certs`);
/// `None` when the system has none (the web's roots serve then).
fn system_roots() -> Option<Vec<CertificateDer<'static>>> {
    let found = rustls_native_certs::load_native_certs();
    if !found.errors.is_empty() {
        tracing::debug!(
            errors = found.errors.len(),
            "some system certificates could not be read"
        );
    }
    if found.certs.is_empty() {
        tracing::warn!(
            "no trusted certificates found on this system (is ca-certificates installed?); \
             checking SMTP servers against the web's roots"
        );
        return None;
    }
    Some(found.certs)
}

/// The certificates of a PEM file.
fn read_ca_file(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("email.smtp.ca_file {}: {e}", path.display()))?;
    if certificates.is_empty() {
        anyhow::bail!(
            "email.smtp.ca_file {}: no certificate in it (a PEM file of `-----BEGIN CERTIFICATE-----` blocks)",
            path.display()
        );
    }
    Ok(certificates)
}

/// A TLS stream from the first byte, for lettre's connection.
#[derive(Debug)]
pub(super) struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
