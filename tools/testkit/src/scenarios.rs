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
    /// A client sends a close frame with no code and no reason.
    EmptyCloseFrame,
    /// Two connections claim the same uid.
    SameUidTwice,
    /// Many clients at once receive every message of a burst, in order.
    Burst,
    /// A client that never answers pings is dropped.
    HalfOpenClient,
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
        Scenario::EmptyCloseFrame,
        Scenario::SameUidTwice,
        Scenario::Burst,
        Scenario::HalfOpenClient,
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
            Scenario::EmptyCloseFrame => "empty-close-frame",
            Scenario::SameUidTwice => "same-uid-twice",
            Scenario::Burst => "burst",
            Scenario::HalfOpenClient => "half-open-client",
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
                "a client drops its TCP connection without a close frame: the server's CPU stays idle"
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
            Scenario::EmptyCloseFrame => empty_close_frame(&server).await,
            Scenario::SameUidTwice => same_uid_twice(&server).await,
            Scenario::Burst => burst(&server).await,
            Scenario::HalfOpenClient => half_open_client(&server).await,
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
    let up = server
        .get("/healthcheck")
        .await
        .is_ok_and(|a| a.status == 200);
    let evidence = format!("{seen}; server {}", if up { "still up" } else { "down" });
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
            let exited = server.wait_exit(REPLY).await?;
            let cause = match exited {
                Some(status) => format!(
                    "the server process exited ({status}): {}",
                    server
                        .panic_line()
                        .unwrap_or_else(|| "no panic message".into())
                ),
                None => "the server process is still running".to_string(),
            };
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
    Ok(cpu_verdict(load, "a client vanished"))
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
    let mut tasks = tokio::task::JoinSet::new();
    for uid in 1..=BURST_CLIENTS {
        let url = url.clone();
        let everyone_joined = Arc::clone(&everyone_joined);
        tasks.spawn(async move {
            let mut client = Client::connect(&url, &uid.to_string()).await?;
            let seen = burst_client(&mut client, uid, &everyone_joined).await;
            anyhow::Ok((client, seen))
        });
    }
    // Every client stays connected until all are done: a client that hung up
    // early would test leaving, not delivery.
    let mut clients = Vec::with_capacity(BURST_CLIENTS);
    let mut failures = Vec::new();
    let collect = async {
        while let Some(joined) = tasks.join_next().await {
            let (client, seen) = joined.context("a burst client task panicked")??;
            clients.push(client);
            if let Err(failure) = seen {
                failures.push(failure);
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(90), collect)
        .await
        .context("the burst scenario did not finish within 90 s")??;
    Ok(if failures.is_empty() {
        Outcome::works(format!(
            "all {BURST_CLIENTS} clients received all {BURST_MESSAGES} messages in order"
        ))
    } else {
        failures.sort();
        Outcome::defect(format!(
            "{} of {BURST_CLIENTS} clients missed messages; first: {}",
            failures.len(),
            failures[0]
        ))
    })
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
