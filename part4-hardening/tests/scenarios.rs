//! Every scenario of the table, run against the real `part4-hardening` binary.

testkit::scenario_tests!(
    testkit::Checkpoint::Part4,
    env!("CARGO_BIN_EXE_part4-hardening")
);
