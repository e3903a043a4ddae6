//! Every scenario of the table, run against the real `part1` binary: one
//! test per scenario; `cargo test -p part1 --test scenarios -- --exact <name>` runs one.

fn main() {
    testkit::scenario_suite(
        testkit::scenarios::Checkpoint::Part1,
        env!("CARGO_BIN_EXE_part1"),
    );
}
