//! Checkpoint 5's scale-out: what a node adds to part4 to share one chat
//! with other nodes over Redis pub/sub. The envelopes nodes publish, what a
//! node knows of the others (`Cluster`), the chat server's methods that act
//! on them (a second `impl WebSocketServer`, called from the hooks in
//! `main.rs`), and the link task that talks to Redis.

use crate::{Broadcast, CloseCode, ConnId, REPLACED, WebSocketCommands, WebSocketServer};
use futures_util::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

// ANCHOR: cluster-limits
/// Scale-out: the one Redis channel every node publishes on and listens to.
const CHANNEL: &str = "rust-websocket-tutorial:chat";
/// How often a node tells the others that it is alive and who is on it.
pub(crate) const NODE_HEARTBEAT: Duration = Duration::from_secs(1);
/// A node not heard from for this long is gone, and so are its users.
pub(crate) const NODE_TIMEOUT: Duration = Duration::from_secs(3);
/// The first wait before reconnecting to Redis; it doubles up to `RECONNECT_MAX`.
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// How many envelopes may wait for the link task; past that they are dropped.
pub(crate) const PUBLISH_CAPACITY: usize = 4096;
// What users and operators are told.
pub(crate) const LINK_LOST: &str =
    "[server]: lost contact with the other nodes: messages now reach users on this node only";
pub(crate) const LINK_BACK: &str = "[server]: in contact with the other nodes again; messages sent \
                         meanwhile reached users on this node only";
const REDIS_UNREACHABLE: &str = "REDIS_URL is set, but no Redis answers there: start \
                                 redis-server, or unset REDIS_URL to run this node alone";
// ANCHOR_END: cluster-limits

// ANCHOR: envelope
/// Scale-out: a node's id, drawn at random when it starts.
pub(crate) type NodeId = u64;

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
    /// A user connected to the node: any older connection elsewhere must go.
    Claim { user_id: i32, conn_id: ConnId },
    /// A user of the node left.
    Left { user_id: i32 },
    /// The node is alive, and these are its users.
    Heartbeat { users: BTreeSet<i32> },
}

impl Envelope {
    /// One line: the node in hex, the kind, then its fields; the text last,
    /// so that it may hold spaces.
    pub(crate) fn encode(&self) -> String {
        let node = self.node;
        match &self.kind {
            Kind::Message { user_id, text } => format!("{node:x} message {user_id} {text}"),
            Kind::Claim { user_id, conn_id } => format!("{node:x} claim {user_id} {conn_id}"),
            Kind::Left { user_id } => format!("{node:x} left {user_id}"),
            Kind::Heartbeat { users } => {
                let users: Vec<String> = users.iter().map(i32::to_string).collect();
                format!("{node:x} heartbeat {}", users.join(","))
            }
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
                let (user_id, conn_id) = rest.split_once(' ')?;
                let (user_id, conn_id) = (user_id.parse().ok()?, conn_id.parse().ok()?);
                Kind::Claim { user_id, conn_id }
            }
            "left" => Kind::Left {
                user_id: rest.parse().ok()?,
            },
            "heartbeat" => Kind::Heartbeat {
                users: rest
                    .split(',')
                    .filter(|uid| !uid.is_empty())
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .ok()?,
            },
            _ => return None,
        };
        Some(Self { node, kind })
    }
}
// ANCHOR_END: envelope

// ANCHOR: cluster
/// Scale-out: what a node knows of the others, and its way to reach them.
pub(crate) struct Cluster {
    pub(crate) node: NodeId,
    /// To the link task, which publishes in the order it receives. Bounded,
    /// and the server never waits on it: when Redis is slower than the
    /// chat, envelopes are dropped (pub/sub has no backpressure to offer).
    outbox: mpsc::Sender<String>,
    /// Whether the link to Redis is up; while it is down nothing is queued.
    linked: bool,
    /// The other nodes heard from: when last, and who is on each.
    pub(crate) nodes: HashMap<NodeId, RemoteNode>,
    /// Local users whose claim has not come back from Redis yet. Redis
    /// hands every node the envelopes in one order, so of two claims for
    /// one uid the later one wins everywhere: a claim from elsewhere that
    /// arrives before ours is older, and must not close our user.
    unconfirmed: HashMap<i32, ConnId>,
}

pub(crate) struct RemoteNode {
    pub(crate) last_heard: Instant,
    users: BTreeSet<i32>,
}

impl Cluster {
    pub(crate) fn new(outbox: mpsc::Sender<String>) -> Self {
        // Random enough to tell a few processes apart; no crate needed.
        use std::hash::BuildHasher;
        let node = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
        Self {
            node,
            outbox,
            linked: true,
            nodes: HashMap::new(),
            unconfirmed: HashMap::new(),
        }
    }

    fn publish(&mut self, kind: Kind) {
        if !self.linked {
            return;
        }
        let envelope = Envelope {
            node: self.node,
            kind,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.outbox.try_send(envelope.encode()) {
            log::warn!("Redis is not keeping up: an envelope for the other nodes was dropped");
        }
    }

    /// Whether a user is on some other node.
    fn elsewhere(&self, user_id: i32) -> bool {
        self.nodes
            .values()
            .any(|node| node.users.contains(&user_id))
    }
}
// ANCHOR_END: cluster

impl WebSocketServer {
    /// Scale-out: whether a user is in the chat, on this node or another.
    pub(crate) fn present(&self, user_id: i32) -> bool {
        self.session_store.contains_key(&user_id)
            || self
                .cluster
                .as_ref()
                .is_some_and(|cluster| cluster.elsewhere(user_id))
    }

    /// Scale-out: tells the other nodes that `user_id` connected here, so
    /// that they close any older connection of it.
    pub(crate) fn claim(&mut self, user_id: i32, conn_id: ConnId) {
        if let Some(cluster) = &mut self.cluster {
            cluster.publish(Kind::Claim { user_id, conn_id });
            if cluster.linked {
                cluster.unconfirmed.insert(user_id, conn_id);
            }
        }
    }

    /// Scale-out: a message of a local user, for the other nodes' users.
    pub(crate) fn publish_message(&mut self, user_id: i32, text: String) {
        if let Some(cluster) = &mut self.cluster {
            cluster.publish(Kind::Message { user_id, text });
        }
    }

    /// Scale-out: a user of this node is gone; the other nodes hear of it,
    /// and it has left unless it is still on another node.
    pub(crate) fn local_user_gone(&mut self, user_id: i32) {
        if let Some(cluster) = &mut self.cluster {
            cluster.unconfirmed.remove(&user_id);
            cluster.publish(Kind::Left { user_id });
        }
        if !self.present(user_id) {
            self.presence.left(user_id);
        }
    }

    // ANCHOR: remote
    /// Scale-out: acts on an envelope from the channel. This node's own
    /// were delivered here already; only a claim's return is looked at.
    pub(crate) fn remote(&mut self, Envelope { node, kind }: Envelope) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if node == cluster.node {
            if let Kind::Claim { user_id, conn_id } = kind
                && cluster.unconfirmed.get(&user_id) == Some(&conn_id)
            {
                cluster.unconfirmed.remove(&user_id);
            }
            return;
        }
        let before = self.present_set(&kind);
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let sender = cluster.nodes.entry(node).or_insert_with(|| RemoteNode {
            last_heard: Instant::now(),
            users: BTreeSet::new(),
        });
        sender.last_heard = Instant::now();
        match kind {
            Kind::Message { user_id, text } => {
                self.broadcast(format!("[UID: {user_id}]: {text}"), Broadcast::Chat);
            }
            Kind::Claim { user_id, .. } => {
                sender.users.insert(user_id);
                // Part4's rule across nodes: the newer connection wins.
                if !cluster.unconfirmed.contains_key(&user_id)
                    && let Some(older) = self.session_store.remove(&user_id)
                {
                    let _ = older.kick.send((CloseCode::Policy, REPLACED).into());
                }
            }
            Kind::Left { user_id } => {
                sender.users.remove(&user_id);
            }
            Kind::Heartbeat { users } => sender.users = users,
        }
        self.announce_changes(before);
    }

    /// The users an envelope may bring or take away, and whether each is
    /// in the chat now.
    fn present_set(&self, kind: &Kind) -> Vec<(i32, bool)> {
        let users: Vec<i32> = match kind {
            Kind::Message { .. } => Vec::new(),
            Kind::Claim { user_id, .. } | Kind::Left { user_id } => vec![*user_id],
            Kind::Heartbeat { users } => users.iter().copied().collect(),
        };
        let mut users = users;
        // A heartbeat may also drop users the node listed before.
        if let (Kind::Heartbeat { .. }, Some(cluster)) = (kind, &self.cluster) {
            users.extend(cluster.nodes.values().flat_map(|node| node.users.iter()));
        }
        users.sort_unstable();
        users.dedup();
        users
            .into_iter()
            .map(|user_id| (user_id, self.present(user_id)))
            .collect()
    }

    /// Queues a notice for every user whose presence changed since `before`.
    fn announce_changes(&mut self, before: Vec<(i32, bool)>) {
        for (user_id, was_here) in before {
            match (was_here, self.present(user_id)) {
                (false, true) => self.presence.joined(user_id),
                (true, false) => self.presence.left(user_id),
                _ => {}
            }
        }
        self.announce_presence(false);
    }

    /// Publishes who is here, and buries the nodes not heard from for
    /// `NODE_TIMEOUT`: their users have left.
    pub(crate) fn node_heartbeat(&mut self) {
        let users = self.session_store.keys().copied().collect();
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        cluster.publish(Kind::Heartbeat { users });
        // While Redis is away every node is silent; none is buried for it.
        if !cluster.linked {
            return;
        }
        let silent: Vec<NodeId> = cluster
            .nodes
            .iter()
            .filter(|(_, node)| node.last_heard.elapsed() > NODE_TIMEOUT)
            .map(|(&id, _)| id)
            .collect();
        for id in silent {
            let Some(cluster) = &mut self.cluster else {
                return;
            };
            let Some(gone) = cluster.nodes.remove(&id) else {
                continue;
            };
            log::warn!("node {id:x} silent for {NODE_TIMEOUT:?}: its users have left");
            for user_id in gone.users {
                if !self.present(user_id) {
                    self.presence.left(user_id);
                }
            }
        }
        self.announce_presence(false);
    }

    /// Tells this node's users that the other nodes are out of reach, or
    /// back; on return, publishes who is here at once.
    pub(crate) fn link_changed(&mut self, up: bool) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        cluster.linked = up;
        if up {
            // The others were silent because of Redis, not because they died.
            for node in cluster.nodes.values_mut() {
                node.last_heard = Instant::now();
            }
            self.broadcast(LINK_BACK.to_string(), Broadcast::Chat);
            self.node_heartbeat();
        } else {
            // Our claims will not come back: nobody else can contest them.
            cluster.unconfirmed.clear();
            self.broadcast(LINK_LOST.to_string(), Broadcast::Chat);
        }
    }
    // ANCHOR_END: remote
}

// ANCHOR: link
/// Scale-out: the two connections a node keeps to Redis. A connection that
/// has subscribed may only listen, so publishing needs another.
pub(crate) struct RedisLink {
    client: redis::Client,
    subscription: redis::aio::PubSubStream,
    publisher: redis::aio::MultiplexedConnection,
    /// What the chat server task publishes, in order.
    outbox: mpsc::Receiver<String>,
}

impl RedisLink {
    async fn connect(
        client: redis::Client,
        outbox: mpsc::Receiver<String>,
    ) -> Result<Self, (redis::RedisError, mpsc::Receiver<String>)> {
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            let publisher = client.get_multiplexed_async_connection().await?;
            Ok((pubsub.into_on_message(), publisher))
        };
        match connected.await {
            Ok((subscription, publisher)) => Ok(Self {
                client,
                subscription,
                publisher,
                outbox,
            }),
            Err(err) => Err((err, outbox)),
        }
    }

    /// The link task: relays envelopes both ways until Redis goes away,
    /// then reconnects with capped exponential backoff, and so on until the
    /// chat server stops. One task publishes everything, so each user's
    /// messages leave in the order they were sent.
    pub(crate) async fn run(mut self, ws_server_sender: mpsc::Sender<WebSocketCommands>) {
        use WebSocketCommands::*;
        loop {
            let lost = match self.relay(&ws_server_sender).await {
                Ok(()) => return,
                Err(lost) => lost,
            };
            log::warn!("lost contact with Redis ({lost}); reconnecting");
            if ws_server_sender.send(Link(false)).await.is_err() {
                return;
            }
            let mut wait = RECONNECT_MIN;
            let client = self.client.clone();
            let mut outbox = self.outbox;
            self = loop {
                tokio::time::sleep(wait).await;
                match Self::connect(client.clone(), outbox).await {
                    Ok(link) => break link,
                    Err((err, kept)) => {
                        log::debug!("Redis still unreachable: {err}");
                        outbox = kept;
                    }
                }
                wait = (wait * 2).min(RECONNECT_MAX);
            };
            // Whatever was queued meanwhile is dropped, as users were told.
            while self.outbox.try_recv().is_ok() {}
            log::info!("in contact with Redis again");
            if ws_server_sender.send(Link(true)).await.is_err() {
                return;
            }
        }
    }

    /// `Ok` when the chat server has stopped, `Err` when Redis went away.
    async fn relay(
        &mut self,
        ws_server_sender: &mpsc::Sender<WebSocketCommands>,
    ) -> Result<(), String> {
        loop {
            tokio::select! {
                heard = self.subscription.next() => {
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
                    let remote = WebSocketCommands::Remote(envelope);
                    if ws_server_sender.send(remote).await.is_err() {
                        return Ok(());
                    }
                }
                line = self.outbox.recv() => {
                    let Some(line) = line else {
                        return Ok(());
                    };
                    redis::cmd("PUBLISH")
                        .arg(CHANNEL)
                        .arg(line)
                        .query_async::<i64>(&mut self.publisher)
                        .await
                        .map_err(|err| err.to_string())?;
                }
            }
        }
    }
}

/// Scale-out: when `REDIS_URL` is set, this node's part of the cluster and
/// its link to Redis; `None` otherwise. A Redis that does not answer at
/// start is an error: a node that started alone while its operator expected
/// a cluster would split the chat silently.
pub(crate) async fn join_from_env() -> std::io::Result<Option<(Cluster, RedisLink)>> {
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
    let (outbox, outbox_receiver) = mpsc::channel(PUBLISH_CAPACITY);
    let link = RedisLink::connect(client, outbox_receiver)
        .await
        .map_err(|(err, _)| unreachable(err))?;
    let cluster = Cluster::new(outbox);
    log::info!(
        "node {:x}: one chat with every node on the same Redis, over pub/sub",
        cluster.node
    );
    Ok(Some((cluster, link)))
}
// ANCHOR_END: link
