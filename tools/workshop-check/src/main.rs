//! `workshop-check`: runs the scenarios against the workshop crate (or any
//! chat server) and says which now work, which defects remain, and for each
//! remaining one the next hint and where the book explains it.
//!
//! Nobody edits the scenario table to see their progress: the verdicts come
//! from the runners' own judgement of what a user would expect (the same
//! judgement the checkpoints' tests compare with the table).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use scenarios::exercises::{EXERCISES, NOT_EXERCISES, exercise_for, workshop_scenarios};
use scenarios::{Checkpoint, Scenario, Verdict};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;
use target::Target;
use testkit::AtUrl;

mod hints;
mod target;

/// Checks your workshop crate: builds it, runs every scenario against its
/// binary, and prints what works, what is left to fix, and a hint for each.
///
/// Exit status 0 when every selected scenario works (at a --url: every one
/// that can be judged there), 1 when some do not, 2 when the check itself
/// could not run (a build error, a server that does not start or answer).
#[derive(Parser)]
#[command(
    version,
    after_help = "Examples:
  cargo run -p workshop-check                         check the workshop crate
  cargo run -p workshop-check -- --only user-leaves   check one scenario
  cargo run -p workshop-check -- hint 1               the next hint of exercise 1
  cargo run -p workshop-check -- --bin target/debug/part4-hardening
  cargo run -p workshop-check -- --url ws://127.0.0.1:5000/ws"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Action>,
    /// Check this server binary instead of building the workshop crate. It
    /// must read HOST and PORT from the environment, like the checkpoints.
    #[arg(long, value_name = "PATH", conflicts_with = "url")]
    bin: Option<PathBuf>,
    /// Check a server that is already running, such as ws://127.0.0.1:5000/ws.
    /// Scenarios share it, each with uids of its own; those that need the
    /// server's process or its limits lifted are not judged there (--bin).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Run only this scenario (repeat for more); see --list.
    #[arg(long, value_name = "SCENARIO")]
    only: Vec<String>,
    /// Scenarios run at once. Default: 8, or the number of CPU cores if
    /// more (scenarios mostly wait, so more of them than cores is faster);
    /// 2 at a --url, whose server may limit the connections of one address.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// List the scenarios and the exercise each belongs to, then exit.
    #[arg(long)]
    list: bool,
    /// Print one JSON object of verdicts instead of the summary (for
    /// `cargo xtask workshop verify`).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Action {
    /// Show the next hint of exercise N, one at a time (remembered under
    /// target/, so the next call shows the next one).
    Hint {
        /// The exercise's number, as on The exercises page and in the summary.
        exercise: usize,
        /// Show the hints already shown again, instead of the next one.
        #[arg(long)]
        again: bool,
    },
}

fn default_jobs(target: &Target) -> usize {
    match target {
        Target::Url(_) => 2,
        Target::Binary(_) => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            cores.max(testkit::SCENARIOS_AT_ONCE)
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match check(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("workshop-check: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the check; `Ok(true)` when every selected scenario works.
fn check(args: &Args) -> Result<bool> {
    if let Some(Action::Hint { exercise, again }) = &args.command {
        println!(
            "{}",
            hints::next_hint(&hints::state_file(), *exercise, *again)?
        );
        return Ok(true);
    }
    if args.list {
        list();
        return Ok(true);
    }
    let selected = select(&args.only)?;
    let own_crate = args.bin.is_none() && args.url.is_none();
    let target = match (&args.bin, &args.url) {
        (Some(bin), _) => Target::Binary(bin.clone()),
        (None, Some(url)) => Target::Url(url.clone()),
        (None, None) => Target::Binary(target::build_workshop()?),
    };
    // Once, before any scenario: a server that cannot be checked is one
    // message, not one per scenario.
    target::check_server(&target)?;
    let jobs = args.jobs.unwrap_or_else(|| default_jobs(&target));
    let verdicts = run_all(&selected, &target, jobs, !args.json);
    if args.json {
        let object: serde_json::Map<String, serde_json::Value> = verdicts
            .iter()
            .map(|(scenario, result)| (scenario.id().to_string(), result.word().into()))
            .collect();
        println!("{}", serde_json::Value::Object(object));
    } else {
        summary(&verdicts, own_crate);
    }
    Ok(verdicts.values().all(|result| {
        matches!(
            result,
            Checked::Ran(Verdict::Works) | Checked::NotCompared(_)
        )
    }))
}

/// The scenarios named by `--only`, or every scenario an exercise covers or
/// that already works on part2.
fn select(only: &[String]) -> Result<Vec<Scenario>> {
    if only.is_empty() {
        return Ok(workshop_scenarios().collect());
    }
    only.iter()
        .map(|id| {
            Scenario::ALL
                .iter()
                .copied()
                .find(|scenario| scenario.id() == id || scenario.test_name() == *id)
                .with_context(|| format!("no scenario is called {id:?}; see --list"))
        })
        .collect()
}

/// What part2 makes of `scenario`, for the list and the advice.
fn part2_verdict(scenario: Scenario) -> Verdict {
    scenarios::expect(Checkpoint::Part2, scenario).verdict()
}

fn list() {
    for line in list_lines() {
        println!("{line}");
    }
}

/// Each scenario, and the exercise it belongs to or why none.
fn list_lines() -> Vec<String> {
    let width = Scenario::ALL
        .iter()
        .map(|s| s.id().len())
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    for &scenario in Scenario::ALL {
        let belongs = match exercise_for(scenario) {
            Some((number, exercise)) => format!("exercise {number}: {}", exercise.title),
            None => match NOT_EXERCISES.iter().find(|(s, _)| *s == scenario) {
                Some((_, why)) => format!("not an exercise: {why}"),
                None if part2_verdict(scenario) == Verdict::Works => {
                    "works on part2 already".to_string()
                }
                None if scenario.is_cluster() => {
                    "not an exercise: a cluster of part 5 nodes over Redis; part2 has no cluster"
                        .to_string()
                }
                None => "not an exercise: part2 has nothing it could check (n/a)".to_string(),
            },
        };
        lines.push(format!("{:<width$}  {belongs}", scenario.id()));
    }
    lines
}

/// What became of one scenario.
#[derive(Debug, Clone, PartialEq)]
enum Checked {
    /// It ran; its verdict.
    Ran(Verdict),
    /// It could not be carried out, and why.
    Error(String),
    /// Not run: against a URL its verdict would mean nothing, and why.
    NotCompared(String),
}

impl Checked {
    /// The word of `--json`.
    fn word(&self) -> &'static str {
        match self {
            Checked::Ran(verdict) => verdict.word(),
            Checked::Error(_) => "error",
            Checked::NotCompared(_) => "not comparable",
        }
    }
}

type Verdicts = BTreeMap<Scenario, Checked>;

/// Runs the scenarios, `jobs` at a time, showing one line per scenario on
/// stderr as it comes when `show`. At a URL, the scenarios that need the
/// server to themselves run one at a time after the others, and those that
/// cannot be judged there are only reported.
fn run_all(selected: &[Scenario], target: &Target, jobs: usize, show: bool) -> Verdicts {
    let mut verdicts = Verdicts::new();
    let (mut shared, mut alone) = (Vec::new(), Vec::new());
    for &scenario in selected {
        match target {
            Target::Binary(_) => shared.push(scenario),
            Target::Url(_) => match testkit::at_url(scenario) {
                AtUrl::Shared => shared.push(scenario),
                AtUrl::Alone(_) => alone.push(scenario),
                AtUrl::NotComparable(why) => {
                    verdicts.insert(scenario, Checked::NotCompared(why));
                }
            },
        }
    }
    let total = selected.len();
    let width = selected.iter().map(|s| s.id().len()).max().unwrap_or(0);
    let line = |finished: usize, scenario: Scenario, checked: &Checked, took: Option<f64>| {
        if show {
            let took = took
                .map(|secs| format!(" ({secs:.1} s)"))
                .unwrap_or_default();
            eprintln!(
                "[{finished:>2}/{total}] {:<width$} {}{took}",
                scenario.id(),
                one_line(checked)
            );
        }
    };
    if show {
        let at_once = if jobs.max(1) == 1 {
            "one at a time".to_string()
        } else {
            format!("{} at a time", jobs.max(1))
        };
        let noun = if total == 1 { "scenario" } else { "scenarios" };
        eprintln!("running {total} {noun}, {at_once} ...");
    }
    let mut finished = 0;
    for (scenario, checked) in &verdicts {
        finished += 1;
        line(finished, *scenario, checked, None);
    }
    for (batch, at_once) in [(&shared, jobs.max(1)), (&alone, 1)] {
        let next = AtomicUsize::new(0);
        let (done, results) = mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..at_once {
                let done = done.clone();
                let next = &next;
                scope.spawn(move || {
                    while let Some(&scenario) = batch.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let started = Instant::now();
                        let outcome = testkit::block_on(async {
                            match target {
                                Target::Binary(bin) => testkit::run(scenario, bin).await,
                                Target::Url(url) => testkit::run_at(scenario, url).await,
                            }
                        });
                        // The receiver outlives the workers; nothing to do if not.
                        let _ = done.send((scenario, outcome, started.elapsed()));
                    }
                });
            }
            drop(done);
            for (scenario, outcome, took) in results.iter() {
                let checked = match outcome {
                    Ok(outcome) => {
                        let checked = Checked::Ran(outcome.verdict);
                        finished += 1;
                        // With --json the verdicts go to stdout; what was
                        // seen of each that does not work goes to stderr,
                        // for whoever needs to know why (`xtask` prints it
                        // when a verdict is not the one it wanted).
                        if !show && !matches!(outcome.verdict, Verdict::Works) {
                            eprintln!("{}: {}", scenario.id(), outcome.verdict.word());
                            for fact in &outcome.facts {
                                eprintln!("  - {fact}");
                            }
                            for figure in &outcome.figures {
                                eprintln!("  ~ {figure}");
                            }
                        }
                        if show {
                            let took = took.as_secs_f64();
                            eprintln!(
                                "[{finished:>2}/{total}] {:<width$} {} ({took:.1} s)",
                                scenario.id(),
                                describe(&outcome)
                            );
                        }
                        checked
                    }
                    Err(err) => {
                        let checked = Checked::Error(format!("{err:#}"));
                        finished += 1;
                        line(finished, scenario, &checked, Some(took.as_secs_f64()));
                        checked
                    }
                };
                verdicts.insert(scenario, checked);
            }
        });
    }
    verdicts
}

/// A scenario that did not run to a verdict, in one line: the first line
/// of its error (the rest comes once, at the end).
fn one_line(checked: &Checked) -> String {
    match checked {
        Checked::Ran(verdict) => verdict.word().to_string(),
        Checked::NotCompared(why) => format!("not judged at a URL: {why} (use --bin)"),
        Checked::Error(err) => {
            let first = err.lines().next().unwrap_or_default();
            if err.lines().nth(1).is_some() {
                format!("could not run: {first} (more below)")
            } else {
                format!("could not run: {first}")
            }
        }
    }
}

/// A verdict in a few words, with what was seen when it is not yet right.
fn describe(outcome: &testkit::Outcome) -> String {
    match outcome.verdict {
        Verdict::Works => Verdict::Works.word().to_string(),
        Verdict::Defect => {
            let seen: Vec<String> = outcome.facts.iter().map(ToString::to_string).collect();
            format!("NOT YET: {}", seen.join("; "))
        }
        Verdict::NotApplicable => "n/a: GET /ws answered 404".to_string(),
    }
}

/// Whether `checked` is a regression: a defect seen where part2 works.
/// An error or n/a says nothing about the code, and a scenario part2 fails
/// or has no cell for (close-handshake, the cluster) cannot regress.
fn regressed_from_part2(scenario: Scenario, checked: &Checked) -> bool {
    matches!(checked, Checked::Ran(Verdict::Defect)) && part2_verdict(scenario) == Verdict::Works
}

/// What works, and what is left in the order of the exercises, with each
/// exercise's first hint and where to read on. `own_crate`: the workshop
/// crate was checked, so a scenario that part2 got right and that fails now
/// was broken by an edit.
fn summary(verdicts: &Verdicts, own_crate: bool) {
    let ids = |scenarios: &[Scenario]| -> String {
        let ids: Vec<&str> = scenarios.iter().map(|s| s.id()).collect();
        ids.join(", ")
    };
    let with = |wanted: fn(&Checked) -> bool| -> Vec<Scenario> {
        verdicts
            .iter()
            .filter(|(_, checked)| wanted(checked))
            .map(|(s, _)| *s)
            .collect()
    };
    let works = with(|c| matches!(c, Checked::Ran(Verdict::Works)));
    println!("\nworks ({}): {}", works.len(), ids(&works));
    let mut left: BTreeMap<usize, Vec<Scenario>> = BTreeMap::new();
    let (mut regressed, mut others) = (Vec::new(), Vec::new());
    for (&scenario, checked) in verdicts {
        // Errors and n/a are no verdict on the code: they are reported
        // below, never as a regression.
        if !matches!(checked, Checked::Ran(Verdict::Defect)) {
            continue;
        }
        match exercise_for(scenario) {
            Some((number, _)) => left.entry(number).or_default().push(scenario),
            None if regressed_from_part2(scenario, checked) => regressed.push(scenario),
            None => others.push(scenario),
        }
    }
    let not_applicable = with(|c| matches!(c, Checked::Ran(Verdict::NotApplicable)));
    if !not_applicable.is_empty() {
        println!(
            "\nn/a ({}): {} (the server has no /ws route)",
            not_applicable.len(),
            ids(&not_applicable)
        );
    }
    let not_compared: Vec<(Scenario, &String)> = verdicts
        .iter()
        .filter_map(|(s, c)| match c {
            Checked::NotCompared(why) => Some((*s, why)),
            _ => None,
        })
        .collect();
    if !not_compared.is_empty() {
        println!(
            "\nnot judged at this URL ({}): their verdict there would mean nothing; check them \
             with --bin, which starts a server of their own for each:",
            not_compared.len()
        );
        for (scenario, why) in &not_compared {
            println!("  {}: {why}", scenario.id());
        }
    }
    if !regressed.is_empty() {
        let advice = if own_crate {
            " (undo your last change and compare)"
        } else {
            ""
        };
        println!(
            "\nbroken, though part2 got them right: {}{advice}",
            ids(&regressed)
        );
    }
    if !others.is_empty() {
        println!(
            "\nnot yet, and no exercise covers them (see --list): {}",
            ids(&others)
        );
    }
    if !left.is_empty() {
        println!("\nstill to fix, in the order of the exercises:");
    }
    for (number, scenarios) in &left {
        let exercise = &EXERCISES[number - 1];
        println!(
            "  exercise {number}, {} (about {} min): {}",
            exercise.title,
            exercise.minutes,
            ids(scenarios)
        );
        println!("    hint: {}", exercise.hints[0]);
        println!(
            "    more hints: cargo run -p workshop-check -- hint {number}, or The exercises page \
             (generated/exercises.html#exercise-{number} in the book)"
        );
        println!(
            "    read: {} in the book",
            exercise.read.replace(".md", ".html")
        );
    }
    let errors: Vec<(&Scenario, &String)> = verdicts
        .iter()
        .filter_map(|(s, c)| match c {
            Checked::Error(err) => Some((s, err)),
            _ => None,
        })
        .collect();
    for (scenario, err) in &errors {
        println!("\n{} could not run: {err}", scenario.id());
    }
    let judged = verdicts.len() - not_compared.len();
    if judged > 0 && works.len() == judged {
        println!("\nEvery checked scenario works. Well done!");
    }
}

#[cfg(test)]
mod tests;
