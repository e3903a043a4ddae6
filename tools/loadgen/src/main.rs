//! `loadgen`: measurements of the checkpoints from outside, with real
//! WebSocket clients, for the benchmarks. A benchmark reports figures; it
//! never passes or fails on speed.
//!
//! `loadgen join-storm` measures a reconnect storm: N clients connecting at
//! once, as after a restart, against several servers alternated run by run.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::{Client, Event, Server};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Measure the checkpoints from outside with many real WebSocket clients.
#[derive(Parser)]
#[command(about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        Command::JoinStorm {
            bins,
            clients,
            runs,
            in_flight,
            out,
        } => join_storm(&bins, clients, runs, in_flight, out.as_deref()).await,
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
            let taken = storm_once(bin, clients, in_flight)
                .await
                .with_context(|| format!("{} in run {round}", names[index]))?;
            eprintln!(
                "run {round}: {}: {clients} clients in {:.2} s",
                names[index],
                taken.as_secs_f64()
            );
            this_round.push(taken.as_secs_f64());
            seconds[index].push(taken.as_secs_f64());
        }
        // Ratios are taken within a run, where the machine was the same.
        for (index, taken) in this_round.iter().enumerate() {
            ratios[index].push(taken / this_round[0]);
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut summary = format!(
        "Join storm: {clients} clients at once, {runs} runs, servers alternated run by run, \
         release builds; one run of `loadgen` on {}, on one machine ({}, {cores} cores, {}), so \
         the seconds are figures of that run only and the ratios, taken within each run, are \
         what to compare.\n\n| server | median s | min s | max s | median ratio to {} |\n\
         | --- | --- | --- | --- | --- |\n",
        testkit::today(),
        cpu_model(),
        std::env::consts::OS,
        names[0]
    );
    for (index, name) in names.iter().enumerate() {
        let (median, min, max) = spread(&seconds[index]);
        let (ratio, _, _) = spread(&ratios[index]);
        summary.push_str(&format!(
            "| {name} | {median:.2} | {min:.2} | {max:.2} | {ratio:.2} |\n"
        ));
    }
    print!("{summary}");
    if let Some(out) = out {
        let page = format!(
            "<!-- Written by `loadgen join-storm --out`; a benchmark's figures, not checked by any test. -->\n\n{summary}"
        );
        std::fs::write(out, page).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
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

/// One storm against a fresh server: the time from the first connection
/// attempt until every client has seen a probe line sent after all had
/// connected. Each client reads from the moment it connects.
async fn storm_once(bin: &PathBuf, clients: usize, in_flight: usize) -> Result<Duration> {
    // Joins only: the input rate limit (part 4) does not matter, but lift it
    // so that the probe line is never what is refused.
    let server = Server::start_with(bin, &[("RATE_LIMIT_PER_SEC", "0")]).await?;
    let url = server.ws_url();
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(in_flight));
    let (probed_tx, mut probed) = mpsc::channel::<()>(clients);
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let (connected_tx, mut connected) = mpsc::channel::<()>(clients);
    for uid in 1..=clients {
        let (url, gate) = (url.clone(), Arc::clone(&gate));
        let (probed_tx, connected_tx, mut stop) =
            (probed_tx.clone(), connected_tx.clone(), stop.clone());
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await.context("the gate closed")?;
            let mut client = Client::connect(&url, &uid.to_string()).await?;
            drop(permit);
            let _ = connected_tx.send(()).await;
            let mut seen_probe = false;
            loop {
                tokio::select! {
                    event = client.next_event(Duration::from_secs(3600)) => match event {
                        Event::Text(text) if !seen_probe && text.starts_with("[UID: 0]: probe") => {
                            seen_probe = true;
                            let _ = probed_tx.send(()).await;
                        }
                        Event::Text(_) => {}
                        other => bail!("client {uid} saw {other}"),
                    },
                    _ = stop.changed() => return anyhow::Ok(()),
                }
            }
        });
    }
    drop((probed_tx, connected_tx));
    for _ in 0..clients {
        tokio::select! {
            Some(()) = connected.recv() => {}
            Some(done) = tasks.join_next() => {
                done.context("a client task panicked")??;
                bail!("a client ended before all had connected");
            }
        }
    }
    // Everyone has connected; a probe that reaches everyone proves every
    // session is registered and the server has caught up with the joins.
    let mut prober = Client::connect(&url, "0").await?;
    let mut reached = 0;
    let mut round = 0;
    let limit = Instant::now() + Duration::from_secs(600);
    while reached < clients {
        prober.send_text(&format!("probe {round}")).await?;
        round += 1;
        let resend = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(resend);
        loop {
            tokio::select! {
                Some(()) = probed.recv() => {
                    reached += 1;
                    if reached == clients { break; }
                }
                Some(done) = tasks.join_next() => {
                    done.context("a client task panicked")??;
                    bail!("a client ended before the probe reached everyone");
                }
                () = &mut resend => break,
            }
        }
        // The prober reads too, so that it is never the slow one.
        while let Event::Text(_) = prober.next_event(Duration::ZERO).await {}
        if Instant::now() > limit {
            bail!("after 600 s only {reached} of {clients} clients had seen the probe");
        }
    }
    let taken = started.elapsed();
    let _ = stop_tx.send(true);
    while let Some(done) = tasks.join_next().await {
        done.context("a client task panicked")??;
    }
    drop(server);
    Ok(taken)
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
