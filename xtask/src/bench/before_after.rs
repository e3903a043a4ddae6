//! The chapters' before-and-afters: a checkpoint built at older commits,
//! beside today's checkpoints, alternated in one run of `loadgen compare`
//! or `loadgen join-storm`, and the page of each.

use super::config::{ChatRun, TARGET};
use super::loadgen::loadgen_lines;
use super::pages::GENERATED;
use super::servers::{build_at, has_commit, release};
use super::stats::{cell, field, ratios, spread};
use anyhow::{Context, Result, bail};
use scenarios::Checkpoint;
use scenarios::figures::{CPU_US_PER_DELIVERY, P50_US, P99_US, RUN, SECS, SERVER};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A server of a before-and-after.
#[derive(Debug, Clone, Copy)]
pub enum Build {
    /// Today's code of a checkpoint, under its package name.
    Today(Checkpoint),
    /// A checkpoint as it was at `commit`, under `label`.
    At {
        checkpoint: Checkpoint,
        commit: &'static str,
        label: &'static str,
    },
}

impl Build {
    /// Its name in the table.
    pub fn label(&self) -> &'static str {
        match self {
            Build::Today(checkpoint) => checkpoint.package(),
            Build::At { label, .. } => label,
        }
    }
}

/// What a before-and-after measures.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// `loadgen compare`: a chat run's latency and CPU.
    Chat(ChatRun),
    /// `loadgen join-storm`: this many clients joining at once.
    JoinStorm { clients: usize },
}

/// A before-and-after that a chapter shows.
pub struct BeforeAfter {
    /// The page written, in the output folder.
    pub page: &'static str,
    /// The servers, in table order; every ratio is to the first.
    pub servers: &'static [Build],
    pub load: Load,
    /// How many times the servers are alternated.
    pub runs: usize,
}

/// Part 4 just before and just after it set `TCP_NODELAY` (see "The
/// heartbeat and Nagle's algorithm" in "What each loop costs").
pub const NODELAY: BeforeAfter = BeforeAfter {
    page: "part4-nodelay.md",
    servers: &[
        Build::At {
            checkpoint: Checkpoint::Part4,
            commit: "207b96f",
            label: "part4 before (207b96f)",
        },
        Build::At {
            checkpoint: Checkpoint::Part4,
            commit: "81bffa2",
            label: "part4 with TCP_NODELAY (81bffa2)",
        },
    ],
    load: Load::Chat(ChatRun {
        name: "part4-nodelay",
        ..TARGET
    }),
    runs: 3,
};

/// Part 4's session loop with four sources and with two, the heartbeat and
/// the kick moved out of it (see "Why two sources and not four"), at
/// saturation, beside part 2.
pub const TWO_SOURCES: BeforeAfter = BeforeAfter {
    page: "part4-two-sources.md",
    servers: &[
        Build::Today(Checkpoint::Part2),
        Build::At {
            checkpoint: Checkpoint::Part4,
            commit: "b5b5b64",
            label: "part4, four sources (b5b5b64)",
        },
        Build::At {
            checkpoint: Checkpoint::Part4,
            commit: "bcbb400",
            label: "part4, two sources (bcbb400)",
        },
    ],
    load: Load::Chat(ChatRun {
        name: "part4-two-sources",
        rate: 0,
        ..TARGET
    }),
    runs: 5,
};

/// A reconnect storm against part 4 from the commit before it announced
/// joins in batches, beside part 2 and today's part 4 (part 4's chapter on
/// queues, "What a benchmark sees").
pub const JOIN_STORM: BeforeAfter = BeforeAfter {
    page: "join-storm.md",
    servers: &[
        Build::Today(Checkpoint::Part2),
        Build::At {
            checkpoint: Checkpoint::Part4,
            commit: "f18b236",
            label: "part4-before-presence",
        },
        Build::Today(Checkpoint::Part4),
    ],
    load: Load::JoinStorm { clients: 5000 },
    runs: 3,
};

/// Every before-and-after the full bench runs, in order.
pub const BEFORE_AFTERS: &[BeforeAfter] = &[NODELAY, TWO_SOURCES, JOIN_STORM];

/// Builds the servers of `compare` (today's come from the full bench's
/// build), runs them and writes the page. Without one of the commits (a copy
/// with no git history, such as the offline bundle) it says so and leaves
/// the page as it is.
pub fn before_after(
    root: &Path,
    loadgen: &Path,
    compare: &BeforeAfter,
    header: &str,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let mut args = match compare.load {
        Load::Chat(chat) => {
            let mut args = vec!["compare".to_string()];
            args.extend(chat.loadgen_args());
            args
        }
        Load::JoinStorm { clients } => {
            vec![
                "join-storm".to_string(),
                "--clients".into(),
                clients.to_string(),
            ]
        }
    };
    args.extend(["--runs".into(), compare.runs.to_string()]);
    for server in compare.servers {
        let bin = match *server {
            Build::Today(checkpoint) => release(checkpoint.package()),
            Build::At {
                checkpoint, commit, ..
            } => {
                if !has_commit(root, commit) {
                    eprintln!(
                        "bench: commit {commit} is not in this copy's history; {} left as it is",
                        compare.page
                    );
                    return Ok(Vec::new());
                }
                build_at(root, commit, checkpoint.package())?
            }
        };
        args.extend([
            "--bin".into(),
            format!("{}={}", server.label(), bin.display()),
        ]);
    }
    eprintln!("bench: {}", compare.page);
    let figures = by_server(compare, loadgen_lines(loadgen, &args)?)?;
    let page = out.join(compare.page);
    std::fs::write(&page, before_after_page(compare, header, &figures))
        .with_context(|| format!("writing {}", page.display()))?;
    Ok(vec![page])
}

/// loadgen's lines, one per server and run, sorted by server in table
/// order; an error if a server has other than `compare.runs` of them.
fn by_server(compare: &BeforeAfter, lines: Vec<Value>) -> Result<Vec<(&'static str, Vec<Value>)>> {
    let mut figures: Vec<(&'static str, Vec<Value>)> = compare
        .servers
        .iter()
        .map(|server| (server.label(), Vec::new()))
        .collect();
    for line in lines {
        let label = line[SERVER].as_str().unwrap_or_default();
        let Some((_, runs)) = figures.iter_mut().find(|(known, _)| *known == label) else {
            bail!("loadgen ran a server it was not given: {}", line[SERVER]);
        };
        runs.push(line);
    }
    for (label, runs) in &figures {
        if runs.len() != compare.runs {
            bail!(
                "loadgen ran {label} {} times where {} were asked for",
                runs.len(),
                compare.runs
            );
        }
        // Ratios are taken run by run, so the runs must line up.
        let order: Vec<u64> = runs.iter().filter_map(|run| run[RUN].as_u64()).collect();
        if order != (1..=compare.runs as u64).collect::<Vec<_>>() {
            bail!("loadgen's runs of {label} came as {order:?}");
        }
    }
    Ok(figures)
}

/// The page of a before-and-after: a row per server, with ratios to the
/// first taken within each run.
pub fn before_after_page(
    compare: &BeforeAfter,
    header: &str,
    figures: &[(&str, Vec<Value>)],
) -> String {
    let Some((first, reference)) = figures.first() else {
        return String::new();
    };
    let runs = compare.runs;
    let builds = super::servers::builds();
    let mut out = format!("{GENERATED}\n\n");
    match compare.load {
        Load::Chat(chat) => {
            let _ = write!(
                out,
                "**{}**, {builds}, {runs} runs with the servers alternated; {header}. \
                 Medians, with min and max across the runs; ratios to {first} are taken within \
                 each run.\n\n\
                 | server | latency p50 ms | p99 ms | server CPU µs per delivery | p50, p99, CPU ratio to {first} |\n\
                 | --- | --- | --- | --- | --- |\n",
                chat.title()
            );
            for (label, runs) in figures {
                let ratio = |key: &str| spread(&ratios(runs, reference, key)).0;
                let _ = writeln!(
                    out,
                    "| {label} | {} | {} | {} | {:.2}, {:.2}, {:.2} |",
                    cell(runs, P50_US, 1000.0, 1),
                    cell(runs, P99_US, 1000.0, 1),
                    cell(runs, CPU_US_PER_DELIVERY, 1.0, 2),
                    ratio(P50_US),
                    ratio(P99_US),
                    ratio(CPU_US_PER_DELIVERY),
                );
            }
        }
        Load::JoinStorm { clients } => {
            let _ = write!(
                out,
                "Join storm: **{clients} clients at once**, timed until a line sent after the \
                 last connection reached every one of them; {builds}, {runs} runs with the \
                 servers alternated; {header}. Ratios to {first} are taken within each run.\n\n\
                 | server | median s | min s | max s | median ratio to {first} |\n\
                 | --- | --- | --- | --- | --- |\n"
            );
            for (label, runs) in figures {
                let (median, min, max) = spread(&field(runs, SECS));
                let (ratio, _, _) = spread(&ratios(runs, reference, SECS));
                let _ = writeln!(
                    out,
                    "| {label} | {median:.2} | {min:.2} | {max:.2} | {ratio:.2} |"
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(server: &str, run: u64, key: &str, value: f64) -> Value {
        let mut line = json!({ SERVER: server, RUN: run });
        line[key] = json!(value);
        line
    }

    #[test]
    fn a_join_storm_page_has_a_row_per_server_in_table_order() {
        let lines: Vec<Value> = (1..=3)
            .flat_map(|run| {
                [
                    line("part2", run, SECS, 0.6),
                    line("part4-before-presence", run, SECS, 2.4 + run as f64 / 10.0),
                    line("part4-hardening", run, SECS, 0.75),
                ]
            })
            .collect();
        let figures = by_server(&JOIN_STORM, lines).expect("every server three times");
        let page = before_after_page(&JOIN_STORM, "a machine", &figures);
        assert!(page.starts_with(GENERATED), "{page}");
        assert!(page.contains("**5000 clients at once**"), "{page}");
        assert!(
            page.contains("3 runs with the servers alternated; a machine."),
            "{page}"
        );
        assert!(
            page.contains("| part4-before-presence | 2.60 | 2.50 | 2.70 | 4.33 |"),
            "{page}"
        );
        assert!(
            page.contains("| part4-hardening | 0.75 | 0.75 | 0.75 | 1.25 |"),
            "{page}"
        );
    }

    #[test]
    fn a_chat_page_has_latency_cpu_and_ratios_to_the_first() {
        let run = |server: &str, run: u64, p50: f64, cpu: f64| {
            let mut line = line(server, run, P50_US, p50);
            line[P99_US] = json!(2.0 * p50);
            line[CPU_US_PER_DELIVERY] = json!(cpu);
            line
        };
        let lines = (1..=5)
            .flat_map(|n| {
                [
                    run("part2", n, 600.0, 4.0),
                    run("part4, four sources (b5b5b64)", n, 600.0, 4.2),
                    run("part4, two sources (bcbb400)", n, 540.0, 4.0),
                ]
            })
            .collect();
        let figures = by_server(&TWO_SOURCES, lines).expect("every server five times");
        let page = before_after_page(&TWO_SOURCES, "a machine", &figures);
        assert!(
            page.contains("**100 clients, one sender flat out for 5 s**"),
            "{page}"
        );
        assert!(page.contains("| p50, p99, CPU ratio to part2 |"), "{page}");
        assert!(
            page.contains("| part4, two sources (bcbb400) | 0.5 (0.5–0.5) | 1.1 (1.1–1.1) | 4.00 (4.00–4.00) | 0.90, 0.90, 1.00 |"),
            "{page}"
        );
    }

    #[test]
    fn lines_that_do_not_match_the_servers_asked_for_are_an_error() {
        let once = vec![line("part2", 1, SECS, 0.6)];
        assert!(by_server(&JOIN_STORM, once).is_err());
        let stranger = vec![line("part9", 1, SECS, 0.6)];
        assert!(by_server(&JOIN_STORM, stranger).is_err());
    }
}
