//! The benchmark floor: the checkpoints' broadcast chat on plain tokio and
//! tokio-tungstenite, without actix.
//!
//! The benchmarks compare each actix checkpoint against this server to show
//! what the framework and the tutorial's design cost over the least a correct
//! chat has to do. So it speaks exactly the checkpoints' protocol, and the
//! same load generator and test harness drive it unchanged:
//!
//! - `GET /healthcheck` answers `rust-websocket-tutorial is live`;
//! - `GET /ws` upgrades to a WebSocket; the user id comes from the `uid`
//!   header, or else from a `?uid=` query parameter, and must be an `i32`
//!   (without one the upgrade completes and is closed with 1008);
//! - each text message from user N reaches every connected user, the sender
//!   included, as `[UID: N]: <text>`;
//! - binary messages are closed with 1003, messages over 64 KiB with 1009, a
//!   user with 256 messages waiting is dropped with 1008, and a newer
//!   connection with the same uid replaces the older one, closed with 1008.
//!
//! It deliberately leaves out what part4-hardening adds on top of that: rate
//! limits, join and leave notices, heartbeats, the byte limit on a user's
//! queue, `Origin` checks, the browser page and graceful shutdown (on a
//! signal the process just exits). Anything left out here is work the
//! checkpoints do that the floor does not, and the benchmarks should read
//! their numbers that way.

use anyhow::Context;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// The answer of `/healthcheck`, the same as the checkpoints'.
const HEALTHCHECK_TEXT: &str = "rust-websocket-tutorial is live";
/// The largest message accepted, whole or in fragments, as in part4-hardening.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// How many messages may wait for one user before the user is dropped.
const OUTBOX_CAPACITY: usize = 256;
/// The largest request head (request line and headers) read.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a new connection may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close frame may take to go out, and then how long the client
/// may take to hang up before the connection is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Each connection's read buffer. tungstenite allocates it up front and its
/// default is 128 KiB, which would make the floor look heavy per connection;
/// frames larger than this still arrive whole, the buffer grows for them.
const READ_BUFFER_BYTES: usize = 4 * 1024;

// Close reasons, worded as in part4-hardening where it has the same rule.
// Each must fit a control frame: at most 123 bytes.
const UID_REQUIRED: &str =
    "a numeric uid is required: send a uid header or a ?uid= query parameter";
const REPLACED: &str = "replaced by a newer connection with the same uid";
const TOO_SLOW: &str = "too slow: more than 256 messages were waiting";
const TOO_BIG: &str = "messages are limited to 65536 bytes";
const TEXT_ONLY: &str = "only text messages are supported";
const NOT_UTF8: &str = "text messages must be valid UTF-8";

type Ws = WebSocketStream<TcpStream>;
type WsSink = SplitSink<Ws, Message>;

/// One worker thread per actix worker: the checkpoints run `.workers(2)`, so
/// the floor gets the same two threads and the comparison is about the code,
/// not the core count.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    env_logger::init_from_env(env_logger::Env::new().default_filter_or("info"));

    let host = std::env::var("HOST").unwrap_or_else(|_| "0.0.0.0".to_string());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .with_context(|| format!("PORT must be a number from 1 to 65535, not {port:?}"))?,
        Err(std::env::VarError::NotPresent) => 5000,
        Err(err) => return Err(err).context("reading PORT"),
    };
    let listener = TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("binding {host}:{port}"))?;
    log::info!("Server will be live on http://{host}:{port}");

    let room = Arc::new(Room::default());
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(handle_connection(stream, peer, Arc::clone(&room)));
            }
            Err(err) => {
                // Out of file descriptors, most likely: wait rather than spin.
                log::warn!("accepting a connection: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The chat room
// ---------------------------------------------------------------------------

/// What the room keeps for one connected user.
struct Outbox {
    /// Which connection this is, so that a departing connection removes its
    /// own entry and never a newer one's with the same uid.
    conn_id: u64,
    /// The user's queue, bounded: a user who stops reading costs at most
    /// `OUTBOX_CAPACITY` messages, then is dropped.
    queue: mpsc::Sender<Utf8Bytes>,
    /// Tells the connection's writer to close with this frame; unlike the
    /// queue above, it can never be full.
    kick: oneshot::Sender<CloseFrame>,
}

/// The users, shared by every connection.
///
/// A map behind a `std::sync::Mutex` rather than a server task that owns it
/// (the checkpoints' design): a broadcast never waits (it is a loop of
/// `try_send`s), so the lock is held for microseconds and never across an
/// `.await`, and the reader that received a message delivers it itself. A
/// server task would add a channel hop and a task wake-up to every message
/// and would serialise all broadcasts on one task anyway.
#[derive(Default)]
struct Room {
    users: Mutex<HashMap<i32, Outbox>>,
    next_conn_id: AtomicU64,
}

impl Room {
    fn users(&self) -> MutexGuard<'_, HashMap<i32, Outbox>> {
        // Nothing panics while holding the lock, and every update leaves the
        // map whole anyway, so a poisoned lock is still a good map.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn new_conn_id(&self) -> u64 {
        // Relaxed is enough: the ids only need to be distinct.
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a user; an older connection with the same uid is closed.
    fn join(&self, uid: i32, outbox: Outbox) {
        let older = self.users().insert(uid, outbox);
        if let Some(older) = older {
            log::debug!("user {uid}: {REPLACED}");
            let _ = older.kick.send(close_frame(CloseCode::Policy, REPLACED));
        }
    }

    /// Removes a user's entry if it is still this connection's.
    fn leave(&self, uid: i32, conn_id: u64) {
        let mut users = self.users();
        if users.get(&uid).is_some_and(|user| user.conn_id == conn_id) {
            let gone = users.remove(&uid);
            // Unlocked first: dropping the entry wakes the writer.
            drop(users);
            drop(gone);
        }
    }

    /// Sends `[UID: uid]: text` to every user, the sender included.
    fn broadcast(&self, uid: i32, text: &str) {
        // One allocation for the line, shared by every recipient: cloning
        // `Utf8Bytes` bumps a reference count. It plays the part of an
        // `Arc<str>`, and unlike one it becomes a `Message::Text` without a
        // copy per recipient (tungstenite's messages carry `Utf8Bytes`).
        let prefix = format!("[UID: {uid}]: ");
        let mut line = String::with_capacity(prefix.len() + text.len());
        line.push_str(&prefix);
        line.push_str(text);
        let line = Utf8Bytes::from(line);

        // Users whose queue is full (`true`) or already closed (`false`).
        let mut dropped = Vec::new();
        let removed: Vec<(i32, bool, Outbox)> = {
            let mut users = self.users();
            for (&id, user) in users.iter() {
                match user.queue.try_send(line.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => dropped.push((id, true)),
                    Err(TrySendError::Closed(_)) => dropped.push((id, false)),
                }
            }
            dropped
                .into_iter()
                .filter_map(|(id, too_slow)| Some((id, too_slow, users.remove(&id)?)))
                .collect()
        };
        // Unlocked. The kick goes in while the rest of the entry (its queue)
        // is still alive, so the writer sees the reason before the end.
        for (id, too_slow, user) in removed {
            if too_slow {
                log::info!("user {id}: {TOO_SLOW}; dropping");
                let _ = user.kick.send(close_frame(CloseCode::Policy, TOO_SLOW));
            }
        }
    }
}

fn close_frame(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }
}

// ---------------------------------------------------------------------------
// HTTP: just enough for `/healthcheck` and the WebSocket upgrade
// ---------------------------------------------------------------------------

/// A parsed request head. Every connection serves one request and closes
/// (or becomes a WebSocket), so there is no keep-alive and no body.
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: Vec<(&'a str, &'a str)>,
}

impl<'a> Request<'a> {
    /// Parses the head, without its final blank line. `None` if malformed.
    fn parse(head: &'a str) -> Option<Self> {
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next()?.split(' ');
        let (method, target, version) = (
            request_line.next()?,
            request_line.next()?,
            request_line.next()?,
        );
        if request_line.next().is_some() || !version.starts_with("HTTP/1.") {
            return None;
        }
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(':')?;
            // No whitespace in or around a name (this also rejects the
            // obsolete folded continuation lines).
            if name.is_empty() || name.contains([' ', '\t']) {
                return None;
            }
            headers.push((name, value.trim_matches([' ', '\t'])));
        }
        Some(Self {
            method,
            path,
            query,
            headers,
        })
    }

    /// The first header called `name` (ASCII case-insensitive).
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|&(_, value)| value)
    }

    /// Whether header `name` lists `token` (comma-separated, any case).
    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header(name).is_some_and(|value| {
            value
                .split(',')
                .any(|item| item.trim().eq_ignore_ascii_case(token))
        })
    }

    /// The uid from the `uid` header or, when there is none, from the `uid`
    /// query parameter, as in part4-hardening: a header that is present but
    /// not a number is not overridden by the query.
    fn uid(&self) -> Option<i32> {
        match self.header("uid") {
            Some(value) => value.parse().ok(),
            None => query_param(self.query?, "uid")?.parse().ok(),
        }
    }
}

/// The last value of `name` in a query string, decoded as a form would be.
fn query_param(query: &str, name: &str) -> Option<String> {
    // From the end: the last occurrence wins, as in a map built from the query.
    query.rsplit('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (form_decode(key) == name).then(|| form_decode(value))
    })
}

/// `+` as a space and `%XX` as a byte; a `%` not followed by two hex digits
/// stays as it is.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let hex = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2))
        {
            // Two hex digits make at most 255.
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What reading a request head came to.
enum Head {
    /// The head is `buf[..len]`; `extra` if bytes followed its blank line.
    Complete {
        len: usize,
        extra: bool,
    },
    TooLarge,
    /// The client hung up (or sent nothing in time) before a whole head.
    Incomplete,
}

/// Reads up to the blank line that ends a request head, at most
/// `MAX_HEAD_BYTES`.
async fn read_head(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<Head> {
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            return Ok(Head::TooLarge);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(Head::Incomplete);
        }
        // The terminator may straddle the previous read: look 3 bytes back.
        let from = filled.saturating_sub(3);
        filled += n;
        if let Some(at) = buf[from..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            let len = from + at;
            return Ok(Head::Complete {
                len,
                extra: len + 4 < filled,
            });
        }
    }
}

async fn handle_connection(mut stream: TcpStream, peer: SocketAddr, room: Arc<Room>) {
    // Every frame goes out when written, as part4-hardening's
    // `.tcp_nodelay(true)` has it: with Nagle's algorithm a small write
    // waits for the client to acknowledge the previous one, which clients
    // delay by up to 40 ms. The writer batches on its own anyway.
    if let Err(err) = stream.set_nodelay(true) {
        log::debug!("{peer}: setting TCP_NODELAY: {err}");
    }

    // The head is read into the heap and freed once routed, so that the 8 KiB
    // are not part of every connection's task for as long as it lives.
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let route = match timeout(HEAD_TIMEOUT, read_head(&mut stream, &mut buf)).await {
        // Bytes that are not UTF-8 become U+FFFD: such a uid is no number,
        // and such a name matches no header we look for.
        Ok(Ok(Head::Complete { len, extra })) => {
            route(&String::from_utf8_lossy(&buf[..len]), extra)
        }
        Ok(Ok(Head::TooLarge)) => Route::Answer(
            "431 Request Header Fields Too Large",
            "",
            "the request head is limited to 8 KiB",
        ),
        Ok(Ok(Head::Incomplete)) | Err(_) => return,
        Ok(Err(err)) => {
            log::debug!("{peer}: reading the request: {err}");
            return;
        }
    };
    drop(buf);
    match route {
        Route::Answer(status, headers, body) => answer(stream, status, headers, body).await,
        Route::Upgrade { accept, uid } => serve_websocket(stream, peer, &accept, uid, room).await,
    }
}

/// What to do with a request.
enum Route {
    /// Answer with this status, these extra header lines, this body.
    Answer(&'static str, &'static str, &'static str),
    /// Switch to a WebSocket: the `Sec-WebSocket-Accept` value, and the uid
    /// if the request had a usable one.
    Upgrade { accept: String, uid: Option<i32> },
}

fn route(head: &str, extra: bool) -> Route {
    let Some(request) = Request::parse(head) else {
        return Route::Answer("400 Bad Request", "", "malformed request");
    };
    match (request.path, request.method) {
        ("/healthcheck", "GET") => Route::Answer("200 OK", "", HEALTHCHECK_TEXT),
        ("/ws", "GET") => route_upgrade(&request, extra),
        ("/healthcheck" | "/ws", _) => Route::Answer(
            "405 Method Not Allowed",
            "Allow: GET\r\n",
            "only GET is supported here",
        ),
        _ => Route::Answer("404 Not Found", "", "not found"),
    }
}

/// Checks a WebSocket upgrade request.
fn route_upgrade(request: &Request<'_>, extra: bool) -> Route {
    let is_upgrade = request.header_has_token("upgrade", "websocket")
        && request.header_has_token("connection", "upgrade");
    let key = request.header("sec-websocket-key");
    let Some(key) = key.filter(|key| is_upgrade && !key.is_empty()) else {
        return Route::Answer(
            "400 Bad Request",
            "",
            "expected a WebSocket upgrade request",
        );
    };
    if request.header("sec-websocket-version") != Some("13") {
        return Route::Answer(
            "426 Upgrade Required",
            "Sec-WebSocket-Version: 13\r\n",
            "only WebSocket version 13 is supported",
        );
    }
    // A client must wait for the 101 before it sends any frame (RFC 6455,
    // 4.1), so the head is all there is to read and `from_raw_socket` (in
    // `serve_websocket`) loses nothing. One that sends early is refused
    // rather than served with its first bytes missing.
    if extra {
        return Route::Answer(
            "400 Bad Request",
            "",
            "data was sent before the WebSocket handshake was answered",
        );
    }
    Route::Upgrade {
        accept: derive_accept_key(key.as_bytes()),
        uid: request.uid(),
    }
}

/// Sends a plain-text answer and closes the connection.
async fn answer(mut stream: TcpStream, status: &str, extra_headers: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    );
    match stream.write_all(response.as_bytes()).await {
        Ok(()) => hang_up(&mut stream).await,
        Err(err) => log::debug!("writing an HTTP answer: {err}"),
    }
}

/// Ends the connection without losing what was just written: shut down our
/// side at once (after a close frame, the server closes TCP first, as RFC
/// 6455 section 7.1.1 asks), then read and discard until the client hangs up
/// too, or a second passes. Closing outright with unread bytes waiting makes
/// the kernel send a reset, which can reach the client before it has read
/// our last words.
async fn hang_up(stream: &mut TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 1024];
    let _ = timeout(CLOSE_TIMEOUT, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Completes a WebSocket upgrade and serves the connection.
async fn serve_websocket(
    mut stream: TcpStream,
    peer: SocketAddr,
    accept: &str,
    uid: Option<i32>,
    room: Arc<Room>,
) {
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if let Err(err) = stream.write_all(response.as_bytes()).await {
        log::debug!("{peer}: answering the WebSocket upgrade: {err}");
        return;
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let mut ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;

    match uid {
        Some(uid) => serve_user(ws, uid, room).await,
        None => {
            // As part4-hardening: the upgrade completes, then a 1008 that
            // says what to send.
            let close = Message::Close(Some(close_frame(CloseCode::Policy, UID_REQUIRED)));
            match timeout(CLOSE_TIMEOUT, ws.send(close)).await {
                Ok(Ok(())) => hang_up(ws.get_mut()).await,
                Ok(Err(err)) => log::debug!("{peer}: closing a connection without uid: {err}"),
                Err(_) => log::debug!("{peer}: did not take its close frame in time"),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// One WebSocket connection: a reader (this task) and a writer task
// ---------------------------------------------------------------------------

/// Serves one user until either side ends the connection.
///
/// The reader runs here: it broadcasts what the client sends, and ends on
/// the client's close, a bad frame, or the writer's end. The writer runs in
/// its own task, so a client that does not read never holds up its reads,
/// and other users never wait on it at all (they only `try_send`).
async fn serve_user(ws: Ws, uid: i32, room: Arc<Room>) {
    let (sink, mut source) = ws.split();
    let conn_id = room.new_conn_id();
    let (queue, queue_receiver) = mpsc::channel(OUTBOX_CAPACITY);
    let (kick, kicked) = oneshot::channel();
    let (stop_writer, reader_stopped) = oneshot::channel();
    room.join(
        uid,
        Outbox {
            conn_id,
            queue,
            kick,
        },
    );
    let stop = Stop {
        reader: reader_stopped,
        kick: kicked,
    };
    let mut writer = tokio::spawn(write_loop(uid, sink, queue_receiver, stop));

    let mut writer_ended = None;
    let reason = loop {
        tokio::select! {
            // Cancel safe: the stream keeps its state, not the future.
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => room.broadcast(uid, &text),
                Some(Ok(Message::Binary(_))) => break Some(close_frame(CloseCode::Unsupported, TEXT_ONLY)),
                // tungstenite has queued the echo of the client's close frame;
                // the next read sends it, and then the stream ends.
                Some(Ok(Message::Close(_))) => {}
                // Pings are answered by tungstenite as it reads; pongs and
                // raw frames need nothing.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // A frame over `max_frame_size` or a message over `max_message_size`.
                Some(Err(WsError::Capacity(err))) => {
                    log::debug!("user {uid}: {err}");
                    break Some(close_frame(CloseCode::Size, TOO_BIG));
                }
                Some(Err(WsError::Utf8(_))) => break Some(close_frame(CloseCode::Invalid, NOT_UTF8)),
                // The client hung up without a close frame: nobody to tell.
                Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                    log::debug!("user {uid}: hung up without a close frame");
                    break None;
                }
                Some(Err(WsError::Protocol(err))) => {
                    log::warn!("user {uid}: WebSocket protocol error: {err}");
                    break Some(CloseFrame { code: CloseCode::Protocol, reason: Utf8Bytes::default() });
                }
                Some(Err(err)) => {
                    log::debug!("user {uid}: connection lost: {err}");
                    break None;
                }
                None => break None,
            },
            // The writer ended first: it was told to close (replaced, too
            // slow) or could not write. Nothing is left to say.
            ended = &mut writer, if writer_ended.is_none() => {
                writer_ended = Some(ended);
                break None;
            }
        }
    };

    // Before leaving the room, whose entry holds the kick and the queue:
    // see `Stop::wait`.
    let _ = stop_writer.send(reason);
    room.leave(uid, conn_id);

    let ended = match writer_ended {
        Some(ended) => Some(ended),
        // The writer bounds its close frame by `CLOSE_TIMEOUT` itself; this
        // is only a backstop.
        None => match timeout(CLOSE_TIMEOUT * 2, &mut writer).await {
            Ok(ended) => Some(ended),
            Err(_) => {
                writer.abort();
                None
            }
        },
    };
    match ended {
        Some(Ok(sink)) => match source.reunite(sink) {
            Ok(mut ws) => hang_up(ws.get_mut()).await,
            Err(err) => log::error!("user {uid}: the socket's halves do not match: {err}"),
        },
        Some(Err(err)) => log::error!("user {uid}: the writer task failed: {err}"),
        None => log::debug!("user {uid}: the writer did not finish in time"),
    }
}

/// How a connection's writer learns that it must stop, and with what frame.
struct Stop {
    /// From the reader, when the connection ends on its side.
    reader: oneshot::Receiver<Option<CloseFrame>>,
    /// From the room: replaced by a newer connection, or too slow.
    kick: oneshot::Receiver<CloseFrame>,
}

impl Stop {
    /// The close frame to end with, if any. Cancel safe: the receivers are
    /// polled by reference and keep their value.
    async fn wait(&mut self) -> Option<CloseFrame> {
        tokio::select! {
            // The reader first: it sends its reason and only then leaves the
            // room, which drops the entry and with it the kick's sender.
            biased;
            from_reader = &mut self.reader => from_reader.ok().flatten(),
            // An entry leaves the room without a kick only when the reader
            // leaves, whose reason the arm above has already taken.
            kick = &mut self.kick => kick.ok(),
        }
    }
}

/// Writes the user's queue to the client until told to close, then hands
/// the sink back so that the connection can be ended cleanly.
///
/// Batching: after waiting for one message it `feed`s every message already
/// queued (up to a queue's worth) and `flush`es once, so a burst costs a few
/// large writes instead of one system call per message.
async fn write_loop(
    uid: i32,
    mut sink: WsSink,
    mut queue: mpsc::Receiver<Utf8Bytes>,
    mut stop: Stop,
) -> WsSink {
    loop {
        // `biased`: stopping wins over queued messages. Both arms are cancel
        // safe.
        let first = tokio::select! {
            biased;
            frame = stop.wait() => return send_close(uid, sink, frame).await,
            message = queue.recv() => match message {
                Some(message) => message,
                // Out of the room without a reason: the connection is over.
                None => return sink,
            },
        };
        let batch = async {
            sink.feed(Message::Text(first)).await?;
            for _ in 1..OUTBOX_CAPACITY {
                let Ok(next) = queue.try_recv() else { break };
                sink.feed(Message::Text(next)).await?;
            }
            sink.flush().await
        };
        // A client that stops reading blocks the write; the kick (from the
        // room, once the queue is full) must still get through.
        // Cancelling the write loses only messages the user is being
        // dropped for not reading.
        let interrupted = tokio::select! {
            biased;
            frame = stop.wait() => Some(frame),
            written = batch => match written {
                Ok(()) => None,
                Err(err) => {
                    log::debug!("user {uid}: writing: {err}");
                    return sink;
                }
            },
        };
        if let Some(frame) = interrupted {
            return send_close(uid, sink, frame).await;
        }
    }
}

/// Sends `frame` (if any) as the close frame, within `CLOSE_TIMEOUT`.
async fn send_close(uid: i32, mut sink: WsSink, frame: Option<CloseFrame>) -> WsSink {
    let Some(frame) = frame else {
        return sink;
    };
    match timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => log::debug!("user {uid}: sending the close frame: {err}"),
        Err(_) => log::debug!("user {uid}: did not take its close frame in time"),
    }
    sink
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_fit_a_close_frame_and_agree_with_limits() {
        for reason in [
            UID_REQUIRED,
            REPLACED,
            TOO_SLOW,
            TOO_BIG,
            TEXT_ONLY,
            NOT_UTF8,
        ] {
            assert!(reason.len() <= 123, "{reason:?} is too long");
        }
        assert_eq!(
            TOO_SLOW,
            format!("too slow: more than {OUTBOX_CAPACITY} messages were waiting")
        );
        assert_eq!(
            TOO_BIG,
            format!("messages are limited to {MAX_MESSAGE_BYTES} bytes")
        );
    }

    #[test]
    fn parses_a_request_head() {
        let head =
            "GET /ws?uid=7&x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUID:  42 ";
        let request = Request::parse(head).expect("a valid head");
        assert_eq!((request.method, request.path), ("GET", "/ws"));
        assert_eq!(request.query, Some("uid=7&x=1"));
        assert!(request.header_has_token("connection", "upgrade"));
        assert_eq!(request.uid(), Some(42), "the header wins over the query");
        assert!(Request::parse("GET /ws HTTP/1.1\r\n folded: no").is_none());
        assert!(Request::parse("GET /ws\r\n").is_none());
        assert!(Request::parse("GET / HTTP/1.1\r\nBad Name: x").is_none());
    }

    #[test]
    fn uid_from_header_or_query() {
        let uid = |head: &str| Request::parse(head).and_then(|request| request.uid());
        assert_eq!(uid("GET /ws?uid=-3 HTTP/1.1"), Some(-3));
        assert_eq!(uid("GET /ws?a=1&uid=%35 HTTP/1.1"), Some(5));
        assert_eq!(uid("GET /ws?uid=1&uid=2 HTTP/1.1"), Some(2), "the last one");
        assert_eq!(uid("GET /ws?uid=x HTTP/1.1"), None);
        assert_eq!(uid("GET /ws?uid=99999999999 HTTP/1.1"), None);
        assert_eq!(uid("GET /ws HTTP/1.1"), None);
        assert_eq!(
            uid("GET /ws?uid=1 HTTP/1.1\r\nuid: x"),
            None,
            "a bad header"
        );
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%20c%2"), "a b c%2");
        assert_eq!(form_decode("%zz%41"), "%zzA");
    }
}
