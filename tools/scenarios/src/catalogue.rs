//! The scenario catalogue: every scenario's id, title and deadline, declared
//! once. Titles are formatted from [`crate::params`], the same constants the runners
//! use, so a title cannot promise a number the runner does not test.

use std::time::Duration;

use crate::params::*;

/// Declares [`Scenario`] with its `ALL`, `id`, `title` and `deadline` from one
/// entry per scenario.
macro_rules! catalogue {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $id:literal, deadline $secs:literal s, setup ($setup:expr),
            title ($($title:tt)*);
    )*) => {
        /// A behaviour the scenario table has a row for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Scenario {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Scenario {
            /// Every scenario, in table order.
            pub const ALL: &'static [Scenario] = &[$(Scenario::$variant),*];

            /// A stable kebab-case name, used in anchors, file names and the matrix.
            pub fn id(self) -> &'static str {
                match self {
                    $(Scenario::$variant => $id,)*
                }
            }

            /// What the scenario does and what "works" means, in one line of
            /// markdown, ending with the limits it lifts.
            pub fn title(self) -> String {
                let title = match self {
                    $(Scenario::$variant => format!($($title)*),)*
                };
                match self.setup().lifted() {
                    Some(lifted) => format!("{title} ({lifted} lifted)"),
                    None => title,
                }
            }

            /// What the scenario starts, and what it changes of the servers.
            pub const fn setup(self) -> Setup {
                match self {
                    $(Scenario::$variant => $setup,)*
                }
            }

            /// How long the whole scenario may take before it fails as stuck.
            pub fn deadline(self) -> Duration {
                match self {
                    $(Scenario::$variant => Duration::from_secs($secs),)*
                }
            }
        }
    };
}

/// What a scenario starts, and what it changes of the servers it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// The processes it starts.
    pub shape: Shape,
    /// Limits of the servers that it lifts, and its title says so.
    pub lifts: &'static [Lift],
    /// Other settings the servers start with.
    pub settings: &'static [(&'static str, &'static str)],
    /// Whether it signals the server (SIGTERM, SIGSTOP), which only Unix can.
    pub signals: bool,
}

/// The processes a scenario starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One server, healthy, on a free port.
    Server,
    /// `nodes` servers forming one chat, over a redis-server of the
    /// scenario's own (`redis`), or over none.
    Cluster {
        /// How many servers.
        nodes: usize,
        /// Whether a redis-server is started for them.
        redis: bool,
        /// Whether node 1 reaches Redis through a fault proxy.
        proxied: bool,
    },
    /// A server that is meant not to start; the runner starts it.
    Unstarted,
}

/// A limit of the servers that a scenario lifts, because it sends or
/// connects faster than a person would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lift {
    /// Part 4's limit on the messages a user sends.
    InputRate,
    /// Part 4's limits on the connections one address holds and opens.
    AddressLimits,
}

impl Lift {
    /// Every limit: what a load test lifts.
    pub const ALL: &'static [Lift] = &[Lift::InputRate, Lift::AddressLimits];

    /// The server settings that lift it (checkpoints without it ignore them).
    pub const fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lift::InputRate => &[("RATE_LIMIT_PER_SEC", "0")],
            Lift::AddressLimits => &[
                ("ADDRESS_MAX_CONNECTIONS", "0"),
                ("ADDRESS_CONNECTS_PER_SEC", "0"),
            ],
        }
    }

    fn words(self) -> &'static str {
        match self {
            Lift::InputRate => "input rate limit",
            Lift::AddressLimits => "address limits",
        }
    }
}

/// One healthy server, nothing lifted.
const SERVER: Setup = Setup {
    shape: Shape::Server,
    lifts: &[],
    settings: &[],
    signals: false,
};

/// `nodes` servers over a redis-server.
const fn cluster(nodes: usize) -> Setup {
    Setup {
        shape: Shape::Cluster {
            nodes,
            redis: true,
            proxied: false,
        },
        ..SERVER
    }
}

/// Two servers over a redis-server, node 1 through a fault proxy.
const PROXIED_PAIR: Setup = Setup {
    shape: Shape::Cluster {
        nodes: 2,
        redis: true,
        proxied: true,
    },
    ..SERVER
};

impl Setup {
    /// The same setup, lifting `lifts`.
    const fn lifting(self, lifts: &'static [Lift]) -> Setup {
        Setup { lifts, ..self }
    }

    /// The same setup, signalling the server.
    const fn signalled(self) -> Setup {
        Setup {
            signals: true,
            ..self
        }
    }

    /// "input rate limit and address limits", or `None` if nothing is lifted.
    pub fn lifted(self) -> Option<String> {
        let words: Vec<&str> = self.lifts.iter().map(|lift| lift.words()).collect();
        (!words.is_empty()).then(|| words.join(" and "))
    }

    /// The settings the servers start with.
    pub fn env(self) -> Vec<(&'static str, &'static str)> {
        let lifted = self.lifts.iter().flat_map(|lift| lift.env());
        lifted.chain(self.settings).copied().collect()
    }
}

catalogue! {
    /// `/healthcheck` answers with the tutorial's text.
    Healthcheck = "healthcheck", deadline 60 s, setup (SERVER),
        title ("`GET /healthcheck` answers \"rust-websocket-tutorial is live\"");
    /// A PORT that is not a port: the server says so and exits.
    BadPort = "bad-port", deadline 60 s, setup (Setup { shape: Shape::Unstarted, settings: &[("PORT", BAD_PORT)], ..SERVER }),
        title ("`PORT={BAD_PORT}`: the server exits with status 2 and says, in one line, what \
                PORT must be");
    /// Two users; one sends `hello`; both receive it.
    Broadcast = "broadcast", deadline 60 s, setup (SERVER),
        title ("user 1 sends `hello`; users 1 and 2 both receive `[UID: 1]: hello`");
    /// A connection without a `uid` is refused with a reason.
    MissingUid = "missing-uid", deadline 60 s, setup (SERVER),
        title ("no `uid`: closed with 1008 (policy violation, RFC 6455 section 7.4.1) and a reason \
                that says what to send; the server stays up");
    /// A connection whose `uid` is not a number is refused with a reason.
    NonNumericUid = "non-numeric-uid", deadline 60 s, setup (SERVER),
        title ("`uid: abc`: closed with 1008 and a reason that says a numeric uid is required; \
                the server stays up");
    /// A user closes politely, then another user sends.
    UserLeaves = "user-leaves", deadline 60 s, setup (SERVER),
        title ("user 1 closes with 1000 `bye`: its close is answered; user 2 keeps chatting and \
                the server stays up");
    /// After the close handshake, who closes the TCP connection.
    CloseHandshake = "close-handshake", deadline 60 s, setup (SERVER),
        title ("user 1 closes with 1000: the server answers, then closes the TCP connection \
                itself within {TCP_CLOSE_MS} ms, as RFC 6455 section 7.1.1 asks of a server");
    /// A client's TCP connection ends without a close frame.
    ClientVanishes = "client-vanishes", deadline 60 s, setup (SERVER),
        title ("user 1 drops its TCP connection without a close frame: no server thread spins \
                ({SPIN_WINDOW_MS} ms watched); user 2 keeps chatting and the server stays up");
    /// After a client vanishes, the other users can still chat.
    VanishNeighbours = "vanish-neighbours", deadline 90 s, setup (SERVER),
        title ("after user 1 vanishes, each of {NEIGHBOURS} other users still gets the echo of \
                a message within {REPLY_SECS} s");
    /// A client sends a close frame with no code and no reason.
    EmptyCloseFrame = "empty-close-frame", deadline 60 s, setup (SERVER),
        title ("user 1 sends a close frame without code or reason: the server answers it, no \
                thread spins after user 1 hangs up, and user 2 keeps chatting");
    /// Two connections claim the same uid.
    SameUidTwice = "same-uid-twice", deadline 60 s, setup (SERVER),
        title ("a second connection with uid 1: it chats, no thread spins, the older one is \
                closed, and user 2 keeps chatting");
    /// Many clients at once receive every message of a burst, in order.
    Burst = "burst", deadline 120 s, setup (SERVER.lifting(&[Lift::InputRate, Lift::AddressLimits])),
        title ("{BURST_CLIENTS} clients connected at once each receive all of a \
                {BURST_MESSAGES}-message burst, in order");
    /// A client that never answers pings is dropped.
    HalfOpenClient = "half-open-client", deadline 60 s, setup (SERVER),
        title ("a client that never answers pings is dropped within {HALF_OPEN_LIMIT_SECS} s; \
                user 2 keeps chatting");
    /// A client that stops reading, and keeps pinging, in a room gone quiet.
    StalledReader = "stalled-reader", deadline 90 s, setup (SERVER.lifting(&[Lift::InputRate])),
        title ("user 1 stops reading, with a receive buffer of {STALL_RECEIVE_BUFFER} bytes, and \
                pings every {STALL_PING_MS} ms; user 2 sends {STALL_LINE_KIB} KiB lines until the \
                server's socket to user 1 is full, then the room goes quiet: user 1's connection \
                is cut within {STALL_LIMIT_SECS} s, and user 3 hears that user 1 left");
    /// A client that chats, with Nagle's algorithm on, is left unpinged.
    ChattyClient = "chatty-client", deadline 60 s, setup (SERVER),
        title ("user 1, with Nagle's algorithm on as a default tokio-tungstenite client has it, sends a \
                line every {CHATTY_EVERY_MS} ms, {CHATTY_LINES} in all: the server does not ping \
                it (a ping makes such a client hold its next line for a delayed ACK), and user 2 \
                gets every line");
    /// A client that stops reading while others flood the room.
    SlowReader = "slow-reader", deadline 120 s, setup (SERVER.lifting(&[Lift::InputRate])),
        title ("user 1 stops reading while user 2 sends {SLOW_MESSAGES} messages of \
                {SLOW_MESSAGE_BYTES} bytes: the server's memory grows by less than \
                {SLOW_LIMIT_MIB} MiB and user 2 gets every echo");
    /// A client that stops reading while others send large messages.
    SlowReaderLarge = "slow-reader-large", deadline 120 s, setup (SERVER.lifting(&[Lift::InputRate])),
        title ("user 1 stops reading while user 2 sends {LARGE_MESSAGES} messages of \
                {LARGE_MESSAGE_KIB} KiB: the server's memory grows by less than \
                {LARGE_LIMIT_MIB} MiB and user 2 gets every echo");
    /// A text message larger than the server's limit.
    OversizedFrame = "oversized-frame", deadline 60 s, setup (SERVER),
        title ("a {OVERSIZED_KIB} KiB text message, whole and in {FRAGMENT_KIB} KiB fragments: \
                each sender is closed with 1009 (message too big) and a reason; the server \
                stays up");
    /// A binary message, which the chat does not use.
    BinaryFrame = "binary-frame", deadline 60 s, setup (SERVER),
        title ("a binary message is refused with 1003 (unsupported data) and a reason; the \
                server stays up");
    /// Frames that break RFC 6455: invalid UTF-8, a reserved opcode.
    InvalidFrames = "invalid-frames", deadline 60 s, setup (SERVER),
        title ("a text message that is not UTF-8 is refused with 1007 (invalid payload data), and \
                a frame with a reserved opcode with 1002 (protocol error), each with a reason; the \
                server stays up");
    /// The uid given as a `?uid=` query parameter, as a browser must.
    QueryStringUid = "query-string-uid", deadline 60 s, setup (SERVER),
        title ("`/ws?uid={QUERY_UID}` without a header: the user chats as uid {QUERY_UID}, as a \
                browser client must");
    /// One user floods while another reads with pauses.
    FloodVsReader = "flood-vs-reader", deadline 60 s, setup (SERVER),
        title ("user 1 sends as fast as it can for {FLOOD_SECS} s while user 2 reads, pausing \
                {READER_PAUSE_MS} ms twice, and user 3 chats every {CHAT_EVERY_MS} ms: the \
                flooder is closed with 1008, and user 2 stays and gets all of user 3's lines, in \
                order");
    /// Several users chat at a normal pace while one floods.
    FloodVsChat = "flood-vs-chat", deadline 60 s, setup (SERVER),
        title ("user 1 sends as fast as it can for {FLOOD_SECS} s while {CHATTERS} users chat every \
                {CHAT_EVERY_MS} ms: the flooder is closed with 1008, and every line of theirs \
                reaches each of them, in order, within {PROMPT_SECS} s");
    /// A flooder that reconnects to start afresh.
    ReconnectFlood = "reconnect-flood", deadline 60 s, setup (SERVER),
        title ("uid 1 sends {} lines as fast as it can on a connection, then opens another, \
                which replaces it, and so on for {RECONNECT_SECS} s: user 2 gets at most \
                {RECONNECT_MOST} of its lines, and the reconnections are refused with HTTP 429",
                2 * RECONNECT_MOST);
    /// One address opening and holding many connections.
    AddressLimits = "address-limits", deadline 60 s, setup (SERVER),
        title ("one address opens {ADDRESS_STORM} connections at once, then more, one at a time: \
                past {} at once and past {ADDRESS_OPEN} open, the upgrade is refused with HTTP 429 \
                and a reason", 2 * ADDRESS_RATE);
    /// Many clients join at once, as after a restart.
    JoinStorm = "join-storm", deadline 60 s, setup (SERVER.lifting(&[Lift::AddressLimits])),
        title ("{STORM_CLIENTS} clients connect at once while user 1 watches: it hears of them in \
                at most {STORM_NOTICES} notices, each of them true");
    /// A page from another site tries to open the chat.
    ForeignOrigin = "foreign-origin", deadline 60 s, setup (SERVER),
        title ("an upgrade with `Origin: {FOREIGN_ORIGIN}` is refused with HTTP 403; one with the \
                server's own origin chats");
    /// A page on a name that an attacker points at the server (DNS rebinding).
    ReboundOrigin = "rebound-origin", deadline 60 s, setup (SERVER),
        title ("an upgrade with `Host` and `Origin` both naming `{REBOUND_HOST}`, as from a page \
                whose name was pointed at the server (DNS rebinding), is refused with HTTP 403");
    /// SIGTERM while clients are connected.
    Shutdown = "shutdown", deadline 60 s, setup (SERVER.signalled()),
        title ("SIGTERM with {SHUTDOWN_CLIENTS} clients connected: each receives a 1001 close \
                frame and the process exits within {SHUTDOWN_LIMIT_SECS} s");
    /// SIGTERM while a reader is behind.
    ShutdownBacklog = "shutdown-backlog", deadline 60 s,
        setup (SERVER.lifting(&[Lift::InputRate]).signalled()),
        title ("SIGTERM while user 1, who stopped reading, has lines waiting behind a full \
                socket: once it reads again it gets all of them, the last {BACKLOG_LINES} \
                included, then a 1001 close frame");
    /// The server paused (SIGSTOP) and resumed (SIGCONT).
    PausedServer = "paused-server", deadline 90 s, setup (SERVER.signalled()),
        title ("the server is paused for {PAUSE_SECS} s (SIGSTOP, then SIGCONT) with \
                {PAUSE_CLIENTS} users connected, user 1 sending a line every {PAUSE_LINE_MS} ms: \
                every user stays, and user 2 gets all {PAUSE_LINES} of user 1's lines, in order");
    /// A thousand clients receive every message of several senders, in order.
    Crowd = "crowd", deadline 240 s, setup (SERVER.lifting(&[Lift::AddressLimits])),
        title ("{CROWD_CLIENTS} clients each receive all {} messages of {CROWD_SENDERS} \
                concurrent senders, each sender's in order", CROWD_SENDERS * CROWD_EACH);
    /// A user leaves while two others keep talking.
    LeaveWhileTalking = "leave-while-talking", deadline 90 s, setup (SERVER.lifting(&[Lift::InputRate])),
        title ("user 1 leaves while users 2 and 3 exchange {} messages: they receive all of \
                them, in order", 2 * TALK_EACH);
    /// Three nodes, one chat: every line reaches every user once, in order.
    ClusterBroadcast = "cluster-broadcast", deadline 60 s, setup (cluster(3).lifting(&[Lift::InputRate])),
        title ("three nodes and one Redis, users 1, 2 and 3 on nodes 1, 2 and 3: users 1 and 2 \
                each send {CLUSTER_EACH} lines at once; every user receives all {}, each \
                sender's in order, none twice", 2 * CLUSTER_EACH);
    /// Joins and departures on one node are announced on the others.
    ClusterPresence = "cluster-presence", deadline 60 s, setup (cluster(2)),
        title ("user 2 joins node 2, then leaves: user 1, on node 1, hears `user 2 joined`, \
                then `user 2 left`");
    /// The same uid on two nodes: the newer connection wins.
    ClusterSameUid = "cluster-same-uid", deadline 60 s, setup (cluster(2)),
        title ("uid 1 connects to node 2 while connected to node 1: the older connection is \
                closed with 1008 and a reason, the newer one chats, and user 2 on node 1 hears \
                nobody leave or join");
    /// A node dies; the users of the others hear its users left and chat on.
    ClusterNodeKilled = "cluster-node-killed", deadline 60 s, setup (cluster(3)),
        title ("node 2 of three is killed (SIGKILL) with user 2 on it: users 1 and 3, on nodes \
                1 and 3, hear `user 2 left` within {NODE_GONE_SECS} s and keep chatting with \
                each other");
    /// A node is stopped politely and its user moves to another node.
    ClusterRollingRestart = "cluster-rolling-restart", deadline 60 s, setup (cluster(3).signalled()),
        title ("node 2 of three gets SIGTERM with user 2 on it: user 2 is closed with 1001, \
                reconnects to node 1 and chats, and user 3 on node 3 hears nobody leave or join \
                in {NODE_GONE_SECS} s");
    /// Redis goes away and comes back.
    ClusterRedisRestart = "cluster-redis-restart", deadline 90 s, setup (cluster(2)),
        title ("Redis is killed, then started again: every user is told that cross-node \
                delivery stopped, a line sent meanwhile reaches its own node only, and within \
                {RESUME_SECS} s of Redis's return users are told and lines cross again");
    /// Redis goes away, the same uid connects to two nodes, Redis comes back.
    ClusterOutageSameUid = "cluster-outage-same-uid", deadline 90 s, setup (cluster(2)),
        title ("Redis is killed; uid 7 connects to node 1, then to node 2; Redis starts again: \
                within {RESUME_SECS} s the older connection is closed with 1008 and a reason, and \
                the newer one chats across nodes");
    /// A claim published while another node is away.
    ClusterMissedClaim = "cluster-missed-claim", deadline 60 s, setup (PROXIED_PAIR),
        title ("node 1 is cut off from Redis; uid 7 connects to node 1, then to node 2, whose \
                claim node 1 cannot hear; node 1 connects again: within {RESUME_SECS} s the \
                older connection is closed with 1008 and a reason, and the newer one chats \
                across nodes");
    /// A node's subscription hears nothing, its socket open.
    ClusterDeafSubscription = "cluster-deaf-subscription", deadline 90 s, setup (PROXIED_PAIR),
        title ("node 1's subscription stops hearing (a proxy drops what Redis sends on it; the \
                socket stays open): its users are told they lost contact and then that it is \
                back, user 2 on node 2 hears nobody leave, and lines cross again");
    /// Redis pauses for less than a second.
    ClusterRedisStall = "cluster-redis-stall", deadline 60 s, setup (cluster(2)),
        title ("Redis is paused for {REDIS_STALL_MS} ms (SIGSTOP, SIGCONT) while user 1 on node \
                1 sends a line every 100 ms: user 2 on node 2 gets all {STALL_LINES}, in order, \
                and nobody is told anything");
    /// Redis takes connections but refuses PUBLISH.
    ClusterPublishRefused = "cluster-publish-refused", deadline 90 s, setup (cluster(2)),
        title ("Redis refuses PUBLISH for {REFUSED_SECS} s (an ACL change), SUBSCRIBE still \
                works: user 1 is told once that contact was lost, and once, within \
                {RESUME_SECS} s of PUBLISH working again, that it is back; then lines cross");
    /// A node is paused for a few seconds.
    ClusterNodePaused = "cluster-node-paused", deadline 60 s, setup (cluster(2).signalled()),
        title ("node 1 is paused for {NODE_PAUSE_SECS} s (SIGSTOP, SIGCONT): its user 1 hears \
                nothing of user 2, on node 2 all along, and user 2's next line reaches it");
    /// A slow link between a node and Redis.
    ClusterSlowLink = "cluster-slow-link", deadline 60 s,
        setup (PROXIED_PAIR.lifting(&[Lift::InputRate])),
        title ("node 1's bytes to Redis are delayed {LINK_DELAY_MS} ms: {SLOW_LINK_LINES} lines \
                sent at once by user 1 all reach user 2 on node 2, in order, within \
                {SLOW_LINK_SECS} s");
    /// `REDIS_URL` names a port where no Redis listens.
    ClusterRedisUnreachable = "cluster-redis-unreachable", deadline 60 s, setup (Setup {
            shape: Shape::Cluster { nodes: 1, redis: false, proxied: false },
            ..SERVER
        }),
        title ("`REDIS_URL` names a port where no Redis listens: the node exits within \
                {REPLY_SECS} s with status 1 and says what to do");
    /// Someone speaks as another user by naming their uid.
    Impersonation = "impersonation", deadline 60 s, setup (SERVER),
        title ("user 1 chats; a client with a valid token of its own, for uid {IMPOSTOR_UID}, \
                opens `/ws` with the header `uid: 1` and says `it is me, user 1`: its line is shown as uid \
                {IMPOSTOR_UID}'s, user 1 stays connected, and user 1's next line reaches user 2");
    /// An upgrade without a token.
    NoToken = "no-token", deadline 60 s, setup (SERVER),
        title ("an upgrade with the header `uid: 1` and no token is refused with HTTP 401 and a \
                body that says how to log in");
    /// Tokens that the server did not issue as they are.
    TamperedToken = "tampered-token", deadline 60 s, setup (SERVER),
        title ("a token for uid 1 with its uid changed to 2, and a token signed with another \
                key: each upgrade is refused with HTTP 401 and a body that says to log in again");
    /// A token past its expiry.
    ExpiredToken = "expired-token", deadline 60 s, setup (SERVER),
        title ("a token for uid 1 that expired a second ago is refused with HTTP 401 and a body \
                that says it expired");
    /// Logging in with a name and a password.
    Login = "login", deadline 60 s, setup (SERVER),
        title ("`POST /login` as {DEMO_NAME} with her password answers a token, and sets it as \
                an HttpOnly, SameSite=Strict cookie; the token, and the cookie alone, each chat as \
                uid {DEMO_UID}; a wrong password and an unknown name each get HTTP 401 and the same body");
    /// Guessing passwords from one address.
    LoginLimit = "login-limit", deadline 60 s, setup (SERVER),
        title ("{LOGIN_ATTEMPTS} wrong passwords from one address get HTTP 401; the next \
                attempt, with the right password, gets HTTP 429 and a body that says to wait \
                {LOGIN_WAIT_SECS} s");
    /// A token issued by one node, used on another.
    ClusterOneToken = "cluster-one-token", deadline 60 s, setup (cluster(2)),
        title ("{DEMO_NAME} logs in at node 1 and chats at node 2 with that token: user 2 on \
                node 1 gets her line");
}

impl Scenario {
    /// Whether the scenario runs several servers (nodes of one chat).
    pub fn is_cluster(self) -> bool {
        matches!(self.setup().shape, Shape::Cluster { .. })
    }

    /// Whether the scenario starts a Redis server of its own.
    pub fn needs_redis(self) -> bool {
        matches!(self.setup().shape, Shape::Cluster { redis: true, .. })
    }

    /// The name of the scenario's test: its id with `_` for `-`, so that
    /// `cargo test -p part2 --test scenarios user_leaves` runs it.
    pub fn test_name(self) -> String {
        self.id().replace('-', "_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for scenario in Scenario::ALL {
            let id = scenario.id();
            assert!(seen.insert(id), "{id} twice");
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id}"
            );
        }
    }

    #[test]
    fn titles_are_one_line_and_formatted() {
        for scenario in Scenario::ALL {
            let title = scenario.title();
            assert!(!title.contains('\n') && !title.contains('{'), "{title}");
            assert!(!title.contains("  "), "{title}");
        }
        assert!(Scenario::Burst.title().starts_with("200 clients"));
        assert!(
            Scenario::Burst
                .title()
                .ends_with("(input rate limit and address limits lifted)")
        );
    }
}
