//! A real WebSocket client (tokio-tungstenite) that speaks to a checkpoint.

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use scenarios::Seen;
use std::fmt;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

/// One WebSocket connection to a checkpoint.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Pings received so far (tungstenite answers them by itself).
    pings: usize,
    /// Who this is in the runner's words: "user 1", or "a client".
    who: String,
    /// The base of the uid space it speaks in (see `crate::uids`); 0: none.
    uid_base: u32,
    /// The close frame or end the server gave, once read: why a later send fails.
    ended: Option<Event>,
}

/// A send that failed because the server had already closed the
/// connection. What the client saw is then the scenario's verdict (a NOT
/// YET, with the close), not a failure of the harness: `dispatch` turns it
/// into a fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerClosed {
    /// Who could not send: "user 1".
    pub who: String,
    /// The close frame or end the client had seen.
    pub seen: Event,
}

impl fmt::Display for ServerClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} could not send: the server had closed the connection ({})",
            self.who, self.seen
        )
    }
}

impl std::error::Error for ServerClosed {}

/// What a client saw next on its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A text message.
    Text(String),
    /// A close frame: its code (`None` for an empty frame) and reason.
    Close {
        /// The close code, when the frame carried one.
        code: Option<u16>,
        /// The reason text, possibly empty.
        reason: String,
    },
    /// The connection ended without a close frame, or failed.
    Gone(String),
    /// Nothing arrived within the time given.
    Silent,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Text(text) => write!(f, "text {text:?}"),
            Event::Close {
                code: Some(code),
                reason,
            } => write!(f, "closed with {code} {reason:?}"),
            Event::Close { code: None, .. } => write!(f, "closed with an empty close frame"),
            Event::Gone(why) => write!(f, "connection ended without a close frame ({why})"),
            Event::Silent => write!(f, "nothing"),
        }
    }
}

impl Event {
    /// The event as the scenario table records it. The details of a
    /// connection that ended (reset or orderly end) are left out: they vary
    /// from run to run, and a person sees the same thing either way.
    pub fn seen(&self) -> Seen {
        match self {
            Event::Text(text) => Seen::Text(text.clone().into()),
            Event::Close {
                code: Some(code),
                reason,
            } => Seen::Close {
                code: *code,
                reason: reason.clone().into(),
            },
            Event::Close { code: None, .. } => Seen::EmptyClose,
            Event::Gone(_) => Seen::Ended,
            Event::Silent => Seen::Nothing,
        }
    }
}

/// The result of an attempt to open a WebSocket.
pub enum Connection {
    /// The upgrade succeeded.
    Open(Box<Client>),
    /// The server answered the upgrade request with this HTTP status and body instead.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The body, which says why.
        body: String,
    },
}

impl Connection {
    /// The refusal as the scenario table records it, or `Seen::Accepted`.
    pub fn seen(&self) -> Seen {
        match self {
            Connection::Open(_) => Seen::Accepted,
            Connection::Refused { status, body } => Seen::Refused {
                status: *status,
                body: body.clone().into(),
            },
        }
    }
}

impl Client {
    /// Opens `url`, sending `uid` as the `uid` request header when given.
    pub async fn open(url: &str, uid: Option<&str>) -> Result<Connection> {
        match uid {
            Some(uid) => Self::open_with(url, &[("uid", uid)]).await,
            None => Self::open_with(url, &[]).await,
        }
    }

    /// Opens `url` with these extra request headers, such as `uid` or `Origin`.
    pub async fn open_with(url: &str, headers: &[(&str, &str)]) -> Result<Connection> {
        Self::open_configured(url, headers, true).await
    }

    /// Opens `url` as `uid` with Nagle's algorithm on, as a default
    /// tokio-tungstenite connection (chat-client's) leaves it: a small frame
    /// written right after another waits for that one's ACK.
    pub async fn connect_with_nagle(url: &str, uid: &str) -> Result<Client> {
        match Self::open_configured(url, &[("uid", uid)], false).await? {
            Connection::Open(client) => Ok(*client),
            Connection::Refused { status, body } => {
                bail!("{url} refused the upgrade with HTTP {status}: {body}")
            }
        }
    }

    /// Opens `url` with these headers; `nodelay` sets TCP_NODELAY.
    pub async fn open_configured(
        url: &str,
        headers: &[(&str, &str)],
        nodelay: bool,
    ) -> Result<Connection> {
        let uid_base = crate::uids::current();
        let mut who = "a client".to_string();
        let mut request = url
            .into_client_request()
            .with_context(|| format!("building a request for {url}"))?;
        let mut token = None;
        let mut token_given = false;
        for (name, value) in headers {
            let moved;
            let value = if name.eq_ignore_ascii_case("uid") {
                who = format!("user {value}");
                moved = crate::uids::outward(uid_base, value);
                token = crate::identity::token_for(&moved);
                moved.as_str()
            } else {
                value
            };
            // An `Authorization` of the caller's replaces the token; an empty
            // one sends none, as a client that never logged in.
            if name.eq_ignore_ascii_case("authorization") {
                token_given = true;
                if value.is_empty() {
                    continue;
                }
            }
            let value = HeaderValue::from_str(value)
                .with_context(|| format!("{value:?} is not a valid {name} header"))?;
            let name =
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .with_context(|| format!("{name:?} is not a header name"))?;
            request.headers_mut().insert(name, value);
        }
        // The user's token for part 6, which the other checkpoints ignore.
        if let Some(token) = token.filter(|_| !token_given) {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .context("a token that is not a header value")?;
            request.headers_mut().insert("authorization", value);
        }
        // Usually TCP_NODELAY, as browsers set it: with Nagle's algorithm a
        // small frame written after a pong waits for the pong's ACK, which
        // the server may delay by up to 40 ms.
        match connect_async_with_config(request, None, nodelay).await {
            Ok((ws, _response)) => Ok(Connection::Open(Box::new(Client {
                ws,
                pings: 0,
                who,
                uid_base,
                ended: None,
            }))),
            Err(WsError::Http(response)) => Ok(Connection::Refused {
                status: response.status().as_u16(),
                body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned(),
            }),
            Err(err) => Err(err).with_context(|| format!("opening {url}")),
        }
    }

    /// Opens `url` with a `uid` header and fails unless the upgrade succeeds.
    pub async fn connect(url: &str, uid: &str) -> Result<Client> {
        match Self::open(url, Some(uid)).await? {
            Connection::Open(client) => Ok(*client),
            Connection::Refused { status, body } => {
                bail!("{url} refused the upgrade with HTTP {status}: {body}")
            }
        }
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        let sent = self.ws.send(Message::text(text)).await;
        self.sent(sent).with_context(|| format!("sending {text:?}"))
    }

    /// A send's result, with a failure on a connection the server closed
    /// turned into [`ServerClosed`].
    fn sent(&self, sent: Result<(), WsError>) -> Result<()> {
        let Err(err) = sent else {
            return Ok(());
        };
        let closed = matches!(
            err,
            WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Io(_)
                | WsError::Protocol(
                    tokio_tungstenite::tungstenite::error::ProtocolError::SendAfterClosing
                )
        );
        match (&self.ended, closed) {
            (Some(seen), _) => Err(ServerClosed {
                who: self.who.clone(),
                seen: seen.clone(),
            }
            .into()),
            (None, true) => Err(ServerClosed {
                who: self.who.clone(),
                seen: Event::Gone(err.to_string()),
            }
            .into()),
            (None, false) => Err(err.into()),
        }
    }

    /// Waits up to `within` for the next text, close or end of the connection.
    /// Pings are answered by tungstenite and skipped here.
    pub async fn next_event(&mut self, within: Duration) -> Event {
        let event = self.read_event(within).await;
        if matches!(event, Event::Close { .. } | Event::Gone(_)) && self.ended.is_none() {
            self.ended = Some(event.clone());
        }
        event
    }

    async fn read_event(&mut self, within: Duration) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_elapsed) => return Event::Silent,
                Ok(next) => next,
            };
            match next {
                None => return Event::Gone("end of stream".to_string()),
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    return Event::Gone("closed".to_string());
                }
                Some(Err(err)) => return Event::Gone(err.to_string()),
                Some(Ok(Message::Text(text))) => {
                    return Event::Text(crate::uids::inward(self.uid_base, &text));
                }
                Some(Ok(Message::Close(frame))) => {
                    return match frame {
                        Some(frame) => Event::Close {
                            code: Some(frame.code.into()),
                            reason: frame.reason.to_string(),
                        },
                        None => Event::Close {
                            code: None,
                            reason: String::new(),
                        },
                    };
                }
                Some(Ok(Message::Ping(_))) => self.pings += 1,
                Some(Ok(_pong_or_binary)) => continue,
            }
        }
    }

    /// How many pings the server has sent that this client has read.
    pub fn pings(&self) -> usize {
        self.pings
    }

    /// Waits up to `within` for a text message equal to `expected`, skipping
    /// other texts. Returns the event that ended the wait if it is not that text.
    pub async fn wait_for_text(&mut self, expected: &str, within: Duration) -> Result<(), Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Event::Text(text) if text == expected => return Ok(()),
                Event::Text(_) => continue,
                other => return Err(other),
            }
        }
    }

    /// Closes politely: a close frame with code 1000 and `reason`, then waits
    /// up to `within` for the server's answer. Returns what the server sent back.
    pub async fn close_politely(mut self, reason: &str, within: Duration) -> Event {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: reason.into(),
        };
        if let Err(err) = self.ws.close(Some(frame)).await {
            return Event::Gone(err.to_string());
        }
        self.next_non_text(within).await
    }

    /// Closes politely like [`Client::close_politely`], then keeps reading
    /// until the server closes the TCP connection, for up to `within`.
    /// Returns the server's answer and how long after it the connection
    /// ended (`None`: still open after `within`).
    pub async fn close_and_time_the_end(
        mut self,
        reason: &str,
        within: Duration,
    ) -> (Event, Option<Duration>) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: reason.into(),
        };
        if let Err(err) = self.ws.close(Some(frame)).await {
            return (Event::Gone(err.to_string()), None);
        }
        let answer = self.next_non_text(within).await;
        let answered = tokio::time::Instant::now();
        let end = match self.next_event(within).await {
            Event::Gone(_) => Some(answered.elapsed()),
            _ => None,
        };
        (answer, end)
    }

    /// Waits up to `within` for the next event that is not a text message:
    /// the close frame, the end of the connection, or silence.
    pub async fn next_non_text(&mut self, within: Duration) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Event::Text(_) => continue,
                other => return other,
            }
        }
    }

    /// Sends `text` as one message split into frames of at most `chunk`
    /// bytes (a text frame, then continuation frames), as large uploads are.
    pub async fn send_text_in_fragments(&mut self, text: &str, chunk: usize) -> Result<()> {
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(chunk.max(1)).collect();
        let last = pieces.len().saturating_sub(1);
        for (index, piece) in pieces.into_iter().enumerate() {
            let opcode = if index == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let frame = Frame::message(piece.to_vec(), opcode, index == last);
            let sent = self.ws.send(Message::Frame(frame)).await;
            self.sent(sent)
                .with_context(|| format!("sending fragment {index}"))?;
        }
        Ok(())
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<()> {
        let sent = self.ws.send(Message::binary(bytes)).await;
        self.sent(sent).context("sending a binary message")
    }

    /// Sends a close frame with no code and no reason, and keeps the connection.
    pub async fn send_empty_close(&mut self) -> Result<()> {
        self.ws
            .close(None)
            .await
            .context("sending an empty close frame")
    }

    /// Drops the TCP connection without a close frame, as a client process
    /// that crashes would: the server sees the end of the stream and nothing else.
    pub fn vanish(self) {
        drop(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that accepts one connection, reads its uid header into
    /// `uid`, sends `line` and then closes with 1008 "go away".
    async fn closing_server(line: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding");
        let url = format!("ws://{}/ws", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accepting");
            let (mut ws, uid) = crate::test_server::accept_with_uid(stream)
                .await
                .expect("the handshake");
            ws.send(Message::text(line)).await.expect("sending");
            let frame = CloseFrame {
                code: CloseCode::Policy,
                reason: "go away".into(),
            };
            ws.close(Some(frame)).await.expect("closing");
            // The close frame is written; the client reads it from its
            // buffer whether or not this end waits for its answer.
            uid
        });
        (url, task)
    }

    #[test]
    fn a_send_after_the_server_closed_is_the_close_it_saw() {
        crate::block_on(async {
            let (url, server) = closing_server("hello").await;
            let mut client = Client::connect(&url, "1").await.expect("connecting");
            assert_eq!(client.next_event(REPLY).await, Event::Text("hello".into()));
            let close = client.next_event(REPLY).await;
            let err = client.send_text("anyone?").await.expect_err("closed");
            let closed = err
                .chain()
                .find_map(|cause| cause.downcast_ref::<ServerClosed>())
                .unwrap_or_else(|| panic!("not a ServerClosed: {err:#}"));
            assert_eq!(closed.who, "user 1");
            assert_eq!(closed.seen, close);
            assert_eq!(
                closed.seen,
                Event::Close {
                    code: Some(1008),
                    reason: "go away".into()
                }
            );
            assert_eq!(server.await.expect("the server task"), "1");
        });
    }

    #[test]
    fn in_a_uid_space_the_uid_goes_out_moved_and_comes_back() {
        crate::block_on(crate::uids::within(4000, async {
            let (url, server) = closing_server("[UID: 4002]: 2 joined").await;
            let mut client = Client::connect(&url, "2").await.expect("connecting");
            assert_eq!(
                client.next_event(REPLY).await,
                Event::Text("[UID: 2]: 2 joined".into())
            );
            assert_eq!(server.await.expect("the server task"), "4002");
        }));
    }

    const REPLY: Duration = Duration::from_secs(5);
}
