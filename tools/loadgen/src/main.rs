//! `loadgen`: measurements of the checkpoints from outside, with real
//! WebSocket clients, for the benchmarks. A benchmark reports figures; it
//! never passes or fails on speed.
//!
//! Every subcommand prints JSON lines on stdout, whose keys are
//! `scenarios::figures`, and a short line of progress on stderr;
//! `cargo xtask bench` reads the lines and renders every table.
//!
//! - `loadgen chat`: N clients, S senders at a fixed rate or flat out; the
//!   latency of every delivery, deliveries a second, what went missing, and
//!   the server's CPU per delivery and memory. With `--nodes`, several
//!   processes of the server form one chat over a private `redis-server`
//!   (part 5). With `--client-nodelay false` the clients leave Nagle's
//!   algorithm on.
//! - `loadgen compare`: `chat` against several servers, alternated run by
//!   run; a line per server and run.
//! - `loadgen idle`: the server's memory per idle connection.
//! - `loadgen join-storm`: N clients connecting at once, as after a
//!   restart, against several servers alternated run by run.
//! - `loadgen presence`: one real part 5 node among N - 1 nodes that
//!   loadgen plays by publishing their heartbeats to Redis; the node's CPU
//!   and echo latency under a small chat, once it has heard them all.
//! - `loadgen connects`: connections opened a few at a time against
//!   several servers, alternated run by run: the time to each upgrade's
//!   answer and the server's CPU per connection, then a few logins timed
//!   (part 6's token and password checks, against part 5).
//! - `loadgen machine`: the date and the machine, for the pages' headers.

mod chat;
mod connects;
mod crowd;
mod presence;
mod storm;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use testkit::scenarios::figures;

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
    /// true is what browsers do. false leaves Nagle's algorithm on, as some
    /// clients that are not browsers do (a default tokio-tungstenite
    /// connection, chat-client's): a small frame written right after
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
    /// Run `chat` against several servers, alternated run by run; print
    /// one JSON line per server and run, naming both.
    Compare {
        /// A server as LABEL=PATH, or a PATH named by its file name (build
        /// it with --release); two or more.
        #[arg(long = "bin", required = true, value_parser = labelled)]
        bins: Vec<(String, PathBuf)>,
        #[command(flatten)]
        load: Load,
        /// Repetitions of the whole alternation.
        #[arg(long, default_value_t = 3)]
        runs: usize,
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
    /// last connection reached it. Servers are alternated run by run; one
    /// JSON line per server and run.
    JoinStorm {
        /// A server as LABEL=PATH, or a PATH named by its file name (build
        /// it with --release); give two or more to compare.
        #[arg(long = "bin", required = true, value_parser = labelled)]
        bins: Vec<(String, PathBuf)>,
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
    },
    /// Open connections a few at a time against each server, alternated run
    /// by run: time each from opening it to the answer to its upgrade, and
    /// the server's CPU per connection, opened and closed; then time a few
    /// logins (`POST /login`; null where there is none). One JSON line per
    /// server and run.
    Connects {
        /// A server as LABEL=PATH, or a PATH named by its file name (build
        /// it with --release); two or more to compare.
        #[arg(long = "bin", required = true, value_parser = labelled)]
        bins: Vec<(String, PathBuf)>,
        #[command(flatten)]
        plan: connects::ConnectsPlan,
        /// Repetitions of the whole alternation.
        #[arg(long, default_value_t = 3)]
        runs: usize,
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
            eprintln!("{}", progress(&short_name(&bin), &figures));
            println!("{figures}");
            Ok(())
        }
        Command::Compare { bins, load, runs } => {
            let plan = load.plan(256, None);
            compare(&bins, &plan, runs).await
        }
        Command::Machine => {
            let mut line = serde_json::Map::new();
            line.insert(figures::MACHINE.into(), machine().into());
            println!("{}", serde_json::Value::Object(line));
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
                figures[figures::KIB_PER_CONNECTION]
            );
            println!("{figures}");
            Ok(())
        }
        Command::JoinStorm {
            bins,
            clients,
            runs,
            in_flight,
        } => join_storm(&bins, clients, runs, in_flight).await,
        Command::Connects { bins, plan, runs } => connects::compare(&bins, &plan, runs).await,
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
                 p99 {} us; heard every other node's users: {}",
                short_name(&bin),
                f[figures::CPU_SHARE].as_f64().unwrap_or(f64::NAN) * 100.0,
                f[figures::P50_US],
                f[figures::P99_US],
                f[figures::HEARD_ALL],
            );
            println!("{f}");
            Ok(())
        }
    }
}

/// Times a join storm against each of `bins`, alternated run by run, and
/// prints a line per server and run.
async fn join_storm(
    bins: &[(String, PathBuf)],
    clients: usize,
    runs: usize,
    in_flight: usize,
) -> Result<()> {
    for round in 1..=runs {
        for (label, bin) in bins {
            let taken = storm::once(bin, clients, in_flight)
                .await
                .with_context(|| format!("{label} in run {round}"))?;
            eprintln!(
                "run {round}: {label}: {clients} clients in {:.2} s",
                taken.as_secs_f64()
            );
            let mut line = serde_json::Map::new();
            line.insert(figures::SERVER.into(), label.as_str().into());
            line.insert(figures::RUN.into(), round.into());
            line.insert(figures::CLIENTS.into(), clients.into());
            line.insert(figures::SECS.into(), taken.as_secs_f64().into());
            println!("{}", serde_json::Value::Object(line));
        }
    }
    Ok(())
}

/// `LABEL=PATH`, or `PATH`, labelled by its file name.
fn labelled(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((label, path)) if !label.is_empty() => Ok((label.to_string(), PathBuf::from(path))),
        Some(_) => Err(format!("expected LABEL=PATH or PATH, not {text:?}")),
        None => Ok((short_name(std::path::Path::new(text)), PathBuf::from(text))),
    }
}

/// Runs `chat` against each of `bins`, alternated run by run, and prints
/// each run's line with the server's label and the run's number added.
async fn compare(bins: &[(String, PathBuf)], plan: &chat::Plan, runs: usize) -> Result<()> {
    for round in 1..=runs {
        for (label, bin) in bins {
            let mut result = chat::run(bin, plan)
                .await
                .with_context(|| format!("{label} in run {round}"))?;
            eprintln!("run {round}: {}", progress(label, &result));
            result[figures::SERVER] = label.as_str().into();
            result[figures::RUN] = round.into();
            println!("{result}");
        }
    }
    Ok(())
}

/// One line of progress for a `chat` run: what a reader watching wants to
/// see; the JSON line has the rest.
fn progress(name: &str, f: &serde_json::Value) -> String {
    format!(
        "{name}: {:.0} deliveries/s, latency p50 {} us, p99 {} us, {} missing, {:.2} us of \
         server CPU per delivery",
        f[figures::DELIVERIES_PER_SEC].as_f64().unwrap_or(f64::NAN),
        f[figures::P50_US],
        f[figures::P99_US],
        f[figures::MISSING],
        f[figures::CPU_US_PER_DELIVERY].as_f64().unwrap_or(f64::NAN),
    )
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

/// A binary's file name, to name its server where no label is given.
fn short_name(bin: &std::path::Path) -> String {
    bin.file_name().map_or_else(
        || bin.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::labelled;
    use std::path::PathBuf;

    #[test]
    fn a_server_is_labelled_or_named_by_its_file() {
        let parsed = labelled("part4, two sources (bcbb400)=target/part4-hardening-bcbb400");
        assert_eq!(
            parsed,
            Ok((
                "part4, two sources (bcbb400)".to_string(),
                PathBuf::from("target/part4-hardening-bcbb400")
            ))
        );
        let parsed = labelled("target/release/part2");
        assert_eq!(
            parsed,
            Ok(("part2".to_string(), PathBuf::from("target/release/part2")))
        );
        assert!(labelled("=target/release/part2").is_err());
    }
}
