//! Every scenario of the table, run against the real `part1` binary.

testkit::scenario_tests!(testkit::Checkpoint::Part1, env!("CARGO_BIN_EXE_part1"));
