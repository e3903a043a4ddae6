//! Black-box test harness for the tutorial's checkpoints.
//!
//! Each checkpoint's `tests/scenarios.rs` calls [`scenario_suite`], which
//! makes one test per scenario of the catalogue (`scenarios` crate). A test
//! starts the checkpoint's real binary on a free loopback port ([`Server`]),
//! drives real WebSocket clients ([`Client`]), and compares what it observed
//! ([`Outcome`]) with the checkpoint's cell of the table: the verdict and
//! every fact, the cause of a defect included.

#[cfg(feature = "browser")]
pub mod browser;
#[cfg(feature = "browser")]
pub mod chat_page;
mod client;
pub mod crowd;
pub mod identity;
pub mod platform;
mod proxy;
mod raw;
mod redis;
mod runners;
mod server;
#[cfg(test)]
mod test_server;
#[cfg(feature = "tls")]
pub mod tls;
pub mod uids;

pub use client::{Client, Connection, Event, ServerClosed};
pub use proxy::{ConnectionFaults, Direction, FaultProxy};
pub use raw::{Dropped, RawClient, ReadBack, opcode};
pub use redis::{
    CHANNEL, REQUIRE_REDIS, RedisServer, Subscription, redis_available, redis_required,
    resp_command,
};
pub use runners::{AtUrl, Outcome, at_url, run, run_at};
pub use scenarios;
pub use server::{HttpAnswer, NOT_STARTED, Server};

use scenarios::{Checkpoint, Scenario, Verdict};
use std::path::{Path, PathBuf};

/// Runs a future to completion on a fresh two-thread runtime, for tests
/// that are plain functions.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime")
        .block_on(future)
}

/// Runs `scenario` against `binary` and compares the outcome with what the
/// table expects of `checkpoint`. `Err` explains the difference, with the
/// evidence. On success the transcript is kept under `target/evidence/` for
/// `cargo xtask evidence`.
pub fn run_and_compare(
    checkpoint: Checkpoint,
    binary: &Path,
    scenario: Scenario,
) -> Result<(), String> {
    let root = scenarios::workspace_root();
    let outcome = block_on(run(scenario, binary))
        .map_err(|err| format!("{} could not run: {err:#}", checkpoint.package()))?;
    let observed = scenarios::render_facts(checkpoint, scenario, outcome.verdict, &outcome.facts);
    let figures = scenarios::render_figures(&outcome.figures, &where_and_when());
    println!("{observed}{figures}");

    let expect = scenarios::expect(checkpoint, scenario);
    let expected_facts = expect
        .facts()
        .iter()
        .map(|fact| fact.resolved(&root))
        .collect::<Result<Vec<_>, String>>()?;
    let expected = scenarios::render_facts(checkpoint, scenario, expect.verdict(), &expected_facts);
    if outcome.verdict != expect.verdict() || outcome.facts != expected_facts {
        return Err(format!(
            "the table expects:\n{expected}\nbut the scenario observed:\n{observed}{figures}\n\
             If the behaviour changed on purpose, update the cell in tools/scenarios/src/table/, \
             then run `cargo xtask evidence` and `cargo xtask pages`."
        ));
    }
    if outcome.verdict != Verdict::NotApplicable {
        keep_transcript(checkpoint, scenario, &format!("{observed}{figures}"))?;
    }
    Ok(())
}

/// How many scenarios run at once by default, whatever the cores: a
/// scenario spends most of its time waiting (for a deadline, a heartbeat, a
/// close), so more of them than cores finish sooner. On 2 cores part 4's
/// suite took 58 s two at a time and 26 s six at a time, with the same
/// results.
pub const SCENARIOS_AT_ONCE: usize = 8;

/// Where passing scenarios leave their transcripts for `cargo xtask evidence`.
pub fn evidence_dir() -> PathBuf {
    scenarios::target_dir().join("evidence")
}

fn keep_transcript(checkpoint: Checkpoint, scenario: Scenario, text: &str) -> Result<(), String> {
    let path = evidence_dir()
        .join(scenario.id())
        .join(format!("{}.txt", checkpoint.package()));
    let write = || -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)
    };
    write().map_err(|err| format!("keeping the transcript at {}: {err}", path.display()))
}

/// "2026-11-26, Linux x86_64, 2 cores, debug build": where a figure comes from.
fn where_and_when() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "{}, {} {}, {cores} cores, {build} build",
        today(),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the system clock.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// well-known algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The `main` of a checkpoint's `tests/scenarios.rs`: one test per scenario,
/// named after it (`cargo test -p part2 --test scenarios user_leaves` runs
/// one), with the usual test-runner options and output.
#[cfg(feature = "suite")]
pub fn scenario_suite(checkpoint: Checkpoint, binary: &'static str) -> ! {
    let mut args = libtest_mimic::Arguments::from_args();
    // `--test-threads N` still wins; RUST_TEST_THREADS too, as with libtest.
    if args.test_threads.is_none() {
        args.test_threads = Some(
            std::env::var("RUST_TEST_THREADS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(SCENARIOS_AT_ONCE),
        );
    }
    // Without redis-server the cluster scenarios are skipped, and say so;
    // with REQUIRE_REDIS=1 they run, and fail for want of it.
    let skip_cluster = !redis_required() && !redis_available();
    if skip_cluster {
        eprintln!(
            "redis-server is not installed: the cluster scenarios are skipped (ignored). \
             Install it (Debian: `apt-get install redis-server`) to run them; \
             {REQUIRE_REDIS}=1 makes a missing redis-server a failure."
        );
    }
    // SIGTERM and SIGSTOP exist on Unix only: elsewhere the scenarios that
    // send them are skipped, and say so.
    let skip_signals = !cfg!(unix);
    if skip_signals {
        eprintln!(
            "this system has no Unix signals: the scenarios that send SIGTERM or SIGSTOP are \
             skipped (ignored)."
        );
    }
    let trials = Scenario::ALL
        .iter()
        .map(|&scenario| {
            let skip = (skip_cluster && scenario.needs_redis())
                || (skip_signals && scenario.setup().signals);
            libtest_mimic::Trial::test(scenario.test_name(), move || {
                run_and_compare(checkpoint, Path::new(binary), scenario).map_err(Into::into)
            })
            .with_ignored_flag(skip)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
