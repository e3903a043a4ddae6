//! Every scenario of the table, run against the real `part4-hardening` binary: one
//! test per scenario; `cargo test -p part4-hardening --test scenarios -- --exact <name>` runs one.

fn main() {
    testkit::scenario_suite(
        testkit::scenarios::Checkpoint::Part4,
        env!("CARGO_BIN_EXE_part4-hardening"),
    );
}
