//! A terminal chat client for the tutorial's WebSocket servers.
//!
//! Each input line is sent as a text message; each text message received is
//! written out, one per line. When the input ends (Ctrl-D), the client closes
//! the connection politely and returns.
//!
//! The binary (`src/main.rs`) is [`Args`], [`password_for`], [`stdin_lines`]
//! and [`run`] on stdout. They are a library so that another crate's test can
//! drive the client exactly as the binary does, with its own input and output:
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use clap::Parser;
//! let args = chat_client::Args::try_parse_from([
//!     "chat-client", "--user", "alice", "--url", "ws://127.0.0.1:5000/ws",
//! ])?;
//! let (lines, input) = tokio::sync::mpsc::unbounded_channel();
//! lines.send(Ok("hello".to_string()))?;
//! drop(lines); // the end of input: the client leaves
//! let mut printed = Vec::new();
//! chat_client::run(&args, Some("secret".to_string()), input, &mut printed).await?;
//! # Ok(())
//! # }
//! ```

mod http;
mod net;

/// A rustls client configuration that trusts the certificates of one PEM
/// file alone, with ring as the provider: what `--ca-cert` makes, and what
/// the tests' TLS clients use.
#[cfg(feature = "tls")]
pub use net::tls_client_config;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use net::{Endpoint, Trust};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{
    AUTHORIZATION, CONTENT_LENGTH, TRANSFER_ENCODING,
};
use tokio_tungstenite::tungstenite::http::{HeaderValue, Response, StatusCode};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The environment variable that gives `--user`'s password without a prompt.
pub const PASSWORD_VARIABLE: &str = "CHAT_PASSWORD";

/// How long to wait for the server to answer our close frame before leaving anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a login may take, from connecting to the end of the answer: a
/// password hash takes a fraction of a second, a server that hangs forever.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the rest of a refused upgrade's body before showing
/// what came.
const REFUSAL_BODY_TIMEOUT: Duration = Duration::from_secs(3);

/// What to start when nobody listens: parts 1 to 5 take a uid, part 6 a login.
const HINT_UID: &str = "cargo run -p part2";
const HINT_LOGIN: &str = "cargo run -p part6-identity";

/// Chat with a tutorial server from the terminal.
///
/// Parts 1 to 5 know who you are from a `uid` HTTP header sent with the
/// WebSocket upgrade request (browsers cannot set such a header, which is why
/// this client exists): give it with `--uid`. Those servers trust whatever uid
/// you send: it is a claim, not a login.
///
/// Part 6 wants a login: with `--user NAME`, the client posts your name and
/// password to the server's `/login` (same host and port as the WebSocket
/// URL) and sends the token it answers as `Authorization: Bearer` with the
/// upgrade. The password comes from the CHAT_PASSWORD environment variable
/// when it is set, otherwise it is asked for on the terminal without echo.
/// For `wss://`, build with `--features tls` and give the server's
/// certificate with `--ca-cert`.
///
/// Type a line and press Enter to send it; every message the server sends is
/// printed as it arrives. Press Ctrl-D (end of input) to leave: the client
/// sends a close frame and exits.
#[derive(Parser, Debug, Clone)]
#[command(name = "chat-client", version)]
pub struct Args {
    /// Parts 1 to 5: your user id, sent as the `uid` request header. The
    /// tutorial's servers expect a number. Leave it out to see how a server
    /// treats a connection without one.
    #[arg(long, conflicts_with = "user")]
    pub uid: Option<String>,

    /// Part 6: log in as NAME (password from CHAT_PASSWORD, or asked for
    /// without echo), then connect with the token the login gives.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// The server's WebSocket endpoint (`wss://` needs `--features tls`).
    #[arg(long, default_value = "ws://127.0.0.1:5000/ws")]
    pub url: String,

    /// For `wss://`: a PEM file with the certificate the server presents, or
    /// the one that signed it. The client trusts these certificates and no
    /// others.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// Part 6's login URL for a WebSocket URL: `ws://H:P/ws` gives
/// `http://H:P/login`, `wss://H:P/ws` gives `https://H:P/login`.
///
/// Errors when the URL is not `ws://` or `wss://`, and for `wss://` when the
/// client was built without the `tls` feature.
pub fn login_url(ws_url: &str) -> Result<String> {
    Ok(Endpoint::parse(ws_url)?.login_url())
}

/// `--user`'s password, as the binary reads it: the value of
/// [`PASSWORD_VARIABLE`] when it is set, otherwise typed on the terminal
/// without echo after a prompt that names the login URL. `None` without
/// `--user`. Blocks while the user types.
///
/// It first checks what can be checked without the server (the URL, and for
/// `wss://` the certificate file), so that such a mistake does not cost
/// typing the password. The binary calls it before it starts reading stdin:
/// on a terminal, a reader thread would race the prompt for the typed line.
pub fn password_for(args: &Args) -> Result<Option<String>> {
    let Some(user) = &args.user else {
        return Ok(None);
    };
    let endpoint = Endpoint::parse(&args.url)?;
    Trust::new(&endpoint, args.ca_cert.as_deref())?;
    if let Some(value) = std::env::var_os(PASSWORD_VARIABLE) {
        let password = value
            .into_string()
            .map_err(|_| anyhow!("{PASSWORD_VARIABLE} is not valid UTF-8"))?;
        return Ok(Some(password));
    }
    let prompt = format!("Password for {user} at {}: ", endpoint.login_url());
    let password = rpassword::prompt_password(prompt).with_context(|| {
        format!(
            "cannot ask for {user}'s password on a terminal \
             (set {PASSWORD_VARIABLE} to give it without one)"
        )
    })?;
    Ok(Some(password))
}

/// Logs in to a part 6 server as `name` and returns the token it answers,
/// for `Authorization: Bearer`.
///
/// Posts the form (`name`, `password`) to the login URL of `ws_url` (see
/// [`login_url`]). For `wss://`, the server's certificate must be in
/// `ca_cert`. Any answer but `200` is an error that names the status and
/// quotes the body (401: wrong name or password; 429: too many attempts).
/// The error never contains the password or a token.
pub async fn login(
    ws_url: &str,
    name: &str,
    password: &str,
    ca_cert: Option<&Path>,
) -> Result<String> {
    let endpoint = Endpoint::parse(ws_url)?;
    let trust = Trust::new(&endpoint, ca_cert)?;
    login_at(&endpoint, &trust, name, password).await
}

async fn login_at(
    endpoint: &Endpoint,
    trust: &Trust,
    name: &str,
    password: &str,
) -> Result<String> {
    let login_url = endpoint.login_url();
    let exchange = async {
        let mut stream = net::connect(endpoint, trust, HINT_LOGIN).await?;
        let fields = [("name", name), ("password", password)];
        http::post_form(&mut stream, &endpoint.authority, "/login", &fields)
            .await
            .with_context(|| format!("logging in at {login_url}"))
    };
    let answer = tokio::time::timeout(LOGIN_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            anyhow!(
                "{login_url} did not answer the login within {} s",
                LOGIN_TIMEOUT.as_secs()
            )
        })??;
    if answer.status != StatusCode::OK {
        bail!(
            "{login_url} refused the login as {name}: HTTP {}: {:?}",
            answer.status,
            answer.text()
        );
    }
    let token = answer.text().trim().to_string();
    if token.is_empty() {
        bail!("{login_url} accepted the login as {name} but sent no token");
    }
    Ok(token)
}

/// Reads stdin on its own thread, as tokio recommends for interactive input,
/// so that leaving never waits on a blocked read. The thread starts reading
/// at once (see [`password_for`] for why the binary asks first).
pub fn stdin_lines() -> mpsc::UnboundedReceiver<io::Result<String>> {
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// Runs the client as the binary does: logs in first with `--user`, opens
/// the WebSocket, sends each of `lines` as a text message and writes each
/// text message received to `out`, one per line, flushed at once. When
/// `lines` ends, closes with 1000 and returns `Ok`.
///
/// `password` is `--user`'s password; when it is `None`, `run` reads it as
/// the binary does ([`password_for`]). It is not used without `--user`.
/// Notices (connected, a close left unanswered) go to stderr, as the
/// binary's do; every failure is the returned error, which the binary prints
/// as its one line on stderr (`{err:#}`), and which never contains the
/// password or the token.
pub async fn run<W: Write>(
    args: &Args,
    password: Option<String>,
    mut lines: mpsc::UnboundedReceiver<io::Result<String>>,
    mut out: W,
) -> Result<()> {
    let url = &args.url;
    let endpoint = Endpoint::parse(url)?;
    let trust = Trust::new(&endpoint, args.ca_cert.as_deref())?;
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("{url} is not a WebSocket URL (expected ws://host:port/path)"))?;
    if let Some(uid) = &args.uid {
        let value = HeaderValue::from_str(uid)
            .with_context(|| format!("{uid:?} cannot be sent as a header value"))?;
        request.headers_mut().insert("uid", value);
    }
    if let Some(user) = &args.user {
        let password = match password {
            Some(password) => password,
            None => {
                let args = args.clone();
                tokio::task::spawn_blocking(move || password_for(&args))
                    .await
                    .context("the password prompt stopped")??
                    .context("no password for --user")?
            }
        };
        let token = login_at(&endpoint, &trust, user, &password).await?;
        // The error would not show the token, but is replaced anyway to be sure.
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            anyhow!(
                "the token from {} cannot be sent as a header value",
                endpoint.login_url()
            )
        })?;
        // Keeps it out of any Debug output of the request.
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }

    let hint = if args.user.is_some() {
        HINT_LOGIN
    } else {
        HINT_UID
    };
    let mut stream = net::connect(&endpoint, &trust, hint).await?;
    // The stream is lent, not given, so that a refused upgrade's body can be
    // read to its end from it.
    let upgrade = tokio_tungstenite::client_async(request, &mut stream).await;
    let mut ws = match upgrade {
        Ok((ws, _response)) => ws,
        Err(WsError::Http(response)) => {
            let status = response.status();
            let body = refused_body(&mut stream, &response).await;
            if body.is_empty() {
                bail!("{url} refused the WebSocket upgrade: HTTP {status}")
            }
            bail!("{url} refused the WebSocket upgrade: HTTP {status}: {body:?}")
        }
        Err(err) => return Err(err).with_context(|| format!("cannot open {url}")),
    };
    match (&args.user, &args.uid) {
        (Some(user), _) => {
            eprintln!("chat-client: logged in as {user} and connected to {url}; Ctrl-D leaves")
        }
        (None, Some(uid)) => {
            eprintln!("chat-client: connected to {url} as uid {uid}; Ctrl-D leaves")
        }
        (None, None) => {
            eprintln!("chat-client: connected to {url} without a uid header; Ctrl-D leaves")
        }
    }

    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    let line = line.context("reading stdin")?;
                    ws.send(Message::text(line)).await.with_context(|| format!("sending to {url}"))?;
                }
                None => return leave(&mut ws, url, &mut out).await,
            },
            received = ws.next() => match received {
                Some(Ok(Message::Text(text))) => print_line(&mut out, &text)?,
                Some(Ok(Message::Close(frame))) => bail!("{url} closed the connection: {}", describe(frame.as_ref())),
                // tungstenite answers pings itself; binary frames are not part of this chat.
                Some(Ok(_)) => {}
                Some(Err(err)) => bail!("{url} dropped the connection: {err}"),
                None => bail!("{url} dropped the connection without a close frame"),
            },
        }
    }
}

/// The body of a refused upgrade, as text: tungstenite keeps what came with
/// the status line; the rest is read here, within a short wait.
async fn refused_body(stream: &mut net::Stream, response: &Response<Option<Vec<u8>>>) -> String {
    let start = response.body().clone().unwrap_or_default();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    };
    let length = header(CONTENT_LENGTH).and_then(|value| value.trim().parse().ok());
    // A chunked body cannot be read by length; show what came.
    let chunked = header(TRANSFER_ENCODING).is_some_and(|value| value.contains("chunked"));
    let body = if chunked {
        start
    } else {
        match tokio::time::timeout(
            REFUSAL_BODY_TIMEOUT,
            http::read_body(stream, start.clone(), length),
        )
        .await
        {
            Ok(Ok(body)) => body,
            // The status is the news; a body cut short still says something.
            Ok(Err(_)) | Err(_) => start,
        }
    };
    String::from_utf8_lossy(&body).trim().to_string()
}

fn print_line<W: Write>(out: &mut W, text: &str) -> Result<()> {
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .context("printing a received message")
}

/// Closes politely and waits briefly for the server's answer.
async fn leave<S, W>(ws: &mut WebSocketStream<S>, url: &str, out: &mut W) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    W: Write,
{
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "chat-client: end of input".into(),
    };
    ws.close(Some(frame))
        .await
        .with_context(|| format!("closing {url}"))?;
    let answered = tokio::time::timeout(CLOSE_TIMEOUT, async {
        // Messages still in flight are printed; the close answer ends the wait.
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                print_line(out, &text)?;
            }
        }
        anyhow::Ok(())
    })
    .await;
    match answered {
        Ok(printed) => printed,
        Err(_) => {
            eprintln!(
                "chat-client: {url} did not answer the close frame within {} s; leaving anyway",
                CLOSE_TIMEOUT.as_secs()
            );
            Ok(())
        }
    }
}

fn describe(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(frame) if frame.reason.is_empty() => {
            format!("code {}, no reason given", u16::from(frame.code))
        }
        Some(frame) => format!(
            "code {}, reason {:?}",
            u16::from(frame.code),
            frame.reason.as_str()
        ),
        None => "an empty close frame (no code, no reason)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_url_keeps_host_and_port() {
        let url = login_url("ws://127.0.0.1:5000/ws").expect("a ws URL");
        assert_eq!(url, "http://127.0.0.1:5000/login");
        let url = login_url("ws://[::1]:8080/chat/ws").expect("an IPv6 URL");
        assert_eq!(url, "http://[::1]:8080/login");
        assert!(login_url("ftp://127.0.0.1/ws").is_err());
        if cfg!(feature = "tls") {
            let url = login_url("wss://localhost:8443/ws").expect("a wss URL");
            assert_eq!(url, "https://localhost:8443/login");
        } else {
            let err = login_url("wss://localhost:8443/ws").expect_err("no TLS in this build");
            assert!(err.to_string().contains("--features tls"), "{err}");
        }
    }

    #[test]
    fn user_and_uid_exclude_each_other() {
        let both = Args::try_parse_from(["chat-client", "--user", "alice", "--uid", "1"]);
        assert!(both.is_err());
        let user = Args::try_parse_from(["chat-client", "--user", "alice"]).expect("--user alone");
        assert_eq!(user.user.as_deref(), Some("alice"));
        assert_eq!(user.url, "ws://127.0.0.1:5000/ws");
    }
}
