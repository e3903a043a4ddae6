//! The client side of TLS, for part 6 served with `TLS_CERT` and `TLS_KEY`:
//! start it and wait until HTTPS answers ([`Tls::start_with`]: `Server`'s
//! start, with the probe over TLS, since a TLS server answers no plain
//! HTTP), send it HTTPS requests, and open the TLS connections a wss client
//! upgrades.
//!
//! Behind the `tls` feature, so that the checkpoints before part 6, whose
//! tests use testkit's defaults, do not build rustls. ring is rustls's
//! provider here, as everywhere in the workspace.

use crate::{HttpAnswer, Server};
use anyhow::{Context, Result};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How long one request, from connecting to the end of the answer, may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS client that trusts the certificates of one PEM file and nothing
/// else, and checks the server's certificate against one name.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Tls {
    /// Trusts the certificates in the PEM file `ca_pem` (the server's own,
    /// or the one that signed it), and expects the server to prove it is
    /// `name` (`localhost`, or an IP address such as `127.0.0.1`).
    pub fn trusting(ca_pem: &Path, name: &str) -> Result<Tls> {
        let config = chat_client::tls_client_config(ca_pem)?;
        let name = ServerName::try_from(name.to_string())
            .with_context(|| format!("{name:?} is not a server name"))?;
        Ok(Tls { config, name })
    }

    /// Starts `binary` as [`Server::spawn_with`] does, with `env` (which
    /// names the server's `TLS_CERT` and `TLS_KEY`), and waits until its
    /// `/healthcheck` answers 200 over HTTPS.
    pub async fn start_with(
        &self,
        binary: impl AsRef<Path>,
        env: &[(&str, &str)],
    ) -> Result<Server> {
        Server::start_probed(binary.as_ref(), env, " over HTTPS", async |addr| {
            self.get(addr, "/healthcheck").await
        })
        .await
    }

    /// Opens a TCP connection to `addr` and runs the TLS handshake over it,
    /// checking the certificate against the name given to
    /// [`Tls::trusting`]. A wss client upgrades the stream it returns.
    pub async fn connect(&self, addr: SocketAddr) -> Result<TlsStream<TcpStream>> {
        let handshake = async {
            let tcp = TcpStream::connect(addr)
                .await
                .with_context(|| format!("connecting to {addr}"))?;
            tcp.set_nodelay(true).context("setting TCP_NODELAY")?;
            TlsConnector::from(Arc::clone(&self.config))
                .connect(self.name.clone(), tcp)
                .await
                .with_context(|| format!("the TLS handshake with {addr}"))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, handshake)
            .await
            .with_context(|| format!("no TLS handshake with {addr} within {REQUEST_TIMEOUT:?}"))?
    }

    /// Sends `GET path` over a fresh TLS connection and reads the answer.
    pub async fn get(&self, addr: SocketAddr, path: &str) -> Result<HttpAnswer> {
        self.request(addr, "GET", path, "", "").await
    }

    /// Sends `POST path` with `fields` as a form (part 6's `/login`) over a
    /// fresh TLS connection and reads the answer.
    pub async fn post_form(
        &self,
        addr: SocketAddr,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<HttpAnswer> {
        let (headers, body) = crate::server::form(fields);
        self.request(addr, "POST", path, &headers, &body).await
    }

    /// Sends one request over a fresh TLS connection and reads the answer.
    async fn request(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &str,
        body: &str,
    ) -> Result<HttpAnswer> {
        let mut stream = self.connect(addr).await?;
        crate::server::exchange(&mut stream, addr, method, path, headers, body)
            .await
            .with_context(|| format!("{method} {path} over TLS"))
    }
}
