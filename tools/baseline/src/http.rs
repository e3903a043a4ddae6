//! HTTP: just enough for `/healthcheck` and the WebSocket upgrade.

use crate::CLOSE_TIMEOUT;
use crate::room::Room;
use crate::websocket::serve_websocket;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The answer of `/healthcheck`, the same as the checkpoints'.
const HEALTHCHECK_TEXT: &str = "rust-websocket-tutorial is live";
/// The largest request head (request line and headers) read.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a new connection may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one accepted connection: reads its request head, then answers it
/// or hands it on as a WebSocket.
pub(crate) async fn handle_connection(mut stream: TcpStream, peer: SocketAddr, room: Arc<Room>) {
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
pub(crate) async fn hang_up(stream: &mut TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 1024];
    let _ = timeout(CLOSE_TIMEOUT, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
