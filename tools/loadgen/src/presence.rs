//! `loadgen presence`: one real part 5 node among many nodes that loadgen
//! plays, to measure what the others' presence costs it. Every node
//! publishes a heartbeat each second that lists all its users, so a node
//! hears `nodes - 1` heartbeats a second, each as long as a node's user
//! list; the fake nodes publish exactly that, straight to Redis, while a
//! small chat on the real node measures its echo latency and CPU.

use crate::chat::{Plan, lifted, send, summarise};
use crate::crowd::{self, connect};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use testkit::platform::process_cpu;
use testkit::scenarios::figures as key;
use testkit::{CHANNEL, Client, Event, RedisServer, Server, resp_command};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The first uid of the first fake node's users: far above the readers
/// (from 1), the sender (1,000,000) and the probers (2,000,000), because a
/// fake user with a real user's uid would close that user's connection.
const FIRST_FAKE_UID: i64 = 10_000_000;
/// The uid of the client that counts presence notices.
const OBSERVER_UID: u64 = 3_000_000;
/// Fake node ids: this prefix and the node's index, so they read as fakes
/// in the node's log and cannot meet a real node's random id by chance.
const FAKE_NODE_PREFIX: u64 = 0xfa4e_0000_0000_0000;
/// The longest the warm-up waits for the node to hear every fake user:
/// past it the run measures anyway and says that it had not heard them all.
const HEAR_ALL_WITHIN: Duration = Duration::from_secs(60);
/// How long one write to or answer from Redis may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// What one `presence` run is asked to do.
pub struct PresencePlan {
    /// Nodes in the chat, the real one included.
    pub nodes: usize,
    /// Users on each fake node.
    pub users: usize,
    /// Seconds of measurement.
    pub secs: f64,
    /// The least seconds of fake heartbeats before measuring.
    pub warmup: f64,
    /// Readers on the real node.
    pub readers: usize,
    /// Lines a second from the one sender; 0 sends flat out.
    pub rate: u64,
}

/// Starts Redis and one node of `bin`, plays `plan.nodes - 1` fake nodes
/// beside it, and measures a small chat on the real node once it has heard
/// every fake node's users. Returns the figures as JSON.
pub async fn run(bin: &std::path::Path, plan: &PresencePlan) -> Result<serde_json::Value> {
    if plan.nodes == 0 {
        bail!("--nodes counts the real node, so it is at least 1");
    }
    let fakes = plan.nodes - 1;
    let last_uid = FIRST_FAKE_UID + (fakes * plan.users) as i64;
    if last_uid > i64::from(i32::MAX) {
        bail!(
            "{} nodes of {} users do not fit part 5's uids (i32, from {FIRST_FAKE_UID})",
            plan.nodes,
            plan.users
        );
    }
    let redis = RedisServer::start().await?;
    // Part 4's limits would refuse a benchmark's sender and crowd.
    let mut env: Vec<(&str, String)> = lifted().map(|(k, v)| (k, v.to_string())).collect();
    env.push(("REDIS_URL", redis.url()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let node = Server::start_with(bin, &env).await?;
    let pid = node.pid()?;
    let url = node.ws_url();

    let chat = Plan {
        clients: plan.readers,
        senders: 1,
        rate: plan.rate,
        secs: plan.secs,
        in_flight: 256,
        perf: None,
        nodes: 1,
        nodelay: true,
    };
    let base = Instant::now();
    let members = crowd::members(plan.readers, 1, chat.in_flight, true);
    let (mut crowd, delivered) = crowd::timed(&url, members, base).await?;
    // The prober goes now: it reads nothing, so the node would drop it for
    // unanswered pings in the middle of the measurement.
    drop(
        crowd
            .sync(&url, 2_000_000)
            .await?
            .context("a reader stopped before the probe reached every reader")?,
    );
    let mut sender = connect(&url, "1000000", true).await?;
    // The joins and the prober's departure are announced within part 4's
    // presence interval (500 ms); after a quiet second the observer's own
    // join is the only notice due, so every later one is about fake users.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (observer, present) = Observer::start(&url).await?;

    let (stop, stopped) = watch::channel(false);
    let beats = Arc::new(AtomicU64::new(0));
    let unheard = Arc::new(AtomicU64::new(0));
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    let mut fake_tasks = JoinSet::new();
    for index in 0..fakes {
        let fake = FakeNode {
            id: FAKE_NODE_PREFIX | index as u64,
            first_uid: FIRST_FAKE_UID + (index * plan.users) as i64,
            users: plan.users,
            since,
            // Nodes start at different moments, so their beats are spread
            // over the second rather than all arriving at once.
            phase: Duration::from_secs(1).mul_f64(index as f64 / fakes as f64),
        };
        let (redis, stopped) = (redis.addr(), stopped.clone());
        let (beats, unheard) = (Arc::clone(&beats), Arc::clone(&unheard));
        fake_tasks.spawn(async move { fake.play(redis, stopped, beats, unheard).await });
    }

    // Warm-up: the first heartbeat of each fake node brings its users in at
    // once, which is a join storm, not the steady cost being measured.
    let expected = (fakes * plan.users) as i64;
    let warming = Instant::now();
    let least = Duration::from_secs_f64(plan.warmup);
    let heard_all = loop {
        let heard = present.load(Ordering::Relaxed) >= expected;
        if heard && warming.elapsed() >= least {
            break true;
        }
        if warming.elapsed() >= least.max(HEAR_ALL_WITHIN) {
            break false;
        }
        if let Some(ended) = fake_tasks.try_join_next() {
            ended.context("a fake node panicked")??;
            bail!("a fake node stopped during the warm-up");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The sender reads (and so answers pings) while it waits, or the
        // node would drop it as gone before it sends a line.
        loop {
            match sender.next_event(Duration::ZERO).await {
                Event::Text(_) => {}
                Event::Silent => break,
                other => bail!("the sender's connection ended during the warm-up: {other}"),
            }
        }
    };
    let warmup_secs = warming.elapsed().as_secs_f64();
    let present_at_start = present.load(Ordering::Relaxed);
    if !heard_all {
        eprintln!(
            "presence: after {warmup_secs:.0} s the node had announced {present_at_start} of \
             {expected} fake users; measuring anyway"
        );
    }

    let cpu_before = (process_cpu(pid)?, process_cpu(redis.pid()?)?);
    let started = Instant::now();
    let every = (plan.rate > 0).then(|| Duration::from_secs_f64(1.0 / plan.rate as f64));
    let (sender, sent, sender_ended) = send(sender, every, plan.secs, base).await?;
    let sending = started.elapsed();
    // Deliveries may still be on their way: wait until all arrived, or
    // until two seconds pass without one.
    let delivered = || delivered.load(Ordering::Relaxed);
    let want = sent * plan.readers as u64;
    let mut last = (delivered(), Instant::now());
    while last.0 < want && last.1.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = delivered();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    let elapsed = started.elapsed();
    let node_cpu = process_cpu(pid)?.saturating_sub(cpu_before.0);
    let redis_cpu = process_cpu(redis.pid()?)?.saturating_sub(cpu_before.1);
    let present_at_end = present.load(Ordering::Relaxed);

    let _ = stop.send(true);
    while let Some(ended) = fake_tasks.join_next().await {
        ended.context("a fake node panicked")??;
    }
    let received = crowd.dismiss().await?;
    let observer_ended = observer.stop().await?;
    drop(sender);
    // The node logs each node it buries: "node <id> silent for 3 rounds".
    let buried = node
        .stderr_text()
        .lines()
        .filter(|line| line.contains("silent for"))
        .count();

    let rss = testkit::platform::rss_bytes(pid)?;
    let mut figures = summarise(&chat, &received, sent, sending, elapsed, node_cpu, rss)?;
    figures[key::NODES] = json!(plan.nodes);
    figures[key::USERS] = json!(plan.users);
    figures[key::READERS] = json!(plan.readers);
    figures[key::CPU_SHARE] = json!(node_cpu.as_secs_f64() / elapsed.as_secs_f64());
    figures[key::REDIS_CPU_SHARE] = json!(redis_cpu.as_secs_f64() / elapsed.as_secs_f64());
    figures[key::WARMUP_SECS] = json!(warmup_secs);
    figures[key::HEARD_ALL] = json!(heard_all);
    figures[key::FAKE_USERS] = json!(expected);
    figures[key::PRESENT_AT_START] = json!(present_at_start);
    figures[key::PRESENT_AT_END] = json!(present_at_end);
    figures[key::HEARTBEATS_PUBLISHED] = json!(beats.load(Ordering::Relaxed));
    figures[key::HEARTBEATS_UNHEARD] = json!(unheard.load(Ordering::Relaxed));
    figures[key::BURIED] = json!(buried);
    figures[key::SENDER_ENDED] = json!(sender_ended);
    figures[key::OBSERVER_ENDED] = json!(observer_ended);
    figures[key::MACHINE] = json!(crate::machine());
    Ok(figures)
}

/// A node that loadgen plays: it only publishes its heartbeat.
struct FakeNode {
    id: u64,
    first_uid: i64,
    users: usize,
    /// When its users connected, the same for all and for every beat.
    since: u64,
    /// How long after the start its first heartbeat goes.
    phase: Duration,
}

impl FakeNode {
    /// Publishes a heartbeat every second until `stop`, over a connection of
    /// its own, as a node's publisher is. Counts the heartbeats, and those
    /// that Redis delivered to no subscriber (the real node was not there).
    async fn play(
        self,
        redis: std::net::SocketAddr,
        mut stop: watch::Receiver<bool>,
        beats: Arc<AtomicU64>,
        unheard: Arc<AtomicU64>,
    ) -> Result<()> {
        let stream = TcpStream::connect(redis)
            .await
            .with_context(|| format!("connecting fake node {:x} to Redis", self.id))?;
        let (read, mut write) = stream.into_split();
        let mut answers = BufReader::new(read);
        let users = user_list(self.first_uid, self.users, self.since);
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + self.phase,
            Duration::from_secs(1),
        );
        // A fake node that fell behind beats late, as a busy node would,
        // rather than catching up with a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq = 0;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.changed() => return Ok(()),
            }
            seq += 1;
            let payload = heartbeat(self.id, seq, &users);
            let receivers = publish(&mut write, &mut answers, &payload)
                .await
                .with_context(|| format!("fake node {:x}, heartbeat {seq}", self.id))?;
            beats.fetch_add(1, Ordering::Relaxed);
            if receivers == 0 {
                unheard.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `uid@since,uid@since,...`: the users of a heartbeat, from `first_uid`.
fn user_list(first_uid: i64, users: usize, since: u64) -> String {
    (first_uid..first_uid + users as i64)
        .map(|uid| format!("{uid}@{since}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A heartbeat as part 5's `Envelope::encode` writes one: the node in hex,
/// `heartbeat`, its number, the chat lines it lost (none), then its users.
fn heartbeat(node: u64, seq: u64, users: &str) -> String {
    // Lost 0; version 1: a fake node's list never changes.
    format!("{node:x} heartbeat {seq} 0 1 {users}")
}

/// `PUBLISH CHANNEL payload` in RESP.
fn publish_command(payload: &str) -> Vec<u8> {
    resp_command(&["PUBLISH", CHANNEL, payload])
}

/// Publishes `payload` and returns how many subscribers Redis delivered it
/// to (its integer answer, `:<n>`).
async fn publish(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    answers: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    payload: &str,
) -> Result<u64> {
    tokio::time::timeout(REDIS_TIMEOUT, write.write_all(&publish_command(payload)))
        .await
        .context("Redis took no PUBLISH within 5 s")?
        .context("writing PUBLISH to Redis")?;
    let mut answer = String::new();
    tokio::time::timeout(REDIS_TIMEOUT, answers.read_line(&mut answer))
        .await
        .context("Redis did not answer PUBLISH within 5 s")?
        .context("reading Redis's answer to PUBLISH")?;
    let answer = answer.trim_end();
    answer
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("Redis answered PUBLISH with {answer:?}"))
}

/// A client of the real node that counts the users its presence notices
/// say joined, less those they say left: how many fake users the node has
/// heard of and announced.
struct Observer {
    task: tokio::task::JoinHandle<Result<Option<String>>>,
    stop: watch::Sender<bool>,
}

impl Observer {
    /// Connects, waits for the notice of its own join, then counts every
    /// later notice in the background.
    async fn start(url: &str) -> Result<(Observer, Arc<AtomicI64>)> {
        let mut client = Client::connect(url, &OBSERVER_UID.to_string()).await?;
        let own = format!("[server]: user {OBSERVER_UID} joined");
        client
            .wait_for_text(&own, Duration::from_secs(5))
            .await
            .map_err(|event| anyhow::anyhow!("the observer saw {event} instead of {own:?}"))?;
        let present = Arc::new(AtomicI64::new(0));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(observe(client, Arc::clone(&present), stopped));
        Ok((Observer { task, stop }, present))
    }

    /// Stops counting; returns how the connection ended, if it did early.
    async fn stop(self) -> Result<Option<String>> {
        let _ = self.stop.send(true);
        self.task.await.context("the observer panicked")?
    }
}

/// Reads until told to stop, adding up presence notices into `present`.
async fn observe(
    mut client: Client,
    present: Arc<AtomicI64>,
    mut stop: watch::Receiver<bool>,
) -> Result<Option<String>> {
    loop {
        let event = tokio::select! {
            event = client.next_event(Duration::from_secs(3600)) => event,
            _ = stop.changed() => return Ok(None),
        };
        match event {
            Event::Text(text) => {
                if let Some(change) = presence_change(&text) {
                    present.fetch_add(change, Ordering::Relaxed);
                }
            }
            other => return Ok(Some(other.to_string())),
        }
    }
}

/// How many users a presence notice says joined (positive) or left
/// (negative): part 4's `[server]: user 7 joined`, `[server]: users 3, 7
/// and 9 left`, `[server]: 120 users joined`. `None` for other lines.
fn presence_change(line: &str) -> Option<i64> {
    let body = line.strip_prefix("[server]: ")?;
    let (who, sign) = if let Some(who) = body.strip_suffix(" joined") {
        (who, 1)
    } else {
        (body.strip_suffix(" left")?, -1)
    };
    let count = if let Some(one) = who.strip_prefix("user ") {
        one.parse::<i64>().ok().map(|_| 1)?
    } else if let Some(names) = who.strip_prefix("users ") {
        let (rest, last) = names.rsplit_once(" and ")?;
        last.parse::<i64>().ok()?;
        1 + rest.split(", ").count() as i64
    } else {
        who.strip_suffix(" users")?.parse().ok()?
    };
    Some(sign * count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_is_what_part5_publishes() {
        let users = user_list(10_000_000, 3, 1_700_000_000_000);
        assert_eq!(
            heartbeat(FAKE_NODE_PREFIX | 2, 7, &users),
            "fa4e000000000002 heartbeat 7 0 1 \
             10000000@1700000000000,10000001@1700000000000,10000002@1700000000000"
        );
        assert_eq!(user_list(5, 0, 1), "");
    }

    #[test]
    fn publish_is_an_array_of_bulk_strings() {
        let command = publish_command("a b");
        assert_eq!(
            String::from_utf8_lossy(&command),
            "*3\r\n$7\r\nPUBLISH\r\n$28\r\nrust-websocket-tutorial:chat\r\n$3\r\na b\r\n"
        );
    }

    #[test]
    fn presence_notices_are_counted() {
        assert_eq!(presence_change("[server]: user 7 joined"), Some(1));
        assert_eq!(presence_change("[server]: users 3 and 9 left"), Some(-2));
        assert_eq!(
            presence_change("[server]: users 3, 7 and 9 joined"),
            Some(3)
        );
        assert_eq!(
            presence_change("[server]: 10000 users joined"),
            Some(10_000)
        );
        assert_eq!(presence_change("[server]: 120 users left"), Some(-120));
        assert_eq!(presence_change("[UID: 4]: user 7 joined"), None);
        assert_eq!(presence_change("[server]: lost contact"), None);
    }
}
