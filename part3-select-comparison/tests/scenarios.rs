//! Every scenario of the table, run against the real `part3-select-comparison` binary.

testkit::scenario_tests!(
    testkit::Checkpoint::Part3,
    env!("CARGO_BIN_EXE_part3-select-comparison")
);
