//! A terminal chat client for the tutorial's WebSocket servers.
//!
//! Each line typed on stdin is sent as a text message; each text message
//! received is printed on stdout. When stdin ends (Ctrl-D), the client closes
//! the connection politely and exits.

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How long to wait for the server to answer our close frame before leaving anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Chat with a tutorial server from the terminal.
///
/// The tutorial's servers know who you are from a `uid` HTTP header sent with
/// the WebSocket upgrade request (browsers cannot set such a header, which is
/// why this client exists). The server trusts whatever uid you send: it is a
/// claim, not a login.
///
/// Type a line and press Enter to send it; every message the server sends is
/// printed as it arrives. Press Ctrl-D (end of input) to leave: the client
/// sends a close frame and exits.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Your user id, sent as the `uid` request header. The tutorial's servers
    /// expect a number. Leave it out to see how a server treats a connection
    /// without one.
    #[arg(long)]
    uid: Option<String>,

    /// The server's WebSocket endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:5000/ws")]
    url: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("chat-client: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(chat(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-client: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn chat(args: &Args) -> Result<()> {
    let url = &args.url;
    let mut request = url
        .as_str()
        .into_client_request()
        .with_context(|| format!("{url} is not a WebSocket URL (expected ws://host:port/path)"))?;
    if let Some(uid) = &args.uid {
        let value = HeaderValue::from_str(uid)
            .with_context(|| format!("{uid:?} cannot be sent as a header value"))?;
        request.headers_mut().insert("uid", value);
    }

    let (mut ws, _response) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(WsError::Http(response)) => {
            bail!(
                "{url} refused the WebSocket upgrade: HTTP {}",
                response.status()
            )
        }
        Err(WsError::Io(err)) => {
            bail!("cannot reach {url}: {err} (is the server running? try `cargo run -p part2`)")
        }
        Err(err) => return Err(err).with_context(|| format!("cannot open {url}")),
    };
    match &args.uid {
        Some(uid) => eprintln!("chat-client: connected to {url} as uid {uid}; Ctrl-D leaves"),
        None => eprintln!("chat-client: connected to {url} without a uid header; Ctrl-D leaves"),
    }

    let mut lines = stdin_lines();
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    let line = line.context("reading stdin")?;
                    ws.send(Message::text(line)).await.with_context(|| format!("sending to {url}"))?;
                }
                None => return leave(&mut ws, url).await,
            },
            received = ws.next() => match received {
                Some(Ok(Message::Text(text))) => println!("{text}"),
                Some(Ok(Message::Close(frame))) => bail!("{url} closed the connection: {}", describe(frame.as_ref())),
                // tungstenite answers pings itself; binary frames are not part of this chat.
                Some(Ok(_)) => {}
                Some(Err(err)) => bail!("{url} dropped the connection: {err}"),
                None => bail!("{url} dropped the connection without a close frame"),
            },
        }
    }
}

/// Closes politely and waits briefly for the server's answer.
async fn leave<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, url: &str) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
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
                println!("{text}");
            }
        }
    })
    .await;
    if answered.is_err() {
        eprintln!(
            "chat-client: {url} did not answer the close frame within {} s; leaving anyway",
            CLOSE_TIMEOUT.as_secs()
        );
    }
    Ok(())
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

/// Reads stdin on its own thread, as tokio recommends for interactive input,
/// so that leaving never waits on a blocked read.
fn stdin_lines() -> mpsc::UnboundedReceiver<std::io::Result<String>> {
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}
