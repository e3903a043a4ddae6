//! `loadgen chat`: clients receiving what senders send at a fixed rate or
//! flat out, with the latency of every delivery and the server's cost.

use crate::crowd::{self, Received, connect, latency_histogram, timed_line};
use anyhow::{Context, Result};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use testkit::platform::{process_cpu, rss_bytes};
use testkit::scenarios::figures::{self as key, client_kind};
use testkit::{Client, Event, RedisServer, Server};

/// What one `chat` run is asked to do.
pub struct Plan {
    /// Clients that only read.
    pub clients: usize,
    /// Clients that also send.
    pub senders: usize,
    /// Lines a second across all senders; 0 sends flat out.
    pub rate: u64,
    /// How long the senders send.
    pub secs: f64,
    /// Handshakes in flight at once.
    pub in_flight: usize,
    /// Where to record a `perf` CPU profile of the server while it sends.
    pub perf: Option<std::path::PathBuf>,
    /// Processes of the server forming one chat over a private Redis
    /// (part 5); 1 runs the server alone, without Redis.
    pub nodes: usize,
    /// Whether every client sets TCP_NODELAY (as browsers do) or leaves
    /// Nagle's algorithm on (as most other clients do).
    pub nodelay: bool,
}

/// The servers of a run: one alone, or several nodes and their Redis.
struct Fleet {
    redis: Option<RedisServer>,
    nodes: Vec<Server>,
}

impl Fleet {
    async fn start(bin: &std::path::Path, nodes: usize) -> Result<Fleet> {
        // Part 4's limits would refuse a benchmark's senders and crowds.
        let mut env: Vec<(&str, String)> = lifted().map(|(k, v)| (k, v.to_string())).collect();
        let redis = if nodes > 1 {
            let redis = RedisServer::start().await?;
            env.push(("REDIS_URL", redis.url()));
            Some(redis)
        } else {
            None
        };
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut started = Vec::new();
        for _ in 0..nodes.max(1) {
            started.push(Server::start_with(bin, &env).await?);
        }
        Ok(Fleet {
            redis,
            nodes: started,
        })
    }

    /// CPU time of every node, and of Redis, so far.
    fn cpu(&self) -> Result<(Duration, Duration)> {
        let mut nodes = Duration::ZERO;
        for node in &self.nodes {
            nodes += process_cpu(node.pid()?)?;
        }
        let redis = match &self.redis {
            Some(redis) => process_cpu(redis.pid()?)?,
            None => Duration::ZERO,
        };
        Ok((nodes, redis))
    }

    /// Resident memory of every node together.
    fn rss(&self) -> Result<u64> {
        self.nodes
            .iter()
            .map(|node| rss_bytes(node.pid()?))
            .sum::<Result<u64>>()
    }
}

/// Starts `bin`, runs `plan` against it and returns the result as JSON.
pub async fn run(bin: &std::path::Path, plan: &Plan) -> Result<serde_json::Value> {
    let fleet = Fleet::start(bin, plan.nodes).await?;
    let pid = fleet.nodes[0].pid()?;
    let urls: Vec<String> = fleet.nodes.iter().map(Server::ws_url).collect();
    let base = Instant::now();
    // The readers are shared out among the nodes, each node's a crowd.
    let mut crowds = Vec::new();
    let mut delivered = Vec::new();
    let mut first_uid = 1;
    for (index, url) in urls.iter().enumerate() {
        let size = plan.clients / urls.len() + usize::from(index < plan.clients % urls.len());
        let members = crowd::members(size, first_uid, plan.in_flight, plan.nodelay);
        let (crowd, count) = crowd::timed(url, members, base).await?;
        crowds.push(crowd);
        delivered.push(count);
        first_uid += size as u64;
    }
    let mut probers = Vec::new();
    for (index, (crowd, url)) in crowds.iter_mut().zip(&urls).enumerate() {
        let prober = crowd.sync(url, 2_000_000 + index as u64).await?;
        probers.push(prober.context("a client stopped reading before the probe reached everyone")?);
    }
    let delivered_now = || -> u64 { delivered.iter().map(|d| d.load(Ordering::Relaxed)).sum() };

    let profiler = match &plan.perf {
        Some(path) => Some(start_perf(pid, path)?),
        None => None,
    };
    let cpu_before = fleet.cpu()?;
    let started = Instant::now();
    let per_sender = if plan.rate == 0 {
        None
    } else {
        Some(Duration::from_secs_f64(
            plan.senders as f64 / plan.rate as f64,
        ))
    };
    let mut senders = Vec::new();
    for index in 0..plan.senders {
        let url = &urls[index % urls.len()];
        let client = connect(url, &(1_000_000 + index).to_string(), plan.nodelay).await?;
        senders.push(tokio::spawn(send(client, per_sender, plan.secs, base)));
    }
    let progress = tokio::spawn(show_progress(delivered.clone()));
    let mut sent = 0;
    let mut kept = Vec::new();
    let mut senders_ended = std::collections::BTreeMap::<String, u64>::new();
    for sender in senders {
        let (client, count, ended) = sender.await.context("a sender panicked")??;
        sent += count;
        if let Some(how) = ended {
            *senders_ended.entry(how).or_default() += 1;
        }
        kept.push(client);
    }
    let sending = started.elapsed();
    if let Some(profiler) = profiler {
        stop_perf(profiler).await?;
    }
    // Deliveries may still be on their way: wait until all arrived, or
    // until two seconds pass without one.
    let expected = sent * plan.clients as u64;
    let mut last = (delivered_now(), Instant::now());
    while last.0 < expected && last.1.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = delivered_now();
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    let elapsed = started.elapsed();
    let (nodes_cpu, redis_cpu) = fleet.cpu()?;
    let cpu = nodes_cpu.saturating_sub(cpu_before.0);
    let redis_cpu = redis_cpu.saturating_sub(cpu_before.1);
    let rss = fleet.rss()?;
    progress.abort();
    eprintln!();
    let mut received = Vec::new();
    for crowd in crowds {
        received.extend(crowd.dismiss().await?);
    }
    // Pings to a client that is sending are what Nagle's algorithm makes
    // costly (its line waits behind the pong), so the figures count them.
    let sender_pings: usize = kept.iter().map(Client::pings).sum();
    drop((kept, probers));
    let mut figures = summarise(plan, &received, sent, sending, elapsed, cpu, rss)?;
    figures[key::NODES] = json!(plan.nodes.max(1));
    figures[key::CLIENT] = json!(client_kind(plan.nodelay));
    let deliveries = figures[key::DELIVERIES].as_f64().unwrap_or(0.0).max(1.0);
    figures[key::REDIS_CPU_US_PER_DELIVERY] = json!(redis_cpu.as_secs_f64() * 1e6 / deliveries);
    figures[key::SENDERS_ENDED] = json!(senders_ended);
    figures[key::SENDER_PINGS] = json!(sender_pings);
    figures[key::MACHINE] = json!(crate::machine());
    Ok(figures)
}

/// Starts `perf record` on the server: CPU-clock samples (this machine
/// has no hardware counters), with the functions they fell in.
fn start_perf(pid: u32, path: &std::path::Path) -> Result<tokio::process::Child> {
    tokio::process::Command::new("perf")
        .args(["record", "-e", "cpu-clock", "-F", "999", "--quiet", "-o"])
        .arg(path)
        .args(["-p", &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting `perf record` (install linux-perf, or leave out --perf)")
}

/// Stops `perf record` with SIGINT, on which it writes its data and exits.
async fn stop_perf(mut perf: tokio::process::Child) -> Result<()> {
    let pid = perf.id().context("perf has already exited")?;
    tokio::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .await
        .context("sending SIGINT to perf")?;
    perf.wait()
        .await
        .context("waiting for perf to write its data")?;
    Ok(())
}

/// Sends timed lines for `secs`, paced by `every` (or flat out), reading
/// whatever arrives so that the sender is never slow itself. A server may
/// close a sender (as too fast, or too slow to read): then it stops, and
/// says how it ended.
pub(crate) async fn send(
    mut client: Client,
    every: Option<Duration>,
    secs: f64,
    base: Instant,
) -> Result<(Client, u64, Option<String>)> {
    let start = tokio::time::Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let mut seq = 0u64;
    loop {
        let now = tokio::time::Instant::now();
        if now >= until {
            break;
        }
        if let Some(every) = every {
            let due = start + every.mul_f64(seq as f64);
            if due > now {
                tokio::time::sleep_until(due).await;
            }
        }
        if client.send_text(&timed_line(seq, base)).await.is_err() {
            let how = client.next_non_text(Duration::from_secs(1)).await;
            return Ok((client, seq, Some(how.to_string())));
        }
        seq += 1;
        loop {
            match client.next_event(Duration::ZERO).await {
                Event::Text(_) => {}
                Event::Silent => break,
                how => return Ok((client, seq, Some(how.to_string()))),
            }
        }
    }
    Ok((client, seq, None))
}

/// Shows the deliveries so far on stderr, twice a second, until aborted.
async fn show_progress(delivered: Vec<Arc<AtomicU64>>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sum: u64 = delivered.iter().map(|d| d.load(Ordering::Relaxed)).sum();
        eprint!("\r{sum} deliveries");
    }
}

/// The figures of a run in which the readers `received` what the senders
/// `sent` (for `sending`, and all of it by `elapsed`), at a cost of `cpu`
/// and `rss` bytes of memory.
pub(crate) fn summarise(
    plan: &Plan,
    received: &[Received],
    sent: u64,
    sending: Duration,
    elapsed: Duration,
    cpu: Duration,
    rss: u64,
) -> Result<serde_json::Value> {
    let mut all = latency_histogram()?;
    let mut missing = 0;
    let mut clients_missing = 0;
    let mut ended = std::collections::BTreeMap::<String, u64>::new();
    for client in received {
        let _ = all.add(&client.latencies);
        let short = sent.saturating_sub(client.lines);
        missing += short;
        clients_missing += u64::from(short > 0);
        if let Some(how) = &client.ended {
            *ended.entry(how.clone()).or_default() += 1;
        }
    }
    let deliveries = all.len();
    let us = |q: f64| all.value_at_quantile(q);
    Ok(json!({
        key::CLIENTS: plan.clients,
        key::SENDERS: plan.senders,
        key::RATE: plan.rate,
        key::SECS: plan.secs,
        key::SENT: sent,
        key::SENT_PER_SEC: sent as f64 / sending.as_secs_f64(),
        key::DELIVERIES: deliveries,
        key::DELIVERIES_PER_SEC: deliveries as f64 / elapsed.as_secs_f64(),
        key::MISSING: missing,
        key::CLIENTS_MISSING: clients_missing,
        key::P50_US: us(0.5),
        key::P99_US: us(0.99),
        key::P999_US: us(0.999),
        key::MAX_US: all.max(),
        key::CPU_US_PER_DELIVERY: cpu.as_secs_f64() * 1e6 / deliveries.max(1) as f64,
        key::RSS_KIB: rss / 1024,
        key::ENDED: ended,
    }))
}

/// Starts `bin`, connects `clients` idle clients and returns the server's
/// resident memory per connection, in KiB, as JSON.
pub async fn idle(
    bin: &std::path::Path,
    clients: usize,
    in_flight: usize,
) -> Result<serde_json::Value> {
    let env: Vec<(&str, &str)> = lifted().collect();
    let server = Server::start_with(bin, &env).await?;
    let pid = server.pid()?;
    let url = server.ws_url();
    let before = rss_bytes(pid)?;
    // Idle clients write nothing, so Nagle's algorithm cannot matter here.
    let members = crowd::members(clients, 1, in_flight, true);
    let (mut crowd, _) = crowd::timed(&url, members, Instant::now()).await?;
    let _prober = crowd
        .sync(&url, 0)
        .await?
        .context("a client stopped reading before the probe reached everyone")?;
    let after = rss_bytes(pid)?;
    crowd.dismiss().await?;
    Ok(json!({
        key::CLIENTS: clients,
        key::KIB_PER_CONNECTION: after.saturating_sub(before) as f64 / 1024.0 / clients as f64,
        key::MACHINE: crate::machine(),
    }))
}

/// The settings that lift every limit of part 4 (the other servers ignore
/// them): a benchmark sends and connects faster than any person.
pub fn lifted() -> impl Iterator<Item = (&'static str, &'static str)> {
    testkit::scenarios::Lift::ALL
        .iter()
        .flat_map(|lift| lift.env())
        .copied()
}
