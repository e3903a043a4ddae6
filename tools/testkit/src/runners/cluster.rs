//! Several servers, one chat: the cluster scenarios. Each starts its own
//! `redis-server` on a free loopback port and two or three nodes of the
//! checkpoint with `REDIS_URL` pointing at it, then acts as users of
//! different nodes would. A checkpoint that does not read `REDIS_URL` has no
//! cluster to test: the scenario does not apply to it.

use super::{REPLY, Run};
use crate::client::{Client, Event};
use crate::redis::RedisServer;
use crate::server::Server;
use anyhow::{Context, Result, anyhow, bail};
use scenarios::params::{CLUSTER_EACH, NODE_GONE_SECS, REPLY_SECS, RESUME_SECS};
use scenarios::{Fact, Scenario, Seen, Verdict};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a node logs when it joins a cluster; a checkpoint that never logs
/// it ignores `REDIS_URL`.
const CLUSTER_MARKER: &str = "over pub/sub";
/// What every checkpoint's web server logs once it listens (actix-server):
/// by then, a cluster marker would have been logged.
const LISTENING: &str = "starting service:";
/// The notices part 5 sends when Redis goes away and comes back.
const LINK_LOST: &str = "[server]: lost contact with the other nodes";
const LINK_BACK: &str = "[server]: in contact with the other nodes again";
/// How long user 2 listens for news of user 1 in `cluster-same-uid`: longer
/// than part 4's presence beat (half a second), so a notice would be sent.
const NEWS_WAIT: Duration = Duration::from_secs(2);
/// How long a user waits for the notice of a join before going on: three
/// presence beats. The notice may also have come before the user's own
/// echo, and been skipped by the join; then the wait ends empty. Kept
/// short, since a client that is not read does not answer pings either.
const SETTLE: Duration = Duration::from_millis(1500);

/// The Redis server and the nodes after the first (which is [`Run::server`]).
struct Nodes {
    redis: RedisServer,
    others: Vec<Server>,
}

impl Nodes {
    /// The WebSocket URL of node `n` (1 is the run's own server).
    fn url(&self, run: &mut Run, n: usize) -> Result<String> {
        if n == 1 {
            return Ok(run.server().ws_url());
        }
        self.others
            .get(n - 2)
            .map(Server::ws_url)
            .ok_or_else(|| anyhow!("there is no node {n}"))
    }
}

/// Starts Redis and the nodes a cluster scenario needs, then acts it out.
pub(super) async fn act(
    scenario: Scenario,
    binary: &Path,
    step: Arc<Mutex<String>>,
) -> Result<super::Outcome> {
    let set_step = |what: &str| {
        if let Ok(mut step) = step.lock() {
            *step = what.to_string();
        }
    };
    if scenario == Scenario::ClusterRedisUnreachable {
        return redis_unreachable(binary, step).await;
    }
    set_step("starting redis-server");
    let redis = RedisServer::start().await?;
    let url = redis.url();
    let mut env = vec![("REDIS_URL", url.as_str())];
    // Lines sent at once, faster than a person types (the title says so).
    if scenario == Scenario::ClusterBroadcast {
        env.push(("RATE_LIMIT_PER_SEC", "0"));
    }
    set_step("starting node 1");
    let first = Server::start_with(binary, &env).await?;
    if !joined_a_cluster(&first).await {
        return Ok(super::Outcome {
            verdict: Verdict::NotApplicable,
            facts: Vec::new(),
            figures: vec!["the server ignores REDIS_URL: one process holds the chat".to_string()],
        });
    }
    let count = match scenario {
        Scenario::ClusterBroadcast
        | Scenario::ClusterNodeKilled
        | Scenario::ClusterRollingRestart => 3,
        _ => 2,
    };
    let mut others = Vec::new();
    for n in 2..=count {
        set_step(&format!("starting node {n}"));
        others.push(Server::start_with(binary, &env).await?);
    }
    let mut nodes = Nodes { redis, others };
    let mut run = Run::new(first, step);
    match scenario {
        Scenario::ClusterBroadcast => broadcast(&mut run, &mut nodes).await,
        Scenario::ClusterPresence => presence(&mut run, &mut nodes).await,
        Scenario::ClusterSameUid => same_uid(&mut run, &mut nodes).await,
        Scenario::ClusterNodeKilled => node_killed(&mut run, &mut nodes).await,
        Scenario::ClusterRollingRestart => rolling_restart(&mut run, &mut nodes).await,
        Scenario::ClusterRedisRestart => redis_restart(&mut run, &mut nodes).await,
        other => bail!("{} is not a cluster scenario with nodes", other.id()),
    }?;
    // When something went wrong, what each node logged helps find out why.
    if !run.all_ok {
        let first = run.server().stderr_text();
        let logs = std::iter::once(first).chain(nodes.others.iter().map(Server::stderr_text));
        for (n, log) in logs.enumerate() {
            let own: Vec<&str> = log.lines().filter(|l| !l.contains(" actix")).collect();
            run.figure(format!("node {} logged:\n{}", n + 1, own.join("\n")));
        }
    }
    Ok(run.finish())
}

/// Whether the node logged that it joined a cluster, read once its web
/// server listens (so the line cannot be still on its way).
async fn joined_a_cluster(node: &Server) -> bool {
    let deadline = tokio::time::Instant::now() + REPLY;
    loop {
        let log = node.stderr_text();
        if log.contains(CLUSTER_MARKER) {
            return true;
        }
        if log.contains(LISTENING) || tokio::time::Instant::now() > deadline {
            return false;
        }
        // The log is read by a background task: poll it.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Users 1, 2 and 3 on nodes 1, 2 and 3; users 1 and 2 send at once.
async fn broadcast(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let mut users = Vec::new();
    for n in 1..=3 {
        let url = nodes.url(run, n)?;
        users.push(run.join_at(&url, &n.to_string()).await?);
    }
    run.step("users 1 and 2 send their lines");
    let lines = |uid: usize| (0..CLUSTER_EACH).map(move |i| format!("line {i} from {uid}"));
    for (uid, user) in users.iter_mut().enumerate().take(2) {
        for line in lines(uid + 1) {
            user.send_text(&line).await?;
        }
    }
    run.step("every user reads every line");
    let expected: Vec<Vec<String>> = (1..=2)
        .map(|uid| lines(uid).map(|l| format!("[UID: {uid}]: {l}")).collect())
        .collect();
    let started = std::time::Instant::now();
    let mut all_ok = true;
    for (index, user) in users.iter_mut().enumerate() {
        // Only the lines sent now: the echoes of the joins are on the way too.
        let got = read_lines(user, "]: line ", 2 * CLUSTER_EACH, Duration::from_secs(20)).await;
        // Each sender's lines, in the order received, must be exactly the
        // lines it sent: a line missing, repeated or out of order differs.
        for (uid, sent) in expected.iter().enumerate() {
            let prefix = format!("[UID: {}]: line ", uid + 1);
            let from: Vec<&String> = got.iter().filter(|l| l.starts_with(&prefix)).collect();
            if from.len() != sent.len() || from.iter().zip(sent).any(|(a, b)| *a != b) {
                run.figure(format!(
                    "user {} got {} of user {}'s {} lines, or not in order",
                    index + 1,
                    from.len(),
                    uid + 1,
                    sent.len()
                ));
                all_ok = false;
            }
        }
    }
    run.figure(format!(
        "all three users had all {} lines {} ms after the last was sent",
        2 * CLUSTER_EACH,
        started.elapsed().as_millis()
    ));
    let who = "every user on every node";
    if all_ok {
        run.check(Fact::delivered(who, 2 * CLUSTER_EACH), true);
    } else {
        run.check(Fact::Undelivered { who: who.into() }, false);
    }
    Ok(())
}

/// Reads chat lines (`[UID: ...`) until `count`, or until `within` has
/// passed or the connection ends.
async fn read_chat(user: &mut Client, count: usize, within: Duration) -> Vec<String> {
    read_lines(user, "[UID: ", count, within).await
}

/// Reads the texts that hold `part` until `count`, or until `within` has
/// passed or the connection ends; other texts are skipped.
async fn read_lines(user: &mut Client, part: &str, count: usize, within: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < count {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match user.next_event(left).await {
            Event::Text(text) if text.contains(part) => got.push(text),
            Event::Text(_) => {}
            _ => break,
        }
    }
    got
}

/// Reads until a `[server]` notice; the chat lines on the way are skipped.
async fn next_notice(user: &mut Client, within: Duration) -> Seen {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match user.next_event(left).await {
            Event::Text(text) if text.starts_with("[server]: ") => return Seen::Text(text.into()),
            Event::Text(_) => {}
            event => return event.seen(),
        }
    }
}

/// Reads until `expected`, recording it as seen by `who`, or what came instead.
async fn expect_text(
    run: &mut Run,
    who: &str,
    user: &mut Client,
    expected: &str,
    within: Duration,
) -> bool {
    let seen = match user.wait_for_text(expected, within).await {
        Ok(()) => Seen::Text(expected.to_string().into()),
        Err(event) => event.seen(),
    };
    let ok = seen == Seen::Text(expected.to_string().into());
    run.saw(who.to_string(), seen, ok)
}

async fn presence(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let url = nodes.url(run, 1)?;
    let mut one = run.join_at(&url, "1").await?;
    // User 1's own arrival was announced to it before its echo (the room
    // was quiet), so the next notice is about someone else.
    let url = nodes.url(run, 2)?;
    let two = run.join_at(&url, "2").await?;
    run.step("user 1 waits to hear that user 2 joined");
    let joined = next_notice(&mut one, REPLY).await;
    let ok = joined == Seen::text("[server]: user 2 joined");
    run.saw("user 1 on node 1", joined, ok);
    run.step("user 2 leaves; user 1 waits to hear of it");
    two.close_politely("bye", REPLY).await;
    let left = next_notice(&mut one, REPLY).await;
    let ok = left == Seen::text("[server]: user 2 left");
    run.saw("user 1 on node 1", left, ok);
    Ok(())
}

async fn same_uid(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let url_1 = nodes.url(run, 1)?;
    let mut older = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_1, "2").await?;
    // Let the presence notices of those two joins go out before listening.
    run.step("user 2 waits to hear that user 2 joined");
    let _ = two.wait_for_text("[server]: user 2 joined", SETTLE).await;
    run.step("a second connection with uid 1, on node 2, sends");
    let url_2 = nodes.url(run, 2)?;
    let mut newer = Client::connect(&url_2, "1").await?;
    newer.send_text("second connection").await?;
    let line = "[UID: 1]: second connection";
    expect_text(
        run,
        "the newer connection, on node 2",
        &mut newer,
        line,
        REPLY,
    )
    .await;
    run.step("the older connection waits for its close frame");
    let closed = older.next_non_text(REPLY).await.seen();
    let ok = matches!(&closed, Seen::Close { code: 1008, .. });
    run.saw("the older connection, on node 1", closed, ok);
    run.step("user 2 waits for the newer connection's line");
    expect_text(run, "user 2 on node 1", &mut two, line, REPLY).await;
    run.step("user 2 listens for news of user 1");
    // The one wait without an event to end it: nothing must come.
    let news = next_notice(&mut two, NEWS_WAIT).await;
    let ok = news == Seen::Nothing;
    run.saw("user 2, listening for news of user 1", news, ok);
    Ok(())
}

async fn node_killed(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let mut users = Vec::new();
    for n in 1..=3 {
        let url = nodes.url(run, n)?;
        users.push(run.join_at(&url, &n.to_string()).await?);
    }
    let [one, _two, three] = &mut users[..] else {
        bail!("three users were expected");
    };
    // Node 3 heard user 2's claim when it came (it was listening already);
    // user 1 must hear of user 2 before it can hear that user 2 left.
    run.step("user 1 waits to hear that user 2 joined");
    // Any join notice after user 1's own echo names user 2, perhaps with 3.
    let _ = next_notice_about(one, "joined", SETTLE).await;
    run.step("node 2 is killed");
    nodes
        .others
        .first_mut()
        .context("there is no node 2")?
        .kill()
        .await?;
    let killed = std::time::Instant::now();
    let within = Duration::from_secs(NODE_GONE_SECS);
    for (who, user) in [
        ("user 1 on node 1", &mut *one),
        ("user 3 on node 3", &mut *three),
    ] {
        run.step(format!("{who} waits to hear that user 2 left"));
        let left = within.saturating_sub(killed.elapsed());
        let heard = expect_text(run, who, user, "[server]: user 2 left", left).await;
        if heard {
            run.figure(format!(
                "{who} heard it {} ms after the kill",
                killed.elapsed().as_millis()
            ));
        }
    }
    run.step("users 1 and 3 chat across nodes 1 and 3");
    one.send_text("hello 3").await?;
    three.send_text("hello 1").await?;
    let mut all = true;
    for (uid, user) in [("1", &mut *one), ("3", &mut *three)] {
        let got = read_chat(user, 2, REPLY).await;
        let mut sorted = got.clone();
        sorted.sort();
        if sorted != ["[UID: 1]: hello 3", "[UID: 3]: hello 1"] {
            run.figure(format!("user {uid} got {got:?}"));
            all = false;
        }
    }
    let who = "users 1 and 3, each from the other's node";
    if all {
        run.check(Fact::delivered(who, 2), true);
    } else {
        run.check(Fact::Undelivered { who: who.into() }, false);
    }
    Ok(())
}

/// A rolling restart as users live it: a node is stopped, its user moves on.
async fn rolling_restart(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2, url_3) = (nodes.url(run, 1)?, nodes.url(run, 2)?, nodes.url(run, 3)?);
    let mut two = run.join_at(&url_2, "2").await?;
    let mut three = run.join_at(&url_3, "3").await?;
    // User 3 hears of user 2 only if it joined first; either way node 3
    // knows user 2 (it heard the claim), and the notice is out of the way.
    let _ = next_notice_about(&mut three, "joined", SETTLE).await;
    run.step("node 2 gets SIGTERM");
    nodes
        .others
        .first()
        .context("there is no node 2")?
        .terminate()?;
    let closed = two.next_non_text(REPLY).await.seen();
    let ok = matches!(&closed, Seen::Close { code: 1001, .. });
    run.saw("user 2 on node 2", closed, ok);
    run.step("user 2 reconnects to node 1 and chats");
    let mut again = Client::connect(&url_1, "2").await?;
    again.send_text("back, on node 1").await?;
    let line = "[UID: 2]: back, on node 1";
    expect_text(run, "user 3 on node 3", &mut three, line, REPLY).await;
    run.step("user 3 listens for news of user 2 while node 2's silence runs out");
    // Node 2 is buried once its heartbeats have been missing for a while;
    // its user is on node 1 by then, so nobody has left.
    let news = next_notice(&mut three, Duration::from_secs(NODE_GONE_SECS)).await;
    let ok = news == Seen::Nothing;
    run.saw("user 3, listening for news of user 2", news, ok);
    drop(again);
    Ok(())
}

async fn redis_restart(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let url_1 = nodes.url(run, 1)?;
    let url_2 = nodes.url(run, 2)?;
    let mut one = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_2, "2").await?;
    let mut three = run.join_at(&url_1, "3").await?;
    // Each hears of user 3's arrival (with others', perhaps, in one notice)
    // before the outage: no notice of the joins can come after it.
    for (uid, user) in [("1", &mut one), ("2", &mut two), ("3", &mut three)] {
        run.step(format!("user {uid} waits to hear that user 3 joined"));
        if let Seen::Text(text) = next_notice_about(user, "3 joined", SETTLE).await {
            run.figure(format!("before the outage user {uid} heard {text:?}"));
        }
    }
    run.step("Redis is killed");
    nodes.redis.kill().await?;
    run.step("user 1 waits to be told");
    let lost = full_notice(&mut one, LINK_LOST, REPLY).await;
    let ok = matches!(&lost, Seen::Text(text) if text.starts_with(LINK_LOST));
    run.saw("user 1 on node 1", lost, ok);
    run.step("user 1 sends during the outage; user 3 on the same node waits for it");
    one.send_text("during the outage").await?;
    expect_text(
        run,
        "user 3 on node 1",
        &mut three,
        "[UID: 1]: during the outage",
        REPLY,
    )
    .await;
    run.step("Redis starts again");
    nodes.redis.start_again().await?;
    let resume = Duration::from_secs(RESUME_SECS);
    run.step("user 1 waits to be told the nodes are in touch again");
    let back = full_notice(&mut one, LINK_BACK, resume).await;
    if !matches!(&back, Seen::Text(text) if text.starts_with(LINK_BACK)) {
        run.figure(format!(
            "user 1 saw {back} instead of the news that Redis is back"
        ));
    }
    run.step("user 2 reads everything until its node is in touch again");
    // Everything user 2 sees from the outage on is recorded, in order: a
    // line of the outage replayed late would show here.
    let mut seen_by_two = Vec::new();
    loop {
        let event = two.next_event(resume).await;
        let seen = event.seen();
        let done = !matches!(&event, Event::Text(text) if !text.starts_with(LINK_BACK));
        seen_by_two.push(seen);
        if done {
            break;
        }
    }
    run.step("user 1 sends after the outage; user 2 waits for it");
    one.send_text("after the outage").await?;
    let after = "[UID: 1]: after the outage";
    seen_by_two.push(match two.next_event(REPLY).await {
        Event::Text(text) => Seen::Text(text.into()),
        event => event.seen(),
    });
    let expected = [
        Seen::Text(LINK_LOST.into()),
        Seen::Text(LINK_BACK.into()),
        Seen::Text(after.into()),
    ];
    for (index, seen) in seen_by_two.into_iter().enumerate() {
        let ok = match (&seen, expected.get(index)) {
            (Seen::Text(text), Some(Seen::Text(want))) => text.starts_with(want.as_ref()),
            _ => false,
        };
        run.saw("user 2 on node 2", seen, ok);
    }
    Ok(())
}

/// Reads until a `[server]` notice that holds `part`; `Nothing` if none came.
async fn next_notice_about(user: &mut Client, part: &str, within: Duration) -> Seen {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_notice(user, left).await {
            Seen::Text(text) if !text.contains(part) => continue,
            other => return other,
        }
    }
}

/// Reads until a text that starts with `start`, and returns it whole.
async fn full_notice(user: &mut Client, start: &str, within: Duration) -> Seen {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match user.next_event(left).await {
            Event::Text(text) if text.starts_with(start) => return Seen::Text(text.into()),
            Event::Text(_) => {}
            event => return event.seen(),
        }
    }
}

/// A node whose Redis does not answer: it must exit at once and say why.
async fn redis_unreachable(binary: &Path, step: Arc<Mutex<String>>) -> Result<super::Outcome> {
    let port = crate::server::free_port()?;
    let url = format!("redis://127.0.0.1:{port}/");
    if let Ok(mut step) = step.lock() {
        *step = format!("waiting for a node with REDIS_URL={url} to exit");
    }
    let mut node = Server::spawn_with(binary, &[("REDIS_URL", &url)])?;
    let within = Duration::from_secs(REPLY_SECS);
    let Some(status) = node.wait_exit(within).await? else {
        if node.is_healthy(REPLY).await {
            return Ok(super::Outcome {
                verdict: Verdict::NotApplicable,
                facts: Vec::new(),
                figures: vec!["the server ignores REDIS_URL and serves alone".to_string()],
            });
        }
        let mut run = Run::new(node, step);
        run.check(Fact::StillRunning { secs: REPLY_SECS }, false);
        return Ok(run.finish());
    };
    let code = status.code().unwrap_or(-1);
    let log = node.stderr_text();
    let mut run = Run::new(node, step);
    let exited = Fact::Exited {
        secs: REPLY_SECS,
        status: code,
    };
    run.check(exited, code == 1);
    let said = log.lines().find_map(|line| {
        let (_, rest) = line.split_once("REDIS_URL")?;
        Some(format!("REDIS_URL{rest}"))
    });
    let Some(line) = said else {
        run.figure(format!("its log:\n{log}"));
        let text = "nothing about REDIS_URL".into();
        run.check(Fact::Logged { text }, false);
        return Ok(run.finish());
    };
    // The address and the Redis client's error follow, in parentheses:
    // a figure, since the port and the wording of the error vary.
    let text = line.split(" (").next().unwrap_or(&line).to_string();
    run.figure(format!("the whole line: {line}"));
    run.check(Fact::Logged { text: text.into() }, true);
    Ok(run.finish())
}
