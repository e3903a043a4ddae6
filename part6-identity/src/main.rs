//! Checkpoint 6: part5 with identity. A user logs in with a name and a
//! password and gets a signed token; the WebSocket upgrade must carry one,
//! and the token, not a header or query the client fills in, says which uid
//! is speaking. With `TLS_CERT` and `TLS_KEY` it serves HTTPS and wss.
//!
//! The rest is part5: with `REDIS_URL` the process is one node of a chat
//! that spans several over Redis pub/sub (`cluster.rs`, hooks marked
//! `Scale-out:`), and `guards.rs` is part4's. Identity lives in
//! `identity.rs`; each hook for it here carries an `Identity:` comment.

use actix_web::{App, Error, HttpRequest, HttpResponse, HttpServer, Responder, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError};
use bytestring::ByteString;
use futures_util::{FutureExt, try_join};
use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::{spawn, task::spawn_local};

mod cluster;
mod guards;
mod identity;
#[cfg(test)]
mod tests;

use cluster::{Cluster, Envelope};

use guards::{
    AddressLimits, AddressSlot, Admit, AllowedOrigins, Cut, FOREIGN_ORIGIN, Limiter, RateLimit,
    Settings, Stalls, UserLimits, keep_socket,
};
use identity::{Identity, IdentitySettings};

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
/// How often the server's heartbeat reaches every session. A session whose
/// client has sent no text since the last beat pings it then.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
/// A client that has left this many pings unanswered is dropped: it is gone,
/// or it has stopped reading.
const MISSED_PINGS: u32 = 2;
/// A presence tick this much overdue means the server itself stalled.
const STALL_AFTER: Duration = Duration::from_secs(1);
/// A write that waits this long for the client to take what is before it
/// ends the session; a close frame not taken within it cuts the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, in seconds, actix-web waits for connections once asked to stop.
const SHUTDOWN_TIMEOUT_SECS: u64 = 2;
/// Messages a user may send per second, on average (`RATE_LIMIT_PER_SEC`
/// overrides it; 0 turns the input limit off).
const RATE_LIMIT_PER_SEC: u32 = 10;
/// Messages a user may send at once before the rate applies (`RATE_LIMIT_BURST`).
const RATE_LIMIT_BURST: u32 = 20;
/// Bytes a user may send per second, for each message of the rate above.
const BYTES_PER_MESSAGE: u32 = 4 * 1024;
/// Connections one client address may hold at once
/// (`ADDRESS_MAX_CONNECTIONS`; 0 for no limit).
const ADDRESS_MAX_CONNECTIONS: u32 = 64;
/// New connections one client address may open a second, and twice as many
/// at once (`ADDRESS_CONNECTS_PER_SEC`; 0 for no limit).
const ADDRESS_CONNECTS_PER_SEC: u32 = 10;

// Close reasons. Each must fit a control frame: at most 123 bytes.
const REPLACED: &str = "replaced by a newer connection with the same uid";
const TOO_SLOW: &str = "too slow: more than 256 messages or 512 KiB were waiting";
const TOO_BIG: &str = "messages are limited to 65536 bytes";
const TEXT_ONLY: &str = "only text messages are supported";
const NOT_UTF8: &str = "text messages must be valid UTF-8";
const BAD_FRAME: &str = "that frame breaks the WebSocket protocol";
const NO_ANSWER: &str = "no answer to 2 pings";
const TOO_FAST: &str = "kept sending too fast after a warning";
const SHUTTING_DOWN: &str = "server is shutting down";
// ANCHOR_END: limits

/// What the log says of a connection cut because its client stopped reading.
const NOT_READING: &str = "not reading: a frame waited 10 s to be taken; cutting the connection";

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
    /// Fix: tells the session to stop at once, and why. A oneshot can never
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
    /// Time for the session to check on its client, and to ping it. One
    /// timer in the server task sends it to every session, so a session's
    /// loop has no timer of its own to poll on every wake.
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
    /// Fix: close every user's queue, so that each session writes what is
    /// queued and closes with 1001; then answer on `done`.
    Shutdown {
        done: oneshot::Sender<()>,
    },
    /// Scale-out: an envelope heard on the channel (this node's own too).
    Remote(Envelope),
    /// Scale-out: the link to Redis was lost (`false`) or is back (`true`).
    Link(bool),
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
    /// Fix: the presence tick is also the server's clock of its own stalls.
    stalls: Arc<Stalls>,
    /// Scale-out: the other nodes, when there are any (`REDIS_URL` is set).
    cluster: Option<Cluster>,
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
    fn new(rate_limit: Option<RateLimit>, cluster: Option<Cluster>) -> (Self, UserSessionFactory) {
        let (ws_server_sender, ws_server_receiver) =
            mpsc::channel::<WebSocketCommands>(COMMAND_CAPACITY);
        let stalls = Arc::new(Stalls::new(Instant::now()));
        let server = Self {
            session_store: SessionStore::new(),
            ws_server_receiver,
            presence: Presence::default(),
            stalls: Arc::clone(&stalls),
            cluster,
        };
        let session_factory = UserSessionFactory {
            ws_server_sender,
            next_conn_id: Arc::new(AtomicU64::new(0)),
            user_limits: rate_limit.map(|limit| UserLimits::new(limit, stalls)),
        };
        (server, session_factory)
    }

    // Fix: the server's methods are no longer `async`: it never waits on a
    // user, so one user cannot hold up the others.

    // ANCHOR: user-connect
    fn user_connect(&mut self, user_id: i32, user_handle: UserHandle) {
        let conn_id = user_handle.conn_id;
        // Scale-out: a user who moves here from another node is no news.
        let elsewhere = self.present(user_id);
        let older = self.session_store.insert(user_id, user_handle);
        // Scale-out: the other nodes close any older connection of this uid.
        self.claim(user_id, conn_id);
        let Some(older) = older else {
            if !elsewhere {
                // New in part4: everyone, the newcomer included, hears who joined.
                self.presence.joined(user_id);
                self.announce_presence(false);
            }
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
        // Scale-out: and to the users of every other node, in this order.
        self.publish_message(user_id, message);
    }
    // ANCHOR_END: user-sends-message

    // ANCHOR: user-disconnect
    fn user_disconnect(&mut self, user_id: i32, conn_id: ConnId) {
        // Fix: only the connection that registered the entry may remove it; a
        // replaced connection's late disconnect leaves the newer one alone.
        let current = self.session_store.get(&user_id);
        if current.is_some_and(|user| user.conn_id == conn_id) {
            self.session_store.remove(&user_id);
            self.local_user_gone(user_id);
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
            self.local_user_gone(user_id);
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
    /// Fix: every session hears that the server is going away. Dropping a
    /// user's handle closes its queue without a kick: the session writes the
    /// lines still queued for its client, then closes with 1001.
    fn shutdown(&mut self) {
        self.session_store.clear();
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
        let mut node_tick = tokio::time::interval(cluster::NODE_HEARTBEAT);
        node_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let msg = tokio::select! {
                msg = self.ws_server_receiver.recv() => msg,
                // Fix: joins and departures go out summarised, on a beat.
                _ = presence_tick.tick() => {
                    // Fix: the most frequent tick is also the clock of the
                    // server's own stalls.
                    self.stalls.beat(Instant::now());
                    self.announce_presence(true);
                    continue;
                }
                // Fix: one timer checks on every client, through the sessions.
                _ = heartbeat_tick.tick() => {
                    self.heartbeat();
                    continue;
                }
                // Scale-out: tell the others this node lives; bury the silent.
                _ = node_tick.tick(), if self.cluster.is_some() => {
                    self.node_heartbeat();
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
                Remote(envelope) => self.remote(envelope),
                Link(up) => self.link_changed(up),
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
    /// Fix: every user's input is limited (`None`: not limited), by buckets
    /// kept per uid, so that reconnecting does not refill them.
    user_limits: Option<UserLimits>,
}

impl UserSessionFactory {
    fn create_session(
        &self,
        user_id: i32,
        session: actix_ws::Session,
        cut: Cut,
        address_slot: AddressSlot,
    ) -> UserSession {
        let ws_server_sender = self.ws_server_sender.clone();
        // Relaxed is enough: the ids only need to be distinct.
        let conn_id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        UserSession {
            user_id,
            conn_id,
            ws_server_sender,
            session,
            limiter: self
                .user_limits
                .as_ref()
                .map(|limits| limits.limiter(user_id)),
            cut,
            _address_slot: address_slot,
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
    /// Fix: a way to end the connection when its client stops reading.
    cut: Cut,
    /// Fix: this connection's place among its address's; freed when dropped.
    _address_slot: AddressSlot,
}
// ANCHOR_END: session-struct

// ANCHOR: write
/// How a session ends.
enum Ending {
    /// With this close frame (none when the connection is gone already).
    Close(Option<CloseReason>),
    /// The client stopped reading: no close frame would reach it.
    Stalled,
}

/// Fix: the session's end of the kick. A kick interrupts whatever the
/// session is waiting for. A server that drops the kick without a word (at
/// shutdown) interrupts nothing: the session writes what is queued first.
struct Kicked(Option<oneshot::Receiver<CloseReason>>);

impl Kicked {
    /// Waits for a kick; for ever if the server dropped it unsent.
    async fn wait(&mut self) -> CloseReason {
        if let Some(receiver) = &mut self.0 {
            let kick = receiver.await;
            self.0 = None;
            if let Ok(reason) = kick {
                return reason;
            }
        }
        std::future::pending().await
    }

    /// The close frame once the server has closed the queue: the kick it
    /// sent first, or 1001 if it closed it without one, shutting down.
    fn reason(&mut self) -> CloseReason {
        self.0
            .take()
            .and_then(|mut receiver| receiver.try_recv().ok())
            .unwrap_or_else(server_gone)
    }
}

/// The close frame for a session whose server has shut down.
fn server_gone() -> CloseReason {
    (CloseCode::Away, SHUTTING_DOWN).into()
}

/// Fix: a write to the client that cannot wait for ever. A client that does
/// not read fills its socket, and a plain write would wait for as long as
/// the client keeps the connection open; a kick or `WRITE_TIMEOUT` ends it.
async fn write(
    write: impl Future<Output = Result<(), actix_ws::Closed>>,
    kicked: &mut Kicked,
) -> Result<(), Ending> {
    let mut write = std::pin::pin!(write);
    // Almost every write is taken at once: only one that has to wait needs
    // a timer, and looks at the kick.
    let written = match (&mut write).now_or_never() {
        Some(written) => written,
        None => tokio::select! {
            written = write => written,
            reason = kicked.wait() => return Err(Ending::Close(Some(reason))),
            () = tokio::time::sleep(WRITE_TIMEOUT) => return Err(Ending::Stalled),
        },
    };
    // The connection is gone: nobody is left to send a close frame to.
    written.map_err(|_closed| Ending::Close(None))
}
// ANCHOR_END: write

// ANCHOR: protocol-error
/// Fix: the close frame for what the client sent that cannot be taken, with
/// the code RFC 6455 section 7.4.1 names for it; `None` when the connection
/// itself failed, and there is nobody to tell.
fn refusal(err: &ProtocolError) -> Option<CloseReason> {
    match err {
        ProtocolError::Overflow => Some((CloseCode::Size, TOO_BIG).into()),
        // Fragments adding up to more than `MAX_MESSAGE_BYTES`: the
        // aggregator's error says so only in words.
        ProtocolError::Io(err) if err.to_string() == "Exceeded maximum continuation size" => {
            Some((CloseCode::Size, TOO_BIG).into())
        }
        // A text message whose bytes are not UTF-8, whole or in fragments.
        ProtocolError::Io(err) if err.kind() == std::io::ErrorKind::InvalidData => {
            Some((CloseCode::Invalid, NOT_UTF8).into())
        }
        // Any other I/O error is the connection's (the client hung up in the
        // middle of a frame, say), not a frame that broke the protocol.
        ProtocolError::Io(_) => None,
        _ => {
            log::warn!("a client broke the WebSocket protocol: {err}");
            Some((CloseCode::Protocol, BAD_FRAME).into())
        }
    }
}
// ANCHOR_END: protocol-error

impl UserSession {
    // ANCHOR: session-run
    /// The session's run loop, a `tokio::select!` over the client stream and
    /// the user's queue. The queue also brings the server's heartbeat, and its
    /// end means that the server has dropped the user. Whatever ends the loop,
    /// the server hears of it and the connection is closed.
    async fn run(mut self, mut msg_stream: AggregatedMessageStream) {
        use WebSocketCommands::*;
        let (user_sender, mut session_receiver) = mpsc::channel(OUTBOX_CAPACITY);
        let waiting_bytes = Arc::new(AtomicUsize::new(0));
        let (kick, kick_receiver) = oneshot::channel();
        let mut kicked = Kicked(Some(kick_receiver));
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
            self.close(msg_stream, Ending::Close(Some(server_gone())))
                .await;
            return;
        }

        // ANCHOR: liveness
        // Fix: pings sent since the client's last pong. A client is judged by
        // the pings it leaves unanswered, not by the clock, so that a server
        // that was paused does not take its clients for dead when it resumes.
        // Only a pong counts: a client that sends but does not read, and so
        // never sees the ping, is not there for the chat.
        let mut unanswered = 0;
        // Whether the client sent a line since the last heartbeat.
        let mut chatted = false;
        // ANCHOR_END: liveness
        let mut batch = Vec::with_capacity(WRITE_BATCH);

        // Not `biased`: a random start keeps a busy client from starving the
        // queue and a busy queue from starving the client.
        let ending = 'session: loop {
            tokio::select! {
                // Cancel safe: `recv` keeps its state in the stream, not the future.
                msg = msg_stream.recv() => {
                    let msg = match msg {
                        Some(Ok(msg)) => msg,
                        // Fix: a frame that cannot be taken ends the session,
                        // with the close code it deserves.
                        Some(Err(err)) => break Ending::Close(refusal(&err)),
                        // The client's stream ended: the connection is gone.
                        None => break Ending::Close(None),
                    };
                    match msg {
                        AggregatedMessage::Text(text) => {
                            chatted = true;
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
                                    if let Err(ending) = write(text, &mut kicked).await {
                                        break ending;
                                    }
                                    continue;
                                }
                                Admit::Close => {
                                    break Ending::Close(Some((CloseCode::Policy, TOO_FAST).into()));
                                }
                            }
                            // Fix: no `unwrap`. A server that is gone is shutting
                            // down, and has closed the queue, whose end says so
                            // once the lines in it are written.
                            let _ = self
                                .ws_server_sender
                                .send(UserMessage {
                                    user_id,
                                    user_message: text.to_string(),
                                })
                                .await;
                        }
                        AggregatedMessage::Ping(bytes) => {
                            let pong = self.session.pong(&bytes);
                            if let Err(ending) = write(pong, &mut kicked).await {
                                break ending;
                            }
                        }
                        // Fix: it answers every ping before it.
                        AggregatedMessage::Pong(_) => unanswered = 0,
                        // Fix: answered with the client's own reason, or none.
                        AggregatedMessage::Close(reason) => break Ending::Close(reason),
                        // Fix: refused with a reason instead of silently dropped.
                        AggregatedMessage::Binary(_) => {
                            break Ending::Close(Some((CloseCode::Unsupported, TEXT_ONLY).into()));
                        }
                    }
                }

                // Cancel safe: `recv_many` loses no message when dropped. What
                // is already queued comes out at once, up to a batch, and goes
                // out before the loop looks at the client again.
                received = session_receiver.recv_many(&mut batch, WRITE_BATCH) => {
                    if received == 0 {
                        // The server has closed this user's queue, after a
                        // kick or to shut down; everything queued is written.
                        break Ending::Close(Some(kicked.reason()));
                    }
                    let bytes: usize = batch.iter().map(Outgoing::len).sum();
                    waiting_bytes.fetch_sub(bytes, Ordering::Relaxed);
                    for outgoing in batch.drain(..) {
                        let written = match outgoing {
                            Outgoing::Text(msg) => {
                                write(self.session.text(msg), &mut kicked).await
                            }
                            // ANCHOR: heartbeat-check
                            Outgoing::Heartbeat => {
                                if unanswered >= MISSED_PINGS {
                                    log::info!("user {user_id}: {NO_ANSWER}; dropping");
                                    break 'session Ending::Close(Some((CloseCode::Policy, NO_ANSWER).into()));
                                }
                                // Fix: a client that chats is plainly there. A
                                // ping would make it answer between two of its
                                // lines, and a client with Nagle's algorithm on
                                // then holds its next line for tens of ms.
                                if std::mem::take(&mut chatted) {
                                    continue;
                                }
                                unanswered += 1;
                                write(self.session.ping(b""), &mut kicked).await
                            }
                            // ANCHOR_END: heartbeat-check
                        };
                        if let Err(ending) = written {
                            // Out of the session's loop, not only this `for`.
                            break 'session ending;
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
        self.close(msg_stream, ending).await;
        // ANCHOR_END: session-ends
    }
    // ANCHOR_END: session-run

    // ANCHOR: close
    /// Fix: the end of a session is not the end of its connection: actix-ws
    /// keeps the connection until the client has taken every frame written
    /// to it, so a client that stopped reading would keep it, and its bytes,
    /// for as long as it likes. The client gets `WRITE_TIMEOUT` to take the
    /// close frame and what is before it; then the connection is cut.
    async fn close(self, mut msg_stream: AggregatedMessageStream, ending: Ending) {
        let taken = match ending {
            Ending::Stalled => false,
            Ending::Close(reason) => {
                let session = self.session;
                let closed = async {
                    let _ = session.close(reason).await;
                    // The stream ends once actix-http has pulled the close
                    // frame, or the client has gone. A stream that failed
                    // (a frame that broke the protocol) fails again each
                    // time: it is read no more.
                    while let Some(Ok(_)) = msg_stream.recv().await {}
                };
                tokio::time::timeout(WRITE_TIMEOUT, closed).await.is_ok()
            }
        };
        if !taken {
            log::info!("user {}: {NOT_READING}", self.user_id);
            self.cut.cut();
        }
    }
    // ANCHOR_END: close
}

// ANCHOR: chat-ws
async fn chat_ws(
    req: HttpRequest,
    stream: web::Payload,
    session_factory: web::Data<UserSessionFactory>,
    allowed_origins: web::Data<AllowedOrigins>,
    address_limits: web::Data<AddressLimits>,
    identity: web::Data<Identity>,
) -> Result<HttpResponse, Error> {
    // Fix: refused before the upgrade, with a status a browser reports.
    if !allowed_origins.allow(&req) {
        return Ok(HttpResponse::Forbidden().body(FOREIGN_ORIGIN));
    }
    // Identity: the uid is the one the token proves, and nobody without a
    // valid token gets a WebSocket; the `uid` header and query are not read.
    let uid = match identity.authenticate(&req) {
        Ok(uid) => uid,
        Err(why) => return Ok(identity::unauthorized(why)),
    };
    let (res, session, msg_stream) = actix_ws::handle(&req, stream)?;
    // Fix: an address that holds or opens too many WebSockets is refused,
    // before a session is started for it.
    let address_slot = match address_limits.admit(req.peer_addr().map(|peer| peer.ip())) {
        Ok(slot) => slot,
        Err(why) => return Ok(HttpResponse::TooManyRequests().body(why)),
    };
    // Fix: a size limit on whole messages, not only on single frames.
    let msg_stream = msg_stream
        .max_frame_size(MAX_MESSAGE_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE_BYTES);
    let cut = Cut::of(&req);
    let session = session_factory.create_session(uid, session, cut, address_slot);
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
async fn main() -> ExitCode {
    env_logger::init_from_env(env_logger::Env::new().default_filter_or("info"));
    // Identity: `part6-identity add-user NAME` manages the users file.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("add-user") {
        return identity::add_user(&args[1..]);
    }
    // Fix: a setting that cannot be used is one plain line and status 2.
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(problem) => {
            eprintln!("error: {problem}");
            return ExitCode::from(2);
        }
    };
    // Identity: so is a users file, a key or a certificate that cannot be used.
    let identity = match IdentitySettings::from_env() {
        Ok(identity) => identity,
        Err(problem) => {
            eprintln!("error: {problem}");
            return ExitCode::from(2);
        }
    };
    // Fix: so is anything else that stops the server (a port in use, say),
    // with status 1, instead of `main` printing an error's Debug form.
    match serve(settings, identity).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings, identity: IdentitySettings) -> std::io::Result<()> {
    let signal = shutdown_signal()?;

    // ANCHOR: spawn-server
    // Scale-out: with `REDIS_URL`, a cluster and its link task.
    let (cluster, link) = cluster::join_from_env().await?.unzip();
    let (websocket_server, session_factory) = WebSocketServer::new(settings.rate_limit, cluster);
    let ws_server_sender = session_factory.ws_server_sender.clone();
    if let Some(link) = link {
        spawn(link.run(ws_server_sender.clone()));
    }

    let websocket_server = spawn(websocket_server.run());
    // ANCHOR_END: spawn-server
    let Settings {
        host,
        port,
        address_limit,
        allowed_origins,
        ..
    } = settings;
    let IdentitySettings { identity, tls } = identity;
    let scheme = if tls.is_some() { "https" } else { "http" };
    log::info!("Server will be live on {scheme}://{host}:{port}");
    let address_limits = AddressLimits::new(address_limit);
    let http_server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(session_factory.clone()))
            .app_data(web::Data::new(allowed_origins.clone()))
            .app_data(web::Data::new(address_limits.clone()))
            .app_data(web::Data::new(identity.clone()))
            .service(web::resource("/").route(web::get().to(index)))
            // Identity: where a name and password become a token.
            .service(web::resource("/login").route(web::post().to(identity::login)))
            .service(web::resource("/healthcheck").route(web::get().to(healthcheck)))
            .service(web::resource("/ws").route(web::get().to(chat_ws)))
    })
    // Fix: a handle on every connection's socket, to cut one whose client
    // stopped reading (see `Cut`).
    .on_connect(keep_socket)
    .workers(2)
    // Fix: on SIGTERM actix-web's own handlers would wait 30 s for open
    // WebSockets and never tell the clients; ours close them first (see `signals`).
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    // Fix: every frame goes out when written. With Nagle's algorithm (the
    // OS default) a chat line written after a heartbeat ping waited for the
    // client to acknowledge the ping, which clients delay by up to 40 ms.
    .tcp_nodelay(true);
    // Not changed: after a close frame actix-http lingers, reading until the
    // client closes TCP or `client_disconnect_timeout` (1 s) runs out. Zero
    // would close at once, but a client still sending would then get a reset
    // that can destroy the close frame and its reason before it is read (the
    // `binary-frame` scenario caught that), so the book explains the wait.
    // Identity: with a certificate, HTTPS and wss, so that passwords and
    // tokens never cross the network in the clear.
    let bound = match tls {
        Some(tls) => http_server.bind_rustls_0_23((host.as_str(), port), tls),
        None => http_server.bind((host.as_str(), port)),
    };
    let http_server = bound
        .map_err(|err| {
            std::io::Error::new(err.kind(), format!("cannot listen on {host}:{port}: {err}"))
        })?
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
