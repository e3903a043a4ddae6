//! Every scenario of the table, run against the real `part2` binary: one
//! test per scenario; `cargo test -p part2 --test scenarios -- --exact <name>` runs one.

fn main() {
    testkit::scenario_suite(
        testkit::scenarios::Checkpoint::Part2,
        env!("CARGO_BIN_EXE_part2"),
    );
}
