//! `loadgen`: measurements of the checkpoints from outside, with real
//! WebSocket clients, for the benchmarks. A benchmark reports figures; it
//! never passes or fails on speed.
//!
//! - `loadgen chat`: N clients, S senders at a fixed rate or flat out; the
//!   latency of every delivery, deliveries a second, what went missing, and
//!   the server's CPU per delivery and memory. One JSON line on stdout, a
//!   readable summary on stderr. With `--nodes`, several processes of the
//!   server form one chat over a private `redis-server` (part 5). With
//!   `--client-nodelay false` the clients leave Nagle's algorithm on.
//! - `loadgen idle`: the server's memory per idle connection.
//! - `loadgen join-storm`: N clients connecting at once, as after a
//!   restart, against several servers alternated run by run.
//! - `loadgen presence`: one real part 5 node among N - 1 nodes that
//!   loadgen plays by publishing their heartbeats to Redis; the node's CPU
//!   and echo latency under a small chat, once it has heard them all.

mod chat;
mod crowd;
mod presence;
mod storm;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Measure the checkpoints from outside with many real WebSocket clients.
#[derive(Parser)]
#[command(about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What the clients of a `chat` or `compare` run do.
#[derive(clap::Args)]
struct Load {
    /// Clients that read.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Clients that send, besides.
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Lines a second across all senders; 0 sends flat out.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Processes of the server forming one chat over a private redis-server
    /// (part 5 reads REDIS_URL); readers and senders are shared out among
    /// them. 1 runs the server alone.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Whether every client (readers, senders, probers) sets TCP_NODELAY.
    /// true is what browsers do. false leaves Nagle's algorithm on, as most
    /// clients that are not browsers do (a default tokio-tungstenite
    /// connection, Python's websockets): a small frame written right after
    /// another, such as a line after a pong, then waits for that one's ACK,
    /// which the server may delay by up to 40 ms.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "true|false")]
    client_nodelay: bool,
}

impl Load {
    fn plan(&self, in_flight: usize, perf: Option<PathBuf>) -> chat::Plan {
        chat::Plan {
            clients: self.clients,
            senders: self.senders,
            rate: self.rate,
            secs: self.secs,
            in_flight,
            perf,
            nodes: self.nodes,
            nodelay: self.client_nodelay,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Start the server, connect the clients, then have the senders send
    /// timed lines; print one JSON line with the figures.
    Chat {
        /// The server binary (build it with --release).
        #[arg(long = "bin")]
        bin: PathBuf,
        #[command(flatten)]
        load: Load,
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
        /// Record a `perf` CPU profile of the server while the senders send,
        /// into this file (Linux, with linux-perf installed).
        #[arg(long)]
        perf: Option<PathBuf>,
    },
    /// Run `chat` against several servers, alternated run by run, and print
    /// (and with --out, write) a table of latency and CPU with ratios to the
    /// first server, taken within each run.
    Compare {
        /// A server as LABEL=PATH (build it with --release); two or more.
        #[arg(long = "bin", required = true, value_parser = labelled)]
        bins: Vec<(String, PathBuf)>,
        #[command(flatten)]
        load: Load,
        /// Repetitions of the whole alternation.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Also write the table as a markdown page here (for the book).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print this machine's description (date, CPU model, cores, system) as JSON.
    Machine,
    /// Start the server, connect idle clients, print the memory per connection.
    Idle {
        /// The server binary (build it with --release).
        #[arg(long = "bin")]
        bin: PathBuf,
        /// Idle clients.
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
    },
    /// Connect many clients at once to each server and time until every one
    /// of them is in the chat: it has connected, and a line sent after the
    /// last connection reached it. Servers are alternated run by run.
    JoinStorm {
        /// A server binary (build it with --release); give two or more to compare.
        #[arg(long = "bin", required = true)]
        bins: Vec<PathBuf>,
        /// Clients connecting at once.
        #[arg(long, default_value_t = 5000)]
        clients: usize,
        /// Repetitions of the whole alternation.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Connection attempts in flight at once, so that the listen backlog
        /// drops no SYN (which would add a retransmission second to any server).
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
        /// Also write the summary as a markdown page here (for the book).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Start a private redis-server and one node of part 5, play the other
    /// nodes of a larger chat by publishing their heartbeats (each lists
    /// its users) every second, and measure the real node's CPU and echo
    /// latency under a small chat; print one JSON line.
    Presence {
        /// The part 5 binary (build it with --release).
        #[arg(long = "bin")]
        bin: PathBuf,
        /// Nodes in the chat, the real one included; loadgen plays the others.
        #[arg(long, default_value_t = 10)]
        nodes: usize,
        /// Users on each node that loadgen plays.
        #[arg(long, default_value_t = 1000)]
        users: usize,
        /// Seconds of measurement.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// The least seconds of heartbeats before measuring; the warm-up also
        /// lasts until the node has announced every user of the other nodes.
        #[arg(long, default_value_t = 3.0)]
        warmup: f64,
        /// Clients on the real node that read.
        #[arg(long, default_value_t = 50)]
        readers: usize,
        /// Lines a second from the one sender on the real node; 0 sends flat out.
        #[arg(long, default_value_t = 50)]
        rate: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loadgen: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Chat {
            bin,
            load,
            in_flight,
            perf,
        } => {
            let plan = load.plan(in_flight, perf);
            let figures = chat::run(&bin, &plan).await?;
            eprintln!("{}", readable(&short_name(&bin), &figures));
            println!("{figures}");
            Ok(())
        }
        Command::Compare {
            bins,
            load,
            runs,
            out,
        } => {
            let plan = load.plan(256, None);
            compare(&bins, &plan, runs, out.as_deref()).await
        }
        Command::Machine => {
            println!("{}", serde_json::json!({ "machine": machine() }));
            Ok(())
        }
        Command::Idle {
            bin,
            clients,
            in_flight,
        } => {
            let figures = chat::idle(&bin, clients, in_flight).await?;
            eprintln!(
                "{}: {} KiB per idle connection ({clients} connections)",
                short_name(&bin),
                figures["kib_per_connection"]
            );
            println!("{figures}");
            Ok(())
        }
        Command::JoinStorm {
            bins,
            clients,
            runs,
            in_flight,
            out,
        } => join_storm(&bins, clients, runs, in_flight, out.as_deref()).await,
        Command::Presence {
            bin,
            nodes,
            users,
            seconds,
            warmup,
            readers,
            rate,
        } => {
            let plan = presence::PresencePlan {
                nodes,
                users,
                secs: seconds,
                warmup,
                readers,
                rate,
            };
            let f = presence::run(&bin, &plan).await?;
            eprintln!(
                "{}: {nodes} nodes x {users} users: node CPU {:.1} % of a core, echo p50 {} us, \
                 p99 {} us; {} deliveries, {} missing; heard every other node's users: {}; \
                 nodes buried: {}",
                short_name(&bin),
                f["cpu_share"].as_f64().unwrap_or(f64::NAN) * 100.0,
                f["p50_us"],
                f["p99_us"],
                f["deliveries"],
                f["missing"],
                f["heard_all"],
                f["buried"],
            );
            println!("{f}");
            Ok(())
        }
    }
}

async fn join_storm(
    bins: &[PathBuf],
    clients: usize,
    runs: usize,
    in_flight: usize,
    out: Option<&std::path::Path>,
) -> Result<()> {
    let names: Vec<String> = bins.iter().map(|bin| short_name(bin)).collect();
    let mut seconds = vec![Vec::new(); bins.len()];
    let mut ratios = vec![Vec::new(); bins.len()];
    for round in 1..=runs {
        let mut this_round = Vec::new();
        for (index, bin) in bins.iter().enumerate() {
            let taken = storm::once(bin, clients, in_flight)
                .await
                .with_context(|| format!("{} in run {round}", names[index]))?;
            eprintln!(
                "run {round}: {}: {clients} clients in {:.2} s",
                names[index],
                taken.as_secs_f64()
            );
            println!(
                "{}",
                serde_json::json!({
                    "server": names[index],
                    "run": round,
                    "clients": clients,
                    "secs": taken.as_secs_f64(),
                })
            );
            this_round.push(taken.as_secs_f64());
            seconds[index].push(taken.as_secs_f64());
        }
        // Ratios are taken within a run, where the machine was the same.
        for (index, taken) in this_round.iter().enumerate() {
            ratios[index].push(taken / this_round[0]);
        }
    }
    let mut summary = format!(
        "Join storm: {clients} clients at once, {runs} runs, servers alternated run by run, \
         release builds; one run of `loadgen` on one machine ({}), so the seconds are figures of \
         that run only and the ratios, taken within each run, are what to compare.\n\n\
         | server | median s | min s | max s | median ratio to {} |\n\
         | --- | --- | --- | --- | --- |\n",
        machine(),
        names[0]
    );
    for (index, name) in names.iter().enumerate() {
        let (median, min, max) = spread(&seconds[index]);
        let (ratio, _, _) = spread(&ratios[index]);
        summary.push_str(&format!(
            "| {name} | {median:.2} | {min:.2} | {max:.2} | {ratio:.2} |\n"
        ));
    }
    eprint!("{summary}");
    if let Some(out) = out {
        let page = format!(
            "<!-- Written by `loadgen join-storm --out`; a benchmark's figures, not checked by any test. -->\n\n{summary}"
        );
        std::fs::write(out, page).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// `LABEL=PATH` for `compare`.
fn labelled(text: &str) -> Result<(String, PathBuf), String> {
    let (label, path) = text
        .split_once('=')
        .ok_or_else(|| format!("expected LABEL=PATH, not {text:?}"))?;
    Ok((label.to_string(), PathBuf::from(path)))
}

async fn compare(
    bins: &[(String, PathBuf)],
    plan: &chat::Plan,
    runs: usize,
    out: Option<&std::path::Path>,
) -> Result<()> {
    let mut figures = vec![Vec::new(); bins.len()];
    for round in 1..=runs {
        for (index, (label, bin)) in bins.iter().enumerate() {
            let result = chat::run(bin, plan)
                .await
                .with_context(|| format!("{label} in run {round}"))?;
            eprintln!("run {round}: {}", readable(label, &result));
            figures[index].push(result);
        }
    }
    let get = |index: usize, key: &str| -> Vec<f64> {
        figures[index]
            .iter()
            .map(|f| f[key].as_f64().unwrap_or(f64::NAN))
            .collect()
    };
    let ratio = |index: usize, key: &str| -> f64 {
        let per_run: Vec<f64> = get(index, key)
            .iter()
            .zip(get(0, key))
            .map(|(this, first)| this / first)
            .collect();
        spread(&per_run).0
    };
    let mut table = format!(
        "{} clients, {} sender(s) at {} lines a second for {} s, {}; {runs} runs, servers \
         alternated run by run, release builds; `loadgen compare` on one machine ({}). Medians \
         with min and max; ratios to {} are taken within each run.\n\n\
         | server | latency p50 ms | p99 ms | server CPU µs per delivery | p50, p99, CPU ratio to {} |\n\
         | --- | --- | --- | --- | --- |\n",
        plan.clients,
        plan.senders,
        plan.rate,
        plan.secs,
        clients_described(plan.nodelay),
        machine(),
        bins[0].0,
        bins[0].0,
    );
    for (index, (label, _)) in bins.iter().enumerate() {
        let ms = |key: &str| {
            let (m, lo, hi) = spread(&get(index, key));
            format!("{:.1} ({:.1}–{:.1})", m / 1000.0, lo / 1000.0, hi / 1000.0)
        };
        let (cpu, lo, hi) = spread(&get(index, "cpu_us_per_delivery"));
        table.push_str(&format!(
            "| {label} | {} | {} | {cpu:.2} ({lo:.2}–{hi:.2}) | {:.2}, {:.2}, {:.2} |\n",
            ms("p50_us"),
            ms("p99_us"),
            ratio(index, "p50_us"),
            ratio(index, "p99_us"),
            ratio(index, "cpu_us_per_delivery"),
        ));
    }
    eprint!("{table}");
    if let Some(out) = out {
        let page = format!(
            "<!-- Written by `loadgen compare --out`; a benchmark's figures, not checked by any test. -->\n\n{table}"
        );
        std::fs::write(out, page).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// The client kind in words, for the tables.
fn clients_described(nodelay: bool) -> &'static str {
    if nodelay {
        "clients with TCP_NODELAY (as browsers)"
    } else {
        "clients with Nagle's algorithm on (as most non-browser clients)"
    }
}

/// A readable summary of a `chat` run.
fn readable(name: &str, f: &serde_json::Value) -> String {
    format!(
        "{name}: {} clients ({}), {} senders at {} lines/s for {} s: {:.0} deliveries/s, latency \
         p50 {} us, p99 {} us, max {} us; {} missing; {:.2} us of server CPU per delivery; {} KiB \
         resident; ended early: {}; pings to senders: {}",
        f["clients"],
        f["client"].as_str().unwrap_or("unnamed kind"),
        f["senders"],
        f["rate"],
        f["secs"],
        f["deliveries_per_sec"].as_f64().unwrap_or(0.0),
        f["p50_us"],
        f["p99_us"],
        f["max_us"],
        f["missing"],
        f["cpu_us_per_delivery"].as_f64().unwrap_or(0.0),
        f["rss_kib"],
        f["ended"],
        f["sender_pings"]
    )
}

/// The median, minimum and maximum of some figures.
fn spread(figures: &[f64]) -> (f64, f64, f64) {
    let mut sorted = figures.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    let min = sorted.first().copied().unwrap_or(f64::NAN);
    let max = sorted.last().copied().unwrap_or(f64::NAN);
    (median, min, max)
}

/// "2026-11-26, Intel(R) Xeon(R) Processor, 2 cores, linux": where and when
/// figures were taken. xtask copies it from the JSON into its pages.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{}, {}, {cores} cores, {}",
        testkit::today(),
        cpu_model(),
        std::env::consts::OS
    )
}

/// The processor's model name, where the system says it (Linux).
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "an unnamed CPU".to_string())
}

fn short_name(bin: &std::path::Path) -> String {
    bin.file_name().map_or_else(
        || bin.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn median_min_max() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }
}
