//! Runs the real `chat-client` binary against small servers made here, each
//! playing one part: a chat echo, a server that closes at once, one that
//! refuses the upgrade, and an address where nobody listens.

mod support;

use futures_util::{SinkExt, StreamExt};
use support::{LIMIT, listener, run_client, spawn_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
#[expect(
    clippy::result_large_err,
    reason = "the handshake callback's signature is tungstenite's"
)]
async fn sends_lines_with_the_uid_header_prints_replies_and_closes_politely() {
    let (listener, url) = listener().await;
    let (seen_tx, seen_rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut uid = None;
        let mut ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, res: Response| {
            uid = req
                .headers()
                .get("uid")
                .map(|v| v.to_str().unwrap_or("").to_string());
            Ok(res)
        })
        .await
        .expect("handshake");
        let mut texts = Vec::new();
        let mut close = None;
        while let Some(Ok(message)) = ws.next().await {
            match message {
                Message::Text(text) => {
                    let reply = format!("[UID: {}]: {text}", uid.as_deref().unwrap_or("?"));
                    ws.send(Message::text(reply)).await.expect("reply");
                    texts.push(text.to_string());
                }
                Message::Close(frame) => {
                    close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    break;
                }
                _ => {}
            }
        }
        // Let tungstenite finish the close handshake.
        while ws.next().await.is_some() {}
        let _ = seen_tx.send((uid, texts, close));
    });

    let output = run_client(&["--uid", "7", "--url", &url], None, "hello\nsecond line\n").await;
    let (uid, texts, close) = seen_rx.await.expect("server saw the session");
    server.await.expect("server task");

    assert!(output.status.success(), "{output:?}");
    assert_eq!(uid.as_deref(), Some("7"));
    assert_eq!(texts, ["hello", "second line"]);
    let (code, reason) = close.expect("a close frame with a code");
    assert_eq!(code, 1000);
    assert!(!reason.is_empty());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout, "[UID: 7]: hello\n[UID: 7]: second line\n");
}

#[tokio::test]
async fn a_server_close_is_one_line_naming_url_code_and_reason() {
    let (listener, url) = listener().await;
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(stream)
            .await
            .expect("handshake");
        let frame = CloseFrame {
            code: CloseCode::Error,
            reason: "uid is missing".into(),
        };
        ws.close(Some(frame)).await.expect("close");
        while ws.next().await.is_some() {}
    });

    // Keep stdin open until the server has closed: the error must come from the server.
    let mut child = spawn_client(&["--url", &url], None);
    let mut stderr = child.stderr.take().expect("piped stderr");
    // `wait` would close a stdin left in `child`; hold it open instead.
    let stdin = child.stdin.take().expect("piped stdin");
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("chat-client finished in time")
        .expect("exit status");
    drop(stdin);
    let mut text = String::new();
    stderr.read_to_string(&mut text).await.expect("read stderr");

    assert!(!status.success());
    let last = text.lines().last().expect("an error line");
    assert_eq!(
        last,
        format!("chat-client: {url} closed the connection: code 1011, reason \"uid is missing\"")
    );
}

#[tokio::test]
async fn a_refused_upgrade_names_the_http_status() {
    let (listener, url) = listener().await;
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut request = [0u8; 1024];
        let _ = stream.read(&mut request).await;
        let answer = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        stream.write_all(answer.as_bytes()).await.expect("answer");
    });

    let output = run_client(&["--uid", "1", "--url", &url], None, "").await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!("chat-client: {url} refused the WebSocket upgrade: HTTP 404 Not Found")
    );
}

#[tokio::test]
async fn a_server_that_is_down_is_named_with_a_hint() {
    // Bind then drop: the port is free and nobody listens on it.
    let url = listener().await.1;
    let output = run_client(&["--uid", "1", "--url", &url], None, "").await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("chat-client: cannot reach {url}: ")),
        "{stderr}"
    );
    assert!(stderr.contains("cargo run -p part2"), "{stderr}");
}

#[tokio::test]
async fn help_explains_the_uid_header() {
    let output = run_client(&["--help"], None, "").await;
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("`uid` HTTP header"), "{help}");
    assert!(help.contains("--uid <UID>"), "{help}");
    assert!(help.contains("ws://127.0.0.1:5000/ws"), "{help}");
}
