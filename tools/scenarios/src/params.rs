//! The numbers the scenarios are built from. Runners and titles both read
//! these, so changing one changes what is run and what is said together.

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
/// Clients connected at once in the `burst` scenario.
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
/// Milliseconds Redis is paused in `cluster-redis-stall`: longer than
/// redis-rs's default response timeout (500 ms).
pub const REDIS_STALL_MS: u64 = 800;
/// Lines user 1 sends, one every 100 ms, across that stall.
pub const STALL_LINES: usize = 30;
/// Seconds PUBLISH is refused in `cluster-publish-refused`.
pub const REFUSED_SECS: u64 = 5;
/// Seconds a node is paused in `cluster-node-paused`.
pub const NODE_PAUSE_SECS: u64 = 5;
/// Milliseconds the proxy delays node 1's bytes to Redis in `cluster-slow-link`.
pub const LINK_DELAY_MS: u64 = 100;
/// Lines user 1 sends at once across that link.
pub const SLOW_LINK_LINES: usize = 100;
/// Seconds within which all of them must reach node 2: a handful of
/// round trips, where one round trip per line would take ten times as long.
pub const SLOW_LINK_SECS: u64 = 3;
/// Messages a user may send a second, and at once, by part 4's defaults.
pub const INPUT_RATE: usize = 10;
/// Messages a user may send at once, by part 4's defaults.
pub const INPUT_BURST: usize = 20;
/// New connections one address may open a second by part 4's defaults,
/// and twice as many at once.
pub const ADDRESS_RATE: usize = 10;
/// Connections one address may hold at once by part 4's defaults.
pub const ADDRESS_OPEN: usize = 64;
/// Connections opened at once in `address-limits`.
pub const ADDRESS_STORM: usize = 40;
/// Bytes a stalled reader asks for as its receive buffer: as little as the
/// system allows, so that the server's socket fills quickly.
pub const STALL_RECEIVE_BUFFER: usize = 4096;
/// KiB in each line sent past a stalled reader, while its socket fills.
pub const STALL_LINE_KIB: usize = 60;
/// Milliseconds between the pings of a stalled reader that keeps pinging.
pub const STALL_PING_MS: u64 = 2000;
/// Seconds, after the room goes quiet, within which a reader that stopped
/// reading must have lost its connection.
pub const STALL_LIMIT_SECS: u64 = 30;
/// Seconds the flooder of `reconnect-flood` reconnects.
pub const RECONNECT_SECS: u64 = 3;
/// The most of its lines that may reach others meanwhile: a burst, the
/// rate over those seconds, and a margin for timing.
pub const RECONNECT_MOST: usize = INPUT_BURST + INPUT_RATE * RECONNECT_SECS as usize + 10;
/// Clients connected while the server is paused in `paused-server`.
pub const PAUSE_CLIENTS: usize = 5;
/// Seconds the server is paused (SIGSTOP, then SIGCONT).
pub const PAUSE_SECS: u64 = 10;
/// Lines the honest sender sends, one every `PAUSE_LINE_MS`, across the pause.
pub const PAUSE_LINES: usize = 180;
/// Milliseconds between them: the rate limit's pace exactly.
pub const PAUSE_LINE_MS: u64 = 100;
/// Seconds the users are watched after the resume: over two heartbeats.
pub const PAUSE_WATCH_SECS: u64 = 7;
/// Milliseconds between the lines of the chatty client of `chatty-client`.
pub const CHATTY_EVERY_MS: u64 = 500;
/// Lines it sends: over more than two heartbeats.
pub const CHATTY_LINES: usize = 16;
/// The name a rebinding attacker points at the server, in `rebound-origin`.
pub const REBOUND_HOST: &str = "rebound.example";
/// Lines of 1 KiB sent to a reader that has fallen behind, right before
/// SIGTERM, in `shutdown-backlog`.
pub const BACKLOG_LINES: usize = 200;
/// What `bad-port` sets PORT to.
pub const BAD_PORT: &str = "abc";
/// The demo account that part 6's scenarios log in as, its password (the
/// README publishes both) and its uid, from `part6-identity/demo-users.txt`.
pub const DEMO_NAME: &str = "alice";
pub const DEMO_PASSWORD: &str = "rabbit-hole";
pub const DEMO_UID: u32 = 1;
/// Login attempts one address may make at once (part 6's `LOGIN_BURST`),
/// and the seconds until it may make another (`LOGIN_REFILL`).
pub const LOGIN_ATTEMPTS: usize = 5;
pub const LOGIN_WAIT_SECS: u64 = 12;
/// The uid of the account an impersonator has of its own.
pub const IMPOSTOR_UID: u32 = 9;
