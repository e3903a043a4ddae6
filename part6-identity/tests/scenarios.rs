//! Every scenario of the table, run against the real `part6-identity` binary: one
//! test per scenario; `cargo test -p part6-identity --test scenarios -- --exact <name>` runs one.

fn main() {
    testkit::scenario_suite(
        testkit::scenarios::Checkpoint::Part6,
        env!("CARGO_BIN_EXE_part6-identity"),
    );
}
