//! Several servers, one chat: the cluster scenarios. Each starts its own
//! `redis-server` on a free loopback port and two or three nodes of the
//! checkpoint with `REDIS_URL` pointing at it, then acts as users of
//! different nodes would. A checkpoint that does not read `REDIS_URL` has no
//! cluster to test: the scenario does not apply to it.

use super::{REPLY, Run};
use crate::client::{Client, Event};
use crate::proxy::{Direction, FaultProxy};
use crate::redis::RedisServer;
use crate::server::Server;
use anyhow::{Context, Result, anyhow, bail};
use scenarios::params::*;
use scenarios::{Fact, Scenario, Seen, Shape, Verdict, close};
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

/// The Redis server and the nodes after the first (which is [`Run::server`]),
/// and the proxy node 1 reaches Redis through, if the scenario has one.
pub(super) struct Nodes {
    redis: RedisServer,
    others: Vec<Server>,
    proxy: Option<FaultProxy>,
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

/// What a cluster scenario starts with: the run, with node 1 as its
/// server, and the rest of the cluster; or, when node 1 ignores
/// `REDIS_URL`, the outcome at once: the scenario does not apply.
pub(super) enum Prepared {
    Ready(Box<(Run, Option<Nodes>)>),
    NotApplicable(super::Outcome),
}

/// Starts what the scenario's setup asks for: Redis (perhaps with a fault
/// proxy in front of it for node 1) and the nodes, or a node whose Redis
/// does not answer.
pub(super) async fn prepare(
    scenario: Scenario,
    binary: &Path,
    step: Arc<Mutex<String>>,
) -> Result<Prepared> {
    let set_step = |what: &str| super::set_step(&step, what);
    let Shape::Cluster {
        nodes,
        redis,
        proxied,
    } = scenario.setup().shape
    else {
        bail!("{} is not a cluster scenario", scenario.id());
    };
    if !redis {
        // Node 1 alone, pointed at a port where no Redis listens.
        let url = format!("redis://127.0.0.1:{}/", crate::server::free_port()?);
        set_step(&format!("starting a node with REDIS_URL={url}"));
        let node = Server::spawn_with(binary, &[("REDIS_URL", &url)])?;
        return Ok(Prepared::Ready(Box::new((Run::new(node, step), None))));
    }
    set_step("starting redis-server");
    let redis = RedisServer::start().await?;
    let url = redis.url();
    let proxy = match proxied {
        true => Some(FaultProxy::start(redis.addr()).await?),
        false => None,
    };
    let first_url = proxy
        .as_ref()
        .map(|proxy| format!("redis://{}/", proxy.addr()));
    let mut env = scenario.setup().env();
    env.push(("REDIS_URL", first_url.as_deref().unwrap_or(&url)));
    set_step("starting node 1");
    let first = Server::start_with(binary, &env).await?;
    if !joined_a_cluster(&first).await {
        return Ok(Prepared::NotApplicable(super::Outcome {
            verdict: Verdict::NotApplicable,
            facts: Vec::new(),
            figures: vec!["the server ignores REDIS_URL: one process holds the chat".to_string()],
        }));
    }
    env.pop();
    env.push(("REDIS_URL", url.as_str()));
    let mut others = Vec::new();
    for n in 2..=nodes {
        set_step(&format!("starting node {n}"));
        others.push(Server::start_with(binary, &env).await?);
    }
    let nodes = Nodes {
        redis,
        others,
        proxy,
    };
    Ok(Prepared::Ready(Box::new((
        Run::new(first, step),
        Some(nodes),
    ))))
}

/// When something went wrong, what each node logged helps find out why.
pub(super) fn add_logs(run: &mut Run, nodes: &Nodes) {
    let first = run.server().stderr_text();
    let logs = std::iter::once(first).chain(nodes.others.iter().map(Server::stderr_text));
    for (n, log) in logs.enumerate() {
        let own: Vec<&str> = log.lines().filter(|l| !l.contains(" actix")).collect();
        run.figure(format!("node {} logged:\n{}", n + 1, own.join("\n")));
    }
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
pub(super) async fn broadcast(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
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

pub(super) async fn presence(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
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

pub(super) async fn same_uid(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
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
    let ok = matches!(
        &closed,
        Seen::Close {
            code: close::POLICY,
            ..
        }
    );
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

pub(super) async fn node_killed(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
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
pub(super) async fn rolling_restart(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
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
    let ok = matches!(
        &closed,
        Seen::Close {
            code: close::GOING_AWAY,
            ..
        }
    );
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

pub(super) async fn redis_restart(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
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
    run.step("user 2 reads until its node is in touch again");
    // The notices are facts. A line of the outage may come late, or never:
    // node 1 publishes it when its link is back, and pub/sub keeps nothing
    // for a node that has not subscribed again by then. That is a figure.
    let mut seen_by_two = Vec::new();
    loop {
        match two.next_event(resume).await {
            Event::Text(text) if text.starts_with("[server]: ") => {
                let back = text.starts_with(LINK_BACK);
                seen_by_two.push(Seen::Text(text.into()));
                if back {
                    break;
                }
            }
            Event::Text(text) => run.figure(format!("user 2 got {text:?} after the outage")),
            event => {
                seen_by_two.push(event.seen());
                break;
            }
        }
    }
    run.step("user 1 sends after the outage; user 2 waits for it");
    one.send_text("after the outage").await?;
    let after = "[UID: 1]: after the outage";
    seen_by_two.push(match two.wait_for_text(after, REPLY).await {
        Ok(()) => Seen::Text(after.into()),
        Err(event) => event.seen(),
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

/// Redis goes away; uid 7 connects to node 1, then to node 2; Redis comes
/// back. Both claims were made while no node could hear the other's.
pub(super) async fn outage_same_uid(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut two = run.join_at(&url_1, "2").await?;
    run.step("Redis is killed");
    nodes.redis.kill().await?;
    let _ = full_notice(&mut two, LINK_LOST, REPLY).await;
    run.step("uid 7 connects to node 1, then to node 2");
    let mut older = run.join_at(&url_1, "7").await?;
    let mut newer = run.join_at(&url_2, "7").await?;
    run.step("Redis starts again");
    nodes.redis.start_again().await?;
    let resume = Duration::from_secs(RESUME_SECS);
    run.step("the older connection waits to be closed");
    let closed = older.next_non_text(resume).await.seen();
    let ok = matches!(
        &closed,
        Seen::Close {
            code: close::POLICY,
            ..
        }
    );
    run.saw("the older connection of uid 7, on node 1", closed, ok);
    run.step("the newer connection chats across nodes");
    // Its line reaches node 1 once node 2's link is back: sent until then.
    let line = "[UID: 7]: the newer connection";
    let started = tokio::time::Instant::now();
    let seen = loop {
        newer.send_text("the newer connection").await?;
        match two.wait_for_text(line, Duration::from_millis(500)).await {
            Ok(()) => break Seen::Text(line.into()),
            Err(Event::Silent) if started.elapsed() < resume => continue,
            Err(event) => break event.seen(),
        }
    };
    let ok = seen == Seen::Text(line.into());
    run.saw("user 2 on node 1", seen, ok);
    Ok(())
}

/// Node 1's subscription hears nothing: the proxy drops what Redis sends
/// on it (node 1 opens it first), and the socket stays open.
pub(super) async fn deaf_subscription(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    let _ = next_notice_about(&mut two, "joined", SETTLE).await;
    run.step("node 1's subscription goes deaf");
    let proxy = nodes.proxy.as_ref().context("node 1 has no proxy")?;
    proxy.connection(0).drop_bytes(Direction::ToClient);
    let resume = Duration::from_secs(RESUME_SECS);
    // User 2 reads on meanwhile, answering pings, and hears what it hears.
    let listener = super::Listener::start(two);
    run.step("user 1 waits to be told, twice");
    for notice in [LINK_LOST, LINK_BACK] {
        let seen = full_notice(&mut one, notice, resume).await;
        let ok = matches!(&seen, Seen::Text(text) if text.starts_with(notice));
        if !run.saw("user 1 on node 1", seen, ok) {
            let _ = listener.stop().await?;
            return Ok(());
        }
    }
    let (mut two, heard) = listener.stop().await?;
    let news: Vec<&String> = heard
        .texts
        .iter()
        .filter(|text| text.starts_with("[server]: ") && text.contains("user 1 "))
        .collect();
    let seen = news
        .first()
        .map_or(Seen::Nothing, |text| Seen::Text(text.to_string().into()));
    let ok = seen == Seen::Nothing;
    run.saw("user 2, listening for news of user 1", seen, ok);
    run.step("user 2's next line reaches user 1");
    two.send_text("heard again").await?;
    expect_text(
        run,
        "user 1 on node 1",
        &mut one,
        "[UID: 2]: heard again",
        REPLY,
    )
    .await;
    Ok(())
}

/// Redis stalls for less than a second while a user sends at a person's pace.
pub(super) async fn redis_stall(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    let listener = super::Listener::start(two);
    run.step("user 1 sends a line every 100 ms; Redis stalls in the middle");
    let mut notices = Vec::new();
    // Redis stalls in the middle, while user 1 goes on sending.
    let pid = nodes.redis.pid()?;
    let stall = async move {
        tokio::time::sleep(Duration::from_millis(100 * STALL_LINES as u64 / 3)).await;
        crate::platform::pause(pid)?;
        tokio::time::sleep(Duration::from_millis(REDIS_STALL_MS)).await;
        crate::platform::resume(pid)
    };
    let send = async {
        let mut next = tokio::time::Instant::now();
        for n in 0..STALL_LINES {
            one.send_text(&format!("steady {n}")).await?;
            next += Duration::from_millis(100);
            loop {
                let left = next.saturating_duration_since(tokio::time::Instant::now());
                match one.next_event(left).await {
                    Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
                    Event::Text(_) => {}
                    _ => break,
                }
            }
        }
        anyhow::Ok(())
    };
    let (stalled, sent) = tokio::join!(stall, send);
    stalled?;
    sent?;
    run.step("user 2 gets the last of them");
    let (mut two, mut heard) = listener.stop().await?;
    let last = format!("[UID: 1]: steady {}", STALL_LINES - 1);
    while heard.ended.is_none() && !heard.texts.contains(&last) {
        match two.next_event(REPLY).await {
            Event::Text(text) => heard.texts.push(text),
            event => heard.ended = Some(event),
        }
    }
    let lines: Vec<&String> = heard
        .texts
        .iter()
        .filter(|text| text.starts_with("[UID: 1]: steady "))
        .collect();
    let in_order = lines
        .iter()
        .enumerate()
        .all(|(n, text)| **text == format!("[UID: 1]: steady {n}"));
    let who = "user 2 on node 2";
    if in_order && lines.len() == STALL_LINES {
        run.check(Fact::delivered(who, STALL_LINES), true);
    } else {
        run.figure(format!("user 2 got {} of {STALL_LINES} lines", lines.len()));
        run.check(Fact::Undelivered { who: who.into() }, false);
    }
    notices.extend(
        heard
            .texts
            .into_iter()
            .filter(|t| t.starts_with("[server]: ")),
    );
    // Who joined is no news of the link; anything else would be.
    notices.retain(|text| !text.ends_with(" joined"));
    let seen = notices
        .first()
        .map_or(Seen::Nothing, |text| Seen::Text(text.clone().into()));
    let ok = seen == Seen::Nothing;
    run.saw("users 1 and 2, listening for notices", seen, ok);
    Ok(())
}

/// Redis takes connections and subscriptions but refuses PUBLISH: a link
/// that connects and fails at once, over and over.
pub(super) async fn publish_refused(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    let _ = next_notice_about(&mut two, "joined", SETTLE).await;
    run.step("Redis refuses PUBLISH");
    nodes
        .redis
        .command(&["ACL", "SETUSER", "default", "-publish"])
        .await?;
    let two_listens = super::Listener::start(two);
    let mut notices = Vec::new();
    let refused_until = tokio::time::Instant::now() + Duration::from_secs(REFUSED_SECS);
    loop {
        let left = refused_until.saturating_duration_since(tokio::time::Instant::now());
        match one.next_event(left).await {
            Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
            Event::Text(_) => {}
            _ => break,
        }
    }
    run.step("PUBLISH works again");
    nodes
        .redis
        .command(&["ACL", "SETUSER", "default", "+publish"])
        .await?;
    let back_until = tokio::time::Instant::now() + Duration::from_secs(RESUME_SECS);
    while !notices.iter().any(|text| text.starts_with(LINK_BACK)) {
        let left = back_until.saturating_duration_since(tokio::time::Instant::now());
        match one.next_event(left).await {
            Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
            Event::Text(_) => {}
            _ => break,
        }
    }
    run.figure(format!(
        "user 1 was told {} things: {notices:?}",
        notices.len()
    ));
    // Each notice is a fact: told once that contact was lost, once that it
    // is back, and nothing more.
    for notice in &notices {
        let ok = match notices.iter().position(|n| n == notice) {
            Some(0) => notice.starts_with(LINK_LOST),
            Some(1) => notice.starts_with(LINK_BACK),
            _ => false,
        };
        run.saw("user 1 on node 1", Seen::Text(notice.clone().into()), ok);
    }
    if notices.len() < 2 {
        run.saw("user 1 on node 1", Seen::Nothing, false);
        let _ = two_listens.stop().await?;
        return Ok(());
    }
    let (mut two, heard) = two_listens.stop().await?;
    // Node 2's link came back on its own schedule: a line published before
    // it subscribed again would be lost, as the notices say.
    run.step("user 2 waits to be told that its node is in contact again");
    if !heard.texts.iter().any(|text| text.starts_with(LINK_BACK)) {
        let _ = full_notice(&mut two, LINK_BACK, Duration::from_secs(RESUME_SECS)).await;
    }
    run.step("user 1's next line reaches user 2");
    one.send_text("publishing again").await?;
    expect_text(
        run,
        "user 2 on node 2",
        &mut two,
        "[UID: 1]: publishing again",
        REPLY,
    )
    .await;
    Ok(())
}

/// Node 1 is paused for a few seconds; node 2 and its user live on.
pub(super) async fn node_paused(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    let listener = super::Listener::start(two);
    run.step("node 1 is paused, then resumed");
    run.server().pause()?;
    tokio::time::sleep(Duration::from_secs(NODE_PAUSE_SECS)).await;
    run.server().resume()?;
    run.step("user 1 listens for news of user 2");
    // The one wait without an event to end it: nothing must come, for
    // longer than node 1 would take to bury a node it has not heard.
    let news = next_notice_about(&mut one, "user 2 ", Duration::from_secs(NODE_GONE_SECS)).await;
    let ok = news == Seen::Nothing;
    run.saw("user 1, listening for news of user 2", news, ok);
    let (mut two, _) = listener.stop().await?;
    run.step("user 2's next line reaches user 1");
    two.send_text("after the pause").await?;
    expect_text(
        run,
        "user 1 on node 1",
        &mut one,
        "[UID: 2]: after the pause",
        REPLY,
    )
    .await;
    Ok(())
}

/// Node 1's link to Redis is slow: every chunk it sends waits.
pub(super) async fn slow_link(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    run.step("node 1's bytes to Redis are delayed");
    let proxy = nodes.proxy.as_ref().context("node 1 has no proxy")?;
    proxy.delay(Direction::ToUpstream, Duration::from_millis(LINK_DELAY_MS));
    run.step(format!("user 1 sends {SLOW_LINK_LINES} lines at once"));
    let started = tokio::time::Instant::now();
    for n in 0..SLOW_LINK_LINES {
        one.send_text(&format!("slow {n}")).await?;
    }
    let got = read_lines(
        &mut two,
        "]: slow ",
        SLOW_LINK_LINES,
        Duration::from_secs(20),
    )
    .await;
    let took = started.elapsed();
    run.figure(format!(
        "user 2 had {} lines {} ms after the first was sent",
        got.len(),
        took.as_millis()
    ));
    let in_order = got
        .iter()
        .enumerate()
        .all(|(n, text)| *text == format!("[UID: 1]: slow {n}"));
    let who = "user 2 on node 2";
    if !(in_order && got.len() == SLOW_LINK_LINES) {
        run.check(Fact::Undelivered { who: who.into() }, false);
        return Ok(());
    }
    run.check(Fact::delivered(who, SLOW_LINK_LINES), true);
    let prompt = took <= Duration::from_secs(SLOW_LINK_SECS);
    let fact = match prompt {
        true => Fact::ArrivedWithin {
            secs: SLOW_LINK_SECS,
        },
        false => Fact::ArrivedLate {
            secs: SLOW_LINK_SECS,
        },
    };
    run.check(fact, prompt);
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
pub(super) async fn redis_unreachable(run: &mut Run) -> Result<()> {
    run.step("waiting for a node whose Redis does not answer to exit");
    let within = Duration::from_secs(REPLY_SECS);
    let Some(status) = run.server().wait_exit(within).await? else {
        if run.server().is_healthy(REPLY).await {
            run.not_applicable("the server ignores REDIS_URL and serves alone");
            return Ok(());
        }
        run.check(Fact::StillRunning { secs: REPLY_SECS }, false);
        return Ok(());
    };
    let code = status.code().unwrap_or(-1);
    let log = run.server().stderr_text();
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
        return Ok(());
    };
    // The address and the Redis client's error follow, in parentheses:
    // a figure, since the port and the wording of the error vary.
    let text = line.split(" (").next().unwrap_or(&line).to_string();
    run.figure(format!("the whole line: {line}"));
    run.check(Fact::Logged { text: text.into() }, true);
    Ok(())
}
