//! `cargo xtask bench --identity`: what part 6's checks cost, against part 5
//! (the same chat without them), alternated run by run by `loadgen
//! connects`: the time to a connection's upgrade and the server's CPU per
//! connection (part 6 checks a signed token before every upgrade), and the
//! time of a login (part 6 checks an Argon2id hash; part 5 has no login).

use super::loadgen::{loadgen_lines, machine_and_date};
use super::servers::{Server, build_release, builds, release};
use super::stats::{cell, field, median_range, ratios, spread, thousands};
use anyhow::{Context, Result, bail};
use scenarios::Checkpoint;
use scenarios::figures::{CLIENTS, CPU_US_PER_CONNECTION, LOGIN_MS, P50_US, P99_US, SERVER};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The checkpoint without the checks: every ratio is to it.
pub const WITHOUT: Checkpoint = Checkpoint::Part5;

/// The checkpoint with them.
pub const WITH: Checkpoint = Checkpoint::Part6;

/// What `--identity` runs, on each start of each server.
#[derive(Debug, Clone, Copy)]
pub struct IdentityMatrix {
    /// Repetitions of the alternation.
    pub runs: usize,
    /// Connections timed.
    pub connections: usize,
    /// Connections being opened at once.
    pub in_flight: usize,
    /// Connections opened first and not counted.
    pub warmup: usize,
    /// Logins timed: part 6 admits five at once from one address.
    pub logins: usize,
}

impl IdentityMatrix {
    /// The full run (about a minute), or a quick one that only proves
    /// that the bench works end to end (seconds).
    pub fn new(quick: bool) -> IdentityMatrix {
        if quick {
            IdentityMatrix {
                runs: 2,
                connections: 200,
                in_flight: 8,
                warmup: 20,
                logins: 2,
            }
        } else {
            // Enough connections that the process's CPU clock, which
            // counts in ticks of 10 ms on Linux, is a few per cent off at
            // most (a connection costs tens of µs: 10,000 are about half a
            // second); seven runs, since other work on the machine moves
            // a run's figures more than the checks do.
            IdentityMatrix {
                runs: 7,
                connections: 10_000,
                in_flight: 8,
                warmup: 500,
                logins: 5,
            }
        }
    }

    /// The arguments of `loadgen connects` for this matrix.
    fn loadgen_args(&self) -> Vec<String> {
        let mut args = vec!["connects".to_string()];
        for checkpoint in [WITHOUT, WITH] {
            let server = Server::checkpoint(checkpoint);
            args.push("--bin".into());
            args.push(format!(
                "{}={}",
                server.label,
                release(server.package).display()
            ));
        }
        for (option, value) in [
            ("--runs", self.runs),
            ("--connections", self.connections),
            ("--in-flight", self.in_flight),
            ("--warmup", self.warmup),
            ("--logins", self.logins),
        ] {
            args.push(option.into());
            args.push(value.to_string());
        }
        args
    }
}

/// Builds loadgen, [`WITHOUT`] and [`WITH`], runs `loadgen connects` and
/// writes `identity.md` into `out`.
pub fn bench_identity(root: &Path, matrix: &IdentityMatrix, out: &Path) -> Result<Vec<PathBuf>> {
    build_release(root, &["loadgen", WITHOUT.package(), WITH.package()])?;
    let loadgen = release("loadgen");
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let header = machine_and_date(&loadgen)?;
    eprintln!(
        "bench: identity: {} against {}, {} runs",
        WITH.short(),
        WITHOUT.short(),
        matrix.runs
    );
    let lines = loadgen_lines(&loadgen, &matrix.loadgen_args())?;
    let mut figures = Vec::new();
    for checkpoint in [WITHOUT, WITH] {
        let label = Server::checkpoint(checkpoint).label;
        let runs: Vec<Value> = lines
            .iter()
            .filter(|line| line[SERVER].as_str() == Some(label))
            .cloned()
            .collect();
        // A line missing, or one of another size, would put a figure in
        // the wrong cell or leave a ratio without its pair.
        if runs.len() != matrix.runs
            || runs
                .iter()
                .any(|run| run[CLIENTS].as_u64() != Some(matrix.connections as u64))
        {
            bail!(
                "loadgen gave {} lines for {label} where {} runs of {} connections were asked for",
                runs.len(),
                matrix.runs,
                matrix.connections
            );
        }
        figures.push((checkpoint, runs));
    }
    let path = out.join("identity.md");
    std::fs::write(&path, identity_page(matrix, &header, &figures))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(vec![path])
}

/// The page: a row per checkpoint, a row of the ratios, and what to read.
fn identity_page(
    matrix: &IdentityMatrix,
    header: &str,
    figures: &[(Checkpoint, Vec<Value>)],
) -> String {
    let mut out = format!(
        "<!-- Generated by `cargo xtask bench --identity`. Figures of one bench run; no test compares them. -->\n\n\
         `{with}` against `{without}`, {builds}, {runs} runs with the servers alternated; \
         {header}. On each start of a server, with part 4's address limits lifted: {warmup} \
         connections that are not counted, then {connections}, {in_flight} being opened at \
         once, each by a client of its own. Connect time runs from opening the connection (TCP, \
         then the upgrade request with its `Authorization: Bearer` token, which {without_short} \
         ignores) to the server's answer to the upgrade; the client then closes at once, \
         without waiting for the notice that it joined (throttled to one every half second). \
         Server CPU is the process's over those connections, opened and closed, divided by \
         their number. Then {logins} logins of the demo account (`POST /login`, one after \
         another: {with_short} admits five at once from one address), the median of their \
         times per run. Medians, with min and max across the runs; ratios are taken within \
         each run.\n\n\
         | server | connect p50 µs | connect p99 µs | server CPU µs per connection | login ms |\n\
         | --- | --- | --- | --- | --- |\n",
        with = WITH.package(),
        without = WITHOUT.package(),
        with_short = WITH.short(),
        without_short = WITHOUT.short(),
        builds = builds(),
        runs = matrix.runs,
        warmup = matrix.warmup,
        connections = thousands(matrix.connections as u64),
        in_flight = matrix.in_flight,
        logins = matrix.logins,
    );
    for (checkpoint, runs) in figures {
        let login = if field(runs, LOGIN_MS).iter().any(|ms| ms.is_finite()) {
            cell(runs, LOGIN_MS, 1.0, 1)
        } else {
            "n/a (no `/login`)".to_string()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {login} |",
            checkpoint.short(),
            cell(runs, P50_US, 1.0, 0),
            cell(runs, P99_US, 1.0, 0),
            // Whole µs: the CPU clock counts in ticks of 10 ms on Linux,
            // which over the full run's 10,000 connections is 1 µs each.
            cell(runs, CPU_US_PER_CONNECTION, 1.0, 0),
        );
    }
    if let [(without, reference), (with, runs)] = figures {
        let ratio = |key: &str| median_range(spread(&ratios(runs, reference, key)), 1.0, 2);
        let _ = write!(
            out,
            "| {with} / {without}, within each run | {} | {} | {} | n/a |\n\n\
             Read the last row for what checking a token adds to every upgrade (each ratio is \
             a run's {with} figure over {without}'s in the same run, so a machine that drifts \
             between runs cancels out, and a range that straddles 1 is within the noise), and the \
             login column for what one Argon2id check costs, which a client pays once per login \
             and not per connection, since it keeps its token for every later connection until \
             it expires.\n",
            ratio(P50_US),
            ratio(P99_US),
            ratio(CPU_US_PER_CONNECTION),
            with = with.short(),
            without = without.short(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_a_row_per_server_and_the_ratios_within_each_run() {
        let matrix = IdentityMatrix::new(false);
        let run = |p50: f64, cpu: f64, login: Value| {
            serde_json::json!({
                P50_US: p50, P99_US: 2.0 * p50, CPU_US_PER_CONNECTION: cpu, LOGIN_MS: login,
                CLIENTS: 10_000
            })
        };
        let without = vec![run(200.0, 100.0, Value::Null); 3];
        // Part 6 is slower in every run, by 10 % to 30 %.
        let with = vec![
            run(220.0, 110.0, serde_json::json!(30.0)),
            run(260.0, 130.0, serde_json::json!(25.0)),
            run(240.0, 120.0, serde_json::json!(35.0)),
        ];
        let page = identity_page(&matrix, "a machine", &[(WITHOUT, without), (WITH, with)]);
        assert!(
            page.contains("7 runs with the servers alternated; a machine."),
            "{page}"
        );
        assert!(
            page.contains(
                "| part5 | 200 (200–200) | 400 (400–400) | 100 (100–100) | n/a (no `/login`) |"
            ),
            "{page}"
        );
        assert!(
            page.contains(
                "| part6 | 240 (220–260) | 480 (440–520) | 120 (110–130) | 30.0 (25.0–35.0) |"
            ),
            "{page}"
        );
        assert!(
            page.contains("| part6 / part5, within each run | 1.20 (1.10–1.30) | 1.20 (1.10–1.30) | 1.20 (1.10–1.30) | n/a |"),
            "{page}"
        );
        assert_eq!(page.matches("\n| ").count(), 5, "{page}");
    }

    #[test]
    fn loadgen_is_asked_for_both_servers_and_the_matrix() {
        let args = IdentityMatrix::new(true).loadgen_args();
        assert_eq!(args[0], "connects");
        assert!(args[2].starts_with("part5="), "{args:?}");
        assert!(args[4].starts_with("part6="), "{args:?}");
        let joined = args[5..].join(" ");
        assert_eq!(
            joined,
            "--runs 2 --connections 200 --in-flight 8 --warmup 20 --logins 2"
        );
    }
}
