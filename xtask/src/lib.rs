//! The book's generated pages and transcripts, and the checks that keep the
//! book in step with the code.
//!
//! `cargo xtask pages` writes the pages rendered from the sources and the
//! scenario table (diffs, matrix, close codes, the README's summary,
//! diagrams); `cargo xtask evidence` copies the transcripts that the scenario
//! tests left under `target/evidence/`; `cargo xtask check` verifies all of
//! it without writing. The tests in `xtask/tests` run the same checks.
//!
//! One module per job: [`generated`] (what is written and what is stale),
//! [`diffs`], [`matrix`] (and the close codes and README summary),
//! [`diagrams`], [`evidence`], [`includes`] (mdBook's include rules),
//! [`course`] (captions, chapters, `Run it`), [`links`] and [`layout`] (the
//! README's and the introduction's tables of folders); `bench`,
//! `workshop` and `steps` are chores of their own, the last two built on
//! [`stages`].

pub mod bench;
pub mod course;
pub mod diagrams;
pub mod diffs;
pub mod evidence;
pub mod generated;
pub mod includes;
pub mod layout;
pub mod links;
pub mod matrix;
pub mod stages;
pub mod steps;
pub mod workshop;

pub use course::{
    Listing, caption_problem, find_listings, introduction_chapters, run_it_problem,
    summary_chapters,
};
pub use diagrams::{
    DIAGRAM_SOURCES, DIAGRAMS_DIR, RENDERS_DIAGRAMS, diagram_pages, diagram_sources, render_diagram,
};
pub use diffs::{diff_pages, diffs, render_diff};
pub use evidence::{EVIDENCE_DIR, copy_evidence, stale_transcripts, transcripts};
pub use generated::{Generated, pages, stale, write_changed};
pub use includes::{Include, find_includes, resolve};
pub use layout::{
    LAYOUT_END, LAYOUT_PAGES, LAYOUT_START, LayoutRow, layout_rows, render_layout, with_layout,
};
pub use links::{broken_fragments, fragment_ids};
pub use matrix::{
    CLOSE_CODES_PATH, DEFECT_PAGES, MATRIX_PATH, SUMMARY_END, SUMMARY_START, asserted_closes,
    defect_pages, readme_with_summary, render_close_codes, render_matrix, render_summary,
};
pub use scenarios::workspace_root;
