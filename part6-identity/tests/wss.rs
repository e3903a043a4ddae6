//! Part 6 served over TLS, end to end with the real binary: with `TLS_CERT`
//! and `TLS_KEY` naming a certificate made for this run (for `localhost` and
//! 127.0.0.1), it answers `/healthcheck` and `POST /login` over HTTPS, the
//! login's cookie is `Secure` as well as HttpOnly and SameSite=Strict, a wss
//! upgrade with the login's token chats and one without a token gets 401,
//! a plain-HTTP request to the port gets no HTTP answer, and the terminal
//! client (`chat-client --user ... --ca-cert ...`) logs in and chats over wss.
//! Everything is asked over TLS, trusting that one certificate alone.

mod support;

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use support::{Printed, WAIT, printed_line};
use testkit::Server;
use testkit::tls::Tls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const BINARY: &str = env!("CARGO_BIN_EXE_part6-identity");

/// The first byte of a TLS alert record.
const TLS_ALERT: u8 = 21;

/// The demo accounts (`demo-users.txt`): alice is uid 1, bob uid 2.
const ALICE: (&str, &str) = ("alice", "rabbit-hole");
const BOB: (&str, &str) = ("bob", "can-we-fix-it");

#[test]
fn https_login_sets_a_secure_cookie_and_its_token_chats_over_wss() {
    testkit::block_on(async {
        let certificate = Certificate::make("chat");
        let (server, tls) = start(&certificate).await;
        let addr = server.addr();

        let health = tls
            .get(addr, "/healthcheck")
            .await
            .expect("GET /healthcheck over HTTPS");
        assert_eq!(health.status, 200, "{health:?}");

        let login = tls
            .post_form(addr, "/login", &[("name", ALICE.0), ("password", ALICE.1)])
            .await
            .expect("POST /login over HTTPS");
        assert_eq!(login.status, 200, "{login:?}");
        let token = login.body.trim();
        assert!(!token.is_empty(), "the login gave no token");
        let cookie = login.header("set-cookie").expect("the login sets a cookie");
        assert!(
            cookie.starts_with(&format!("chat_token={token};")),
            "the cookie carries the token: {cookie}"
        );
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure"] {
            assert!(
                cookie.split(';').any(|part| part.trim() == attribute),
                "the cookie is {attribute}: {cookie}"
            );
        }

        let mut alice = upgrade(&tls, addr, Some(token))
            .await
            .expect("a wss upgrade with alice's token");
        send(&mut alice, "hello over wss").await;
        read_until(&mut alice, "[UID: 1]: hello over wss").await;
        let _ = tokio::time::timeout(WAIT, alice.close(None)).await;

        match upgrade(&tls, addr, None).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 401, "{response:?}"),
            Err(err) => panic!("a wss upgrade without a token failed otherwise: {err}"),
            Ok(_) => panic!("a wss upgrade without a token was accepted"),
        }
    });
}

#[test]
fn plain_http_to_the_tls_port_gets_no_http_answer() {
    testkit::block_on(async {
        let certificate = Certificate::make("plain");
        let (server, tls) = start(&certificate).await;
        let addr = server.addr();

        let mut tcp = tokio::net::TcpStream::connect(addr)
            .await
            .expect("a TCP connection to the TLS port");
        let request =
            format!("GET /healthcheck HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes())
            .await
            .expect("send a plain request");
        // Whatever comes until the server ends the connection. An error (a
        // reset) ends it too.
        let mut received = Vec::new();
        let read = tokio::time::timeout(WAIT, async {
            let mut chunk = [0u8; 1024];
            while let Ok(count @ 1..) = tcp.read(&mut chunk).await {
                received.extend_from_slice(&chunk[..count]);
            }
        })
        .await;
        assert!(
            read.is_ok(),
            "the server kept a plain-HTTP connection open for {WAIT:?}"
        );
        // rustls answers bytes that are no TLS record with a TLS alert
        // record (content type 21): decode_error.
        assert!(
            received.is_empty() || received[0] == TLS_ALERT,
            "a plain request to the TLS port got more than a TLS alert: {:?} ({received:?})",
            String::from_utf8_lossy(&received)
        );

        // And the server is none the worse for it.
        let health = tls
            .get(addr, "/healthcheck")
            .await
            .expect("GET /healthcheck over HTTPS after the plain request");
        assert_eq!(health.status, 200, "{health:?}");
    });
}

#[test]
fn the_terminal_client_logs_in_and_chats_over_wss() {
    use clap::Parser;
    testkit::block_on(async {
        let certificate = Certificate::make("client");
        let (server, tls) = start(&certificate).await;
        let addr = server.addr();
        let bob_token = log_in(&tls, addr, BOB).await;
        let mut bob = upgrade(&tls, addr, Some(&bob_token))
            .await
            .expect("a wss upgrade with bob's token");

        // By IP address, so that the certificate's 127.0.0.1 is checked too
        // (testkit's client checks `localhost`).
        let url = format!("wss://127.0.0.1:{}/ws", addr.port());
        let cert = certificate.cert.to_string_lossy().into_owned();
        let args = chat_client::Args::try_parse_from([
            "chat-client",
            "--user",
            ALICE.0,
            "--url",
            &url,
            "--ca-cert",
            &cert,
        ])
        .expect("valid arguments");
        let (lines, input) = mpsc::unbounded_channel();
        let (printed, mut output) = mpsc::unbounded_channel();
        lines
            .send(Ok("hello from the terminal".to_string()))
            .expect("queue a line");
        let mut client = tokio::spawn(async move {
            chat_client::run(&args, Some(ALICE.1.to_string()), input, Printed(printed)).await
        });

        tokio::select! {
            () = read_until(&mut bob, "[UID: 1]: hello from the terminal") => {}
            ended = &mut client => panic!("the client ended before bob heard it: {ended:?}"),
        }
        let shown = printed_line(&mut output, "[UID: 1]: hello from the terminal").await;
        drop(lines); // the end of input: the client leaves
        tokio::time::timeout(WAIT, client)
            .await
            .expect("the client leaves at the end of its input")
            .expect("the client's task")
            .unwrap_or_else(|err| panic!("the client failed: {err:#}; it printed:\n{shown}"));
    });
}

/// A certificate for `localhost` and 127.0.0.1 and its key, as PEM files in
/// a directory of their own, removed when this is dropped.
struct Certificate {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Certificate {
    /// An end-entity certificate (not a CA), signed by its own key: the
    /// clients trust it alone.
    fn make(label: &str) -> Certificate {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("valid subject alternative names");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().expect("a key pair");
        let cert = params.self_signed(&key).expect("a self-signed certificate");

        let dir = unique_temp_dir(label);
        let certificate = Certificate {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            dir,
        };
        std::fs::write(&certificate.cert, cert.pem()).expect("write cert.pem");
        std::fs::write(&certificate.key, key.serialize_pem()).expect("write key.pem");
        certificate
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new directory under the system's temporary directory, named after this
/// process, a count and the clock, so that no other test run shares it.
fn unique_temp_dir(label: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "part6-wss-{label}-{}-{}-{nanos}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir(&dir).unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
    dir
}

/// Starts part 6 on a free loopback port with the certificate, and waits
/// until `/healthcheck` answers over HTTPS. The client trusts the
/// certificate alone and checks it against `localhost`.
async fn start(certificate: &Certificate) -> (Server, Tls) {
    let tls = Tls::trusting(&certificate.cert, "localhost").expect("a TLS client");
    let cert = certificate.cert.to_string_lossy();
    let key = certificate.key.to_string_lossy();
    let server = tls
        .start_with(BINARY, &[("TLS_CERT", &cert), ("TLS_KEY", &key)])
        .await
        .expect("part6 starts with TLS");
    (server, tls)
}

/// Logs in over HTTPS and returns the token.
async fn log_in(tls: &Tls, addr: SocketAddr, (name, password): (&str, &str)) -> String {
    let login = tls
        .post_form(addr, "/login", &[("name", name), ("password", password)])
        .await
        .expect("POST /login over HTTPS");
    assert_eq!(login.status, 200, "the login as {name}: {login:?}");
    let token = login.body.trim().to_string();
    assert!(!token.is_empty(), "the login as {name} gave no token");
    token
}

/// A wss upgrade over a TLS connection of testkit's, with `Authorization:
/// Bearer <token>` when there is a token.
async fn upgrade(
    tls: &Tls,
    addr: SocketAddr,
    token: Option<&str>,
) -> Result<WebSocketStream<impl AsyncRead + AsyncWrite + Unpin>, WsError> {
    let stream = tls.connect(addr).await.expect("a TLS connection");
    let mut request = format!("wss://localhost:{}/ws", addr.port()).into_client_request()?;
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("a header value");
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let upgraded = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream))
        .await
        .expect("the server answers the upgrade")?;
    Ok(upgraded.0)
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, text: &str) {
    tokio::time::timeout(WAIT, ws.send(Message::text(text)))
        .await
        .expect("the send completes")
        .expect("send a line over wss");
}

/// Reads texts until `expected`; presence notices come before it.
async fn read_until<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    expected: &str,
) {
    let read = tokio::time::timeout(WAIT, async {
        let mut seen = Vec::new();
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() == expected => return,
                Some(Ok(Message::Text(text))) => seen.push(text.to_string()),
                Some(Ok(_)) => {}
                other => panic!("waiting for {expected:?} after {seen:?}, got {other:?}"),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "{expected:?} did not come within {WAIT:?}");
}
