//! The scenario table: the checkpoints, the scenarios, and for every pair what
//! the checkpoint's real binary must show.
//!
//! This crate has no dependencies, so that anything that only reads the table
//! (xtask, which renders the book's matrix and transcripts) builds in seconds.
//! The harness that runs the scenarios lives in `testkit`.
//!
//! A scenario is declared in three places, and leaving out any one of them
//! fails to compile:
//! 1. its catalogue entry in [`catalogue`] (id, title, deadline);
//! 2. its runner in `testkit` (an exhaustive `match` on [`Scenario`]);
//! 3. its row in [`table`] (an exhaustive `match` returning a [`Row`]).

mod catalogue;
mod checkpoint;
pub mod exercises;
mod facts;
pub mod figures;
pub mod params;
pub mod steps;
mod table;
mod transcript;

pub use catalogue::{Lift, Scenario, Setup, Shape};
pub use checkpoint::Checkpoint;
pub use facts::{Fact, Panic, Place, Seen, Text, close, close_code_name};
pub use table::{Cell, Expect, Row, Verdict, expect, row};
pub use transcript::{FIGURES_HEADING, facts_part, render_facts, render_figures, transcript_path};

/// The workspace root, for resolving source places such as
/// `part2/src/main.rs`: the parent of `tools/`.
pub fn workspace_root() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // tools/scenarios -> tools -> root; a crate moved elsewhere fails loudly in tests.
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

/// Where cargo puts build outputs: `CARGO_TARGET_DIR` when set, else the
/// workspace's `target/`. The scenario tests leave their transcripts there, and
/// xtask and workshop-check find binaries there.
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}
