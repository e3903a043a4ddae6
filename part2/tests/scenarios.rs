//! Every scenario of the table, run against the real `part2` binary.

testkit::scenario_tests!(testkit::Checkpoint::Part2, env!("CARGO_BIN_EXE_part2"));
