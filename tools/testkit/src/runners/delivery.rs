//! Delivery: every message to everyone, each sender's in order, with many
//! clients, with a user leaving mid-conversation, and past a slow reader.

use super::{REPLY, Run};
use crate::client::{Client, Event};
use crate::platform;
use anyhow::{Context, Result, bail};
use scenarios::params::*;
use scenarios::{Fact, Seen};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// The one in-order checker: messages look like `[UID: <sender>]: <tag><n>`
/// and each sender numbers its own from 0.
struct InOrder {
    tag: &'static str,
    next: HashMap<String, usize>,
    received: usize,
}

impl InOrder {
    fn new(tag: &'static str) -> Self {
        Self {
            tag,
            next: HashMap::new(),
            received: 0,
        }
    }

    /// Takes one received text. `Ok(false)` for a text that is not one of
    /// the numbered messages (a notice, a join line), `Err` for a gap or a
    /// message out of order.
    fn take(&mut self, text: &str) -> Result<bool, String> {
        let Some((sender, n)) = text
            .strip_prefix("[UID: ")
            .and_then(|rest| rest.split_once("]: "))
            .and_then(|(sender, rest)| Some((sender, rest.strip_prefix(self.tag)?)))
        else {
            return Ok(false);
        };
        let n: usize = n
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unreadable message {text:?}"))?;
        let expected = self.next.entry(sender.to_string()).or_insert(0);
        if n != *expected {
            return Err(format!(
                "got message {n} from user {sender} when {expected} was next"
            ));
        }
        *expected += 1;
        self.received += 1;
        Ok(true)
    }

    /// How many messages from `sender` arrived in order so far.
    fn from(&self, sender: &str) -> usize {
        self.next.get(sender).copied().unwrap_or(0)
    }
}

/// Reads from `client` until `count` numbered messages have arrived in order.
async fn collect(client: &mut Client, order: &mut InOrder, count: usize) -> Result<(), String> {
    while order.received < count {
        match client.next_event(Duration::from_secs(60)).await {
            Event::Text(text) => {
                order.take(&text)?;
            }
            event => {
                return Err(format!("saw {event} after {} messages", order.received));
            }
        }
    }
    Ok(())
}

/// Whether the clients may go on, once every one of them is ready.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    Closed,
    Open,
    /// A client failed before everyone was ready: nobody waits any longer.
    Abandoned,
}

/// A client task: hands back what it observed (`Err(String)` is an observed
/// failure), keeping its client connected until the end of the scenario.
type Tasks = JoinSet<Result<(Client, Result<(), String>)>>;

/// Waits until `ready` has heard from `count` clients, or until a task
/// ends early (a failure: it never became ready), which abandons the gate so
/// that no client is left waiting for one that will never come.
async fn open_when_ready(
    tasks: &mut Tasks,
    ready: &mut mpsc::Receiver<()>,
    gate: &watch::Sender<Gate>,
    count: usize,
    early: &mut Vec<(Client, Result<(), String>)>,
) -> Result<bool> {
    let mut seen = 0;
    while seen < count {
        tokio::select! {
            Some(()) = ready.recv() => seen += 1,
            Some(done) = tasks.join_next() => {
                early.push(done.context("a client task panicked")??);
                let _ = gate.send(Gate::Abandoned);
                return Ok(false);
            }
        }
    }
    let _ = gate.send(Gate::Open);
    Ok(true)
}

/// Waits for every client task and gathers the observed failures.
async fn gather(
    mut tasks: Tasks,
    mut early: Vec<(Client, Result<(), String>)>,
) -> Result<Vec<String>> {
    while let Some(done) = tasks.join_next().await {
        early.push(done.context("a client task panicked")??);
    }
    let mut failures: Vec<String> = early.into_iter().filter_map(|(_, r)| r.err()).collect();
    failures.sort();
    Ok(failures)
}

fn record_delivery(run: &mut Run, failures: &[String], clients: usize, messages: usize) {
    match failures.first() {
        None => {
            run.check(Fact::delivered("every client", messages), true);
        }
        Some(first) => {
            run.figure(format!(
                "{} of {clients} clients missed or reordered messages; first: {first}",
                failures.len()
            ));
            run.check(
                Fact::Undelivered {
                    who: "the clients".into(),
                },
                false,
            );
        }
    }
}

async fn wait_gate(gate: &mut watch::Receiver<Gate>) -> Result<(), String> {
    match gate.wait_for(|g| *g != Gate::Closed).await.map(|g| *g) {
        Ok(Gate::Open) => Ok(()),
        _ => Err("another client failed before everyone was ready".to_string()),
    }
}

pub async fn burst(run: &mut Run) -> Result<()> {
    let url = run.server().ws_url();
    let (ready_tx, mut ready) = mpsc::channel(BURST_CLIENTS);
    let (gate, gate_rx) = watch::channel(Gate::Closed);
    let mut tasks = Tasks::new();
    run.step(format!("{BURST_CLIENTS} clients join"));
    for uid in 1..=BURST_CLIENTS {
        let (url, ready_tx, mut gate_rx) = (url.clone(), ready_tx.clone(), gate_rx.clone());
        tasks.spawn(async move {
            let mut client = Client::connect(&url, &uid.to_string()).await?;
            let seen = async {
                client
                    .send_text("joined")
                    .await
                    .map_err(|e| format!("client {uid}: {e:#}"))?;
                client
                    .wait_for_text(&format!("[UID: {uid}]: joined"), Duration::from_secs(30))
                    .await
                    .map_err(|event| format!("client {uid} saw {event} instead of its echo"))?;
                let _ = ready_tx.send(()).await;
                wait_gate(&mut gate_rx).await?;
                if uid == 1 {
                    for n in 0..BURST_MESSAGES {
                        client
                            .send_text(&format!("burst {n}"))
                            .await
                            .map_err(|e| format!("client 1 could not send: {e:#}"))?;
                    }
                }
                let mut order = InOrder::new("burst ");
                collect(&mut client, &mut order, BURST_MESSAGES)
                    .await
                    .map_err(|e| format!("client {uid}: {e}"))
            }
            .await;
            anyhow::Ok((client, seen))
        });
    }
    let mut early = Vec::new();
    open_when_ready(&mut tasks, &mut ready, &gate, BURST_CLIENTS, &mut early).await?;
    run.step("the burst is delivered");
    let failures = gather(tasks, early).await?;
    record_delivery(run, &failures, BURST_CLIENTS, BURST_MESSAGES);
    Ok(())
}

pub async fn crowd(run: &mut Run) -> Result<()> {
    let url = run.server().ws_url();
    run.step(format!("{CROWD_CLIENTS} clients connect"));
    let mut connecting = JoinSet::new();
    for uid in 1..=CROWD_CLIENTS {
        let url = url.clone();
        connecting.spawn(async move { Client::connect(&url, &uid.to_string()).await });
    }
    let mut clients = Vec::with_capacity(CROWD_CLIENTS);
    while let Some(joined) = connecting.join_next().await {
        clients.push(joined.context("a connecting task panicked")??);
    }

    // Everyone is registered once everyone has seen a message sent after
    // they connected. Sessions register a moment after the handshake, so
    // the sync line is sent again until every client has reported one.
    let messages = CROWD_SENDERS * CROWD_EACH;
    let (ready_tx, mut ready) = mpsc::channel(CROWD_CLIENTS);
    let mut tasks = Tasks::new();
    for (index, mut client) in clients.into_iter().enumerate() {
        let ready_tx = ready_tx.clone();
        tasks.spawn(async move {
            let seen = async {
                let mut order = InOrder::new("crowd ");
                loop {
                    match client.next_event(Duration::from_secs(60)).await {
                        Event::Text(text) if text.starts_with("[UID: 0]: sync") => break,
                        Event::Text(text) => {
                            order.take(&text)?;
                        }
                        event => return Err(format!("saw {event} before any sync line")),
                    }
                }
                let _ = ready_tx.send(()).await;
                collect(&mut client, &mut order, messages).await
            }
            .await
            .map_err(|e| format!("client {index}: {e}"));
            anyhow::Ok((client, seen))
        });
    }
    run.step("every client sees a sync line");
    let mut sync_sender = Client::connect(&url, "0").await?;
    let mut synced = 0;
    let mut early = Vec::new();
    let sync_deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    'sync: while synced < CROWD_CLIENTS {
        sync_sender.send_text(&format!("sync {round}")).await?;
        round += 1;
        let resend = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(resend);
        loop {
            tokio::select! {
                Some(()) = ready.recv() => {
                    synced += 1;
                    if synced == CROWD_CLIENTS { break 'sync; }
                }
                Some(done) = tasks.join_next() => {
                    // A client ended before the burst: a failure to report.
                    early.push(done.context("a client task panicked")??);
                    break 'sync;
                }
                () = &mut resend => break,
            }
        }
        // Keep the sync sender's own queue drained.
        while let Event::Text(_) = sync_sender.next_event(Duration::from_millis(1)).await {}
        if tokio::time::Instant::now() > sync_deadline {
            bail!("after 60 s only {synced} of {CROWD_CLIENTS} clients had seen a sync line");
        }
    }

    // The senders stay connected until the end: one that hung up at once
    // could lose its last messages with the connection.
    let mut _senders: Vec<Client> = Vec::new();
    if early.is_empty() {
        // The burst: several senders at once, each numbering its messages.
        run.step("the senders send");
        let mut senders = Vec::new();
        for sender in 0..CROWD_SENDERS {
            let mut client = Client::connect(&url, &format!("{}", 10_000 + sender)).await?;
            senders.push(async move {
                for n in 0..CROWD_EACH {
                    client.send_text(&format!("crowd {n}")).await?;
                }
                anyhow::Ok(client)
            });
        }
        _senders = futures_util::future::try_join_all(senders).await?;
    }
    run.step("the crowd's messages are delivered");
    let failures = gather(tasks, early).await?;
    record_delivery(run, &failures, CROWD_CLIENTS, messages);
    Ok(())
}

/// Sends `count` numbered messages of `size` bytes from `client` (uid
/// `uid`), keeping at most a window unanswered, and reads its own echoes so
/// that the sender is never the slow one; a notice that someone left
/// notifies `left`. Returns how many came back in order.
async fn talk(
    client: &mut Client,
    uid: &str,
    count: usize,
    size: usize,
    left: &tokio::sync::Notify,
) -> Result<usize> {
    // At most 32 messages or 256 KiB unanswered: a client that reads its
    // echoes promptly, whatever the size of its messages.
    let window = (256 * 1024 / size.max(1)).clamp(1, 32);
    let filler = "x".repeat(size.saturating_sub(16));
    let mut order = InOrder::new("talk ");
    let mut sent = 0;
    while order.from(uid) < count {
        while sent < count && sent - order.from(uid) < window {
            client.send_text(&format!("talk {sent} {filler}")).await?;
            sent += 1;
        }
        match client.next_event(REPLY).await {
            Event::Text(text) if super::is_leave_notice(&text) => left.notify_one(),
            Event::Text(text) => {
                if order.take(&text).is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    Ok(order.from(uid))
}

pub async fn slow_reader(run: &mut Run) -> Result<()> {
    slow_reader_of(run, SLOW_MESSAGES, SLOW_MESSAGE_BYTES, SLOW_LIMIT_MIB).await
}

pub async fn slow_reader_large(run: &mut Run) -> Result<()> {
    let size = LARGE_MESSAGE_KIB * 1024;
    slow_reader_of(run, LARGE_MESSAGES, size, LARGE_LIMIT_MIB).await
}

/// User 1 stops reading while user 2 sends `count` messages of `size`
/// bytes: the server's memory must grow by less than `limit_mib`.
async fn slow_reader_of(run: &mut Run, count: usize, size: usize, limit_mib: u64) -> Result<()> {
    let mut slow = run.join("1").await?;
    let mut talker = run.join("2").await?;
    // From here on user 1 reads nothing until the flood is over.
    let pid = run.server().pid()?;
    let before = platform::rss_bytes(pid)?;
    run.step("user 2 sends while user 1 does not read");
    // User 1 reads again once it has been dropped, as a client that fell
    // behind for a while would; or, if it never is, once the flood is over.
    let left = tokio::sync::Notify::new();
    let (echoed, slow_saw) = {
        let talking = talk(&mut talker, "2", count, size, &left);
        tokio::pin!(talking);
        tokio::select! {
            echoed = &mut talking => (echoed, slow.next_non_text(REPLY).await),
            () = left.notified() => {
                let (slow_saw, echoed) = tokio::join!(slow.next_non_text(REPLY), talking);
                (echoed, slow_saw)
            }
        }
    };
    let echoed = echoed?;
    let after = platform::rss_bytes(pid)?;
    let growth = after.saturating_sub(before);
    run.figure(format!(
        "the server's memory grew by {:.1} MiB while user 1 did not read",
        growth as f64 / f64::from(1 << 20)
    ));
    let below = growth < limit_mib << 20;
    let fact = if below {
        Fact::MemoryBelow { mib: limit_mib }
    } else {
        Fact::MemoryAbove { mib: limit_mib }
    };
    if !run.check(fact, below) {
        return Ok(());
    }
    if echoed == count {
        run.check(Fact::delivered("user 2", count), true);
    } else {
        run.figure(format!("user 2 got {echoed} of its {count} echoes"));
        run.check(
            Fact::Undelivered {
                who: "user 2".into(),
            },
            false,
        );
        return Ok(());
    }
    let slow_saw = slow_saw.seen();
    let told = matches!(slow_saw, Seen::Close { .. });
    run.saw("user 1", slow_saw, told);
    run.check_others_chat(&mut [("2", &mut talker)], false)
        .await?;
    Ok(())
}

pub async fn leave_while_talking(run: &mut Run) -> Result<()> {
    let leaver = run.join("1").await?;
    let two = run.join("2").await?;
    let three = run.join("3").await?;
    run.step("users 2 and 3 talk; user 1 leaves halfway");
    // User 1 leaves when user 2 is halfway through, so the others are in full flow.
    let halfway = tokio::sync::Notify::new();
    let talker = |mut client: Client, uid: &'static str| {
        let halfway = &halfway;
        async move {
            let mut order = InOrder::new("talk ");
            let mut sent = 0;
            let mut told = false;
            while order.received < 2 * TALK_EACH {
                if sent < TALK_EACH && sent - order.from(uid) < 16 {
                    client.send_text(&format!("talk {sent}")).await?;
                    sent += 1;
                    continue;
                }
                match client.next_event(REPLY).await {
                    Event::Text(text) => {
                        if let Err(problem) = order.take(&text) {
                            return anyhow::Ok(Some(format!("user {uid} {problem}")));
                        }
                        if !told && uid == "2" && order.from(uid) == TALK_EACH / 2 {
                            told = true;
                            halfway.notify_one();
                        }
                    }
                    event => {
                        return Ok(Some(format!(
                            "user {uid} saw {event} after {} messages",
                            order.received
                        )));
                    }
                }
            }
            Ok(None)
        }
    };
    let leave = async {
        halfway.notified().await;
        leaver.close_politely("bye", REPLY).await
    };
    let both = async { tokio::join!(talker(two, "2"), talker(three, "3")) };
    tokio::pin!(both);
    // If user 2 never gets halfway, the talkers end on their own and the
    // leave never happens; either way the talkers' results decide.
    let (two, three) = tokio::select! {
        results = &mut both => results,
        _answer = leave => both.await,
    };
    let problems: Vec<String> = [two?, three?].into_iter().flatten().collect();
    if problems.is_empty() {
        run.check(Fact::delivered("users 2 and 3", 2 * TALK_EACH), true);
        return Ok(());
    }
    for problem in problems {
        run.figure(problem);
    }
    let fact = run
        .crash_or(Fact::Undelivered {
            who: "users 2 and 3".into(),
        })
        .await?;
    run.check(fact, false);
    Ok(())
}

/// Many clients join at once while user 1 watches: whatever the server says
/// about them must be true and must not flood user 1.
pub async fn join_storm(run: &mut Run) -> Result<()> {
    let mut watcher = run.join("1").await?;
    let url = run.server().ws_url();
    run.step(format!("{STORM_CLIENTS} clients connect at once"));
    let first = 1000;
    let storm: std::collections::BTreeSet<i64> = (first..first + STORM_CLIENTS as i64).collect();
    let mut connecting = JoinSet::new();
    for &uid in &storm {
        let url = url.clone();
        connecting.spawn(async move {
            let mut client = Client::connect(&url, &uid.to_string()).await?;
            // Each newcomer reads everything, so that none of them is slow.
            tokio::spawn(async move {
                while let Event::Text(_) = client.next_event(Duration::from_secs(60)).await {}
            });
            anyhow::Ok(())
        });
    }
    while let Some(done) = connecting.join_next().await {
        done.context("a connecting task panicked")??;
    }
    // A line from user 1 after the storm proves the server still serves it;
    // what user 1 reads on the way, and on the beats after, is what it heard.
    run.step("user 1 reads what it heard of the storm");
    watcher.send_text("after the storm").await?;
    let mut notices = Vec::new();
    let echoed = loop {
        match watcher.next_event(REPLY).await {
            Event::Text(text) if text == "[UID: 1]: after the storm" => break true,
            Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
            Event::Text(_) => {}
            event => {
                run.figure(format!("user 1 saw {event} instead of its echo"));
                break false;
            }
        }
    };
    if !echoed {
        let fact = run.crash_or(Fact::OthersUnserved).await?;
        run.check(fact, false);
        return Ok(());
    }
    run.check(Fact::OthersChat { users: 1 }, true);
    // Joins still gathered are announced on the next beat, within 2 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match watcher.next_event(left).await {
            Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
            Event::Text(_) => {}
            _ => break,
        }
    }
    let announced = announced_joins(&notices, &storm);
    run.figure(format!(
        "user 1 heard of the storm in {} notices: {}",
        notices.len(),
        notices.join(" / ")
    ));
    let true_and_few =
        announced.is_some_and(|n| n <= storm.len()) && notices.len() <= STORM_NOTICES;
    let fact = if true_and_few {
        Fact::PresenceTrue {
            at_most: STORM_NOTICES,
        }
    } else {
        Fact::PresenceNoisy {
            at_most: STORM_NOTICES,
        }
    };
    run.check(fact, true_and_few);
    Ok(())
}

/// How many joins the notices announce, if every one of them is a true
/// "joined" notice about users of `storm`: `user 7 joined`, `users 3, 7 and
/// 9 joined`, or `120 users joined`. `None` for anything else.
fn announced_joins(notices: &[String], storm: &std::collections::BTreeSet<i64>) -> Option<usize> {
    let mut total = 0;
    for notice in notices {
        let who = notice.strip_prefix("[server]: ")?.strip_suffix(" joined")?;
        if let Some(count) = who.strip_suffix(" users") {
            total += count.parse::<usize>().ok()?;
            continue;
        }
        let names = who
            .strip_prefix("users ")
            .or_else(|| who.strip_prefix("user "))?;
        for name in names
            .split([',', ' '])
            .filter(|n| !n.is_empty() && *n != "and")
        {
            if !storm.contains(&name.parse::<i64>().ok()?) {
                return None;
            }
            total += 1;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::{InOrder, announced_joins};

    #[test]
    fn join_notices_are_counted_and_checked() {
        let storm = (1000..1300).collect();
        let notices = |texts: &[&str]| texts.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(
            announced_joins(
                &notices(&[
                    "[server]: user 1000 joined",
                    "[server]: users 1001, 1002 and 1003 joined",
                    "[server]: 296 users joined"
                ]),
                &storm
            ),
            Some(300)
        );
        assert_eq!(
            announced_joins(&notices(&["[server]: user 7 joined"]), &storm),
            None
        );
        assert_eq!(
            announced_joins(&notices(&["[server]: user 1000 left"]), &storm),
            None
        );
        assert_eq!(announced_joins(&[], &storm), Some(0));
    }

    #[test]
    fn in_order_counts_per_sender_and_spots_gaps() {
        let mut order = InOrder::new("talk ");
        assert_eq!(order.take("[UID: 2]: talk 0 xx"), Ok(true));
        assert_eq!(order.take("[UID: 3]: talk 0"), Ok(true));
        assert_eq!(order.take("[server]: user 1 left"), Ok(false));
        assert_eq!(order.take("[UID: 2]: 2 joined"), Ok(false));
        assert_eq!(order.take("[UID: 2]: talk 1"), Ok(true));
        assert_eq!(order.from("2"), 2);
        assert!(order.take("[UID: 3]: talk 2").is_err());
        assert_eq!(order.received, 3);
    }
}
