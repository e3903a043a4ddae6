//! The scenario catalogue: every scenario's id, title and deadline, declared
//! once. Titles are formatted from [`params`], the same constants the runners
//! use, so a title cannot promise a number the runner does not test.

use std::time::Duration;

/// The numbers the scenarios are built from. Runners and titles both read
/// these, so changing one changes what is run and what is said together.
pub mod params {
    /// Seconds allowed for an answer that should come at once. Generous on
    /// purpose: on a loaded two-core machine a debug build can be slow.
    pub const REPLY_SECS: u64 = 5;
    /// Milliseconds over which the server's threads are watched for spinning.
    pub const SPIN_WINDOW_MS: u64 = 1500;
    /// A thread that was running or waiting to run for more than this share
    /// of the window is spinning. An idle thread measures close to 0, a
    /// spinning one close to 1 however busy the machine is.
    pub const SPIN_SHARE: f64 = 0.6;
    /// Users who stay while one vanishes, in `vanish-neighbours`. Enough that
    /// some share the vanished user's worker thread: actix hands connections
    /// to its two workers in turn.
    pub const NEIGHBOURS: usize = 6;
    /// Clients and messages of the `burst` scenario.
    pub const BURST_CLIENTS: usize = 200;
    /// Messages in the burst.
    pub const BURST_MESSAGES: usize = 50;
    /// A half-open client must be dropped this many seconds after it goes silent.
    pub const HALF_OPEN_LIMIT_SECS: u64 = 12;
    /// How long a half-open client is watched before it counts as never dropped.
    pub const HALF_OPEN_WATCH_SECS: u64 = 15;
    /// Messages the talker sends past the slow reader in `slow-reader`.
    pub const SLOW_MESSAGES: usize = 20_000;
    /// Bytes in each of those messages.
    pub const SLOW_MESSAGE_BYTES: usize = 2048;
    /// The server's memory may grow by less than this many MiB meanwhile.
    pub const SLOW_LIMIT_MIB: u64 = 16;
    /// Messages the talker sends past the slow reader in `slow-reader-large`.
    pub const LARGE_MESSAGES: usize = 400;
    /// KiB in each of those: just under the 64 KiB a message may have.
    pub const LARGE_MESSAGE_KIB: usize = 60;
    /// The server's memory may grow by less than this many MiB meanwhile.
    pub const LARGE_LIMIT_MIB: u64 = 8;
    /// The size of the text message in `oversized-frame`, in KiB.
    pub const OVERSIZED_KIB: usize = 100;
    /// The fragment size of its second sending, in KiB.
    pub const FRAGMENT_KIB: usize = 4;
    /// Clients connected when the server is told to stop, in `shutdown`.
    pub const SHUTDOWN_CLIENTS: usize = 3;
    /// Seconds within which the process must have closed them and exited.
    pub const SHUTDOWN_LIMIT_SECS: u64 = 5;
    /// Clients of the `crowd` scenario.
    pub const CROWD_CLIENTS: usize = 1000;
    /// Concurrent senders in the crowd.
    pub const CROWD_SENDERS: usize = 5;
    /// Messages each crowd sender sends.
    pub const CROWD_EACH: usize = 20;
    /// Messages each of the two talkers sends in `leave-while-talking`.
    pub const TALK_EACH: usize = 1000;
    /// Seconds the flooder floods in the fairness scenarios.
    pub const FLOOD_SECS: u64 = 4;
    /// Milliseconds between the lines of a user who chats at a normal pace.
    pub const CHAT_EVERY_MS: u64 = 250;
    /// Lines each of those users sends while the flood lasts.
    pub const CHAT_LINES: usize = (FLOOD_SECS * 1000 / CHAT_EVERY_MS) as usize;
    /// Milliseconds the reader of `flood-vs-reader` stops reading, twice.
    pub const READER_PAUSE_MS: u64 = 1000;
    /// Users chatting at a normal pace in `flood-vs-chat`.
    pub const CHATTERS: usize = 3;
    /// Seconds within which their lines must reach each of them.
    pub const PROMPT_SECS: u64 = 2;
    /// Clients that connect at once in `join-storm`.
    pub const STORM_CLIENTS: usize = 300;
    /// The most presence notices a user may receive for them.
    pub const STORM_NOTICES: usize = 10;
    /// Milliseconds within which the server must close TCP after the close handshake.
    pub const TCP_CLOSE_MS: u64 = 300;
    /// The origin of a page on some other site, in `foreign-origin`.
    pub const FOREIGN_ORIGIN: &str = "https://elsewhere.example";
    /// The uid given in the query string of `query-string-uid`.
    pub const QUERY_UID: u32 = 7;
    /// Lines each of two users sends at once in `cluster-broadcast`.
    pub const CLUSTER_EACH: usize = 100;
    /// Seconds within which the users of a killed node are announced gone.
    pub const NODE_GONE_SECS: u64 = 8;
    /// Seconds within which the nodes are back in touch once Redis is.
    pub const RESUME_SECS: u64 = 10;
}

use params::*;

/// Declares [`Scenario`] with its `ALL`, `id`, `title` and `deadline` from one
/// entry per scenario.
macro_rules! catalogue {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $id:literal, deadline $secs:literal s, title ($($title:tt)*);
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

            /// What the scenario does and what "works" means, in one line of markdown.
            pub fn title(self) -> String {
                match self {
                    $(Scenario::$variant => format!($($title)*),)*
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

catalogue! {
    /// `/healthcheck` answers with the tutorial's text.
    Healthcheck = "healthcheck", deadline 60 s,
        title ("`GET /healthcheck` answers \"rust-websocket-tutorial is live\"");
    /// Two users; one sends `hello`; both receive it.
    Broadcast = "broadcast", deadline 60 s,
        title ("user 1 sends `hello`; users 1 and 2 both receive `[UID: 1]: hello`");
    /// A connection without a `uid` is refused with a reason.
    MissingUid = "missing-uid", deadline 60 s,
        title ("no `uid`: closed with 1008 (policy violation, RFC 6455 section 7.4.1) and a reason \
                that says what to send; the server stays up");
    /// A connection whose `uid` is not a number is refused with a reason.
    NonNumericUid = "non-numeric-uid", deadline 60 s,
        title ("`uid: abc`: closed with 1008 and a reason that says a numeric uid is required; \
                the server stays up");
    /// A user closes politely, then another user sends.
    UserLeaves = "user-leaves", deadline 60 s,
        title ("user 1 closes with 1000 `bye`: its close is answered; user 2 keeps chatting and \
                the server stays up");
    /// After the close handshake, who closes the TCP connection.
    CloseHandshake = "close-handshake", deadline 60 s,
        title ("user 1 closes with 1000: the server answers, then closes the TCP connection \
                itself within {TCP_CLOSE_MS} ms, as RFC 6455 section 7.1.1 asks of a server");
    /// A client's TCP connection ends without a close frame.
    ClientVanishes = "client-vanishes", deadline 60 s,
        title ("user 1 drops its TCP connection without a close frame: no server thread spins \
                ({SPIN_WINDOW_MS} ms watched); user 2 keeps chatting and the server stays up");
    /// After a client vanishes, the other users can still chat.
    VanishNeighbours = "vanish-neighbours", deadline 90 s,
        title ("after user 1 vanishes, each of {NEIGHBOURS} other users still gets the echo of \
                a message within {REPLY_SECS} s");
    /// A client sends a close frame with no code and no reason.
    EmptyCloseFrame = "empty-close-frame", deadline 60 s,
        title ("user 1 sends a close frame without code or reason: the server answers it, no \
                thread spins after user 1 hangs up, and user 2 keeps chatting");
    /// Two connections claim the same uid.
    SameUidTwice = "same-uid-twice", deadline 60 s,
        title ("a second connection with uid 1: it chats, no thread spins, the older one is \
                closed, and user 2 keeps chatting");
    /// Many clients at once receive every message of a burst, in order.
    Burst = "burst", deadline 120 s,
        title ("{BURST_CLIENTS} clients connected at once each receive all of a \
                {BURST_MESSAGES}-message burst, in order (input rate limit lifted)");
    /// A client that never answers pings is dropped.
    HalfOpenClient = "half-open-client", deadline 60 s,
        title ("a client that never answers pings is dropped within {HALF_OPEN_LIMIT_SECS} s; \
                user 2 keeps chatting");
    /// A client that stops reading while others flood the room.
    SlowReader = "slow-reader", deadline 120 s,
        title ("user 1 stops reading while user 2 sends {SLOW_MESSAGES} messages of \
                {SLOW_MESSAGE_BYTES} bytes: the server's memory grows by less than \
                {SLOW_LIMIT_MIB} MiB and user 2 gets every echo (input rate limit lifted)");
    /// A client that stops reading while others send large messages.
    SlowReaderLarge = "slow-reader-large", deadline 120 s,
        title ("user 1 stops reading while user 2 sends {LARGE_MESSAGES} messages of \
                {LARGE_MESSAGE_KIB} KiB: the server's memory grows by less than \
                {LARGE_LIMIT_MIB} MiB and user 2 gets every echo (input rate limit lifted)");
    /// A text message larger than the server's limit.
    OversizedFrame = "oversized-frame", deadline 60 s,
        title ("a {OVERSIZED_KIB} KiB text message, whole and in {FRAGMENT_KIB} KiB fragments: \
                each sender is closed with 1009 (message too big) and a reason; the server \
                stays up");
    /// A binary message, which the chat does not use.
    BinaryFrame = "binary-frame", deadline 60 s,
        title ("a binary message is refused with 1003 (unsupported data) and a reason; the \
                server stays up");
    /// The uid given as a `?uid=` query parameter, as a browser must.
    QueryStringUid = "query-string-uid", deadline 60 s,
        title ("`/ws?uid={QUERY_UID}` without a header: the user chats as uid {QUERY_UID}, as a \
                browser client must");
    /// One user floods while another reads with pauses.
    FloodVsReader = "flood-vs-reader", deadline 60 s,
        title ("user 1 sends as fast as it can for {FLOOD_SECS} s while user 2 reads, pausing \
                {READER_PAUSE_MS} ms twice, and user 3 chats every {CHAT_EVERY_MS} ms: the \
                flooder is closed with 1008, and user 2 stays and gets all of user 3's lines, in \
                order");
    /// Several users chat at a normal pace while one floods.
    FloodVsChat = "flood-vs-chat", deadline 60 s,
        title ("user 1 sends as fast as it can for {FLOOD_SECS} s while {CHATTERS} users chat every \
                {CHAT_EVERY_MS} ms: the flooder is closed with 1008, and every line of theirs \
                reaches each of them, in order, within {PROMPT_SECS} s");
    /// Many clients join at once, as after a restart.
    JoinStorm = "join-storm", deadline 60 s,
        title ("{STORM_CLIENTS} clients connect at once while user 1 watches: it hears of them in \
                at most {STORM_NOTICES} notices, each of them true");
    /// A page from another site tries to open the chat.
    ForeignOrigin = "foreign-origin", deadline 60 s,
        title ("an upgrade with `Origin: {FOREIGN_ORIGIN}` is refused with HTTP 403; one with the \
                server's own origin chats");
    /// SIGTERM while clients are connected.
    Shutdown = "shutdown", deadline 60 s,
        title ("SIGTERM with {SHUTDOWN_CLIENTS} clients connected: each receives a 1001 close \
                frame and the process exits within {SHUTDOWN_LIMIT_SECS} s");
    /// A thousand clients receive every message of several senders, in order.
    Crowd = "crowd", deadline 240 s,
        title ("{CROWD_CLIENTS} clients each receive all {} messages of {CROWD_SENDERS} \
                concurrent senders, each sender's in order", CROWD_SENDERS * CROWD_EACH);
    /// A user leaves while two others keep talking.
    LeaveWhileTalking = "leave-while-talking", deadline 90 s,
        title ("user 1 leaves while users 2 and 3 exchange {} messages: they receive all of \
                them, in order (input rate limit lifted)", 2 * TALK_EACH);
    /// Three nodes, one chat: every line reaches every user once, in order.
    ClusterBroadcast = "cluster-broadcast", deadline 60 s,
        title ("three nodes and one Redis, users 1, 2 and 3 on nodes 1, 2 and 3: users 1 and 2 \
                each send {CLUSTER_EACH} lines at once; every user receives all {}, each \
                sender's in order, none twice (input rate limit lifted)", 2 * CLUSTER_EACH);
    /// Joins and departures on one node are announced on the others.
    ClusterPresence = "cluster-presence", deadline 60 s,
        title ("user 2 joins node 2, then leaves: user 1, on node 1, hears `user 2 joined`, \
                then `user 2 left`");
    /// The same uid on two nodes: the newer connection wins.
    ClusterSameUid = "cluster-same-uid", deadline 60 s,
        title ("uid 1 connects to node 2 while connected to node 1: the older connection is \
                closed with 1008 and a reason, the newer one chats, and user 2 on node 1 hears \
                nobody leave or join");
    /// A node dies; the users of the others hear its users left and chat on.
    ClusterNodeKilled = "cluster-node-killed", deadline 60 s,
        title ("node 2 of three is killed (SIGKILL) with user 2 on it: users 1 and 3, on nodes \
                1 and 3, hear `user 2 left` within {NODE_GONE_SECS} s and keep chatting with \
                each other");
    /// A node is stopped politely and its user moves to another node.
    ClusterRollingRestart = "cluster-rolling-restart", deadline 60 s,
        title ("node 2 of three gets SIGTERM with user 2 on it: user 2 is closed with 1001, \
                reconnects to node 1 and chats, and user 3 on node 3 hears nobody leave or join \
                in {NODE_GONE_SECS} s");
    /// Redis goes away and comes back.
    ClusterRedisRestart = "cluster-redis-restart", deadline 90 s,
        title ("Redis is killed, then started again: every user is told that cross-node \
                delivery stopped, a line sent meanwhile reaches its own node only, and within \
                {RESUME_SECS} s of Redis's return users are told and lines cross again");
    /// `REDIS_URL` names a port where no Redis listens.
    ClusterRedisUnreachable = "cluster-redis-unreachable", deadline 60 s,
        title ("`REDIS_URL` names a port where no Redis listens: the node exits within \
                {REPLY_SECS} s with status 1 and says what to do");
}

impl Scenario {
    /// Whether the scenario runs several servers (nodes of one chat).
    pub fn is_cluster(self) -> bool {
        self.id().starts_with("cluster-")
    }

    /// Whether the scenario starts a Redis server of its own.
    pub fn needs_redis(self) -> bool {
        self.is_cluster() && self != Scenario::ClusterRedisUnreachable
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
    }
}
