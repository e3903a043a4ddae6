//! Checkpoint 5's scale-out: what a node adds to part4 to share one chat
//! with other nodes over Redis pub/sub. The envelopes nodes publish, what a
//! node knows of the others (`Cluster`), the chat server's methods that act
//! on them (a second `impl WebSocketServer`, called from the hooks in
//! `main.rs`), and the link task that talks to Redis.
//!
//! Redis pub/sub delivers at most once and keeps nothing for a subscriber
//! that is away, so nothing here trusts one message to arrive: a node says
//! who is on it, and since when, in every heartbeat; time is counted in the
//! node's own heartbeats coming back through Redis, not on the clock; and
//! whatever is lost on the way is said to the users it concerns.

use crate::{Broadcast, CloseCode, ConnId, REPLACED, WebSocketCommands, WebSocketServer};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;

// ANCHOR: cluster-limits
/// Scale-out: the one Redis channel every node publishes on and listens to.
const CHANNEL: &str = "rust-websocket-tutorial:chat";
/// How often a node tells the others that it is alive and who is on it.
pub(crate) const NODE_HEARTBEAT: Duration = Duration::from_secs(1);
/// A node is gone once this many of our own heartbeats have come back
/// through Redis with no word from it in between.
pub(crate) const BURY_AFTER_BEATS: u32 = 3;
/// A link that has published this many of our heartbeats and heard none
/// back is deaf: its subscription hears nothing, though it is open.
const DEAF_AFTER_BEATS: usize = 4;
/// How long Redis may stall before a command to it fails. redis-rs gives
/// up after 500 ms by default, which a busy Redis can take.
const STALL_BOUND: Duration = Duration::from_secs(2);
/// The first wait before reconnecting to Redis; it doubles, up to
/// `RECONNECT_MAX`, and starts over only after a link that stayed healthy
/// for `HEALTHY_AFTER`, so that a Redis that takes connections and fails
/// them at once is not hammered.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

// ANCHOR: backoff-waits
/// Scale-out: the waits between attempts to reach Redis (see
/// `RECONNECT_MIN`).
#[derive(Debug)]
pub(crate) struct Backoff {
    wait: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            wait: RECONNECT_MIN,
        }
    }
}

impl Backoff {
    /// A link that had been up for `up_for` was lost: only one that stayed
    /// healthy long enough earns short waits again.
    pub(crate) fn lost_after(&mut self, up_for: Duration) {
        if up_for >= HEALTHY_AFTER {
            self.wait = RECONNECT_MIN;
        }
    }

    /// The wait before the next attempt; the one after it is twice as long.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.wait;
        self.wait = (wait * 2).min(RECONNECT_MAX);
        wait
    }
}
// ANCHOR_END: backoff-waits
/// Chat lines that may wait for Redis, through an outage too; past that a
/// line is dropped, and the users on both sides are told. Claims,
/// departures and heartbeats are never dropped.
pub(crate) const CHAT_BACKLOG: usize = 4096;
/// Envelopes published in one round trip to Redis, in order.
const PUBLISH_BATCH: usize = 64;
// What users and operators are told.
pub(crate) const LINK_LOST: &str = "[server]: lost contact with the other nodes: messages may not \
                                    reach them, or theirs you, until contact is back";
pub(crate) const LINK_BACK: &str = "[server]: in contact with the other nodes again; messages sent \
                                    meanwhile may have been lost";
pub(crate) const LINES_LOST: &str =
    "[server]: some messages between this node and the others were lost on the way";
const REDIS_UNREACHABLE: &str = "REDIS_URL is set, but no Redis answers there: start \
                                 redis-server, or unset REDIS_URL to run this node alone";
// ANCHOR_END: cluster-limits

// ANCHOR: envelope
/// Scale-out: a node's id, drawn at random when it starts.
pub(crate) type NodeId = u64;

/// When a connection was made, in milliseconds since 1970: of two
/// connections of one uid on two nodes, the later one wins.
pub(crate) type Since = u64;

/// Scale-out: what a node publishes. Every envelope names its node, so a
/// node can tell its own (which it has delivered already) from the others'.
#[derive(Debug, PartialEq)]
pub(crate) struct Envelope {
    pub(crate) node: NodeId,
    pub(crate) kind: Kind,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Kind {
    /// A user of the node sent a message.
    Message { user_id: i32, text: String },
    /// A user connected to the node at `since`: an older connection of it
    /// anywhere must go.
    Claim { user_id: i32, since: Since },
    /// A user of the node left.
    Left { user_id: i32 },
    /// The node is alive: the heartbeat's number, how many chat lines the
    /// node has lost on the way, the version of its list of users (it grows
    /// with every change), and the list itself, as a line: `uid@since,...`.
    /// A node that has this version already need not read the list.
    Heartbeat {
        seq: u64,
        lost: u64,
        version: u64,
        users: String,
    },
}

impl Envelope {
    /// One line: the node in hex, the kind, then its fields; the text last,
    /// so that it may hold spaces.
    pub(crate) fn encode(&self) -> String {
        let node = self.node;
        match &self.kind {
            Kind::Message { user_id, text } => format!("{node:x} message {user_id} {text}"),
            Kind::Claim { user_id, since } => format!("{node:x} claim {user_id} {since}"),
            Kind::Left { user_id } => format!("{node:x} left {user_id}"),
            Kind::Heartbeat {
                seq,
                lost,
                version,
                users,
            } => format!("{node:x} heartbeat {seq} {lost} {version} {users}"),
        }
    }

    /// `None` for a line no node of this version would publish.
    pub(crate) fn decode(line: &str) -> Option<Self> {
        let mut parts = line.splitn(3, ' ');
        let node = NodeId::from_str_radix(parts.next()?, 16).ok()?;
        let kind = parts.next()?;
        let rest = parts.next().unwrap_or_default();
        let kind = match kind {
            "message" => {
                let (user_id, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let (user_id, text) = (user_id.parse().ok()?, text.to_string());
                Kind::Message { user_id, text }
            }
            "claim" => {
                let (user_id, since) = rest.split_once(' ')?;
                let (user_id, since) = (user_id.parse().ok()?, since.parse().ok()?);
                Kind::Claim { user_id, since }
            }
            "left" => Kind::Left {
                user_id: rest.parse().ok()?,
            },
            "heartbeat" => {
                let mut fields = rest.splitn(4, ' ');
                let seq = fields.next()?.parse().ok()?;
                let lost = fields.next()?.parse().ok()?;
                let version = fields.next()?.parse().ok()?;
                // The list is read only by a node that needs it.
                let users = fields.next().unwrap_or_default().to_string();
                Kind::Heartbeat {
                    seq,
                    lost,
                    version,
                    users,
                }
            }
            _ => return None,
        };
        Some(Self { node, kind })
    }

    /// A heartbeat's list of users, `uid@since,...`; `None` if it is not one.
    pub(crate) fn users(list: &str) -> Option<Vec<(i32, Since)>> {
        list.split(',')
            .filter(|user| !user.is_empty())
            .map(|user| {
                let (user_id, since) = user.split_once('@')?;
                Some((user_id.parse().ok()?, since.parse().ok()?))
            })
            .collect()
    }

    /// A heartbeat's list, from `(uid, since)` pairs.
    fn users_line(users: impl Iterator<Item = (i32, Since)>) -> String {
        let users: Vec<String> = users
            .map(|(user_id, since)| format!("{user_id}@{since}"))
            .collect();
        users.join(",")
    }

    /// Whether it carries a chat line, which may be dropped when Redis is
    /// behind; the rest never is.
    fn is_chat(&self) -> bool {
        matches!(self.kind, Kind::Message { .. })
    }
}
// ANCHOR_END: envelope

// ANCHOR: cluster
/// Scale-out: what a node knows of the others, and its way to reach them.
pub(crate) struct Cluster {
    pub(crate) node: NodeId,
    outbox: Outbox,
    /// Whether this node's users know it is out of touch.
    told_lost: bool,
    /// Whether they know that some of their lines were dropped, this round.
    told_dropped: bool,
    /// This node's users, and when each connected: what it claims.
    local: HashMap<i32, Since>,
    /// The other nodes heard from.
    pub(crate) nodes: HashMap<NodeId, RemoteNode>,
    /// For each user on other nodes, how many nodes have them (a user may
    /// be on two for a moment, while the older connection is closed).
    elsewhere: HashMap<i32, u32>,
    /// The number of this node's next heartbeat.
    seq: u64,
    /// The version of `local`: it grows with every change, so that the
    /// others read this node's list only when it has changed.
    version: u64,
}

pub(crate) struct RemoteNode {
    users: HashMap<i32, Since>,
    /// Heard from since our own last heartbeat came back.
    heard: bool,
    /// Our own heartbeats that came back since it was last heard.
    pub(crate) missed: u32,
    /// The lines it said it lost, when last heard.
    lost: u64,
    /// The version of its list that `users` holds.
    version: Option<u64>,
}
// ANCHOR_END: cluster

// ANCHOR: outbox
/// Scale-out: envelopes on their way to the link task, in order. Every
/// envelope is queued; chat lines only up to `CHAT_BACKLOG`, so a Redis
/// that is slow or away costs bounded memory. `lost` counts the chat lines
/// that never reached Redis, dropped here or by the link: the heartbeat
/// carries it, so the other nodes learn of the loss too.
pub(crate) struct Outbox {
    sender: mpsc::UnboundedSender<Envelope>,
    chat_waiting: Arc<AtomicUsize>,
    lost: Arc<AtomicU64>,
    /// A heartbeat waits for the link: no other is queued meanwhile, so an
    /// outage does not pile heartbeats up, and only a fresh one goes.
    heartbeat_waiting: Arc<AtomicBool>,
}

impl Outbox {
    /// An outbox, and the link's end of it.
    pub(crate) fn new() -> (Outbox, OutboxReceiver) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let outbox = Outbox {
            sender,
            chat_waiting: Arc::default(),
            lost: Arc::default(),
            heartbeat_waiting: Arc::default(),
        };
        let receiver = OutboxReceiver {
            receiver,
            chat_waiting: Arc::clone(&outbox.chat_waiting),
            lost: Arc::clone(&outbox.lost),
            heartbeat_waiting: Arc::clone(&outbox.heartbeat_waiting),
        };
        (outbox, receiver)
    }

    /// Queues `envelope`; `false` if it was a chat line and had no room, or
    /// a heartbeat while another waits.
    fn send(&self, envelope: Envelope) -> bool {
        if let Kind::Heartbeat { .. } = envelope.kind
            && self.heartbeat_waiting.swap(true, Ordering::Relaxed)
        {
            return false;
        }
        if envelope.is_chat() {
            if self.chat_waiting.load(Ordering::Relaxed) >= CHAT_BACKLOG {
                self.lost.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            self.chat_waiting.fetch_add(1, Ordering::Relaxed);
        }
        // The link task ends only with the server task: nothing to do then.
        let _ = self.sender.send(envelope);
        true
    }
}
// ANCHOR_END: outbox

impl Cluster {
    pub(crate) fn new(outbox: Outbox) -> Self {
        // Random enough to tell a few processes apart; no crate needed.
        use std::hash::BuildHasher;
        let node = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        Self {
            node,
            outbox,
            told_lost: false,
            told_dropped: false,
            local: HashMap::new(),
            nodes: HashMap::new(),
            elsewhere: HashMap::new(),
            seq: 0,
            version: 0,
        }
    }

    fn publish(&mut self, kind: Kind) -> bool {
        let node = self.node;
        self.outbox.send(Envelope { node, kind })
    }

    /// Queues an envelope as `publish` does, for the tests.
    #[cfg(test)]
    pub(crate) fn outbox_send(&mut self, envelope: Envelope) -> bool {
        self.outbox.send(envelope)
    }

    /// Whether a user is on some other node.
    fn is_elsewhere(&self, user_id: i32) -> bool {
        self.elsewhere.get(&user_id).is_some_and(|&nodes| nodes > 0)
    }

    // ANCHOR: presence-counts
    /// Node `id` now has `user_id`, since `since`. Returns whether the
    /// user was on no other node before.
    fn gained(&mut self, id: NodeId, user_id: i32, since: Since) -> bool {
        let Some(node) = self.nodes.get_mut(&id) else {
            return false;
        };
        if node.users.insert(user_id, since).is_some() {
            return false;
        }
        let count = self.elsewhere.entry(user_id).or_default();
        *count += 1;
        *count == 1
    }

    /// Node `id` no longer has `user_id`. Returns whether the user is now on
    /// no other node.
    fn dropped(&mut self, id: NodeId, user_id: i32) -> bool {
        let Some(node) = self.nodes.get_mut(&id) else {
            return false;
        };
        if node.users.remove(&user_id).is_none() {
            return false;
        }
        let Some(count) = self.elsewhere.get_mut(&user_id) else {
            return false;
        };
        *count -= 1;
        if *count > 0 {
            return false;
        }
        self.elsewhere.remove(&user_id);
        true
    }
    // ANCHOR_END: presence-counts

    // ANCHOR: newer-wins
    /// Whether this node's connection of `user_id` is older than one made
    /// on node `id` at `since`: then ours must go. Every node compares the
    /// same two times, so all agree on the winner, whatever order the
    /// envelopes came in and however many were lost.
    fn beaten(&self, user_id: i32, id: NodeId, since: Since) -> bool {
        self.local
            .get(&user_id)
            .is_some_and(|&ours| (ours, self.node) < (since, id))
    }
    // ANCHOR_END: newer-wins
}

/// Now, as a connection's time: milliseconds since 1970.
fn now_since() -> Since {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as Since)
}

impl WebSocketServer {
    /// Scale-out: whether a user is in the chat, on this node or another.
    pub(crate) fn present(&self, user_id: i32) -> bool {
        self.session_store.contains_key(&user_id)
            || self
                .cluster
                .as_ref()
                .is_some_and(|cluster| cluster.is_elsewhere(user_id))
    }

    /// Scale-out: tells the other nodes that `user_id` connected here now,
    /// so that they close any older connection of it.
    pub(crate) fn claim(&mut self, user_id: i32, _conn_id: ConnId) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let since = now_since();
        cluster.local.insert(user_id, since);
        cluster.version += 1;
        cluster.publish(Kind::Claim { user_id, since });
        // A node whose list we know, and will not read again until it
        // changes, may hold a newer connection of this uid by its clock.
        let newer = cluster.nodes.iter().find_map(|(&id, node)| {
            let &theirs = node.users.get(&user_id)?;
            cluster.beaten(user_id, id, theirs).then_some((id, theirs))
        });
        if let Some((id, theirs)) = newer {
            self.node_has(id, &[(user_id, theirs)], false);
        }
    }

    /// Scale-out: a message of a local user, for the other nodes' users.
    pub(crate) fn publish_message(&mut self, user_id: i32, text: String) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if !cluster.publish(Kind::Message { user_id, text }) && !cluster.told_dropped {
            // Redis is far behind: say so, once a round.
            cluster.told_dropped = true;
            self.broadcast(LINES_LOST.to_string(), Broadcast::Chat);
        }
    }

    /// Scale-out: a user of this node is gone; the other nodes hear of it,
    /// and it has left unless it is still on another node.
    pub(crate) fn local_user_gone(&mut self, user_id: i32) {
        if let Some(cluster) = &mut self.cluster {
            cluster.local.remove(&user_id);
            cluster.version += 1;
            cluster.publish(Kind::Left { user_id });
        }
        if !self.present(user_id) {
            self.presence.left(user_id);
        }
    }

    // ANCHOR: remote
    /// Scale-out: acts on an envelope from the channel. This node's own
    /// were delivered here already; only its heartbeat's return matters.
    pub(crate) fn remote(&mut self, Envelope { node, kind }: Envelope) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if node == cluster.node {
            if let Kind::Heartbeat { .. } = kind {
                self.own_heartbeat_back();
            }
            return;
        }
        let sender = cluster.nodes.entry(node).or_insert_with(|| RemoteNode {
            users: HashMap::new(),
            heard: false,
            missed: 0,
            lost: 0,
            version: None,
        });
        sender.heard = true;
        match kind {
            Kind::Message { user_id, text } => {
                self.broadcast(format!("[UID: {user_id}]: {text}"), Broadcast::Chat);
            }
            Kind::Claim { user_id, since } => self.node_has(node, &[(user_id, since)], false),
            Kind::Left { user_id } => {
                let gone = cluster.dropped(node, user_id);
                self.changed(&[(user_id, gone)]);
            }
            Kind::Heartbeat {
                lost,
                version,
                users,
                ..
            } => {
                let more_lost = lost > sender.lost;
                sender.lost = lost;
                // A list this node has read already needs no reading: the
                // work of a heartbeat is then a few fields, whatever the
                // number of users.
                if sender.version != Some(version) {
                    sender.version = Some(version);
                    match Envelope::users(&users) {
                        Some(users) => self.node_has(node, &users, true),
                        None => log::warn!("ignoring a list of users this node cannot read"),
                    }
                }
                if more_lost {
                    self.broadcast(LINES_LOST.to_string(), Broadcast::Chat);
                }
            }
        }
    }

    // ANCHOR_END: remote

    // ANCHOR: node-has
    /// Node `id` has `users`, since the times given; with `all`, no others.
    /// Closes the older of two connections of one uid here, and announces
    /// who arrived or left. The work is one lookup per listed user, and one
    /// per user the node no longer has.
    fn node_has(&mut self, id: NodeId, users: &[(i32, Since)], all: bool) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let mut changes = Vec::new();
        for &(user_id, since) in users {
            // Part4's rule across nodes: the newer connection wins. The user
            // stays in the chat, on the other node: that is no news.
            let moved = cluster.beaten(user_id, id, since);
            if moved {
                cluster.local.remove(&user_id);
                cluster.version += 1;
                if let Some(older) = self.session_store.remove(&user_id) {
                    let _ = older.kick.send((CloseCode::Policy, REPLACED).into());
                }
            }
            let new = cluster.gained(id, user_id, since);
            changes.push((user_id, new && !moved));
        }
        if all {
            let listed: std::collections::HashSet<i32> = users.iter().map(|(u, _)| *u).collect();
            let gone: Vec<i32> = cluster.nodes.get(&id).map_or_else(Vec::new, |node| {
                node.users
                    .keys()
                    .filter(|u| !listed.contains(u))
                    .copied()
                    .collect()
            });
            for user_id in gone {
                let left = cluster.dropped(id, user_id);
                changes.push((user_id, left));
            }
        }
        self.changed(&changes);
    }

    /// Announces the users whose presence elsewhere changed (`true`): each
    /// has arrived or left, unless it is on this node.
    fn changed(&mut self, users: &[(i32, bool)]) {
        for &(user_id, _) in users.iter().filter(|(_, changed)| *changed) {
            if self.session_store.contains_key(&user_id) {
                continue;
            }
            if self.present(user_id) {
                self.presence.joined(user_id);
            } else {
                self.presence.left(user_id);
            }
        }
        self.announce_presence(false);
    }
    // ANCHOR_END: node-has

    // ANCHOR: rounds
    /// Our own heartbeat came back through Redis: the link carries both
    /// ways, and a round of the cluster's time has passed. A node not heard
    /// from for `BURY_AFTER_BEATS` rounds is gone, and so are its users.
    /// Counting rounds, not seconds, a node that was paused, or cut off,
    /// reads what arrived meanwhile before it judges anyone.
    fn own_heartbeat_back(&mut self) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let mut gone = Vec::new();
        for (&id, node) in &mut cluster.nodes {
            if std::mem::take(&mut node.heard) {
                node.missed = 0;
            } else {
                node.missed += 1;
                if node.missed >= BURY_AFTER_BEATS {
                    gone.push(id);
                }
            }
        }
        // Lines dropped in the last round have been told; a new drop may be.
        cluster.told_dropped = false;
        for id in gone {
            log::warn!("node {id:x} silent for {BURY_AFTER_BEATS} rounds: its users have left");
            self.node_has(id, &[], true);
            if let Some(cluster) = &mut self.cluster {
                cluster.nodes.remove(&id);
            }
        }
    }
    // ANCHOR_END: rounds

    // ANCHOR: node-heartbeat
    /// Scale-out: on every tick, tells the others that this node lives and
    /// who is on it. Every heartbeat repeats every claim, so a claim lost on
    /// the way, or made while Redis was away, is settled one beat later.
    pub(crate) fn node_heartbeat(&mut self) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        cluster.seq += 1;
        let kind = Kind::Heartbeat {
            seq: cluster.seq,
            lost: cluster.outbox.lost.load(Ordering::Relaxed),
            version: cluster.version,
            users: Envelope::users_line(cluster.local.iter().map(|(&u, &s)| (u, s))),
        };
        cluster.publish(kind);
    }

    /// Tells this node's users that the other nodes are out of reach, or,
    /// once the link has proven itself, back.
    pub(crate) fn link_changed(&mut self, up: bool) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        // Users already know: lost while told so, or up while not.
        if up != cluster.told_lost {
            return;
        }
        cluster.told_lost = !up;
        if up {
            // The others were silent because of the link, not because they
            // died: they get a fresh count of rounds.
            for node in cluster.nodes.values_mut() {
                node.missed = 0;
            }
            self.broadcast(LINK_BACK.to_string(), Broadcast::Chat);
        } else {
            self.broadcast(LINK_LOST.to_string(), Broadcast::Chat);
        }
    }
    // ANCHOR_END: node-heartbeat
}

// ANCHOR: link
/// Scale-out: the two connections a node keeps to Redis. A connection that
/// has subscribed may only listen, so publishing needs another.
pub(crate) struct RedisLink {
    client: redis::Client,
    node: NodeId,
    /// What the chat server task publishes, in order.
    outbox: OutboxReceiver,
}

/// The link's end of the [`Outbox`].
pub(crate) struct OutboxReceiver {
    pub(crate) receiver: mpsc::UnboundedReceiver<Envelope>,
    chat_waiting: Arc<AtomicUsize>,
    lost: Arc<AtomicU64>,
    heartbeat_waiting: Arc<AtomicBool>,
}

/// A link to Redis that is up: its subscription and its publisher.
struct Connected {
    subscription: redis::aio::PubSubStream,
    publisher: redis::aio::MultiplexedConnection,
}
// ANCHOR_END: link

impl RedisLink {
    // ANCHOR: connect
    async fn connect(&self) -> redis::RedisResult<Connected> {
        let connecting = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            let config =
                redis::AsyncConnectionConfig::new().set_response_timeout(Some(STALL_BOUND));
            let publisher = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            Ok(Connected {
                subscription: pubsub.into_on_message(),
                publisher,
            })
        };
        // A Redis that takes the connection and then says nothing fails too.
        match tokio::time::timeout(STALL_BOUND, connecting).await {
            Ok(connected) => connected,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "no answer from Redis",
            ))),
        }
    }

    // ANCHOR_END: connect

    // ANCHOR: backoff
    /// The link task: relays envelopes both ways until the link is lost,
    /// then reconnects with a backoff that grows until a link has stayed
    /// healthy for `HEALTHY_AFTER`, and so on until the chat server stops.
    /// Users hear that contact is back only once it is proven: a batch was
    /// published and this node's own heartbeat came back.
    async fn run(
        mut self,
        mut connected: Connected,
        ws_server_sender: mpsc::Sender<WebSocketCommands>,
    ) {
        use WebSocketCommands::*;
        let mut backoff = Backoff::default();
        loop {
            let up_since = Instant::now();
            let lost = match self.relay(&mut connected, &ws_server_sender).await {
                Ok(()) => return,
                Err(lost) => lost,
            };
            log::warn!("lost contact with Redis ({lost}); reconnecting");
            if ws_server_sender.send(Link(false)).await.is_err() {
                return;
            }
            backoff.lost_after(up_since.elapsed());
            connected = loop {
                tokio::time::sleep(backoff.next_wait()).await;
                match self.connect().await {
                    Ok(connected) => break connected,
                    Err(err) => log::debug!("Redis still unreachable: {err}"),
                }
            };
            log::info!("connected to Redis again");
        }
    }

    // ANCHOR_END: backoff

    // ANCHOR: relay
    /// `Ok` when the chat server has stopped, `Err` when the link is lost.
    async fn relay(
        &mut self,
        connected: &mut Connected,
        ws_server_sender: &mpsc::Sender<WebSocketCommands>,
    ) -> Result<(), String> {
        // Our heartbeats published and not heard back yet. Counted, not
        // timed: a node that was paused publishes one on waking, not four.
        let mut unheard = 0;
        let mut proven = false;
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        loop {
            tokio::select! {
                heard = connected.subscription.next() => {
                    let Some(heard) = heard else {
                        return Err("the subscription ended".to_string());
                    };
                    let Ok(line) = heard.get_payload::<String>() else {
                        continue;
                    };
                    let Some(envelope) = Envelope::decode(&line) else {
                        log::warn!("ignoring an envelope this node cannot read: {line:?}");
                        continue;
                    };
                    if envelope.node == self.node && matches!(envelope.kind, Kind::Heartbeat { .. }) {
                        unheard = 0;
                        // Published and heard back: the link carries both ways.
                        if !std::mem::replace(&mut proven, true) {
                            let _ = ws_server_sender.send(WebSocketCommands::Link(true)).await;
                        }
                    }
                    if ws_server_sender.send(WebSocketCommands::Remote(envelope)).await.is_err() {
                        return Ok(());
                    }
                }
                received = self.outbox.receiver.recv_many(&mut batch, PUBLISH_BATCH) => {
                    if received == 0 {
                        return Ok(());
                    }
                    for envelope in &batch {
                        if let Kind::Heartbeat { .. } = envelope.kind {
                            self.outbox.heartbeat_waiting.store(false, Ordering::Relaxed);
                            unheard += 1;
                        }
                    }
                    if unheard > DEAF_AFTER_BEATS {
                        return Err(format!(
                            "deaf: {DEAF_AFTER_BEATS} of our heartbeats did not come back"
                        ));
                    }
                    self.publish(connected, &mut batch).await?;
                }
            }
        }
    }

    // ANCHOR_END: relay

    // ANCHOR: publish
    /// Publishes `batch` in one round trip (one pipeline, order kept). Its
    /// chat lines leave the backlog either way; if Redis failed them, they
    /// count as lost, which the next heartbeat tells the other nodes.
    async fn publish(
        &mut self,
        connected: &mut Connected,
        batch: &mut Vec<Envelope>,
    ) -> Result<(), String> {
        let mut pipe = redis::pipe();
        let mut chat = 0;
        for envelope in batch.drain(..) {
            chat += usize::from(envelope.is_chat());
            pipe.cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(envelope.encode())
                .ignore();
        }
        let published = pipe.query_async::<()>(&mut connected.publisher).await;
        self.outbox.chat_waiting.fetch_sub(chat, Ordering::Relaxed);
        published.map_err(|err| {
            self.outbox.lost.fetch_add(chat as u64, Ordering::Relaxed);
            err.to_string()
        })
    }
    // ANCHOR_END: publish
}

// ANCHOR: join
/// Scale-out: when `REDIS_URL` is set, this node's part of the cluster and
/// its link to Redis, connected; `None` otherwise. A Redis that does not
/// answer at start is an error: a node that started alone while its
/// operator expected a cluster would split the chat silently.
pub(crate) async fn join_from_env() -> std::io::Result<Option<(Cluster, Link)>> {
    let Ok(url) = std::env::var("REDIS_URL") else {
        return Ok(None);
    };
    let unreachable = |err: redis::RedisError| {
        std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            format!("{REDIS_UNREACHABLE} ({url}: {err})"),
        )
    };
    let client = redis::Client::open(url.as_str()).map_err(unreachable)?;
    let (outbox, receiver) = Outbox::new();
    let cluster = Cluster::new(outbox);
    let link = RedisLink {
        client,
        node: cluster.node,
        outbox: receiver,
    };
    let connected = link.connect().await.map_err(unreachable)?;
    log::info!(
        "node {:x}: one chat with every node on the same Redis, over pub/sub",
        cluster.node
    );
    Ok(Some((cluster, Link { link, connected })))
}

/// A link to Redis, connected and ready to run.
pub(crate) struct Link {
    link: RedisLink,
    connected: Connected,
}

impl Link {
    /// Runs the link task until the chat server stops.
    pub(crate) async fn run(self, ws_server_sender: mpsc::Sender<WebSocketCommands>) {
        self.link.run(self.connected, ws_server_sender).await;
    }
}
// ANCHOR_END: join

#[cfg(test)]
impl OutboxReceiver {
    /// Chat lines lost so far.
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}
