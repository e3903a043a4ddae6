//! Every scenario of the table, run against the real `part3-select-comparison` binary: one
//! test per scenario; `cargo test -p part3-select-comparison --test scenarios -- --exact <name>` runs one.

fn main() {
    testkit::scenario_suite(
        testkit::scenarios::Checkpoint::Part3,
        env!("CARGO_BIN_EXE_part3-select-comparison"),
    );
}
