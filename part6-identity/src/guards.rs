//! The guards of checkpoint 4: what a chat server on the internet needs
//! besides the chat. `main.rs` keeps the blog's shape (a server task, a
//! session per connection); this module holds what the sessions and the
//! handler consult:
//!
//! - the rate limits, per user and per client address
//! - the origin check
//! - a way to cut a connection below actix-ws
//! - the server's clock of its own stalls
//! - the settings, checked before the server starts

use actix_web::dev::Extensions;
use actix_web::{HttpRequest, http::header};
use std::any::Any;
use std::collections::HashMap;
use std::net::{IpAddr, Shutdown};
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{
    ADDRESS_CONNECTS_PER_SEC, ADDRESS_MAX_CONNECTIONS, BYTES_PER_MESSAGE, MAX_MESSAGE_BYTES,
    PRESENCE_INTERVAL, RATE_LIMIT_BURST, RATE_LIMIT_PER_SEC, STALL_AFTER,
};

// ANCHOR: settings
/// Fix: every setting the server reads, checked before it starts, so that a
/// mistake is one plain line and exit status 2, not a panic or a Debug dump.
pub struct Settings {
    pub host: String,
    pub port: u16,
    /// `None`: no input limit (`RATE_LIMIT_PER_SEC=0`, for load tests).
    pub rate_limit: Option<RateLimit>,
    pub address_limit: AddressLimit,
    pub allowed_origins: AllowedOrigins,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        Self::read(|name| match std::env::var(name) {
            Ok(value) => Ok(Some(value)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
        })
    }

    /// The settings from `var`, which looks a variable up (the environment,
    /// or a test's table).
    pub fn read(var: impl Fn(&str) -> Result<Option<String>, String>) -> Result<Self, String> {
        let number = |name: &str, default: u32, what: &str| -> Result<u32, String> {
            match var(name)? {
                None => Ok(default),
                Some(value) => value
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} must be {what}, not {value:?}")),
            }
        };
        // Departure from the blog (which binds 0.0.0.0:5000): HOST and PORT
        // may be set, so that tests can start servers on free loopback ports.
        // Fix: the default is the loopback address, which only this machine
        // can reach; HOST=0.0.0.0 opens it to the network (see the README).
        let host = var("HOST")?.unwrap_or_else(|| "127.0.0.1".to_string());
        let port = number("PORT", 5000, "a number from 1 to 65535")?;
        let port = u16::try_from(port)
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| format!("PORT must be a number from 1 to 65535, not \"{port}\""))?;
        let per_sec = number(
            "RATE_LIMIT_PER_SEC",
            RATE_LIMIT_PER_SEC,
            "a whole number (0 turns the limit off)",
        )?;
        let burst = number(
            "RATE_LIMIT_BURST",
            RATE_LIMIT_BURST,
            "a whole number from 1",
        )?;
        if burst == 0 {
            return Err("RATE_LIMIT_BURST must be a whole number from 1, not \"0\"".to_string());
        }
        let address_limit = AddressLimit {
            max_open: number(
                "ADDRESS_MAX_CONNECTIONS",
                ADDRESS_MAX_CONNECTIONS,
                "a whole number (0: no limit)",
            )?,
            connects_per_sec: number(
                "ADDRESS_CONNECTS_PER_SEC",
                ADDRESS_CONNECTS_PER_SEC,
                "a whole number (0: no limit)",
            )?,
        };
        let listed = var("ALLOWED_ORIGINS")?.unwrap_or_default();
        let allowed_origins = AllowedOrigins::new(&host, port, &listed)?;
        Ok(Self {
            host,
            port,
            rate_limit: (per_sec > 0).then_some(RateLimit { per_sec, burst }),
            address_limit,
            allowed_origins,
        })
    }
}
// ANCHOR_END: settings

// ANCHOR: origin
/// The origins whose pages may open the chat: the server's own, at the
/// names of this machine, and those listed in `ALLOWED_ORIGINS`.
#[derive(Clone)]
pub struct AllowedOrigins(Arc<[String]>);

/// The body of the 403 for a page from another site.
pub const FOREIGN_ORIGIN: &str = "this chat accepts WebSockets from its own pages only";

impl AllowedOrigins {
    /// Fix: the server's own origins are named, not read from the request's
    /// `Host`: a page on any DNS name that an attacker points at this
    /// machine (DNS rebinding) sends a matching `Host` and `Origin`.
    fn new(host: &str, port: u16, listed: &str) -> Result<Self, String> {
        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "[::1]".to_string(),
        ];
        // A server bound to one address of its own is also reached by it.
        match host.parse::<IpAddr>() {
            Ok(ip) if !ip.is_unspecified() && !ip.is_loopback() => names.push(match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            }),
            _ => {}
        }
        // Identity: its pages are https:// when it serves TLS.
        let mut origins: Vec<String> = names
            .iter()
            .flat_map(|name| ["http", "https"].map(|scheme| format!("{scheme}://{name}:{port}")))
            .collect();
        for origin in listed.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let origin = origin.trim_end_matches('/');
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            if !host.is_some_and(|host| !host.is_empty() && !host.contains('/')) {
                return Err(format!(
                    "ALLOWED_ORIGINS must list origins such as https://chat.example, separated by \
                     commas; {origin:?} is not one"
                ));
            }
            origins.push(origin.to_string());
        }
        Ok(Self(origins.into()))
    }

    /// Fix: a browser sends the `Origin` of the page that opens a WebSocket,
    /// and nothing else stops a page on any site from opening this chat with
    /// a uid of its choosing. A client that sends no `Origin` is not a
    /// browser page, and may.
    pub fn allow(&self, req: &HttpRequest) -> bool {
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return true;
        };
        let allowed = origin
            .to_str()
            .is_ok_and(|origin| self.0.iter().any(|allowed| allowed == origin));
        if !allowed {
            log::info!(
                "refused a WebSocket from a page at {origin:?}; if that page is yours, list its \
                 origin in ALLOWED_ORIGINS"
            );
        }
        allowed
    }
}
// ANCHOR_END: origin

// ANCHOR: stalls
/// Fix: the server's clock of its own stalls. The presence tick is due
/// every `PRESENCE_INTERVAL`; one that comes more than `STALL_AFTER` late
/// means the process was paused (SIGSTOP, a suspended VM) or starved, and
/// read nobody meanwhile. Lines that piled up in that time were sent at
/// their senders' pace, and the rate limit must not take them for a burst.
pub struct Stalls(Mutex<StallClock>);

struct StallClock {
    last_beat: Instant,
    /// Every stall so far, added up.
    total: Duration,
}

impl Stalls {
    pub fn new(now: Instant) -> Self {
        Self(Mutex::new(StallClock {
            last_beat: now,
            total: Duration::ZERO,
        }))
    }

    fn clock(&self) -> MutexGuard<'_, StallClock> {
        // The clock holds two plain values: a panic elsewhere cannot leave it half-written.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The server calls this on every presence tick.
    pub fn beat(&self, now: Instant) {
        let mut clock = self.clock();
        let stall = overdue(now.saturating_duration_since(clock.last_beat));
        clock.total += stall;
        clock.last_beat = now;
    }

    /// Time stalled until `now`, including a stall the tick has not caught
    /// up with yet: after a pause, sessions may read before the server ticks.
    pub fn total(&self, now: Instant) -> Duration {
        let clock = self.clock();
        clock.total + overdue(now.saturating_duration_since(clock.last_beat))
    }
}

/// A tick more than `STALL_AFTER` late was stalled for as long as it is
/// late. The stall began up to one interval before it is counted from, so
/// what it earns falls short by at most `PRESENCE_INTERVAL` of sending,
/// which the burst covers.
fn overdue(since_beat: Duration) -> Duration {
    let late = since_beat.saturating_sub(PRESENCE_INTERVAL);
    if late > STALL_AFTER {
        late
    } else {
        Duration::ZERO
    }
}
// ANCHOR_END: stalls

// ANCHOR: rate-limit
/// Fix: a token bucket. It holds at most `burst` tokens and gains `rate`
/// tokens a second; sending costs tokens, and what cannot be paid is refused.
#[derive(Clone, Copy)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Adds what was earned since the last refill. Time the server was
    /// stalled (`stalled`, part of that time) earns tokens past the burst.
    fn refill(&mut self, now: Instant, stalled: Duration) {
        let awake = now
            .saturating_duration_since(self.last)
            .saturating_sub(stalled);
        if self.tokens < self.burst {
            self.tokens = (self.tokens + awake.as_secs_f64() * self.rate).min(self.burst);
        }
        self.tokens += stalled.as_secs_f64() * self.rate;
        self.last = now;
    }

    /// Whether the bucket would be full at `now`: as good as a new one.
    fn full(&self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens + earned >= self.burst
    }

    /// Takes `cost` tokens if the bucket holds them.
    fn take(&mut self, cost: f64) -> bool {
        let paid = self.tokens >= cost;
        if paid {
            self.tokens -= cost;
        }
        paid
    }
}

/// How fast one user may send: messages, and bytes so that a few large
/// messages cannot do what many small ones may not.
#[derive(Clone, Copy)]
pub struct RateLimit {
    pub per_sec: u32,
    pub burst: u32,
}

impl RateLimit {
    fn buckets(self, now: Instant, stalls_seen: Duration) -> Buckets {
        let bytes = f64::from(BYTES_PER_MESSAGE);
        Buckets {
            messages: TokenBucket::new(f64::from(self.per_sec), f64::from(self.burst), now),
            // A single message of the largest size always fits the burst.
            bytes: TokenBucket::new(
                f64::from(self.per_sec) * bytes,
                (f64::from(self.burst) * bytes).max(MAX_MESSAGE_BYTES as f64),
                now,
            ),
            stalls_seen,
        }
    }
}

/// One user's buckets.
struct Buckets {
    messages: TokenBucket,
    bytes: TokenBucket,
    /// `Stalls::total` at the last refill.
    stalls_seen: Duration,
}

/// Fix: the buckets of every user, by uid, shared by the sessions of both
/// workers. They belong to the user, not to a connection: a user who
/// reconnects finds them as it left them (part 4 first kept them per
/// connection, and a flooder reset them by reconnecting). Full buckets are
/// as good as new ones, so they are dropped, and the map stays small.
#[derive(Clone)]
pub struct UserLimits {
    limit: RateLimit,
    stalls: Arc<Stalls>,
    users: Arc<Mutex<Table<i32, Buckets>>>,
}

/// One session's limiter: its user's buckets, and the refusals in a row on
/// this connection.
pub struct Limiter {
    user_id: i32,
    limits: UserLimits,
    refused_in_a_row: u32,
}

/// What to do with a message, by the rate limit.
pub enum Admit {
    Send,
    /// Refused; the first refusal in a row also warns the user.
    Refuse {
        warn: bool,
    },
    /// Refused, and the user kept going for another whole burst: close.
    Close,
}

impl UserLimits {
    pub fn new(limit: RateLimit, stalls: Arc<Stalls>) -> Self {
        Self {
            limit,
            stalls,
            users: Arc::new(Mutex::new(Table::new())),
        }
    }

    pub fn limiter(&self, user_id: i32) -> Limiter {
        Limiter {
            user_id,
            limits: self.clone(),
            refused_in_a_row: 0,
        }
    }
}

impl Limiter {
    pub fn admit(&mut self, len: usize) -> Admit {
        self.admit_at(len, Instant::now())
    }

    /// [`Limiter::admit`] at `now`.
    pub fn admit_at(&mut self, len: usize, now: Instant) -> Admit {
        let stalled_until_now = self.limits.stalls.total(now);
        let limit = self.limits.limit;
        let paid = {
            let mut users = lock(&self.limits.users);
            let buckets = users.get_or_insert(
                self.user_id,
                || limit.buckets(now, stalled_until_now),
                |buckets| !(buckets.messages.full(now) && buckets.bytes.full(now)),
            );
            let stalled = stalled_until_now.saturating_sub(buckets.stalls_seen);
            buckets.stalls_seen = stalled_until_now;
            buckets.messages.refill(now, stalled);
            buckets.bytes.refill(now, stalled);
            let cost = len as f64;
            // Both or neither: a refused message costs nothing.
            buckets.messages.tokens >= 1.0
                && buckets.bytes.tokens >= cost
                && buckets.messages.take(1.0)
                && buckets.bytes.take(cost)
        };
        if paid {
            self.refused_in_a_row = 0;
            return Admit::Send;
        }
        self.refused_in_a_row += 1;
        if self.refused_in_a_row > limit.burst {
            Admit::Close
        } else {
            Admit::Refuse {
                warn: self.refused_in_a_row == 1,
            }
        }
    }

    /// The notice a user gets when its messages start being refused.
    pub fn warning(&self) -> String {
        format!(
            "[server]: slow down: at most {} messages a second; messages are not being sent",
            self.limits.limit.per_sec
        )
    }
}
// ANCHOR_END: rate-limit

// ANCHOR: address-limit
/// How many connections one client address may hold, and open a second
/// (twice that at once); 0 turns either off.
#[derive(Clone, Copy)]
pub struct AddressLimit {
    pub max_open: u32,
    pub connects_per_sec: u32,
}

/// Fix: limits per client address. A uid is free to make up, so the limits
/// per uid alone let one machine flood the chat under uid after uid; these
/// bound the connections it holds and how fast it opens new ones.
#[derive(Clone)]
pub struct AddressLimits {
    limit: AddressLimit,
    addresses: Arc<Mutex<Table<IpAddr, Address>>>,
}

struct Address {
    open: u32,
    connects: TokenBucket,
}

/// One open connection of an address; dropping it frees its place.
pub struct AddressSlot(Option<(AddressLimits, IpAddr)>);

impl AddressLimits {
    pub fn new(limit: AddressLimit) -> Self {
        Self {
            limit,
            addresses: Arc::new(Mutex::new(Table::new())),
        }
    }

    /// A place for a new connection from `ip`, or the reason there is none,
    /// for the body of a 429.
    pub fn admit(&self, ip: Option<IpAddr>) -> Result<AddressSlot, String> {
        self.admit_at(ip, Instant::now())
    }

    /// [`AddressLimits::admit`] at `now`. A connection without an IP address
    /// (none in tests of the handler) is not limited.
    pub fn admit_at(&self, ip: Option<IpAddr>, now: Instant) -> Result<AddressSlot, String> {
        let AddressLimit {
            max_open,
            connects_per_sec,
        } = self.limit;
        let Some(ip) = ip.filter(|_| max_open > 0 || connects_per_sec > 0) else {
            return Ok(AddressSlot(None));
        };
        let mut addresses = lock(&self.addresses);
        let rate = f64::from(connects_per_sec);
        let address = addresses.get_or_insert(
            ip,
            || Address {
                open: 0,
                connects: TokenBucket::new(rate, 2.0 * rate, now),
            },
            |address| address.open > 0 || !address.connects.full(now),
        );
        if max_open > 0 && address.open >= max_open {
            return Err(format!(
                "too many connections from your address: at most {max_open} at once"
            ));
        }
        if connects_per_sec > 0 {
            address.connects.refill(now, Duration::ZERO);
            if !address.connects.take(1.0) {
                return Err(format!(
                    "too many new connections from your address: at most {connects_per_sec} a \
                     second"
                ));
            }
        }
        address.open += 1;
        Ok(AddressSlot(Some((self.clone(), ip))))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Some((limits, ip)) = &self.0
            && let Some(address) = lock(&limits.addresses).map.get_mut(ip)
        {
            address.open = address.open.saturating_sub(1);
        }
    }
}
// ANCHOR_END: address-limit

/// A map that forgets entries no longer worth keeping whenever it has
/// doubled since it last looked, so that every uid or address ever seen
/// does not stay in memory.
struct Table<K, V> {
    map: HashMap<K, V>,
    prune_at: usize,
}

impl<K: std::hash::Hash + Eq, V> Table<K, V> {
    fn new() -> Self {
        Self {
            map: HashMap::new(),
            prune_at: 64,
        }
    }

    /// The entry of `key`, made by `fresh` if it has none. `keep` says
    /// whether an entry still matters.
    fn get_or_insert(
        &mut self,
        key: K,
        fresh: impl FnOnce() -> V,
        keep: impl FnMut(&V) -> bool,
    ) -> &mut V {
        if self.map.len() >= self.prune_at && !self.map.contains_key(&key) {
            let mut keep = keep;
            self.map.retain(|_, value| keep(value));
            self.prune_at = (2 * self.map.len()).max(64);
        }
        self.map.entry(key).or_insert_with(fresh)
    }
}

/// Locks a table. Each lock is held for a few lines that cannot panic, so a
/// poisoned one still holds whole entries.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ANCHOR: cut
/// Fix: a way to end a connection below actix-ws. Ending a session does not
/// end its connection: actix-ws keeps it until the client has taken every
/// frame written to it, so a client that stopped reading would keep it, and
/// every byte waiting for it, as long as it likes. actix-web gives a handler
/// no way to close a connection, so each connection's socket is kept from
/// the moment it is accepted (`keep_socket`).
pub struct Cut(Option<Rc<socket2::Socket>>);

impl Cut {
    /// The cut for `req`'s connection.
    pub fn of(req: &HttpRequest) -> Self {
        Self(
            req.conn_data::<ConnSocket>()
                .map(|socket| Rc::clone(&socket.0)),
        )
    }

    /// Ends the connection at once: a reset, and whatever waited to be sent
    /// is freed, in the process and in the kernel.
    pub fn cut(&self) {
        if let Some(socket) = &self.0 {
            // With linger 0, closing the socket resets it instead of trying
            // for minutes to deliver what the client does not read.
            let _ = socket.set_linger(Some(Duration::ZERO));
            // actix-http sees the socket shut, drops the connection, and
            // closes its handle; the session drops this one as it ends.
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// A second handle on a connection's socket. An `Rc`: the connection, its
/// handler and its session all live on one worker thread.
struct ConnSocket(Rc<socket2::Socket>);

/// For `HttpServer::on_connect`: keeps a handle on every new connection's
/// socket in the connection's data, where [`Cut::of`] finds it.
pub fn keep_socket(connection: &dyn Any, data: &mut Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    // Identity: behind TLS the socket is under the TLS stream.
    let tcp = match connection.downcast_ref::<Tls>() {
        Some(tls) => Some(tls.get_ref().0),
        None => connection.downcast_ref::<actix_web::rt::net::TcpStream>(),
    };
    let Some(tcp) = tcp else {
        return;
    };
    match socket2::SockRef::from(tcp).try_clone() {
        Ok(socket) => {
            data.insert(ConnSocket(Rc::new(socket)));
        }
        // Without it, a connection whose client stopped reading ends only
        // when the client lets go.
        Err(err) => log::warn!("cannot keep a handle on a connection's socket: {err}"),
    }
}
// ANCHOR_END: cut
