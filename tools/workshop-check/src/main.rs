//! `workshop-check`: runs the scenarios against the workshop crate (or any
//! chat server) and says which now work, which defects remain, and for each
//! remaining one the next hint and where the book explains it.
//!
//! Nobody edits the scenario table to see their progress: the verdicts come
//! from the runners' own judgement of what a user would expect (the same
//! judgement the checkpoints' tests compare with the table).

use anyhow::{Context, Result, bail};
use clap::Parser;
use scenarios::exercises::{EXERCISES, NOT_EXERCISES, exercise_for, workshop_scenarios};
use scenarios::{Scenario, Verdict};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// Checks your workshop crate: builds it, runs every scenario against its
/// binary, and prints what works, what is left to fix, and a hint for each.
///
/// Exit status 0 when every selected scenario works, 1 when some do not,
/// 2 when the check itself could not run (a build error, say).
#[derive(Parser)]
#[command(
    version,
    after_help = "Examples:
  cargo run -p workshop-check                         check the workshop crate
  cargo run -p workshop-check -- --only user-leaves   check one scenario
  cargo run -p workshop-check -- --bin target/debug/part4-hardening
  cargo run -p workshop-check -- --url ws://127.0.0.1:5000/ws"
)]
struct Args {
    /// Check this server binary instead of building the workshop crate. It
    /// must read HOST and PORT from the environment, like the checkpoints.
    #[arg(long, value_name = "PATH", conflicts_with = "url")]
    bin: Option<PathBuf>,
    /// Check a server that is already running, such as ws://127.0.0.1:5000/ws.
    /// Every scenario shares it, and those that watch or signal its process
    /// cannot run.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Run only this scenario (repeat for more); see --list.
    #[arg(long, value_name = "SCENARIO")]
    only: Vec<String>,
    /// Scenarios run at once [default: 8, or the number of CPU cores if
    /// more; scenarios mostly wait, so more of them than cores is faster].
    #[arg(long, value_name = "N", default_value_t = default_jobs())]
    jobs: usize,
    /// List the scenarios and the exercise each belongs to, then exit.
    #[arg(long)]
    list: bool,
    /// Print one JSON object of verdicts instead of the summary (for
    /// `cargo xtask workshop verify`).
    #[arg(long)]
    json: bool,
}

fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.max(testkit::SCENARIOS_AT_ONCE)
}

/// Where the scenarios run.
enum Target {
    Binary(PathBuf),
    Url(String),
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
    if args.list {
        list();
        return Ok(true);
    }
    let selected = select(&args.only)?;
    let target = match (&args.bin, &args.url) {
        (Some(bin), _) => Target::Binary(bin.clone()),
        (None, Some(url)) => Target::Url(url.clone()),
        (None, None) => Target::Binary(build_workshop()?),
    };
    let verdicts = run_all(&selected, &target, args.jobs, !args.json)?;
    if args.json {
        let object: serde_json::Map<String, serde_json::Value> = verdicts
            .iter()
            .map(|(scenario, result)| {
                let verdict = match result {
                    Ok(verdict) => verdict.word(),
                    Err(_) => "error",
                };
                (scenario.id().to_string(), verdict.into())
            })
            .collect();
        println!("{}", serde_json::Value::Object(object));
    } else {
        summary(&verdicts);
    }
    Ok(verdicts
        .values()
        .all(|verdict| matches!(verdict, Ok(Verdict::Works))))
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

fn list() {
    for &scenario in Scenario::ALL {
        let belongs = match exercise_for(scenario) {
            Some((number, exercise)) => format!("exercise {number}: {}", exercise.title),
            None => match NOT_EXERCISES.iter().find(|(s, _)| *s == scenario) {
                Some((_, why)) => format!("not an exercise: {why}"),
                None => "works on part2 already".to_string(),
            },
        };
        println!("{:<22} {belongs}", scenario.id());
    }
}

/// Builds the workshop crate with cargo and returns its binary.
fn build_workshop() -> Result<PathBuf> {
    let root = scenarios::workspace_root();
    eprintln!("building the workshop crate (cargo build -p workshop) ...");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&root)
        .args(["build", "--quiet", "-p", "workshop"])
        .status()
        .context("running cargo build -p workshop")?;
    if !status.success() {
        bail!("the workshop crate does not build: fix the errors above, then check again");
    }
    Ok(scenarios::target_dir()
        .join("debug")
        .join(format!("workshop{}", std::env::consts::EXE_SUFFIX)))
}

type Verdicts = BTreeMap<Scenario, Result<Verdict, String>>;

/// Runs the scenarios, `jobs` at a time, showing each verdict on stderr as
/// it comes when `show`.
fn run_all(selected: &[Scenario], target: &Target, jobs: usize, show: bool) -> Result<Verdicts> {
    if let Target::Binary(bin) = target
        && !bin.is_file()
    {
        bail!("{} is not a file", bin.display());
    }
    if show {
        eprintln!("running {} scenarios, {jobs} at a time ...", selected.len());
    }
    let width = selected.iter().map(|s| s.id().len()).max().unwrap_or(0);
    let next = AtomicUsize::new(0);
    let (done, results) = mpsc::channel();
    let mut verdicts = Verdicts::new();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let done = done.clone();
            let next = &next;
            scope.spawn(move || {
                while let Some(&scenario) = selected.get(next.fetch_add(1, Ordering::Relaxed)) {
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
        for (finished, (scenario, outcome, took)) in results.iter().enumerate() {
            let (word, result) = match outcome {
                Ok(outcome) => (describe(&outcome), Ok(outcome.verdict)),
                Err(err) => (format!("could not run: {err:#}"), Err(format!("{err:#}"))),
            };
            if show {
                eprintln!(
                    "[{:>2}/{}] {:<width$} {word} ({:.1} s)",
                    finished + 1,
                    selected.len(),
                    scenario.id(),
                    took.as_secs_f64()
                );
            }
            verdicts.insert(scenario, result);
        }
    });
    Ok(verdicts)
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

/// What works, and what is left in the order of the exercises, with each
/// exercise's first hint and the book section to read.
fn summary(verdicts: &Verdicts) {
    let works: Vec<&str> = verdicts
        .iter()
        .filter(|(_, v)| matches!(v, Ok(Verdict::Works)))
        .map(|(s, _)| s.id())
        .collect();
    println!("\nworks ({}): {}", works.len(), works.join(", "));
    let mut left: BTreeMap<usize, Vec<Scenario>> = BTreeMap::new();
    let mut others = Vec::new();
    for (&scenario, verdict) in verdicts {
        if matches!(verdict, Ok(Verdict::Works)) {
            continue;
        }
        match exercise_for(scenario) {
            Some((number, _)) => left.entry(number).or_default().push(scenario),
            None => others.push(scenario),
        }
    }
    if left.is_empty() && others.is_empty() {
        println!("\nEvery checked scenario works. Well done!");
        return;
    }
    if !others.is_empty() {
        let ids: Vec<&str> = others.iter().map(|s| s.id()).collect();
        println!(
            "\nbroken, though part2 got them right: {} (undo your last change and compare)",
            ids.join(", ")
        );
    }
    if !left.is_empty() {
        println!("\nstill to fix, in the order of the exercises:");
    }
    for (number, scenarios) in &left {
        let exercise = &EXERCISES[number - 1];
        let ids: Vec<&str> = scenarios.iter().map(|s| s.id()).collect();
        println!(
            "  exercise {number}, {} (about {} min): {}",
            exercise.title,
            exercise.minutes,
            ids.join(", ")
        );
        println!("    hint: {}", exercise.hints[0]);
        println!(
            "    read: {} in the book (more hints: the workshop chapter)",
            exercise.read.replace(".md", ".html")
        );
    }
    let errors: Vec<(&Scenario, &String)> = verdicts
        .iter()
        .filter_map(|(s, v)| v.as_ref().err().map(|e| (s, e)))
        .collect();
    for (scenario, err) in errors {
        println!("\n{} could not run: {err}", scenario.id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn only_takes_ids_and_test_names_and_rejects_others() {
        let picked = select(&["user-leaves".into(), "half_open_client".into()]).expect("known");
        assert_eq!(picked, [Scenario::UserLeaves, Scenario::HalfOpenClient]);
        let err = select(&["nope".into()]).expect_err("unknown");
        assert!(err.to_string().contains("\"nope\""), "{err}");
    }

    #[test]
    fn the_default_selection_leaves_out_what_no_exercise_can_fix() {
        let all = select(&[]).expect("default");
        assert!(!all.contains(&Scenario::CloseHandshake));
        assert!(all.contains(&Scenario::UserLeaves));
        assert!(all.contains(&Scenario::Broadcast));
    }

    #[test]
    fn a_missing_binary_is_an_error_not_a_verdict() {
        let target = Target::Binary(Path::new("no/such/server").to_path_buf());
        let err = run_all(&[Scenario::Healthcheck], &target, 1, false).expect_err("no binary");
        assert!(err.to_string().contains("is not a file"), "{err}");
    }
}
