//! What chat-client's tests share: running the real binary, and a fake
//! part 6 server, piece by piece, for the login tests: each test accepts the
//! connections itself (plain or TLS) and hands each stream to the piece that
//! plays that step.

#![allow(dead_code, reason = "each test file uses the pieces it needs")]

use futures_util::{SinkExt, StreamExt};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// The token the fake login answers with.
pub const TOKEN: &str = "v1.alice.1767225600.c2lnbmF0dXJl";
/// A password with bytes the form encoding must escape.
pub const PASSWORD: &str = "s3cret pa&ss=ü+";
/// `PASSWORD` as the form body carries it.
pub const PASSWORD_ENCODED: &str = "s3cret+pa%26ss%3D%C3%BC%2B";

pub const CLIENT: &str = env!("CARGO_BIN_EXE_chat-client");
/// Bounds every wait on the client; each should end in milliseconds.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Starts chat-client with `args`, every standard stream piped, and
/// `CHAT_PASSWORD` set to `password` (unset when `None`).
pub fn spawn_client(args: &[&str], password: Option<&str>) -> Child {
    let mut command = Command::new(CLIENT);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match password {
        Some(password) => command.env("CHAT_PASSWORD", password),
        None => command.env_remove("CHAT_PASSWORD"),
    };
    command.spawn().expect("spawn chat-client")
}

/// Runs chat-client as [`spawn_client`] does, feeding it `stdin`, and
/// returns its output.
pub async fn run_client(args: &[&str], password: Option<&str>, stdin: &str) -> Output {
    let mut child = spawn_client(args, password);
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("chat-client finished in time")
        .expect("chat-client output")
}

pub async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!("ws://{}/ws", listener.local_addr().expect("local addr"));
    (listener, url)
}

/// One HTTP request as the server read it.
#[derive(Debug)]
pub struct HttpRequest {
    /// `POST /login HTTP/1.1`.
    pub line: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a request head and its `Content-Length` body.
pub async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> HttpRequest {
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 1024];
        let count = stream.read(&mut chunk).await.expect("read the request");
        assert!(count > 0, "the client closed before a whole request head");
        received.extend_from_slice(&chunk[..count]);
    };
    let head = String::from_utf8(received[..head_end].to_vec()).expect("a UTF-8 head");
    let mut lines = head.split("\r\n");
    let line = lines.next().expect("a request line").to_string();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (name, value) = l.split_once(':').expect("a header line");
            (name.trim().to_ascii_lowercase(), value.trim().to_string())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().expect("a numeric Content-Length"));
    let mut body = received[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 1024];
        let count = stream.read(&mut chunk).await.expect("read the body");
        assert!(count > 0, "the client closed before the whole body");
        body.extend_from_slice(&chunk[..count]);
    }
    HttpRequest {
        line,
        headers,
        body: String::from_utf8(body).expect("a UTF-8 body"),
    }
}

/// Answers `status` (e.g. `401 Unauthorized`) with a plain-text `body`, as
/// part 6 does; the head and the body go in separate writes, so the client
/// must read past the head to have the body.
pub async fn answer<S: AsyncWrite + Unpin>(stream: &mut S, status: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nset-cookie: chat_token={TOKEN}; HttpOnly; Path=/\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.flush().await.expect("flush head");
    stream.write_all(body.as_bytes()).await.expect("write body");
    stream.flush().await.expect("flush body");
}

/// Plays `POST /login`: reads the request, answers, and closes.
pub async fn serve_login<S>(mut stream: S, status: &str, body: &str) -> HttpRequest
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = read_request(&mut stream).await;
    answer(&mut stream, status, body).await;
    // A TLS client may see the close as an error; the answer is complete.
    let _ = stream.shutdown().await;
    request
}

/// What the chat end of the fake server saw.
#[derive(Debug)]
pub struct Session {
    pub authorization: Option<String>,
    pub uid: Option<String>,
    pub texts: Vec<String>,
    pub close_code: Option<u16>,
}

/// Plays the WebSocket endpoint: upgrades, answers each text with
/// `[<user>]: <text>`, and returns at the close.
#[expect(
    clippy::result_large_err,
    reason = "the handshake callback's signature is tungstenite's"
)]
pub async fn serve_chat<S>(stream: S, user: &str) -> Session
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut authorization = None;
    let mut uid = None;
    let mut ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, res: Response| {
        let header = |name| {
            req.headers()
                .get(name)
                .map(|v: &tokio_tungstenite::tungstenite::http::HeaderValue| {
                    v.to_str().unwrap_or("").to_string()
                })
        };
        authorization = header("authorization");
        uid = header("uid");
        Ok(res)
    })
    .await
    .expect("handshake");
    let mut texts = Vec::new();
    let mut close_code = None;
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(text) => {
                ws.send(Message::text(format!("[{user}]: {text}")))
                    .await
                    .expect("reply");
                texts.push(text.to_string());
            }
            Message::Close(frame) => {
                close_code = frame.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    // Let tungstenite finish the close handshake.
    while ws.next().await.is_some() {}
    Session {
        authorization,
        uid,
        texts,
        close_code,
    }
}

/// Refuses the upgrade as part 6 does: 401 with a plain-text reason.
pub async fn refuse_upgrade<S>(mut stream: S, reason: &str) -> HttpRequest
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = read_request(&mut stream).await;
    answer(&mut stream, "401 Unauthorized", reason).await;
    let _ = stream.shutdown().await;
    request
}

/// Asserts that the login request is part 6's: the method, the path, the
/// form's type and its encoded fields.
pub fn assert_is_login(request: &HttpRequest, authority: &str, name: &str, password_encoded: &str) {
    assert_eq!(request.line, "POST /login HTTP/1.1");
    assert_eq!(request.header("host"), Some(authority));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.body,
        format!("name={name}&password={password_encoded}")
    );
}

/// A fake part 6 on `listener`: the first connection is a login answered
/// with [`TOKEN`], the next a chat session of `alice`; the task gives back
/// what each saw.
pub fn serve_login_then_chat(
    listener: TcpListener,
) -> tokio::task::JoinHandle<(HttpRequest, Session)> {
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept the login");
        let login = serve_login(stream, "200 OK", TOKEN).await;
        let (stream, _) = listener.accept().await.expect("accept the upgrade");
        (login, serve_chat(stream, "alice").await)
    })
}
