//! Several servers, one chat: the cluster scenarios. Each starts its own
//! `redis-server` on a free loopback port and two or three nodes of the
//! checkpoint with `REDIS_URL` pointing at it, then acts as users of
//! different nodes would. A checkpoint that does not read `REDIS_URL` has no
//! cluster to test: the scenario does not apply to it.
//!
//! This module starts the cluster ([`prepare`]) and holds the reading steps
//! the scenarios share. The scenarios are grouped by what goes wrong:
//! nothing (`chat.rs`), a node (`node_faults.rs`), or Redis and the link to
//! it (`link_faults.rs`).

mod chat;
mod link_faults;
mod node_faults;

pub(super) use chat::{broadcast, one_token, presence, same_uid};
pub(super) use link_faults::{
    deaf_subscription, missed_claim, outage_same_uid, publish_refused, redis_restart, redis_stall,
    redis_unreachable, slow_link,
};
pub(super) use node_faults::{node_killed, node_paused, rolling_restart};

use super::Run;
use crate::client::{Client, Event};
use crate::proxy::FaultProxy;
use crate::redis::RedisServer;
use crate::server::Server;
use anyhow::{Result, anyhow, bail};
use scenarios::{Scenario, Seen, Shape, Verdict};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a node logs when it joins a cluster; a checkpoint that never logs
/// it ignores `REDIS_URL`.
const CLUSTER_MARKER: &str = "over pub/sub";
/// What every checkpoint's web server logs once it listens (actix-server):
/// by then, a cluster marker would have been logged.
const LISTENING: &str = "starting service:";
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
    let deadline = tokio::time::Instant::now() + super::REPLY;
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
