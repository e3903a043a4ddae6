//! Checkpoint 4: part3 with every defect of the scenario table fixed.
//!
//! The shape is still the blog's: one chat server task owns the map of users,
//! and one session task per connection talks to its client. What changes is
//! what each side does when the other misbehaves: every user's queue is
//! bounded, every ending is reported, every write can be cancelled, pages from
//! other sites are turned away, and the process says goodbye to its clients
//! before it exits. Each fix carries a `Fix:` comment. New features: the uid
//! may come from the query string, `/` serves a browser client, and the chat
//! announces who joins and who leaves.

use actix_web::{App, Error, HttpRequest, HttpResponse, HttpServer, Responder, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError};
use bytestring::ByteString;
use futures_util::try_join;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::{spawn, task::spawn_local};

// ANCHOR: limits
/// The answer of `/healthcheck`.
const HEALTHCHECK_TEXT: &str = "rust-websocket-tutorial is live";
/// The largest text message accepted, whole or in fragments.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// How many messages (heartbeats included) may wait for one user before the
/// user is dropped.
const OUTBOX_CAPACITY: usize = 256;
/// How many queued messages a session writes in one turn of its loop.
const WRITE_BATCH: usize = 32;
/// How many commands may wait for the server task before sessions wait.
const COMMAND_CAPACITY: usize = 1024;
/// How many bytes may wait for one user before the user is dropped.
const OUTBOX_BYTES: usize = 512 * 1024;
/// A notice is skipped for a user who already has this many messages waiting.
const NOTICE_MAX_WAITING: usize = 32;
/// How often who joined and who left is announced, summarised.
const PRESENCE_INTERVAL: Duration = Duration::from_millis(500);
/// Up to this many names, a presence notice names the users; past it, it counts them.
const PRESENCE_NAMES: usize = 3;
/// How often the server's heartbeat reaches every session, which then checks
/// its client's last sign of life and pings it.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
/// A client that has sent no frame at all for this long is dropped.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(8);
/// How long a session may take to hand its close frame to a client.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long, in seconds, actix-web waits for connections once asked to stop.
const SHUTDOWN_TIMEOUT_SECS: u64 = 2;
/// Messages a user may send per second, on average (`RATE_LIMIT_PER_SEC`
/// overrides it; 0 turns the input limit off).
const RATE_LIMIT_PER_SEC: u32 = 10;
/// Messages a user may send at once before the rate applies (`RATE_LIMIT_BURST`).
const RATE_LIMIT_BURST: u32 = 20;
/// Bytes a user may send per second, for each message of the rate above.
const BYTES_PER_MESSAGE: u32 = 4 * 1024;

// Close reasons. Each must fit a control frame: at most 123 bytes.
const UID_REQUIRED: &str =
    "a numeric uid is required: send a uid header or a ?uid= query parameter";
const REPLACED: &str = "replaced by a newer connection with the same uid";
const TOO_SLOW: &str = "too slow: more than 256 messages or 512 KiB were waiting";
const TOO_BIG: &str = "messages are limited to 65536 bytes";
const TEXT_ONLY: &str = "only text messages are supported";
const NO_SIGN_OF_LIFE: &str = "no sign of life for 8 s";
const TOO_FAST: &str = "kept sending too fast after a warning";
const SHUTTING_DOWN: &str = "server is shutting down";
// ANCHOR_END: limits

// ANCHOR: commands
/// Fix: each connection gets its own id, so that a disconnect removes its own
/// entry and never a newer connection's with the same uid.
type ConnId = u64;

/// What the server keeps for one connected user.
struct UserHandle {
    conn_id: ConnId,
    /// Fix: bounded (`OUTBOX_CAPACITY`), so a reader that stops reading costs
    /// at most that many messages instead of unbounded memory.
    user_sender: mpsc::Sender<Outgoing>,
    /// Fix: the bytes in that queue, added by the server as it sends and
    /// taken off by the session as it receives: the queue is bounded in
    /// bytes too (`OUTBOX_BYTES`), since 256 large messages are 16 MiB.
    waiting_bytes: Arc<AtomicUsize>,
    /// Fix: tells the session why the server dropped it. A oneshot can never
    /// be full, so the server can send on it when the queue above is full.
    kick: oneshot::Sender<CloseReason>,
}

type SessionStore = HashMap<i32, UserHandle>;

/// What the server puts in a user's queue.
enum Outgoing {
    /// A line for the client. A `ByteString` is reference counted: a
    /// broadcast makes one, and every queue gets a clone of it rather than a
    /// copy of the text.
    Text(ByteString),
    /// Time for the session to check that its client is still there, and to
    /// ping it. One timer in the server task sends it to every session, so a
    /// session's loop has no timer of its own to poll on every wake.
    Heartbeat,
}

impl Outgoing {
    /// The bytes it counts for in the queue's byte limit.
    fn len(&self) -> usize {
        match self {
            Outgoing::Text(text) => text.len(),
            Outgoing::Heartbeat => 0,
        }
    }
}

/// What a broadcast carries: chat must reach everyone; a notice gives way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Broadcast {
    Chat,
    Notice,
}

enum WebSocketCommands {
    UserConnect {
        user_id: i32,
        user_handle: UserHandle,
    },
    UserMessage {
        user_id: i32,
        user_message: String,
    },
    /// Fix: a session reports its end, whatever the cause; part3 never did,
    /// so the server kept the departed user's sender and panicked on it.
    UserDisconnect {
        user_id: i32,
        conn_id: ConnId,
    },
    /// Fix: close every session with 1001, then answer on `done`.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}
// ANCHOR_END: commands

// ANCHOR: server-struct
struct WebSocketServer {
    session_store: SessionStore,
    /// Fix: bounded (`COMMAND_CAPACITY`). The server never waits on it, and a
    /// session that finds it full waits, which stops it reading its client:
    /// a flood of senders slows down at their own sockets, not in memory.
    ws_server_receiver: mpsc::Receiver<WebSocketCommands>,
    /// Fix: joins and departures not announced yet.
    presence: Presence,
}
// ANCHOR_END: server-struct

// ANCHOR: presence
/// Fix: who joined and who left since the last announcement. Announcing
/// every join to everyone at once costs the square of the room when
/// everyone reconnects together (after a restart, say): 5,000 joins are 25
/// million notices. So announcements are throttled: a change in a quiet
/// room is announced at once, and changes that follow within
/// `PRESENCE_INTERVAL` are gathered and announced together, so a burst of
/// joins costs one notice per user per interval.
#[derive(Default)]
struct Presence {
    joined: BTreeSet<i32>,
    left: BTreeSet<i32>,
    last_announced: Option<Instant>,
}

impl Presence {
    /// Whether the room has been quiet long enough to announce at once.
    fn quiet(&self) -> bool {
        self.last_announced
            .is_none_or(|at| at.elapsed() >= PRESENCE_INTERVAL)
    }

    fn joined(&mut self, user_id: i32) {
        // Gone and back within one interval: to everyone else, nothing happened.
        if !self.left.remove(&user_id) {
            self.joined.insert(user_id);
        }
    }

    fn left(&mut self, user_id: i32) {
        if !self.joined.remove(&user_id) {
            self.left.insert(user_id);
        }
    }

    /// The notices due now; afterwards nothing is pending.
    fn take_notices(&mut self) -> Vec<String> {
        let joined = std::mem::take(&mut self.joined);
        let left = std::mem::take(&mut self.left);
        let notices: Vec<String> = [(joined, "joined"), (left, "left")]
            .into_iter()
            .filter_map(|(users, verb)| presence_notice(&users, verb))
            .collect();
        if !notices.is_empty() {
            self.last_announced = Some(Instant::now());
        }
        notices
    }
}

/// `[server]: user 7 joined`, `[server]: users 3, 7 and 9 left`, or, past
/// `PRESENCE_NAMES` users, `[server]: 120 users joined`.
fn presence_notice(users: &BTreeSet<i32>, verb: &str) -> Option<String> {
    let names: Vec<String> = users.iter().map(i32::to_string).collect();
    let who = match names.as_slice() {
        [] => return None,
        [one] => format!("user {one}"),
        [rest @ .., last] if names.len() <= PRESENCE_NAMES => {
            format!("users {} and {last}", rest.join(", "))
        }
        _ => format!("{} users", names.len()),
    };
    Some(format!("[server]: {who} {verb}"))
}
// ANCHOR_END: presence

// ANCHOR: server-impl
impl WebSocketServer {
    fn new(rate_limit: Option<RateLimit>) -> (Self, UserSessionFactory) {
        let (ws_server_sender, ws_server_receiver) =
            mpsc::channel::<WebSocketCommands>(COMMAND_CAPACITY);
        let server = Self {
            session_store: SessionStore::new(),
            ws_server_receiver,
            presence: Presence::default(),
        };
        let session_factory = UserSessionFactory {
            ws_server_sender,
            next_conn_id: Arc::new(AtomicU64::new(0)),
            rate_limit,
        };
        (server, session_factory)
    }

    // Fix: the server's methods are no longer `async`: it never waits on a
    // user, so one user cannot hold up the others.

    // ANCHOR: user-connect
    fn user_connect(&mut self, user_id: i32, user_handle: UserHandle) {
        let Some(older) = self.session_store.insert(user_id, user_handle) else {
            // New in part4: everyone, the newcomer included, hears who joined.
            self.presence.joined(user_id);
            self.announce_presence(false);
            return;
        };
        // Fix: the older connection with this uid is closed with a reason,
        // instead of seeing its channel end without a word. The user is still
        // here, so there is no notice.
        let _ = older.kick.send((CloseCode::Policy, REPLACED).into());
    }
    // ANCHOR_END: user-connect

    /// Sends the presence notices that are due: all of them on the beat
    /// (`on_beat`), or at once if the room has been quiet.
    fn announce_presence(&mut self, on_beat: bool) {
        if on_beat || self.presence.quiet() {
            for notice in self.presence.take_notices() {
                self.broadcast(notice, Broadcast::Notice);
            }
        }
    }

    // ANCHOR: user-sends-message
    fn user_sends_message(&mut self, user_id: i32, message: String) {
        self.broadcast(format!("[UID: {user_id}]: {message}"), Broadcast::Chat);
    }
    // ANCHOR_END: user-sends-message

    // ANCHOR: user-disconnect
    fn user_disconnect(&mut self, user_id: i32, conn_id: ConnId) {
        // Fix: only the connection that registered the entry may remove it; a
        // replaced connection's late disconnect leaves the newer one alone.
        let current = self.session_store.get(&user_id);
        if current.is_some_and(|user| user.conn_id == conn_id) {
            self.session_store.remove(&user_id);
            self.presence.left(user_id);
            self.announce_presence(false);
        }
    }
    // ANCHOR_END: user-disconnect

    // ANCHOR: broadcast
    /// Fix: sends without waiting and without `unwrap`. A user whose queue is
    /// full (in messages or in bytes) is dropped as too slow, a user whose
    /// queue is closed is dropped as gone, and both count as having left at
    /// the next presence announcement.
    ///
    /// A notice skips users who already have `NOTICE_MAX_WAITING` messages
    /// waiting, or no room for it: a notice must never be what pushes a user
    /// over the limit. Chat still gets the whole queue.
    fn broadcast(&mut self, message: String, kind: Broadcast) {
        let message = ByteString::from(message);
        let mut dropped = Vec::new();
        for (&user_id, user) in &self.session_store {
            let sender = &user.user_sender;
            let waiting = sender.max_capacity() - sender.capacity();
            let bytes = user.waiting_bytes.load(Ordering::Relaxed);
            let over_bytes = bytes + message.len() > OUTBOX_BYTES;
            if kind == Broadcast::Notice && (waiting >= NOTICE_MAX_WAITING || over_bytes) {
                continue;
            }
            if over_bytes {
                dropped.push((user_id, true));
                continue;
            }
            match sender.try_send(Outgoing::Text(message.clone())) {
                Ok(()) => {
                    user.waiting_bytes
                        .fetch_add(message.len(), Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Full(_)) => dropped.push((user_id, true)),
                Err(mpsc::error::TrySendError::Closed(_)) => dropped.push((user_id, false)),
            }
        }
        for (user_id, too_slow) in dropped {
            let Some(user) = self.session_store.remove(&user_id) else {
                continue;
            };
            if too_slow {
                log::info!("user {user_id}: {TOO_SLOW}; dropping");
                let _ = user.kick.send((CloseCode::Policy, TOO_SLOW).into());
            }
            self.presence.left(user_id);
        }
    }
    // ANCHOR_END: broadcast

    // ANCHOR: heartbeat
    /// Fix: the heartbeat, sent to every session through its queue. A queue
    /// that is full has no room for it, and needs none: its session is behind,
    /// and the next message to it drops the user as too slow. A closed queue
    /// belongs to a session that has ended and is telling the server so.
    fn heartbeat(&self) {
        for user in self.session_store.values() {
            let _ = user.user_sender.try_send(Outgoing::Heartbeat);
        }
    }
    // ANCHOR_END: heartbeat

    // ANCHOR: shutdown
    /// Fix: every session hears that the server is going away, so its client
    /// gets a 1001 close frame instead of a dropped connection.
    fn shutdown(&mut self) {
        for (_, user) in self.session_store.drain() {
            let _ = user.kick.send((CloseCode::Away, SHUTTING_DOWN).into());
        }
    }
    // ANCHOR_END: shutdown

    // ANCHOR: server-run
    async fn run(mut self) -> std::io::Result<()> {
        use WebSocketCommands::*;
        let mut presence_tick = tokio::time::interval(PRESENCE_INTERVAL);
        presence_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heartbeat_tick = tokio::time::interval(HEARTBEAT_INTERVAL);
        // A server that was busy should not catch up with a burst of pings.
        heartbeat_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let msg = tokio::select! {
                msg = self.ws_server_receiver.recv() => msg,
                // Fix: joins and departures go out summarised, on a beat.
                _ = presence_tick.tick() => {
                    self.announce_presence(true);
                    continue;
                }
                // Fix: one timer pings every client, through the sessions.
                _ = heartbeat_tick.tick() => {
                    self.heartbeat();
                    continue;
                }
            };
            let Some(msg) = msg else {
                break;
            };
            match msg {
                UserConnect {
                    user_id,
                    user_handle,
                } => self.user_connect(user_id, user_handle),
                UserMessage {
                    user_id,
                    user_message,
                } => self.user_sends_message(user_id, user_message),
                UserDisconnect { user_id, conn_id } => self.user_disconnect(user_id, conn_id),
                Shutdown { done } => {
                    self.shutdown();
                    let _ = done.send(());
                    break;
                }
            }
        }
        Ok(())
    }
    // ANCHOR_END: server-run
}
// ANCHOR_END: server-impl

// ANCHOR: factory
#[derive(Clone)]
struct UserSessionFactory {
    ws_server_sender: mpsc::Sender<WebSocketCommands>,
    /// Shared by the workers' clones, so ids are unique in the process.
    next_conn_id: Arc<AtomicU64>,
    /// Fix: every user's input is limited (`None`: not limited).
    rate_limit: Option<RateLimit>,
}

impl UserSessionFactory {
    fn create_session(&self, user_id: i32, session: actix_ws::Session) -> UserSession {
        let ws_server_sender = self.ws_server_sender.clone();
        // Relaxed is enough: the ids only need to be distinct.
        let conn_id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        UserSession {
            user_id,
            conn_id,
            ws_server_sender,
            session,
            limiter: self.rate_limit.map(RateLimit::buckets),
        }
    }
}
// ANCHOR_END: factory

// ANCHOR: session-struct
struct UserSession {
    user_id: i32,
    conn_id: ConnId,
    ws_server_sender: mpsc::Sender<WebSocketCommands>,
    session: actix_ws::Session,
    limiter: Option<Limiter>,
}
// ANCHOR_END: session-struct

// ANCHOR: write-or-kicked
/// The close frame for a session the server has dropped: the reason the
/// server gave, or 1001 if the server went away without giving one.
fn kick_reason(kick: Result<CloseReason, oneshot::error::RecvError>) -> Option<CloseReason> {
    kick.map_or_else(|_server_gone| server_gone(), Some)
}

/// The close frame for a session whose server has shut down.
fn server_gone() -> Option<CloseReason> {
    Some((CloseCode::Away, SHUTTING_DOWN).into())
}

/// Fix: a write to the client that the kick signal can cancel. A client that
/// does not read fills the socket and a plain write would wait forever.
/// `Err` carries the close frame to end the session with.
async fn write_or_kicked(
    write: impl Future<Output = Result<(), actix_ws::Closed>>,
    kicked: &mut oneshot::Receiver<CloseReason>,
) -> Result<(), Option<CloseReason>> {
    tokio::select! {
        // The write first: it is almost always ready at once, and then the
        // kick need not be looked at (and no random order drawn).
        biased;
        // The connection is gone: nobody is left to send a close frame to.
        written = write => written.map_err(|_closed| None),
        kick = kicked => Err(kick_reason(kick)),
    }
}
// ANCHOR_END: write-or-kicked

// ANCHOR: is-too-big
/// Fix: a message over `MAX_MESSAGE_BYTES` is told apart from other errors.
/// One frame over it is `Overflow`; fragments adding up to more than it are
/// an `Io` error from the aggregator, whose text is all that identifies it.
fn is_too_big(err: &ProtocolError) -> bool {
    match err {
        ProtocolError::Overflow => true,
        ProtocolError::Io(err) => err.to_string() == "Exceeded maximum continuation size",
        _ => false,
    }
}
// ANCHOR_END: is-too-big

// ANCHOR: rate-limit
/// Fix: a token bucket. It holds at most `burst` tokens and gains `rate`
/// tokens a second; sending costs tokens, and what cannot be paid is refused.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.last = now;
    }
}

/// How fast one user may send: messages, and bytes so that a few large
/// messages cannot do what many small ones may not.
#[derive(Clone, Copy)]
struct RateLimit {
    per_sec: u32,
    burst: u32,
}

impl RateLimit {
    /// From `RATE_LIMIT_PER_SEC` and `RATE_LIMIT_BURST`, or the defaults;
    /// `None` when the rate is 0 (load tests lift the limit that way).
    fn from_env() -> std::io::Result<Option<Self>> {
        let read = |name: &str, default: u32| match std::env::var(name) {
            Ok(value) => value.parse::<u32>().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{name} must be a whole number, not {value:?}"),
                )
            }),
            Err(_) => Ok(default),
        };
        let per_sec = read("RATE_LIMIT_PER_SEC", RATE_LIMIT_PER_SEC)?;
        let burst = read("RATE_LIMIT_BURST", RATE_LIMIT_BURST)?.max(1);
        Ok((per_sec > 0).then_some(Self { per_sec, burst }))
    }

    fn buckets(self) -> Limiter {
        let bytes = f64::from(BYTES_PER_MESSAGE);
        Limiter {
            limit: self,
            messages: TokenBucket::new(f64::from(self.per_sec), f64::from(self.burst)),
            // A single message of the largest size always fits the burst.
            bytes: TokenBucket::new(
                f64::from(self.per_sec) * bytes,
                (f64::from(self.burst) * bytes).max(MAX_MESSAGE_BYTES as f64),
            ),
            refused_in_a_row: 0,
        }
    }
}

/// One user's buckets, and how many messages in a row it had refused.
struct Limiter {
    limit: RateLimit,
    messages: TokenBucket,
    bytes: TokenBucket,
    refused_in_a_row: u32,
}

/// What to do with a message, by the rate limit.
enum Admit {
    Send,
    /// Refused; the first refusal in a row also warns the user.
    Refuse {
        warn: bool,
    },
    /// Refused, and the user kept going for another whole burst: close.
    Close,
}

impl Limiter {
    fn admit(&mut self, len: usize) -> Admit {
        self.messages.refill();
        self.bytes.refill();
        let cost = len as f64;
        if self.messages.tokens >= 1.0 && self.bytes.tokens >= cost {
            self.messages.tokens -= 1.0;
            self.bytes.tokens -= cost;
            self.refused_in_a_row = 0;
            return Admit::Send;
        }
        self.refused_in_a_row += 1;
        if self.refused_in_a_row > self.limit.burst {
            Admit::Close
        } else {
            Admit::Refuse {
                warn: self.refused_in_a_row == 1,
            }
        }
    }

    /// The notice a user gets when its messages start being refused.
    fn warning(&self) -> String {
        format!(
            "[server]: slow down: at most {} messages a second; messages are not being sent",
            self.limit.per_sec
        )
    }
}
// ANCHOR_END: rate-limit

impl UserSession {
    // ANCHOR: session-run
    /// The session's run loop, a `tokio::select!` over the client stream and
    /// the user's queue. The queue also brings the server's heartbeat, and its
    /// end means that the server has dropped the user. Whatever ends the loop,
    /// the server hears of it and the client gets a close frame.
    async fn run(mut self, mut msg_stream: AggregatedMessageStream) {
        use WebSocketCommands::*;
        let (user_sender, mut session_receiver) = mpsc::channel(OUTBOX_CAPACITY);
        let waiting_bytes = Arc::new(AtomicUsize::new(0));
        let (kick, mut kicked) = oneshot::channel();
        let user_id = self.user_id;
        let user_handle = UserHandle {
            conn_id: self.conn_id,
            user_sender,
            waiting_bytes: Arc::clone(&waiting_bytes),
            kick,
        };
        // Fix: no `unwrap`; a server that has shut down refuses newcomers.
        if self
            .ws_server_sender
            .send(UserConnect {
                user_id,
                user_handle,
            })
            .await
            .is_err()
        {
            let close = self.session.close(server_gone());
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
            return;
        }

        let mut last_heartbeat = Instant::now();
        let mut batch = Vec::with_capacity(WRITE_BATCH);

        // Not `biased`: a random start keeps a busy client from starving the
        // queue and a busy queue from starving the client.
        let reason = 'session: loop {
            tokio::select! {
                // Cancel safe: `recv` keeps its state in the stream, not the future.
                msg = msg_stream.recv() => {
                    let msg = match msg {
                        Some(Ok(msg)) => msg,
                        Some(Err(err)) if is_too_big(&err) => {
                            break Some((CloseCode::Size, TOO_BIG).into());
                        }
                        // Fix: a protocol error ends the session.
                        Some(Err(err)) => {
                            log::warn!("user {user_id}: WebSocket error: {err}");
                            break Some(CloseCode::Protocol.into());
                        }
                        // The client's stream ended: the connection is gone.
                        None => break None,
                    };
                    // Fix: any frame is a sign of life, not only ping and pong.
                    last_heartbeat = Instant::now();
                    match msg {
                        AggregatedMessage::Text(text) => {
                            // Fix: a user who sends too fast is refused, warned once,
                            // and closed if it keeps going; the others never wait.
                            let admit = match &mut self.limiter {
                                Some(limiter) => limiter.admit(text.len()),
                                None => Admit::Send,
                            };
                            match admit {
                                Admit::Send => {}
                                Admit::Refuse { warn: false } => continue,
                                Admit::Refuse { warn: true } => {
                                    let warning = self.limiter.as_ref().map(Limiter::warning);
                                    let text = self.session.text(warning.unwrap_or_default());
                                    if let Err(reason) = write_or_kicked(text, &mut kicked).await {
                                        break reason;
                                    }
                                    continue;
                                }
                                Admit::Close => break Some((CloseCode::Policy, TOO_FAST).into()),
                            }
                            let sent = self
                                .ws_server_sender
                                .send(UserMessage {
                                    user_id,
                                    user_message: text.to_string(),
                                })
                                .await;
                            // Fix: no `unwrap`; the server is gone only when shutting down.
                            if sent.is_err() {
                                break server_gone();
                            }
                        }
                        AggregatedMessage::Ping(bytes) => {
                            let pong = self.session.pong(&bytes);
                            if let Err(reason) = write_or_kicked(pong, &mut kicked).await {
                                break reason;
                            }
                        }
                        AggregatedMessage::Pong(_) => {}
                        // Fix: answered with the client's own reason, or none.
                        AggregatedMessage::Close(reason) => break reason,
                        // Fix: refused with a reason instead of silently dropped.
                        AggregatedMessage::Binary(_) => {
                            break Some((CloseCode::Unsupported, TEXT_ONLY).into());
                        }
                    }
                }

                // Cancel safe: `recv_many` loses no message when dropped. What
                // is already queued comes out at once, up to a batch, and goes
                // out before the loop looks at the client again.
                received = session_receiver.recv_many(&mut batch, WRITE_BATCH) => {
                    if received == 0 {
                        // The server has dropped this user's sender: it kicked
                        // the user, and sent the reason before dropping it.
                        break kick_reason((&mut kicked).await);
                    }
                    let bytes: usize = batch.iter().map(Outgoing::len).sum();
                    waiting_bytes.fetch_sub(bytes, Ordering::Relaxed);
                    for outgoing in batch.drain(..) {
                        // The writes are not cancel safe, but only the kick
                        // cancels them, and then the session is ending anyway.
                        let written = match outgoing {
                            Outgoing::Text(msg) => {
                                write_or_kicked(self.session.text(msg), &mut kicked).await
                            }
                            // ANCHOR: heartbeat-check
                            Outgoing::Heartbeat => {
                                if last_heartbeat.elapsed() > CLIENT_TIMEOUT {
                                    log::info!("user {user_id}: no sign of life for {CLIENT_TIMEOUT:?}, dropping");
                                    break 'session Some((CloseCode::Policy, NO_SIGN_OF_LIFE).into());
                                }
                                write_or_kicked(self.session.ping(b""), &mut kicked).await
                            }
                            // ANCHOR_END: heartbeat-check
                        };
                        if let Err(reason) = written {
                            // Out of the session's loop, not only this `for`.
                            break 'session reason;
                        }
                    }
                }
            }
        };
        // ANCHOR: session-ends
        // Fix: the server removes this connection's entry (if it is still
        // this connection's) and tells everyone; it may be gone at shutdown.
        let _ = self
            .ws_server_sender
            .send(UserDisconnect {
                user_id,
                conn_id: self.conn_id,
            })
            .await;
        // Fix: a client that does not read cannot hold the session here.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.session.close(reason)).await;
        // ANCHOR_END: session-ends
    }
    // ANCHOR_END: session-run
}

// ANCHOR: uid
/// Fix: the uid comes from the `uid` header or, when there is none, from the
/// `uid` query parameter, because a browser's WebSocket cannot send headers.
/// Either way it is a claim anyone can make, not an identity.
fn get_uid(req: &HttpRequest) -> Option<i32> {
    match req.headers().get("uid") {
        Some(header) => header.to_str().ok()?.parse().ok(),
        None => web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .ok()?
            .get("uid")?
            .parse()
            .ok(),
    }
}
// ANCHOR_END: uid

// ANCHOR: origin
/// Origins other than the server's own whose pages may open the chat, from
/// `ALLOWED_ORIGINS` (comma-separated, such as `https://chat.example`).
#[derive(Clone)]
struct AllowedOrigins(Arc<[String]>);

/// The body of the 403 for a page from another site.
const FOREIGN_ORIGIN: &str = "this chat accepts WebSockets from its own pages only";

impl AllowedOrigins {
    fn from_env() -> Self {
        Self::parse(&std::env::var("ALLOWED_ORIGINS").unwrap_or_default())
    }

    fn parse(list: &str) -> Self {
        let origins: Vec<String> = list
            .split(',')
            .map(|origin| origin.trim().trim_end_matches('/').to_string())
            .filter(|origin| !origin.is_empty())
            .collect();
        Self(origins.into())
    }

    /// Fix: a browser sends the `Origin` of the page that opens a WebSocket,
    /// and nothing else stops a page on any site from opening this chat with
    /// a uid of its choosing. The server's own pages, and the origins listed
    /// in `ALLOWED_ORIGINS`, may; a client that sends no `Origin` is not a
    /// browser page, and may too.
    fn allow(&self, req: &HttpRequest) -> bool {
        let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let own_host = req.connection_info().host().to_string();
        let is_own = origin
            .split_once("://")
            .is_some_and(|(_scheme, host)| host == own_host);
        is_own || self.0.iter().any(|allowed| allowed == origin)
    }
}
// ANCHOR_END: origin

// ANCHOR: chat-ws
async fn chat_ws(
    req: HttpRequest,
    stream: web::Payload,
    session_factory: web::Data<UserSessionFactory>,
    allowed_origins: web::Data<AllowedOrigins>,
) -> Result<HttpResponse, Error> {
    // Fix: refused before the upgrade, with a status a browser reports.
    if !allowed_origins.allow(&req) {
        return Ok(HttpResponse::Forbidden().body(FOREIGN_ORIGIN));
    }
    let (res, session, msg_stream) = actix_ws::handle(&req, stream)?;
    let Some(uid) = get_uid(&req) else {
        // Fix: 1008 (policy) with a reason that says what to send, instead of
        // 1011 (a server error); no `unwrap` on the write.
        let _ = session
            .close(Some((CloseCode::Policy, UID_REQUIRED).into()))
            .await;
        return Ok(res);
    };
    // Fix: a size limit on whole messages, not only on single frames.
    let msg_stream = msg_stream
        .max_frame_size(MAX_MESSAGE_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE_BYTES);
    let session = session_factory.create_session(uid, session);
    spawn_local(session.run(msg_stream));

    Ok(res)
}
// ANCHOR_END: chat-ws

// ANCHOR: healthcheck
async fn healthcheck() -> impl Responder {
    HEALTHCHECK_TEXT
}
// ANCHOR_END: healthcheck

// ANCHOR: index
/// The browser client, built into the binary.
const INDEX_HTML: &str = include_str!("../static/index.html");

/// Fix: a browser client, which the header-only uid ruled out until now.
async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(INDEX_HTML)
}
// ANCHOR_END: index

// ANCHOR: signals
/// Fix: the app handles SIGINT and SIGTERM itself, so that it can close every
/// WebSocket with 1001 before the HTTP server stops. The handlers are
/// installed now, before the server starts, so no early signal is missed.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

/// Elsewhere only Ctrl-C can be caught.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            // Without a handler there is nothing to wait for: never shut down.
            Err(_) => std::future::pending().await,
        }
    })
}

/// Waits for a signal, has the chat server close every session, then stops
/// the HTTP server, which waits up to `SHUTDOWN_TIMEOUT_SECS` for connections.
async fn shut_down_on_signal(
    signal: impl Future<Output = &'static str>,
    ws_server_sender: mpsc::Sender<WebSocketCommands>,
    http_server: actix_web::dev::ServerHandle,
) {
    let signal = signal.await;
    log::info!("{signal} received: closing every WebSocket, then stopping");
    let (done, chat_server_done) = oneshot::channel();
    if ws_server_sender
        .send(WebSocketCommands::Shutdown { done })
        .await
        .is_ok()
    {
        let _ = chat_server_done.await;
    }
    http_server.stop(true).await;
}
// ANCHOR_END: signals

// ANCHOR: main
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::init_from_env(env_logger::Env::new().default_filter_or("info"));
    let signal = shutdown_signal()?;

    // ANCHOR: spawn-server
    let (websocket_server, session_factory) = WebSocketServer::new(RateLimit::from_env()?);
    let ws_server_sender = session_factory.ws_server_sender.clone();

    let websocket_server = spawn(websocket_server.run());
    // ANCHOR_END: spawn-server
    // Departure from the blog (which binds 0.0.0.0:5000): HOST and PORT may be
    // set so that tests can start several servers on free loopback ports.
    let host = std::env::var("HOST").unwrap_or_else(|_| "0.0.0.0".to_string());
    // Fix: a bad PORT is an error returned from main, not a panic.
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("PORT must be a number from 1 to 65535, not {port:?}"),
            )
        })?,
        Err(_) => 5000,
    };

    log::info!("Server will be live on http://{host}:{port}");
    let allowed_origins = AllowedOrigins::from_env();
    let http_server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(session_factory.clone()))
            .app_data(web::Data::new(allowed_origins.clone()))
            .service(web::resource("/").route(web::get().to(index)))
            .service(web::resource("/healthcheck").route(web::get().to(healthcheck)))
            .service(web::resource("/ws").route(web::get().to(chat_ws)))
    })
    .workers(2)
    // Fix: on SIGTERM actix-web's own handlers would wait 30 s for open
    // WebSockets and never tell the clients; ours close them first (see `signals`).
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    // Fix: every frame goes out when written. With Nagle's algorithm (the
    // OS default) a chat line written after a heartbeat ping waited for the
    // client to acknowledge the ping, which clients delay by up to 40 ms.
    .tcp_nodelay(true)
    // Not changed: after a close frame actix-http lingers, reading until the
    // client closes TCP or `client_disconnect_timeout` (1 s) runs out. Zero
    // would close at once, but a client still sending would then get a reset
    // that can destroy the close frame and its reason before it is read (the
    // `binary-frame` scenario caught that), so the book explains the wait.
    .bind((host.as_str(), port))?
    .run();
    spawn(shut_down_on_signal(
        signal,
        ws_server_sender,
        http_server.handle(),
    ));

    // ANCHOR: try-join
    // Fix: a failed chat server task is an error returned from main, not a panic.
    try_join!(http_server, async move {
        websocket_server.await.map_err(std::io::Error::other)?
    })?;
    // ANCHOR_END: try-join
    Ok(())
}
// ANCHOR_END: main

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_agree_with_limits() {
        assert_eq!(
            TOO_SLOW,
            format!(
                "too slow: more than {OUTBOX_CAPACITY} messages or {} KiB were waiting",
                OUTBOX_BYTES / 1024
            )
        );
        assert_eq!(
            TOO_BIG,
            format!("messages are limited to {MAX_MESSAGE_BYTES} bytes")
        );
        assert_eq!(
            NO_SIGN_OF_LIFE,
            format!("no sign of life for {} s", CLIENT_TIMEOUT.as_secs())
        );
    }

    /// A user's handle for the server, and the session's end of its queue.
    fn user(conn_id: ConnId) -> (UserHandle, mpsc::Receiver<Outgoing>) {
        let (user_sender, queue) = mpsc::channel(OUTBOX_CAPACITY);
        let (kick, _kicked) = oneshot::channel();
        let handle = UserHandle {
            conn_id,
            user_sender,
            waiting_bytes: Arc::new(AtomicUsize::new(0)),
            kick,
        };
        (handle, queue)
    }

    #[test]
    fn a_heartbeat_reaches_every_queue_with_room_and_drops_nobody() {
        let (mut server, _factory) = WebSocketServer::new(None);
        let (idle, mut idle_queue) = user(1);
        let (behind, mut behind_queue) = user(2);
        for _ in 0..OUTBOX_CAPACITY {
            let line = Outgoing::Text(ByteString::from_static("x"));
            behind
                .user_sender
                .try_send(line)
                .expect("room in the queue");
        }
        server.session_store.insert(1, idle);
        server.session_store.insert(2, behind);
        server.heartbeat();
        assert!(matches!(idle_queue.try_recv(), Ok(Outgoing::Heartbeat)));
        assert!(idle_queue.try_recv().is_err(), "one heartbeat, no more");
        assert_eq!(server.session_store.len(), 2, "a full queue is not dropped");
        let mut behind_items = 0;
        while let Ok(outgoing) = behind_queue.try_recv() {
            assert!(
                matches!(outgoing, Outgoing::Text(_)),
                "no room, no heartbeat"
            );
            behind_items += 1;
        }
        assert_eq!(behind_items, OUTBOX_CAPACITY);
        assert_eq!(Outgoing::Heartbeat.len(), 0, "costs no bytes");
    }

    #[test]
    fn the_limiter_sends_a_burst_then_warns_once_then_closes() {
        let limit = RateLimit {
            per_sec: 1,
            burst: 3,
        };
        let mut limiter = limit.buckets();
        for _ in 0..3 {
            assert!(matches!(limiter.admit(10), Admit::Send));
        }
        assert!(matches!(limiter.admit(10), Admit::Refuse { warn: true }));
        assert!(matches!(limiter.admit(10), Admit::Refuse { warn: false }));
        assert!(matches!(limiter.admit(10), Admit::Refuse { warn: false }));
        assert!(matches!(limiter.admit(10), Admit::Close));
        // A large message costs its bytes: the byte bucket holds one of the
        // largest, and then another must wait.
        let mut limiter = limit.buckets();
        assert!(matches!(limiter.admit(MAX_MESSAGE_BYTES), Admit::Send));
        assert!(matches!(
            limiter.admit(MAX_MESSAGE_BYTES),
            Admit::Refuse { warn: true }
        ));
    }

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_burst() {
        let mut bucket = TokenBucket::new(10.0, 2.0);
        bucket.tokens = 0.0;
        bucket.last -= Duration::from_millis(150);
        bucket.refill();
        assert!((1.4..1.7).contains(&bucket.tokens), "{}", bucket.tokens);
        bucket.last -= Duration::from_secs(10);
        bucket.refill();
        assert_eq!(bucket.tokens, 2.0);
    }

    #[test]
    fn presence_names_a_few_counts_many_and_cancels_round_trips() {
        let mut presence = Presence::default();
        assert!(presence.quiet());
        assert!(presence.take_notices().is_empty());
        assert!(presence.quiet(), "nothing was announced");
        presence.joined(7);
        assert_eq!(presence.take_notices(), ["[server]: user 7 joined"]);
        assert!(!presence.quiet(), "just announced");
        for user in [9, 3, 7] {
            presence.joined(user);
        }
        presence.left(4);
        assert_eq!(
            presence.take_notices(),
            ["[server]: users 3, 7 and 9 joined", "[server]: user 4 left"]
        );
        for user in 1..=120 {
            presence.joined(user);
        }
        presence.left(120);
        assert_eq!(presence.take_notices(), ["[server]: 119 users joined"]);
        // Left and back, or joined and gone, within one interval: no notice.
        presence.left(5);
        presence.joined(5);
        presence.joined(6);
        presence.left(6);
        assert!(presence.take_notices().is_empty());
    }

    #[test]
    fn origins_own_listed_absent_and_foreign() {
        use actix_web::test::TestRequest;
        let allowed = AllowedOrigins::parse(" https://chat.example/ , ");
        let from = |origin: Option<&str>| {
            let mut req = TestRequest::default().insert_header(("host", "127.0.0.1:5000"));
            if let Some(origin) = origin {
                req = req.insert_header(("origin", origin));
            }
            allowed.allow(&req.to_http_request())
        };
        assert!(from(None), "a terminal client sends no Origin");
        assert!(from(Some("http://127.0.0.1:5000")), "the server's own page");
        assert!(
            from(Some("https://chat.example")),
            "listed in ALLOWED_ORIGINS"
        );
        assert!(!from(Some("https://elsewhere.example")));
        assert!(
            !from(Some("http://127.0.0.1:5001")),
            "another port is another site"
        );
    }

    #[test]
    fn reasons_fit_a_close_frame() {
        for reason in [
            TOO_FAST,
            UID_REQUIRED,
            REPLACED,
            TOO_SLOW,
            TOO_BIG,
            TEXT_ONLY,
            NO_SIGN_OF_LIFE,
            SHUTTING_DOWN,
        ] {
            assert!(reason.len() <= 123, "{reason:?} is too long");
        }
    }
}
