//! `loadgen connects`: what a connection costs the server from the upgrade
//! to the close, and what a login costs, for the part 6 chapter's "the cost
//! of the checks" (part 6 checks a signed token before every upgrade, and an
//! Argon2id hash on every login; part 5 checks neither).
//!
//! On each start of a server, with part 4's address limits lifted (every
//! connection comes from loopback, far faster than a person connects):
//!
//! 1. `warmup` connections that are not counted, so that the first
//!    connections' one-time costs (the workers' first allocations, the
//!    chat server task waking) stay out of the figures;
//! 2. `connections` connections, at most `in_flight` being opened at once,
//!    each by a client of its own with a uid of its own (so no connection
//!    replaces another). Each is timed from the call that opens it (TCP
//!    connect, then the upgrade request with testkit's `Authorization:
//!    Bearer` token, which part 5 ignores) until the server's answer to the
//!    upgrade, the 101. The client then closes politely at once. It does not
//!    wait for the notice that it joined: part 4 and later throttle those
//!    to one every half second, so waiting would time the throttle, not the
//!    checks. The server's CPU time over the whole batch, every connection
//!    opened and closed, divided by their number is its CPU per connection;
//! 3. `logins` times `POST /login` as the demo account, one after another.
//!    Part 6 admits five logins at once from one address, then one every
//!    12 s, so a start of the server times at most five. A server that
//!    answers 404 has no `/login` (part 5): its login time is null.

use crate::crowd::{self, latency_histogram};
use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use testkit::platform::process_cpu;
use testkit::scenarios::Lift;
use testkit::scenarios::figures as key;
use testkit::{Event, Server};

/// The most logins one start of part 6 admits before it makes the next
/// wait 12 s (part 6's `LOGIN_BURST`): more would time the refusal.
pub const MOST_LOGINS: u64 = 5;

/// How long the server may take to answer a client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The last sessions end after their clients have closed; this leaves the
/// server time to finish them, so that their cost is counted in the batch
/// that caused it and not in the next reading.
const SETTLE: Duration = Duration::from_millis(200);

/// The uids of the warm-up, apart from those of the measured connections.
const WARMUP_FIRST_UID: u64 = 1_000_000;

/// What one `connects` run asks of each server.
#[derive(clap::Args, Debug)]
pub struct ConnectsPlan {
    /// Connections timed on each start of a server.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Connections being opened at once, each by a client of its own.
    #[arg(long, default_value_t = 8)]
    pub in_flight: usize,
    /// Connections opened first on each start and not counted.
    #[arg(long, default_value_t = 500)]
    pub warmup: usize,
    /// Logins timed on each start of a server; part 6 admits five at once
    /// from one address, so at most five.
    #[arg(long, default_value_t = MOST_LOGINS,
          value_parser = clap::value_parser!(u64).range(1..=MOST_LOGINS))]
    pub logins: u64,
    /// The account that logs in (part 6's demo account by default).
    #[arg(long, default_value = "alice")]
    pub name: String,
    /// Its password.
    #[arg(long, default_value = "rabbit-hole")]
    pub password: String,
}

/// Measures `plan` against each of `bins`, alternated run by run, and
/// prints a line per server and run.
pub async fn compare(bins: &[(String, PathBuf)], plan: &ConnectsPlan, runs: usize) -> Result<()> {
    if plan.logins > MOST_LOGINS {
        bail!(
            "part 6 admits {MOST_LOGINS} logins at once from one address: asking for {} would \
             time its refusal",
            plan.logins
        );
    }
    for round in 1..=runs {
        for (label, bin) in bins {
            let mut line = once(bin, plan)
                .await
                .with_context(|| format!("{label} in run {round}"))?;
            eprintln!("run {round}: {}", progress(label, &line));
            line[key::SERVER] = label.as_str().into();
            line[key::RUN] = round.into();
            println!("{line}");
        }
    }
    Ok(())
}

/// Starts `bin`, measures `plan` against it and returns the figures.
async fn once(bin: &Path, plan: &ConnectsPlan) -> Result<serde_json::Value> {
    let server = Server::start_with(bin, Lift::AddressLimits.env()).await?;
    let pid = server.pid()?;
    let url = server.ws_url();
    open_and_close(&url, WARMUP_FIRST_UID, plan.warmup, plan.in_flight)
        .await
        .context("warming up")?;
    tokio::time::sleep(SETTLE).await;
    let cpu_before = process_cpu(pid)?;
    let (times, ended) = open_and_close(&url, 1, plan.connections, plan.in_flight).await?;
    tokio::time::sleep(SETTLE).await;
    let cpu = process_cpu(pid)?.saturating_sub(cpu_before);
    // After the connections, so that Argon2's CPU stays out of theirs.
    let logins = time_logins(&server, plan).await?;
    Ok(json!({
        key::CLIENTS: plan.connections,
        key::IN_FLIGHT: plan.in_flight,
        key::P50_US: times.value_at_quantile(0.5),
        key::P99_US: times.value_at_quantile(0.99),
        key::MAX_US: times.max(),
        key::CPU_US_PER_CONNECTION: cpu.as_secs_f64() * 1e6 / plan.connections.max(1) as f64,
        key::LOGIN_MS: logins.as_deref().map(median),
        key::LOGINS: logins.as_ref().map_or(0, Vec::len),
        key::ENDED: ended,
        key::MACHINE: crate::machine(),
    }))
}

/// Opens `count` connections to `url` as uids from `first_uid`, at most
/// `in_flight` at once, closing each once its upgrade is answered. Returns
/// the connect times in microseconds, and how the closes that the server
/// did not answer with a close frame ended, counted.
async fn open_and_close(
    url: &str,
    first_uid: u64,
    count: usize,
    in_flight: usize,
) -> Result<(Histogram<u64>, BTreeMap<String, u64>)> {
    // A few clients that each open one connection after another: the next
    // index is shared, so the batch ends when the last connection does.
    let next = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..in_flight.max(1) {
        let (url, next) = (url.to_string(), Arc::clone(&next));
        let mut times = latency_histogram()?;
        clients.spawn(async move {
            let mut ended = BTreeMap::<String, u64>::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return Ok::<_, anyhow::Error>((times, ended));
                }
                let uid = (first_uid + index as u64).to_string();
                let started = Instant::now();
                let client = crowd::connect(&url, &uid, true)
                    .await
                    .with_context(|| format!("opening connection {} (uid {uid})", index + 1))?;
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                times.saturating_record(micros.max(1));
                match client.close_politely("measured", CLOSE_WAIT).await {
                    Event::Close { .. } => {}
                    other => *ended.entry(other.to_string()).or_default() += 1,
                }
            }
        });
    }
    let mut all = latency_histogram()?;
    let mut ended = BTreeMap::<String, u64>::new();
    while let Some(joined) = clients.join_next().await {
        let (times, how) = joined.context("a connecting client panicked")??;
        all.add(&times).context("adding up the connect times")?;
        for (how, n) in how {
            *ended.entry(how).or_default() += n;
        }
    }
    Ok((all, ended))
}

/// Times `plan.logins` logins, in milliseconds, one after another; `None`
/// if the server has no `/login`.
async fn time_logins(server: &Server, plan: &ConnectsPlan) -> Result<Option<Vec<f64>>> {
    let form = [
        ("name", plan.name.as_str()),
        ("password", plan.password.as_str()),
    ];
    let mut times = Vec::new();
    for attempt in 1..=plan.logins {
        let started = Instant::now();
        let answer = server
            .post_form("/login", &form)
            .await
            .with_context(|| format!("login {attempt}"))?;
        let took = started.elapsed();
        match answer.status {
            200 if !answer.body.trim().is_empty() => times.push(took.as_secs_f64() * 1e3),
            404 => return Ok(None),
            status => bail!(
                "login {attempt} as {:?} was answered {status}: {}",
                plan.name,
                answer.body.trim()
            ),
        }
    }
    Ok(Some(times))
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// One line of progress for a server's run; the JSON line has the rest.
fn progress(label: &str, f: &serde_json::Value) -> String {
    let login = match f[key::LOGIN_MS].as_f64() {
        Some(ms) => format!("login {ms:.1} ms"),
        None => "no /login".to_string(),
    };
    format!(
        "{label}: {} connections, connect p50 {} us, p99 {} us, {:.0} us of server CPU per \
         connection, {login}",
        f[key::CLIENTS],
        f[key::P50_US],
        f[key::P99_US],
        f[key::CPU_US_PER_CONNECTION].as_f64().unwrap_or(f64::NAN),
    )
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_takes_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[30.0, 10.0, 20.0]), 20.0);
        assert_eq!(median(&[40.0, 10.0, 30.0, 20.0]), 25.0);
        assert!(median(&[]).is_nan());
    }
}
