//! Black-box test harness for the tutorial's checkpoints.
//!
//! Each checkpoint's integration tests call [`scenario_tests!`], which makes
//! one `#[test]` per [`Scenario`]. A test starts the checkpoint's real binary
//! on a free loopback port ([`Server`]), drives real WebSocket clients
//! ([`Client`]) and checks the observed [`Outcome`] against the one row of
//! [`TABLE`] that says what this checkpoint should do.

pub mod browser;
mod client;
mod scenarios;
mod server;
mod silent;
mod table;

pub use client::{Client, Connection, Event};
pub use scenarios::{Outcome, Scenario};
pub use server::{HttpAnswer, Server};
pub use silent::{Dropped, SilentClient};
pub use table::{Checkpoint, Expect, Row, TABLE, Verdict, expected, row};

/// Runs a future to completion on a fresh two-thread runtime, for tests
/// that are plain `#[test]` functions.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime")
        .block_on(future)
}

/// Runs `scenario` against `binary` and panics, with the evidence, unless the
/// outcome is what [`TABLE`] expects of `checkpoint`.
pub fn check(checkpoint: Checkpoint, binary: &str, scenario: Scenario) {
    let expect = expected(checkpoint, scenario);
    let outcome = block_on(scenario.run(std::path::Path::new(binary))).unwrap_or_else(|err| {
        panic!(
            "scenario {} could not run on {}: {err:#}",
            scenario.id(),
            checkpoint.package()
        )
    });
    println!(
        "{} / {}: {:?}: {}",
        checkpoint.package(),
        scenario.id(),
        outcome.verdict,
        outcome.evidence
    );
    assert_eq!(
        outcome.verdict,
        expect.verdict(),
        "\n{} / {}: the table expects {expect:?}\nbut the scenario observed: {}\n\
         If the behaviour changed on purpose, update the row in tools/testkit/src/table.rs \
         and regenerate the book's matrix.",
        checkpoint.package(),
        scenario.id(),
        outcome.evidence,
    );
    if let Expect::WorksAs(evidence) = expect {
        assert_eq!(
            outcome.evidence,
            evidence,
            "{} / {}: works, but not as the table says",
            checkpoint.package(),
            scenario.id()
        );
    }
}

/// Expands to one `#[test]` per scenario for `$checkpoint`, running the
/// binary at `$binary` (use `env!("CARGO_BIN_EXE_<name>")`), plus a test that
/// the list here covers [`Scenario::ALL`].
#[macro_export]
macro_rules! scenario_tests {
    ($checkpoint:expr, $binary:expr) => {
        $crate::scenario_tests!(@each $checkpoint, $binary;
            healthcheck => Healthcheck,
            broadcast => Broadcast,
            missing_uid => MissingUid,
            non_numeric_uid => NonNumericUid,
            user_leaves => UserLeaves,
            client_vanishes => ClientVanishes,
            vanish_neighbours => VanishNeighbours,
            empty_close_frame => EmptyCloseFrame,
            same_uid_twice => SameUidTwice,
            burst => Burst,
            half_open_client => HalfOpenClient,
            slow_reader => SlowReader,
            oversized_frame => OversizedFrame,
            binary_frame => BinaryFrame,
            query_string_uid => QueryStringUid,
            shutdown => Shutdown,
            crowd => Crowd,
            leave_while_talking => LeaveWhileTalking,
        );
    };
    (@each $checkpoint:expr, $binary:expr; $($name:ident => $variant:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::check($checkpoint, $binary, $crate::Scenario::$variant);
            }
        )*

        #[test]
        fn every_scenario_has_a_test() {
            assert_eq!(&[$($crate::Scenario::$variant),*], $crate::Scenario::ALL);
        }
    };
}
