//! `loadgen chat`: clients receiving what senders send at a fixed rate or
//! flat out, with the latency of every delivery and the server's cost.

use crate::crowd::{Crowd, Received, client_kind, connect, timed_line};
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use testkit::platform::{process_cpu, rss_bytes};
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
    let mut first_uid = 1;
    for (index, url) in urls.iter().enumerate() {
        let size = plan.clients / urls.len() + usize::from(index < plan.clients % urls.len());
        crowds
            .push(Crowd::connect(url, size, first_uid, plan.in_flight, base, plan.nodelay).await?);
        first_uid += size as u64;
    }
    let mut probers = Vec::new();
    for (index, (crowd, url)) in crowds.iter_mut().zip(&urls).enumerate() {
        probers.push(crowd.sync(url, 2_000_000 + index as u64).await?);
    }
    let delivered: Vec<_> = crowds.iter().map(|crowd| crowd.delivered.clone()).collect();
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
    let mut figures = summarise(plan, &received, sent, sending, elapsed, cpu, rss);
    figures["nodes"] = json!(plan.nodes.max(1));
    figures["client"] = json!(client_kind(plan.nodelay));
    let deliveries = figures["deliveries"].as_f64().unwrap_or(0.0).max(1.0);
    figures["redis_cpu_us_per_delivery"] = json!(redis_cpu.as_secs_f64() * 1e6 / deliveries);
    figures["senders_ended"] = json!(senders_ended);
    figures["sender_pings"] = json!(sender_pings);
    figures["machine"] = json!(crate::machine());
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

async fn show_progress(delivered: Vec<std::sync::Arc<std::sync::atomic::AtomicU64>>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sum: u64 = delivered.iter().map(|d| d.load(Ordering::Relaxed)).sum();
        eprint!("\r{sum} deliveries");
    }
}

pub(crate) fn summarise(
    plan: &Plan,
    received: &[Received],
    sent: u64,
    sending: Duration,
    elapsed: Duration,
    cpu: Duration,
    rss: u64,
) -> serde_json::Value {
    let mut all = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
        .expect("these histogram bounds are valid");
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
    json!({
        "clients": plan.clients,
        "senders": plan.senders,
        "rate": plan.rate,
        "secs": plan.secs,
        "sent": sent,
        "sent_per_sec": sent as f64 / sending.as_secs_f64(),
        "deliveries": deliveries,
        "deliveries_per_sec": deliveries as f64 / elapsed.as_secs_f64(),
        "missing": missing,
        "clients_missing": clients_missing,
        "p50_us": us(0.5),
        "p99_us": us(0.99),
        "p999_us": us(0.999),
        "max_us": all.max(),
        "cpu_us_per_delivery": cpu.as_secs_f64() * 1e6 / deliveries.max(1) as f64,
        "rss_kib": rss / 1024,
        "ended": ended,
    })
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
    let mut crowd = Crowd::connect(&url, clients, 1, in_flight, Instant::now(), true).await?;
    let _prober = crowd.sync(&url, 0).await?;
    let after = rss_bytes(pid)?;
    crowd.dismiss().await?;
    Ok(json!({
        "clients": clients,
        "kib_per_connection": after.saturating_sub(before) as f64 / 1024.0 / clients as f64,
        "machine": crate::machine(),
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
