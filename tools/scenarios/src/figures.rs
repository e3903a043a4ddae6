//! The keys of the JSON lines `loadgen` prints and `cargo xtask bench` reads.
//!
//! One list, so that a renamed figure fails to compile in both crates rather
//! than turning into a missing column in the book.

/// Latency from send to delivery, 50th percentile, in microseconds; in
/// `connects`, the time from opening a connection to the answer to its
/// upgrade.
pub const P50_US: &str = "p50_us";
/// Latency (or connect time, in `connects`), 99th percentile, in microseconds.
pub const P99_US: &str = "p99_us";
/// Latency, 99.9th percentile, in microseconds.
pub const P999_US: &str = "p999_us";
/// The slowest delivery, in microseconds.
pub const MAX_US: &str = "max_us";
/// Server CPU time (user + system) divided by deliveries.
pub const CPU_US_PER_DELIVERY: &str = "cpu_us_per_delivery";
/// redis-server's CPU time divided by deliveries (cluster runs).
pub const REDIS_CPU_US_PER_DELIVERY: &str = "redis_cpu_us_per_delivery";
/// Server CPU time over wall time: 1.0 is one core busy.
pub const CPU_SHARE: &str = "cpu_share";
/// redis-server's CPU time over wall time.
pub const REDIS_CPU_SHARE: &str = "redis_cpu_share";
/// The server's resident memory at the end, in KiB.
pub const RSS_KIB: &str = "rss_kib";
/// Memory per idle connection, in KiB.
pub const KIB_PER_CONNECTION: &str = "kib_per_connection";
/// Server CPU time (user + system) divided by the connections opened and
/// closed (`connects`).
pub const CPU_US_PER_CONNECTION: &str = "cpu_us_per_connection";
/// Connections opened at once, each by a client of its own (`connects`).
pub const IN_FLIGHT: &str = "in_flight";
/// The median time of one `POST /login`, in milliseconds; null for a
/// server without `/login` (`connects`).
pub const LOGIN_MS: &str = "login_ms";
/// Logins timed, on one start of the server (`connects`).
pub const LOGINS: &str = "logins";
/// Lines the senders sent a second.
pub const SENT_PER_SEC: &str = "sent_per_sec";
/// Lines delivered a second, summed over clients.
pub const DELIVERIES_PER_SEC: &str = "deliveries_per_sec";
/// Deliveries that never arrived.
pub const MISSING: &str = "missing";
/// A description of the machine the figures come from.
pub const MACHINE: &str = "machine";
/// Deliveries counted, summed over clients.
pub const DELIVERIES: &str = "deliveries";
/// Reading clients (`chat`), idle clients (`idle`), clients joining at
/// once (`join-storm`), or connections timed one by one (`connects`).
pub const CLIENTS: &str = "clients";
/// Clients that send.
pub const SENDERS: &str = "senders";
/// Lines a second the senders were asked for; 0 is flat out.
pub const RATE: &str = "rate";
/// Seconds: of sending in `chat`; until every client was in the chat in
/// `join-storm`.
pub const SECS: &str = "secs";
/// The kind of client: [`NODELAY`] or [`NAGLE`] (see [`client_kind`]).
pub const CLIENT: &str = "client";
/// Why a client stopped reading before the end, if one did; in `connects`,
/// how closes that the server did not answer with a close frame ended.
pub const ENDED: &str = "ended";
/// Pings the senders received while sending.
pub const SENDER_PINGS: &str = "sender_pings";
/// Processes of the server in the chat (loadgen's own, in `presence`,
/// counted with the real one).
pub const NODES: &str = "nodes";
/// Users on each node that `loadgen presence` plays.
pub const USERS: &str = "users";
/// Whether the real node announced every other node's users by the end of
/// the warm-up (`presence`).
pub const HEARD_ALL: &str = "heard_all";
/// Nodes the real node declared gone while loadgen still played them
/// (`presence`).
pub const BURIED: &str = "buried";
/// The server's label, in the lines of `compare`, `join-storm` and `connects`.
pub const SERVER: &str = "server";
/// The round of the alternation a line belongs to, from 1.
pub const RUN: &str = "run";
/// Lines the senders sent.
pub const SENT: &str = "sent";
/// Clients that missed at least one line.
pub const CLIENTS_MISSING: &str = "clients_missing";
/// How senders that the server closed before the end ended, and how many.
pub const SENDERS_ENDED: &str = "senders_ended";
/// How the one sender of `presence` ended, if the server closed it early.
pub const SENDER_ENDED: &str = "sender_ended";
/// Reading clients on the real node (`presence`).
pub const READERS: &str = "readers";
/// Seconds of fake heartbeats before measuring (`presence`).
pub const WARMUP_SECS: &str = "warmup_secs";
/// The users of every fake node together (`presence`).
pub const FAKE_USERS: &str = "fake_users";
/// Fake users the real node had announced when measuring began (`presence`).
pub const PRESENT_AT_START: &str = "present_at_start";
/// Fake users the real node had announced when measuring ended (`presence`).
pub const PRESENT_AT_END: &str = "present_at_end";
/// Heartbeats the fake nodes published (`presence`).
pub const HEARTBEATS_PUBLISHED: &str = "heartbeats_published";
/// Heartbeats that Redis delivered to no subscriber (`presence`).
pub const HEARTBEATS_UNHEARD: &str = "heartbeats_unheard";
/// How the client counting presence notices ended, if early (`presence`).
pub const OBSERVER_ENDED: &str = "observer_ended";

/// [`CLIENT`] for clients that set TCP_NODELAY, as browsers do.
pub const NODELAY: &str = "nodelay";
/// [`CLIENT`] for clients that leave Nagle's algorithm on.
pub const NAGLE: &str = "nagle";

/// The value of [`CLIENT`] for clients that set TCP_NODELAY or not.
pub fn client_kind(nodelay: bool) -> &'static str {
    if nodelay { NODELAY } else { NAGLE }
}
