//! Every scenario of the table, run against the real `part5-scale-out` binary: one
//! test per scenario; `cargo test -p part5-scale-out --test scenarios -- --exact <name>` runs one.

fn main() {
    testkit::scenario_suite(
        testkit::scenarios::Checkpoint::Part5,
        env!("CARGO_BIN_EXE_part5-scale-out"),
    );
}
