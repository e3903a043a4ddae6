//! Part 6 with the real `chat-client` binary: `--user` logs in with the
//! password from CHAT_PASSWORD, then upgrades with `Authorization: Bearer`;
//! a refused login or upgrade is one line with the status and the body. The
//! servers are made here, piece by piece (`support`), plain or TLS.

mod support;

use std::process::Output;
use support::{
    LIMIT, PASSWORD, PASSWORD_ENCODED, TOKEN, assert_is_login, listener, refuse_upgrade,
    run_client, serve_login, serve_login_then_chat,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Neither the password nor the token may reach the terminal.
fn assert_no_secret(output: &Output) {
    for stream in [&output.stdout, &output.stderr] {
        let shown = text(stream);
        assert!(
            !shown.contains(PASSWORD),
            "the password was printed: {shown}"
        );
        assert!(!shown.contains(TOKEN), "the token was printed: {shown}");
    }
}

#[tokio::test]
async fn user_logs_in_with_chat_password_then_upgrades_with_the_bearer_token_and_chats() {
    let (listener, url) = listener().await;
    let authority = listener.local_addr().expect("local addr").to_string();
    let server = serve_login_then_chat(listener);

    let output = run_client(
        &["--user", "alice", "--url", &url],
        Some(PASSWORD),
        "hello\nsecond line\n",
    )
    .await;
    let (login, session) = tokio::time::timeout(LIMIT, server)
        .await
        .expect("the server saw both steps in time")
        .expect("server task");

    assert!(output.status.success(), "{output:?}");
    assert_is_login(&login, &authority, "alice", PASSWORD_ENCODED);
    assert_eq!(
        session.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(session.uid, None, "--user sends no uid header");
    assert_eq!(session.texts, ["hello", "second line"]);
    assert_eq!(session.close_code, Some(1000));
    assert_eq!(
        text(&output.stdout),
        "[alice]: hello\n[alice]: second line\n"
    );
    assert!(
        text(&output.stderr).contains("logged in as alice"),
        "{output:?}"
    );
    assert_no_secret(&output);
}

#[tokio::test]
async fn a_refused_login_names_the_status_quotes_the_body_and_goes_no_further() {
    let cases = [
        ("401 Unauthorized", "wrong name or password"),
        (
            "429 Too Many Requests",
            "too many login attempts from your address: try again in 60 s",
        ),
    ];
    for (status, reason) in cases {
        let (listener, url) = listener().await;
        let login_url = url.replace("ws://", "http://").replace("/ws", "/login");
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept the login");
            serve_login(stream, status, reason).await;
            listener
        });

        let output = run_client(&["--user", "alice", "--url", &url], Some(PASSWORD), "").await;
        let listener = server.await.expect("server task");

        assert!(!output.status.success(), "{output:?}");
        assert_eq!(
            text(&output.stderr).trim_end(),
            format!(
                "chat-client: {login_url} refused the login as alice: HTTP {status}: {reason:?}"
            )
        );
        assert_eq!(text(&output.stdout), "");
        assert_no_secret(&output);
        // The client has exited, so an upgrade it tried would be queued by now.
        let listener = listener.into_std().expect("a std listener");
        listener.set_nonblocking(true).expect("nonblocking");
        let next = listener.accept();
        assert!(
            next.as_ref()
                .is_err_and(|err| err.kind() == std::io::ErrorKind::WouldBlock),
            "the client tried an upgrade after a refused login: {next:?}"
        );
    }
}

#[tokio::test]
async fn a_refused_upgrade_prints_the_status_and_the_body() {
    let (listener, url) = listener().await;
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept the login");
        serve_login(stream, "200 OK", TOKEN).await;
        let (stream, _) = listener.accept().await.expect("accept the upgrade");
        refuse_upgrade(stream, "the token has expired: log in again").await
    });

    let output = run_client(&["--user", "alice", "--url", &url], Some(PASSWORD), "").await;
    let upgrade = server.await.expect("server task");

    assert!(!output.status.success(), "{output:?}");
    assert_eq!(upgrade.line, "GET /ws HTTP/1.1");
    assert_eq!(
        upgrade.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        text(&output.stderr).trim_end(),
        format!(
            "chat-client: {url} refused the WebSocket upgrade: HTTP 401 Unauthorized: \
             \"the token has expired: log in again\""
        )
    );
    assert_no_secret(&output);
}

#[tokio::test]
async fn a_refused_upgrade_without_login_prints_the_body_too() {
    let (listener, url) = listener().await;
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept the upgrade");
        refuse_upgrade(stream, "log in first").await
    });

    let output = run_client(&["--uid", "7", "--url", &url], None, "").await;
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(
        text(&output.stderr).trim_end(),
        format!(
            "chat-client: {url} refused the WebSocket upgrade: HTTP 401 Unauthorized: \"log in first\""
        )
    );
}

#[tokio::test]
async fn user_and_uid_together_are_refused_by_the_argument_parser() {
    let output = run_client(
        &[
            "--user",
            "alice",
            "--uid",
            "1",
            "--url",
            "ws://127.0.0.1:9/ws",
        ],
        Some(PASSWORD),
        "",
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[tokio::test]
async fn help_explains_the_login() {
    let output = run_client(&["--help"], None, "").await;
    assert!(output.status.success());
    let help = text(&output.stdout);
    assert!(help.contains("--user <NAME>"), "{help}");
    assert!(help.contains("CHAT_PASSWORD"), "{help}");
    assert!(help.contains("Part 6 wants a login"), "{help}");
    assert!(help.contains("--ca-cert <FILE>"), "{help}");
}

#[cfg(not(feature = "tls"))]
#[tokio::test]
async fn without_the_tls_feature_wss_says_how_to_rebuild() {
    // With --user too: the hint must come before any password prompt.
    for args in [
        &["--uid", "1", "--url", "wss://127.0.0.1:9/ws"][..],
        &["--user", "alice", "--url", "wss://127.0.0.1:9/ws"][..],
    ] {
        let output = run_client(args, None, "").await;
        assert!(!output.status.success(), "{output:?}");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--features tls"), "{stderr}");
    }
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use crate::support::serve_chat;
    use std::path::PathBuf;
    use std::sync::Arc;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    /// A self-signed certificate for `localhost`: an acceptor that presents
    /// it, and a PEM file of it for `--ca-cert`, named after `label`.
    fn localhost_certificate(label: &str) -> (TlsAcceptor, PathBuf) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("a self-signed certificate");
        let pem = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chat-client-{label}-{}.pem", std::process::id()));
        std::fs::write(&pem, certified.cert.pem()).expect("write the PEM file");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        #[expect(
            deprecated,
            reason = "ring's provider has no post-quantum key exchange"
        )]
        let provider = tokio_rustls::rustls::crypto::ring::default_provider();
        let config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("a server configuration");
        (TlsAcceptor::from(Arc::new(config)), pem)
    }

    fn wss_url(listener: &tokio::net::TcpListener) -> String {
        let port = listener.local_addr().expect("local addr").port();
        format!("wss://localhost:{port}/ws")
    }

    #[tokio::test]
    async fn over_wss_the_login_and_the_chat_trust_the_ca_cert() {
        let (acceptor, pem) = localhost_certificate("trusted");
        let (listener, _) = listener().await;
        let url = wss_url(&listener);
        let authority = url
            .trim_start_matches("wss://")
            .trim_end_matches("/ws")
            .to_string();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept the login");
            let tls = acceptor.accept(tcp).await.expect("TLS for the login");
            let login = serve_login(tls, "200 OK", TOKEN).await;
            let (tcp, _) = listener.accept().await.expect("accept the upgrade");
            let tls = acceptor.accept(tcp).await.expect("TLS for the upgrade");
            (login, serve_chat(tls, "alice").await)
        });

        let pem_arg = pem.to_str().expect("a UTF-8 path");
        let args = ["--user", "alice", "--url", &url, "--ca-cert", pem_arg];
        let output = run_client(&args, Some(PASSWORD), "over TLS\n").await;
        let (login, session) = tokio::time::timeout(LIMIT, server)
            .await
            .expect("the server saw both steps in time")
            .expect("server task");

        assert!(output.status.success(), "{output:?}");
        assert_is_login(&login, &authority, "alice", PASSWORD_ENCODED);
        assert_eq!(
            session.authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(session.texts, ["over TLS"]);
        assert_eq!(text(&output.stdout), "[alice]: over TLS\n");
        assert_no_secret(&output);
    }

    #[tokio::test]
    async fn a_certificate_not_in_the_ca_cert_is_refused() {
        let (acceptor, _) = localhost_certificate("presented");
        let (_, other_pem) = localhost_certificate("other");
        let (listener, _) = listener().await;
        let url = wss_url(&listener);
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            // The client gives up during the handshake: no login is read.
            let _ = acceptor.accept(tcp).await;
        });

        let pem_arg = other_pem.to_str().expect("a UTF-8 path");
        let args = ["--user", "alice", "--url", &url, "--ca-cert", pem_arg];
        let output = run_client(&args, Some(PASSWORD), "").await;
        assert!(!output.status.success(), "{output:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains("TLS with localhost:"), "{stderr}");
        assert!(stderr.contains("certificate"), "{stderr}");
        assert_no_secret(&output);
    }

    #[tokio::test]
    async fn wss_without_ca_cert_says_which_file_is_missing() {
        // With --user too: before any password prompt.
        for who in [["--uid", "1"], ["--user", "alice"]] {
            let args = [who[0], who[1], "--url", "wss://localhost:9/ws"];
            let output = run_client(&args, None, "").await;
            assert!(!output.status.success(), "{output:?}");
            let stderr = text(&output.stderr);
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains("needs --ca-cert FILE"), "{stderr}");
        }
    }
}
