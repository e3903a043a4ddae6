//! The scenarios: each starts its own server, acts like real users and
//! reports what it observed, without knowing what the table expects.

use crate::client::{Client, Connection, Event};
use crate::server::Server;
use crate::silent::SilentClient;
use crate::table::Verdict;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Time allowed for an answer that should come at once. Generous on purpose:
/// on a loaded two-core machine a debug build can be slow.
const REPLY: Duration = Duration::from_secs(5);
/// How long the server's CPU use is sampled.
const CPU_WINDOW: Duration = Duration::from_millis(1500);
/// Above this many cores, averaged over the window, the server is spinning.
/// An idle server measures close to 0, a spinning session close to 1.
const SPIN_THRESHOLD: f64 = 0.25;
/// A half-open client must be dropped this soon after it goes silent.
const HALF_OPEN_LIMIT: Duration = Duration::from_secs(12);
/// How long to watch a half-open client before calling it never dropped.
const HALF_OPEN_WATCH: Duration = Duration::from_secs(15);
/// Clients in the burst scenario, and messages in its burst.
const BURST_CLIENTS: usize = 200;
const BURST_MESSAGES: usize = 50;

/// A behaviour the scenario table has a row for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// `/healthcheck` answers with the tutorial's text.
    Healthcheck,
    /// Two users; one sends `hello`; both receive it.
    Broadcast,
    /// A connection without a `uid` header is refused with a reason.
    MissingUid,
    /// A connection whose `uid` is not a number is refused with a reason.
    NonNumericUid,
    /// A user closes politely, then another user sends.
    UserLeaves,
    /// A client's TCP connection ends without a close frame.
    ClientVanishes,
    /// After a client vanishes, the other users can still chat.
    VanishNeighbours,
    /// A client sends a close frame with no code and no reason.
    EmptyCloseFrame,
    /// Two connections claim the same uid.
    SameUidTwice,
    /// Many clients at once receive every message of a burst, in order.
    Burst,
    /// A client that never answers pings is dropped.
    HalfOpenClient,
    /// A client that stops reading while others flood the room.
    SlowReader,
    /// A text message larger than the server's limit.
    OversizedFrame,
    /// A binary message, which the chat does not use.
    BinaryFrame,
    /// The uid given as a `?uid=` query parameter, as a browser must.
    QueryStringUid,
    /// SIGTERM while clients are connected.
    Shutdown,
    /// A thousand clients receive every message of several senders, in order.
    Crowd,
    /// A user leaves while two others keep talking.
    LeaveWhileTalking,
}

/// What a scenario observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Works, defect, or not applicable.
    pub verdict: Verdict,
    /// One line saying what was seen, for test failures and the book.
    pub evidence: String,
}

impl Outcome {
    fn works(evidence: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Works,
            evidence: evidence.into(),
        }
    }

    fn defect(evidence: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Defect,
            evidence: evidence.into(),
        }
    }

    fn no_ws_route() -> Self {
        Self {
            verdict: Verdict::NotApplicable,
            evidence: "GET /ws answered 404".to_string(),
        }
    }
}

impl Scenario {
    /// Every scenario, in table order.
    pub const ALL: &'static [Scenario] = &[
        Scenario::Healthcheck,
        Scenario::Broadcast,
        Scenario::MissingUid,
        Scenario::NonNumericUid,
        Scenario::UserLeaves,
        Scenario::ClientVanishes,
        Scenario::VanishNeighbours,
        Scenario::EmptyCloseFrame,
        Scenario::SameUidTwice,
        Scenario::Burst,
        Scenario::HalfOpenClient,
        Scenario::SlowReader,
        Scenario::OversizedFrame,
        Scenario::BinaryFrame,
        Scenario::QueryStringUid,
        Scenario::Shutdown,
        Scenario::Crowd,
        Scenario::LeaveWhileTalking,
    ];

    /// A stable kebab-case name, used in test names, anchors and the matrix.
    pub fn id(self) -> &'static str {
        match self {
            Scenario::Healthcheck => "healthcheck",
            Scenario::Broadcast => "broadcast",
            Scenario::MissingUid => "missing-uid",
            Scenario::NonNumericUid => "non-numeric-uid",
            Scenario::UserLeaves => "user-leaves",
            Scenario::ClientVanishes => "client-vanishes",
            Scenario::VanishNeighbours => "vanish-neighbours",
            Scenario::EmptyCloseFrame => "empty-close-frame",
            Scenario::SameUidTwice => "same-uid-twice",
            Scenario::Burst => "burst",
            Scenario::HalfOpenClient => "half-open-client",
            Scenario::SlowReader => "slow-reader",
            Scenario::OversizedFrame => "oversized-frame",
            Scenario::BinaryFrame => "binary-frame",
            Scenario::QueryStringUid => "query-string-uid",
            Scenario::Shutdown => "shutdown",
            Scenario::Crowd => "crowd",
            Scenario::LeaveWhileTalking => "leave-while-talking",
        }
    }

    /// What the scenario does and what "works" means, in one line.
    pub fn title(self) -> &'static str {
        match self {
            Scenario::Healthcheck => {
                "`GET /healthcheck` answers \"rust-websocket-tutorial is live\""
            }
            Scenario::Broadcast => {
                "user 1 sends `hello`; users 1 and 2 both receive `[UID: 1]: hello`"
            }
            Scenario::MissingUid => {
                "no `uid` header: refused with a close code and a reason; the server stays up"
            }
            Scenario::NonNumericUid => {
                "`uid: abc`: refused with a close code and a reason; the server stays up"
            }
            Scenario::UserLeaves => {
                "user 1 closes politely, then user 2 sends: user 2 still gets its messages"
            }
            Scenario::ClientVanishes => {
                "a client drops its TCP connection without a close frame: the server's CPU stays \
                 idle and it still answers /healthcheck"
            }
            Scenario::VanishNeighbours => {
                "after a client vanishes, 6 other users each still get the echo of a message"
            }
            Scenario::EmptyCloseFrame => {
                "a client sends a close frame without code or reason: the server answers it and stays idle"
            }
            Scenario::SameUidTwice => {
                "a second connection with uid 1: it receives messages and the server's CPU stays idle"
            }
            Scenario::Burst => {
                "200 clients connected at once each receive all of a 50-message burst, in order"
            }
            Scenario::HalfOpenClient => "a client that never answers pings is dropped within 12 s",
            Scenario::SlowReader => {
                "one client stops reading while another sends 40 MB: the server's memory grows \
                 by less than 16 MiB"
            }
            Scenario::OversizedFrame => {
                "a 100 KiB text message, whole and in 4 KiB fragments: each session is closed \
                 with 1009; the server stays up"
            }
            Scenario::BinaryFrame => {
                "a binary message is refused with 1003 or ignored; either way the server stays up"
            }
            Scenario::QueryStringUid => {
                "`/ws?uid=7` without a header: the user chats as uid 7, as a browser client must"
            }
            Scenario::Shutdown => {
                "SIGTERM: every client receives a 1001 close frame and the process exits within 5 s"
            }
            Scenario::Crowd => {
                "1,000 clients each receive all 100 messages of 5 concurrent senders, each \
                 sender's in order"
            }
            Scenario::LeaveWhileTalking => {
                "user 1 leaves while users 2 and 3 exchange 2,000 messages: they receive all of \
                 them, in order"
            }
        }
    }

    /// Runs the scenario against a fresh server started from `binary`.
    /// An `Err` means the scenario could not be carried out at all.
    pub async fn run(self, binary: &Path) -> Result<Outcome> {
        let mut server = Server::start(binary).await?;
        if self != Scenario::Healthcheck && !server.serves_ws().await? {
            return Ok(Outcome::no_ws_route());
        }
        match self {
            Scenario::Healthcheck => healthcheck(&server).await,
            Scenario::Broadcast => broadcast(&server).await,
            Scenario::MissingUid => refused(&server, None).await,
            Scenario::NonNumericUid => refused(&server, Some("abc")).await,
            Scenario::UserLeaves => user_leaves(&mut server).await,
            Scenario::ClientVanishes => client_vanishes(&server).await,
            Scenario::VanishNeighbours => vanish_neighbours(&mut server).await,
            Scenario::EmptyCloseFrame => empty_close_frame(&server).await,
            Scenario::SameUidTwice => same_uid_twice(&server).await,
            Scenario::Burst => burst(&server).await,
            Scenario::HalfOpenClient => half_open_client(&server).await,
            Scenario::SlowReader => slow_reader(&server).await,
            Scenario::OversizedFrame => oversized_frame(&server).await,
            Scenario::BinaryFrame => binary_frame(&server).await,
            Scenario::QueryStringUid => query_string_uid(&server).await,
            Scenario::Shutdown => shutdown(&mut server).await,
            Scenario::Crowd => crowd(&server).await,
            Scenario::LeaveWhileTalking => leave_while_talking(&mut server).await,
        }
    }
}

async fn healthcheck(server: &Server) -> Result<Outcome> {
    let answer = server.get("/healthcheck").await?;
    let evidence = format!("answered {} {:?}", answer.status, answer.body);
    if answer.status == 200 && answer.body == "rust-websocket-tutorial is live" {
        Ok(Outcome::works(evidence))
    } else {
        Ok(Outcome::defect(evidence))
    }
}

/// Connects `uid` and waits for the echo of its own message, which proves the
/// server has registered it (a session registers before it reads anything).
async fn join(server: &Server, uid: &str) -> Result<Client> {
    let mut client = Client::connect(&server.ws_url(), uid).await?;
    let text = format!("{uid} joined");
    client.send_text(&text).await?;
    client
        .wait_for_text(&format!("[UID: {uid}]: {text}"), REPLY)
        .await
        .map_err(|event| anyhow::anyhow!("user {uid} saw {event} instead of its own echo"))?;
    Ok(client)
}

async fn broadcast(server: &Server) -> Result<Outcome> {
    let mut one = join(server, "1").await?;
    let mut two = join(server, "2").await?;
    one.send_text("hello").await?;
    let expected = "[UID: 1]: hello";
    let (got_one, got_two) = tokio::join!(
        one.wait_for_text(expected, REPLY),
        two.wait_for_text(expected, REPLY)
    );
    Ok(match (got_one, got_two) {
        (Ok(()), Ok(())) => Outcome::works(format!("both users received {expected:?}")),
        (one, two) => Outcome::defect(format!(
            "user 1: {}; user 2: {}",
            one.map_or_else(|e| e.to_string(), |()| "received".into()),
            two.map_or_else(|e| e.to_string(), |()| "received".into()),
        )),
    })
}

async fn refused(server: &Server, uid: Option<&str>) -> Result<Outcome> {
    let seen = match Client::open(&server.ws_url(), uid).await? {
        Connection::Refused(status) => format!("refused the upgrade with HTTP {status}"),
        Connection::Open(mut client) => client.next_event(REPLY).await.to_string(),
    };
    let up = server.is_healthy(REPLY).await;
    let evidence = format!("{seen}; server {}", up_or_down(up));
    let readable = seen.starts_with("refused the upgrade with HTTP 4")
        || (seen.starts_with("closed with 10") && !seen.ends_with("\"\""));
    Ok(if readable && up {
        Outcome::works(evidence)
    } else {
        Outcome::defect(evidence)
    })
}

async fn user_leaves(server: &mut Server) -> Result<Outcome> {
    let one = join(server, "1").await?;
    let mut two = join(server, "2").await?;
    let answer = one.close_politely("bye", REPLY).await;
    // Two messages, so that a server still tidying up after the first one
    // cannot hide the defect.
    for text in ["anyone there?", "hello?"] {
        two.send_text(text).await?;
        let echo = format!("[UID: 2]: {text}");
        if let Err(event) = two.wait_for_text(&echo, REPLY).await {
            let cause = server
                .exit_report(REPLY)
                .await?
                .unwrap_or_else(|| "the server process is still running".into());
            return Ok(Outcome::defect(format!(
                "user 1 closed politely and got back: {answer}; user 2 then saw {event}; {cause}"
            )));
        }
    }
    if !server.is_running()? {
        bail!("user 2 got its echoes yet the server exited");
    }
    Ok(Outcome::works(format!(
        "user 1 closed politely and got back: {answer}; user 2 kept receiving its messages"
    )))
}

/// How evidence describes the server after a scenario's probe.
fn up_or_down(up: bool) -> &'static str {
    if up { "still up" } else { "down" }
}

fn cpu_verdict(load: f64, what: &str) -> Outcome {
    let evidence = format!(
        "server used {load:.2} cores over {:.1} s after {what}",
        CPU_WINDOW.as_secs_f64()
    );
    if load < SPIN_THRESHOLD {
        Outcome::works(evidence)
    } else {
        Outcome::defect(evidence)
    }
}

async fn client_vanishes(server: &Server) -> Result<Outcome> {
    let one = join(server, "1").await?;
    let _two = join(server, "2").await?;
    one.vanish();
    let load = server.cpu_load(CPU_WINDOW).await?;
    // actix hands new connections to its two workers in turn, so four
    // requests reach both: a worker held by a spinning task answers none.
    const PROBES: usize = 4;
    let mut unanswered = 0;
    for _ in 0..PROBES {
        if !server.is_healthy(Duration::from_secs(3)).await {
            unanswered += 1;
        }
    }
    let idle = cpu_verdict(load, "a client vanished");
    let evidence = format!(
        "{}; {unanswered} of {PROBES} healthchecks then went unanswered",
        idle.evidence
    );
    Ok(if idle.verdict == Verdict::Works && unanswered == 0 {
        Outcome::works(evidence)
    } else {
        Outcome::defect(evidence)
    })
}

async fn vanish_neighbours(server: &mut Server) -> Result<Outcome> {
    // Enough neighbours that some share the vanished client's worker thread:
    // actix hands connections to its two workers in turn.
    const NEIGHBOURS: usize = 6;
    let one = join(server, "1").await?;
    let mut neighbours = Vec::with_capacity(NEIGHBOURS);
    for uid in 2..2 + NEIGHBOURS {
        neighbours.push(join(server, &uid.to_string()).await?);
    }
    one.vanish();
    // Each neighbour sends and waits for its own echo.
    let mut unserved = 0;
    for (index, client) in neighbours.iter_mut().enumerate() {
        let uid = index + 2;
        let text = format!("still here {uid}");
        client.send_text(&text).await?;
        if client
            .wait_for_text(&format!("[UID: {uid}]: {text}"), REPLY)
            .await
            .is_err()
        {
            unserved += 1;
        }
    }
    let mut evidence = format!(
        "{unserved} of {NEIGHBOURS} other users got no echo within {} s",
        REPLY.as_secs()
    );
    if let Some(cause) = server.exit_report(Duration::from_millis(200)).await? {
        evidence.push_str(&format!("; {cause}"));
    }
    Ok(if unserved == 0 {
        Outcome::works(evidence)
    } else {
        Outcome::defect(evidence)
    })
}

async fn empty_close_frame(server: &Server) -> Result<Outcome> {
    let mut one = join(server, "1").await?;
    let _two = join(server, "2").await?;
    one.send_empty_close().await?;
    // RFC 6455 asks the server to answer a close frame with one of its own.
    let (answered, answer) = match one.next_non_text(REPLY).await {
        Event::Silent => (
            false,
            format!(
                "the server did not answer the close frame within {} s",
                REPLY.as_secs()
            ),
        ),
        event @ Event::Close { .. } => (
            true,
            format!("the server answered the close frame: {event}"),
        ),
        event => (false, format!("the close frame got no answer: {event}")),
    };
    // A client that gets no answer gives up and hangs up, as browsers do.
    one.vanish();
    let load = server.cpu_load(CPU_WINDOW).await?;
    let idle = cpu_verdict(load, "the client hung up");
    let evidence = format!("{answer}; {}", idle.evidence);
    Ok(if answered && idle.verdict == Verdict::Works {
        Outcome::works(evidence)
    } else {
        Outcome::defect(evidence)
    })
}

async fn same_uid_twice(server: &Server) -> Result<Outcome> {
    let mut older = join(server, "1").await?;
    let mut newer = Client::connect(&server.ws_url(), "1").await?;
    newer.send_text("second connection").await?;
    let newer_echo = newer
        .wait_for_text("[UID: 1]: second connection", REPLY)
        .await;
    let load = server.cpu_load(CPU_WINDOW).await?;
    let older_saw = match older.next_event(Duration::from_millis(500)).await {
        Event::Silent => "nothing".to_string(),
        event => event.to_string(),
    };
    let newer_saw = match &newer_echo {
        Ok(()) => "its echo".to_string(),
        Err(event) => event.to_string(),
    };
    let evidence = format!(
        "newer connection got {newer_saw}; older connection got {older_saw}; server used \
         {load:.2} cores over {:.1} s",
        CPU_WINDOW.as_secs_f64()
    );
    Ok(if newer_echo.is_ok() && load < SPIN_THRESHOLD {
        Outcome::works(evidence)
    } else {
        Outcome::defect(evidence)
    })
}

async fn burst(server: &Server) -> Result<Outcome> {
    let url = server.ws_url();
    let everyone_joined = Arc::new(tokio::sync::Barrier::new(BURST_CLIENTS));
    let mut tasks = ClientTasks::new();
    for uid in 1..=BURST_CLIENTS {
        let url = url.clone();
        let everyone_joined = Arc::clone(&everyone_joined);
        tasks.spawn(async move {
            let mut client = Client::connect(&url, &uid.to_string()).await?;
            let seen = burst_client(&mut client, uid, &everyone_joined).await;
            anyhow::Ok((client, seen))
        });
    }
    let (_clients, failures) = gather(tasks, Duration::from_secs(90), "burst").await?;
    Ok(delivery_outcome(
        failures,
        BURST_CLIENTS,
        format!("all {BURST_CLIENTS} clients received all {BURST_MESSAGES} messages in order"),
    ))
}

/// Client tasks of the delivery scenarios: each hands back its client and
/// what it observed (`Err(String)` is an observed failure).
type ClientTasks = tokio::task::JoinSet<Result<(Client, Result<(), String>)>>;

/// Waits up to `limit` for every client task and gathers the failures. The
/// clients are returned so that they stay connected until the caller is done:
/// a client that hung up early would test leaving, not delivery.
async fn gather(
    mut tasks: ClientTasks,
    limit: Duration,
    what: &str,
) -> Result<(Vec<Client>, Vec<String>)> {
    let mut clients = Vec::new();
    let mut failures = Vec::new();
    let collect = async {
        while let Some(done) = tasks.join_next().await {
            let (client, seen) =
                done.with_context(|| format!("a {what} client task panicked"))??;
            clients.push(client);
            if let Err(failure) = seen {
                failures.push(failure);
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(limit, collect)
        .await
        .with_context(|| format!("the {what} scenario did not finish within {limit:?}"))??;
    failures.sort();
    Ok((clients, failures))
}

fn delivery_outcome(failures: Vec<String>, clients: usize, works: String) -> Outcome {
    match failures.first() {
        None => Outcome::works(works),
        Some(first) => Outcome::defect(format!(
            "{} of {clients} clients missed or reordered messages; first: {first}",
            failures.len()
        )),
    }
}

/// One client of the burst: joins, waits for everyone, then collects the
/// burst (client 1 also sends it). `Err(String)` is an observed failure.
async fn burst_client(
    client: &mut Client,
    uid: usize,
    everyone_joined: &tokio::sync::Barrier,
) -> Result<(), String> {
    client
        .send_text("joined")
        .await
        .map_err(|e| format!("client {uid}: {e:#}"))?;
    client
        .wait_for_text(&format!("[UID: {uid}]: joined"), Duration::from_secs(30))
        .await
        .map_err(|event| format!("client {uid} saw {event} instead of its echo"))?;
    everyone_joined.wait().await;
    if uid == 1 {
        for n in 0..BURST_MESSAGES {
            client
                .send_text(&format!("burst {n}"))
                .await
                .map_err(|e| format!("client 1 could not send: {e:#}"))?;
        }
    }
    for n in 0..BURST_MESSAGES {
        let expected = format!("[UID: 1]: burst {n}");
        loop {
            match client.next_event(Duration::from_secs(30)).await {
                Event::Text(text) if text == expected => break,
                Event::Text(text) if text.starts_with("[UID: 1]: burst ") => {
                    return Err(format!(
                        "client {uid} expected {expected:?} but got {text:?}"
                    ));
                }
                // Other clients' join messages.
                Event::Text(_) => continue,
                event => {
                    return Err(format!(
                        "client {uid} saw {event} while waiting for {expected:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

async fn half_open_client(server: &Server) -> Result<Outcome> {
    let silent = SilentClient::open(server.addr(), "1").await?;
    Ok(match silent.wait_until_dropped(HALF_OPEN_WATCH).await? {
        None => Outcome::defect(format!(
            "still connected after {} s of silence",
            HALF_OPEN_WATCH.as_secs()
        )),
        Some(dropped) => {
            let close = match dropped.close_code {
                Some(code) => format!("a close frame with {code}"),
                None => "no close code".to_string(),
            };
            // Whole seconds only: the evidence is compared, the exact time is not.
            let evidence = format!(
                "dropped within {} s after {} unanswered pings, with {close}",
                dropped.after.as_secs() + 1,
                dropped.pings
            );
            if dropped.after <= HALF_OPEN_LIMIT {
                Outcome::works(evidence)
            } else {
                Outcome::defect(evidence)
            }
        }
    })
}

/// Sends `count` messages of `size` bytes from `client` (uid `uid`), keeping
/// at most `window` unanswered, and reads its own echoes so that the sender
/// is never the slow one. Returns how many echoes came back.
async fn talk(client: &mut Client, uid: &str, count: usize, size: usize) -> Result<usize> {
    const WINDOW: usize = 32;
    let filler = "x".repeat(size.saturating_sub(12));
    let text = |n: usize| format!("{n:08} {filler}");
    let mut sent = 0;
    let mut echoed = 0;
    while echoed < count {
        while sent < count && sent - echoed < WINDOW {
            client.send_text(&text(sent)).await?;
            sent += 1;
        }
        let expected = format!("[UID: {uid}]: {}", text(echoed));
        match client.wait_for_text(&expected, REPLY).await {
            Ok(()) => echoed += 1,
            Err(_) => break,
        }
    }
    Ok(echoed)
}

async fn slow_reader(server: &Server) -> Result<Outcome> {
    const MESSAGES: usize = 20_000;
    const SIZE: usize = 2048;
    const LIMIT: u64 = 16 << 20;
    let mut slow = join(server, "1").await?;
    let mut talker = join(server, "2").await?;
    // From here on user 1 reads nothing until the flood is over.
    let before = server.rss_bytes()?;
    let echoed = talk(&mut talker, "2", MESSAGES, SIZE).await?;
    let after = server.rss_bytes()?;
    let growth = after.saturating_sub(before);
    let slow_saw = match slow.next_non_text(REPLY).await {
        Event::Silent => "nothing but chat".to_string(),
        event => event.to_string(),
    };
    let evidence = format!(
        "{MESSAGES} messages of {SIZE} bytes to a client that does not read: server memory grew by \
         {:.1} MiB; the sender got {echoed} echoes; the slow client then saw {slow_saw}",
        growth as f64 / f64::from(1 << 20)
    );
    Ok(if growth < LIMIT && echoed == MESSAGES {
        Outcome::works(evidence)
    } else {
        Outcome::defect(evidence)
    })
}

async fn oversized_frame(server: &Server) -> Result<Outcome> {
    const SIZE: usize = 100 * 1024;
    // The same 100 KiB twice: as one frame, and as 4 KiB fragments that are
    // each small but add up to too much.
    // Both join before either sends: a session that ends leaves a stale
    // sender behind in part3, and a later join's broadcast would crash it.
    let mut whole = join(server, "1").await?;
    let mut pieces = join(server, "2").await?;
    whole.send_text(&"x".repeat(SIZE)).await?;
    pieces
        .send_text_in_fragments(&"y".repeat(SIZE), 4096)
        .await?;
    let (seen_whole, seen_pieces) =
        tokio::join!(whole.next_non_text(REPLY), pieces.next_non_text(REPLY));
    let load = server.cpu_load(CPU_WINDOW).await?;
    let up = server.is_healthy(REPLY).await;
    let describe = |seen: &Event| match seen {
        Event::Silent => format!("no answer within {} s", REPLY.as_secs()),
        event => event.to_string(),
    };
    let evidence = format!(
        "one frame: {}; fragments: {}; server {}, using {load:.2} cores",
        describe(&seen_whole),
        describe(&seen_pieces),
        up_or_down(up)
    );
    let too_big = |seen: &Event| {
        matches!(
            seen,
            Event::Close {
                code: Some(1009),
                ..
            }
        )
    };
    Ok(
        if too_big(&seen_whole) && too_big(&seen_pieces) && up && load < SPIN_THRESHOLD {
            Outcome::works(evidence)
        } else {
            Outcome::defect(evidence)
        },
    )
}

async fn binary_frame(server: &Server) -> Result<Outcome> {
    let mut one = join(server, "1").await?;
    one.send_binary(vec![0, 159, 146, 150]).await?;
    one.send_text("after binary").await?;
    let answer = match one.wait_for_text("[UID: 1]: after binary", REPLY).await {
        Ok(()) => "ignored (the next text was echoed)".to_string(),
        Err(event) => event.to_string(),
    };
    let up = server.is_healthy(REPLY).await;
    let evidence = format!("binary message {answer}; server {}", up_or_down(up));
    let stated = answer.starts_with("ignored") || answer.starts_with("closed with 1003");
    Ok(if stated && up {
        Outcome::works(evidence)
    } else {
        Outcome::defect(evidence)
    })
}

async fn query_string_uid(server: &Server) -> Result<Outcome> {
    let url = format!("{}?uid=7", server.ws_url());
    let mut client = match Client::open(&url, None).await? {
        Connection::Open(client) => client,
        Connection::Refused(status) => {
            return Ok(Outcome::defect(format!(
                "refused the upgrade with HTTP {status}"
            )));
        }
    };
    client.send_text("from a browser").await?;
    Ok(
        match client
            .wait_for_text("[UID: 7]: from a browser", REPLY)
            .await
        {
            Ok(()) => Outcome::works("chatted as uid 7"),
            Err(event) => Outcome::defect(format!("saw {event}")),
        },
    )
}

async fn shutdown(server: &mut Server) -> Result<Outcome> {
    const LIMIT: Duration = Duration::from_secs(5);
    let mut clients = Vec::new();
    for uid in ["1", "2", "3"] {
        clients.push(join(server, uid).await?);
    }
    let started = tokio::time::Instant::now();
    server.terminate()?;
    let seen = futures_util::future::join_all(
        clients
            .iter_mut()
            .map(|client| client.next_non_text(LIMIT + Duration::from_secs(1))),
    )
    .await;
    let exited = server
        .wait_exit(LIMIT.saturating_sub(started.elapsed()))
        .await?;
    let all_1001 = seen.iter().all(|event| {
        matches!(
            event,
            Event::Close {
                code: Some(1001),
                ..
            }
        )
    });
    let first = match &seen[0] {
        Event::Silent => "nothing".to_string(),
        event => event.to_string(),
    };
    let agreed = if seen.iter().all(|e| *e == seen[0]) {
        "all 3 clients"
    } else {
        "client 1"
    };
    let evidence = match exited {
        Some(_) => format!(
            "{agreed} saw {first}; the process exited within {} s",
            LIMIT.as_secs()
        ),
        None => format!(
            "{agreed} saw {first}; the process was still running after {} s",
            LIMIT.as_secs()
        ),
    };
    Ok(if all_1001 && exited.is_some() {
        Outcome::works(evidence)
    } else {
        Outcome::defect(evidence)
    })
}

/// Senders and messages each in the crowd scenario.
const CROWD_SENDERS: usize = 5;
const CROWD_EACH: usize = 20;
const CROWD_MESSAGES: usize = CROWD_SENDERS * CROWD_EACH;

async fn crowd(server: &Server) -> Result<Outcome> {
    const CLIENTS: usize = 1000;
    const SENDERS: usize = CROWD_SENDERS;
    const EACH: usize = CROWD_EACH;
    let url = server.ws_url();

    let mut connecting = tokio::task::JoinSet::new();
    for uid in 1..=CLIENTS {
        let url = url.clone();
        connecting.spawn(async move { Client::connect(&url, &uid.to_string()).await });
    }
    let mut clients = Vec::with_capacity(CLIENTS);
    while let Some(joined) = connecting.join_next().await {
        clients.push(joined.context("a connecting task panicked")??);
    }

    // Everyone is registered once everyone has seen a message sent after
    // they connected. Sessions register as they start, a moment after the
    // handshake, so the sync is sent again until every client has one.
    let synced = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let all_synced = Arc::new(tokio::sync::Notify::new());
    let mut tasks = ClientTasks::new();
    let mut sync_sender = Client::connect(&url, "0").await?;
    for (index, mut client) in clients.into_iter().enumerate() {
        let (synced, all_synced) = (Arc::clone(&synced), Arc::clone(&all_synced));
        tasks.spawn(async move {
            let result = crowd_client(&mut client, index, &synced, &all_synced, CLIENTS).await;
            anyhow::Ok((client, result))
        });
    }
    let notified = all_synced.notified();
    tokio::pin!(notified);
    let sync_deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    loop {
        sync_sender.send_text(&format!("sync {round}")).await?;
        round += 1;
        tokio::select! {
            () = &mut notified => break,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        // Keep the sync sender's own queue drained.
        while let Event::Text(_) = sync_sender.next_event(Duration::from_millis(1)).await {}
        if tokio::time::Instant::now() > sync_deadline {
            bail!(
                "after 60 s only {} of {CLIENTS} clients had seen a sync message",
                synced.load(std::sync::atomic::Ordering::SeqCst)
            );
        }
    }

    // The burst: several senders at once, each numbering its messages.
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let mut client = Client::connect(&url, &format!("{}", 10_000 + sender)).await?;
        senders.push(async move {
            for n in 0..EACH {
                client.send_text(&format!("crowd {n}")).await?;
            }
            anyhow::Ok(client)
        });
    }
    let _senders: Vec<Client> = futures_util::future::try_join_all(senders).await?;

    let (_clients, failures) = gather(tasks, Duration::from_secs(180), "crowd").await?;
    Ok(delivery_outcome(
        failures,
        CLIENTS,
        format!(
            "all {CLIENTS} clients received all {} messages, each sender's in order",
            SENDERS * EACH
        ),
    ))
}

/// One member of the crowd: reports its first sync message, then collects
/// the burst and checks each sender's order. `Err(String)` is an observation.
async fn crowd_client(
    client: &mut Client,
    index: usize,
    synced: &std::sync::atomic::AtomicUsize,
    all_synced: &tokio::sync::Notify,
    clients: usize,
) -> Result<(), String> {
    use std::sync::atomic::Ordering;
    let mut seen_sync = false;
    let mut next = std::collections::HashMap::<String, usize>::new();
    let mut received = 0;
    loop {
        let event = client.next_event(Duration::from_secs(120)).await;
        let Event::Text(text) = event else {
            return Err(format!(
                "client {index} saw {event} after {received} messages"
            ));
        };
        if text.starts_with("[UID: 0]: sync") {
            if !seen_sync {
                seen_sync = true;
                if synced.fetch_add(1, Ordering::SeqCst) + 1 == clients {
                    all_synced.notify_one();
                }
            }
            continue;
        }
        let Some((sender, n)) = text
            .strip_prefix("[UID: ")
            .and_then(|rest| rest.split_once("]: crowd "))
        else {
            // Notices and anything else a server may add.
            continue;
        };
        let n: usize = n
            .parse()
            .map_err(|_| format!("client {index} got {text:?}"))?;
        let expected = next.entry(sender.to_string()).or_insert(0);
        if n != *expected {
            return Err(format!(
                "client {index} got message {n} from sender {sender} when {expected} was next"
            ));
        }
        *expected += 1;
        received += 1;
        if received == CROWD_MESSAGES {
            return Ok(());
        }
    }
}

async fn leave_while_talking(server: &mut Server) -> Result<Outcome> {
    const EACH: usize = 1000;
    let leaver = join(server, "1").await?;
    let two = join(server, "2").await?;
    let three = join(server, "3").await?;
    // User 1 leaves when user 2 is halfway through, so the others are in full flow.
    let halfway = tokio::sync::Notify::new();
    let talker = |mut client: Client, uid: &'static str, other: &'static str| {
        let halfway = &halfway;
        async move {
            let mut next_other = 0;
            let mut next_own = 0;
            let mut sent = 0;
            while next_other < EACH || next_own < EACH {
                if sent < EACH && sent - next_own < 16 {
                    client.send_text(&format!("talk {sent}")).await?;
                    sent += 1;
                    continue;
                }
                match client.next_event(REPLY).await {
                    Event::Text(text) => {
                        if text == format!("[UID: {uid}]: talk {next_own}") {
                            next_own += 1;
                            if next_own == EACH / 2 && uid == "2" {
                                halfway.notify_one();
                            }
                        } else if text == format!("[UID: {other}]: talk {next_other}") {
                            next_other += 1;
                        } else if text.starts_with(&format!("[UID: {other}]: talk "))
                            || text.starts_with(&format!("[UID: {uid}]: talk "))
                        {
                            return anyhow::Ok(format!("user {uid} got {text:?} out of order"));
                        }
                    }
                    event => {
                        return Ok(format!(
                            "user {uid} saw {event} after {next_own} own and {next_other} of \
                             user {other}'s messages"
                        ));
                    }
                }
            }
            Ok(String::new())
        }
    };
    let leave = async {
        halfway.notified().await;
        leaver.close_politely("bye", REPLY).await
    };
    let both = async { tokio::join!(talker(two, "2", "3"), talker(three, "3", "2")) };
    tokio::pin!(both);
    // If user 2 never gets halfway, the talkers end on their own and the
    // leave never happens; either way the talkers' results decide.
    let (two, three) = tokio::select! {
        results = &mut both => results,
        _answer = leave => both.await,
    };
    let problems: Vec<String> = [two?, three?]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if problems.is_empty() {
        return Ok(Outcome::works(format!(
            "users 2 and 3 each received all {} messages in order; user 1 left meanwhile",
            2 * EACH
        )));
    }
    let cause = match server.exit_report(Duration::from_millis(500)).await? {
        Some(cause) => format!("; {cause}"),
        None => String::new(),
    };
    Ok(Outcome::defect(format!("{}{cause}", problems.join("; "))))
}
