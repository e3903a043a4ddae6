//! The client side of TLS, for part 6 served with `TLS_CERT` and `TLS_KEY`:
//! start it and wait until HTTPS answers ([`Tls::start_with`]; `Server`'s
//! own wait asks over plain HTTP, which a TLS server does not answer), send
//! it HTTPS requests, and open the TLS connections a wss client upgrades.
//!
//! Behind the `tls` feature, so that the checkpoints before part 6, whose
//! tests use testkit's defaults, do not build rustls. ring is rustls's
//! provider here, as everywhere in the workspace.

use crate::{HttpAnswer, Server};
use anyhow::{Context, Result, bail};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// How long a freshly started binary may take to answer `/healthcheck` over
/// HTTPS, as `Server::start` allows over HTTP.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often to retry with another port when the chosen one was taken meanwhile.
const START_ATTEMPTS: usize = 5;
/// How long one request, from connecting to the end of the answer, may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer that is read: a health line or a token is short.
const MAX_ANSWER: usize = 64 * 1024;

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
        let shown = ca_pem.display();
        let mut roots = RootCertStore::empty();
        let certificates = CertificateDer::pem_file_iter(ca_pem)
            .with_context(|| format!("reading the certificate file {shown}"))?;
        for certificate in certificates {
            let certificate =
                certificate.with_context(|| format!("{shown} holds an unreadable PEM section"))?;
            roots
                .add(certificate)
                .with_context(|| format!("{shown} holds a certificate rustls cannot use"))?;
        }
        if roots.is_empty() {
            bail!("{shown} holds no PEM certificate");
        }
        // ring named here rather than rustls's process-wide default, which is
        // ambiguous if another crate ever enables aws-lc-rs.
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
        let name = ServerName::try_from(name.to_string())
            .with_context(|| format!("{name:?} is not a server name"))?;
        Ok(Tls {
            config: Arc::new(config),
            name,
        })
    }

    /// Starts `binary` as [`Server::spawn_with`] does, with `env` (which
    /// names the server's `TLS_CERT` and `TLS_KEY`), and waits until its
    /// `/healthcheck` answers 200 over HTTPS.
    pub async fn start_with(
        &self,
        binary: impl AsRef<Path>,
        env: &[(&str, &str)],
    ) -> Result<Server> {
        let binary = binary.as_ref();
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let mut server = Server::spawn_with(binary, env)?;
            match self.wait_until_healthy(&mut server).await {
                Ok(()) => return Ok(server),
                // Another process may grab the port between the probe and
                // the server's bind; only that case is worth another try.
                Err(err) if format!("{err:#}").contains("Address already in use") => {
                    last_error = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt was made")))
            .with_context(|| format!("starting {} on a free port", binary.display()))
    }

    /// Waits until `server` answers `GET /healthcheck` with 200 over HTTPS,
    /// or fails when it exits first or [`START_TIMEOUT`] runs out.
    pub async fn wait_until_healthy(&self, server: &mut Server) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = server.wait_exit(Duration::ZERO).await? {
                bail!(
                    "the server exited with {status} before answering /healthcheck over \
                     HTTPS; stderr:\n{}",
                    server.stderr_text()
                );
            }
            let last = match self.get(server.addr(), "/healthcheck").await {
                Ok(answer) if answer.status == 200 => return Ok(()),
                Ok(answer) => format!("HTTP {}", answer.status),
                Err(err) => format!("{err:#}"),
            };
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "{} did not answer /healthcheck over HTTPS within {START_TIMEOUT:?} \
                     (last: {last}); stderr:\n{}",
                    server.addr(),
                    server.stderr_text()
                );
            }
            // The process gives no readiness signal but the port, so poll it.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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
        let body: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect();
        let body = body.join("&");
        let headers = format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        );
        self.request(addr, "POST", path, &headers, &body).await
    }

    /// Sends one request (`headers` each ending in CRLF) with
    /// `Connection: close` and reads the answer: its head, then
    /// `Content-Length` bytes of body, or the body up to the end.
    async fn request(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &str,
        body: &str,
    ) -> Result<HttpAnswer> {
        let exchange = async {
            let mut stream = self.connect(addr).await?;
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n{body}"
            );
            stream
                .write_all(request.as_bytes())
                .await
                .context("sending the request")?;
            // TLS holds the last record until flushed.
            stream.flush().await.context("sending the request")?;
            read_answer(&mut stream).await
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .with_context(|| {
                format!("{method} {path} got no complete answer within {REQUEST_TIMEOUT:?}")
            })?
            .with_context(|| format!("{method} {path} over TLS"))
    }
}

/// Reads an answer's head and its body: `Content-Length` bytes when the
/// head gives it, otherwise up to the end of the connection.
async fn read_answer<S: AsyncRead + Unpin>(stream: &mut S) -> Result<HttpAnswer> {
    let mut raw = Vec::new();
    let mut ended = false;
    let head_end = loop {
        if let Some(at) = find(&raw, b"\r\n\r\n") {
            break at;
        }
        if ended {
            bail!(
                "the connection ended before a whole answer head: {:?}",
                String::from_utf8_lossy(&raw)
            );
        }
        ended = read_some(stream, &mut raw).await? == 0;
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map(|(_, value)| value.parse::<usize>())
        .transpose()
        .context("Content-Length is not a number")?;
    let mut body = raw.split_off(head_end + 4);
    let wanted = length.unwrap_or(MAX_ANSWER).min(MAX_ANSWER);
    while body.len() < wanted && !ended {
        ended = read_some(stream, &mut body).await? == 0;
    }
    if length.is_some_and(|length| body.len() < length) {
        bail!("the body ended after {} of its {wanted} bytes", body.len());
    }
    body.truncate(wanted);
    Ok(HttpAnswer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers,
    })
}

/// Appends what one read gives to `buffer` and says how many bytes that
/// was; 0 at the end. A TLS server may close without a close_notify, which
/// rustls reports as an unexpected end: that is the end too.
async fn read_some<S: AsyncRead + Unpin>(stream: &mut S, buffer: &mut Vec<u8>) -> Result<usize> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(count) => {
            buffer.extend_from_slice(&chunk[..count]);
            Ok(count)
        }
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        Err(err) => Err(err).context("reading the answer"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// `application/x-www-form-urlencoded`: unreserved bytes as they are, the
/// rest as `%XX`.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_is_read_to_its_content_length_or_its_end() {
        let raw = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\ncontent-length: 5\r\n\r\ntokenEXTRA";
        let answer = read_answer(&mut &raw[..]).await.expect("an answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "token");
        assert_eq!(answer.header("set-cookie"), Some("a=b"));
        let raw = b"HTTP/1.1 401 Unauthorized\r\n\r\nwrong";
        let answer = read_answer(&mut &raw[..]).await.expect("an answer");
        assert_eq!((answer.status, answer.body.as_str()), (401, "wrong"));
    }

    #[tokio::test]
    async fn a_short_body_or_a_missing_head_is_an_error() {
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc";
        assert!(read_answer(&mut &short[..]).await.is_err());
        let no_head = b"HTTP/1.1 200 OK\r\n";
        assert!(read_answer(&mut &no_head[..]).await.is_err());
    }
}
