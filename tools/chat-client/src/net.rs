//! Where the server is and how to reach it: plain TCP for `ws://`, TLS for
//! `wss://` (with the `tls` feature), for the login and the upgrade alike.

use anyhow::{Context, Result, bail};
use std::path::Path;
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::http::Uri;

/// A connection to the server, plain or TLS.
pub(crate) type Stream = MaybeTlsStream<TcpStream>;

/// The server a WebSocket URL names.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The URL as given, for messages.
    pub url: String,
    /// `wss://`: TLS for the upgrade and the login.
    pub secure: bool,
    /// The host as in the URL (an IPv6 address keeps its brackets), with the
    /// port when the URL has one: the `Host` header.
    pub authority: String,
    /// The host to connect to and to check the certificate against.
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Reads a `ws://` or `wss://` URL. Without the `tls` feature, a secure
    /// URL is an error that says how to rebuild.
    pub fn parse(url: &str) -> Result<Endpoint> {
        let uri: Uri = url.parse().with_context(|| {
            format!("{url} is not a WebSocket URL (expected ws://host:port/path)")
        })?;
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss" | "https") if !cfg!(feature = "tls") => bail!(
                "{url} needs TLS, which this build of chat-client leaves out: \
                 rebuild it with `--features tls` \
                 (cargo run -p chat-client --features tls -- --ca-cert FILE ...)"
            ),
            Some("wss") => true,
            _ => bail!("{url} is not a WebSocket URL (expected ws://host:port/path or wss://...)"),
        };
        let authority = uri
            .authority()
            .with_context(|| format!("{url} names no host"))?;
        let host = authority.host();
        Ok(Endpoint {
            url: url.to_string(),
            secure,
            authority: authority.as_str().to_string(),
            // Uri keeps an IPv6 address's brackets, which neither a socket
            // address nor a TLS server name wants.
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: authority
                .port_u16()
                .unwrap_or(if secure { 443 } else { 80 }),
        })
    }

    /// Part 6's login form, at the same host and port: `ws://H:P/ws` gives
    /// `http://H:P/login`, `wss://` gives `https://`.
    pub fn login_url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}/login", self.authority)
    }
}

/// What the client trusts: with `tls`, the certificates of `--ca-cert` and
/// nothing else (no system roots: the tutorial's certificate is self-signed).
#[derive(Clone)]
pub(crate) struct Trust {
    #[cfg(feature = "tls")]
    config: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Trust {
    /// Reads `ca_cert` when `endpoint` needs TLS.
    pub fn new(endpoint: &Endpoint, ca_cert: Option<&Path>) -> Result<Trust> {
        #[cfg(feature = "tls")]
        {
            let config = match (endpoint.secure, ca_cert) {
                (true, Some(file)) => Some(tls::client_config(file)?),
                (true, None) => bail!(
                    "{} needs --ca-cert FILE: the PEM certificate the server presents \
                     (or the one that signed it); chat-client trusts no other",
                    endpoint.url
                ),
                // A plain URL needs no certificate; one given anyway is not used.
                (false, _) => None,
            };
            Ok(Trust { config })
        }
        #[cfg(not(feature = "tls"))]
        {
            // Endpoint::parse has already refused a secure URL.
            let _ = (endpoint, ca_cert);
            Ok(Trust {})
        }
    }
}

/// Opens a connection to `endpoint`, with TLS when it is secure. `hint`
/// names the server to start when nobody listens.
pub(crate) async fn connect(endpoint: &Endpoint, trust: &Trust, hint: &str) -> Result<Stream> {
    let tcp = match TcpStream::connect((endpoint.host.as_str(), endpoint.port)).await {
        Ok(tcp) => tcp,
        Err(err) => bail!(
            "cannot reach {}: {err} (is the server running? try `{hint}`)",
            endpoint.url
        ),
    };
    #[cfg(feature = "tls")]
    if let Some(config) = &trust.config {
        return tls::wrap(tcp, config, endpoint).await;
    }
    #[cfg(not(feature = "tls"))]
    let _ = trust;
    Ok(MaybeTlsStream::Plain(tcp))
}

#[cfg(feature = "tls")]
pub use tls::client_config as tls_client_config;

#[cfg(feature = "tls")]
mod tls {
    use super::{Endpoint, Stream};
    use anyhow::{Context, Result, bail};
    use rustls::{ClientConfig, RootCertStore};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};
    use std::path::Path;
    use std::sync::Arc;
    use tokio::net::TcpStream;
    use tokio_tungstenite::MaybeTlsStream;

    /// A client configuration that trusts the certificates in `file` alone.
    pub fn client_config(file: &Path) -> Result<Arc<ClientConfig>> {
        let shown = file.display();
        let mut roots = RootCertStore::empty();
        let certificates = CertificateDer::pem_file_iter(file)
            .with_context(|| format!("cannot read the certificate file {shown}"))?;
        for certificate in certificates {
            let certificate =
                certificate.with_context(|| format!("{shown} holds an unreadable PEM section"))?;
            roots
                .add(certificate)
                .with_context(|| format!("{shown} holds a certificate rustls cannot use"))?;
        }
        if roots.is_empty() {
            bail!("{shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        // ring named here rather than rustls's process-wide default, which is
        // ambiguous (and panics) if another crate ever enables aws-lc-rs, the
        // provider the workspace keeps out for its build time.
        #[expect(
            deprecated,
            reason = "ring's provider has no post-quantum key exchange"
        )]
        let provider = rustls::crypto::ring::default_provider();
        let config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .context("rustls's safe protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// Runs the TLS handshake over `tcp`, checking the certificate against
    /// the URL's host.
    pub async fn wrap(
        tcp: TcpStream,
        config: &Arc<ClientConfig>,
        endpoint: &Endpoint,
    ) -> Result<Stream> {
        let name = ServerName::try_from(endpoint.host.clone()).with_context(|| {
            format!(
                "{:?} cannot be checked against a certificate",
                endpoint.host
            )
        })?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
        let tls = connector
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS with {} failed", endpoint.authority))?;
        Ok(MaybeTlsStream::Rustls(tls))
    }
}
