//! The transcripts the book shows: what a scenario test observed on one
//! checkpoint, written under `book/src/generated/evidence/`.
//!
//! A transcript has two parts. The facts are compared: the scenario test
//! asserts them against the real binary, and `cargo xtask check` asserts
//! that the committed transcript holds exactly the table's facts. The
//! figures below them come from one run and are labelled so.

use crate::{Checkpoint, Fact, Scenario, Verdict};
use std::path::PathBuf;

/// The line that starts a transcript's figures.
pub const FIGURES_HEADING: &str = "Figures from one run";

/// Where the transcript of `scenario` on `checkpoint` lives, from the root.
pub fn transcript_path(checkpoint: Checkpoint, scenario: Scenario) -> PathBuf {
    PathBuf::from(format!(
        "book/src/generated/evidence/{}/{}.txt",
        scenario.id(),
        checkpoint.package()
    ))
}

/// The compared part of a transcript: the command, the verdict and the facts.
pub fn render_facts(
    checkpoint: Checkpoint,
    scenario: Scenario,
    verdict: Verdict,
    facts: &[Fact],
) -> String {
    let verdict = verdict.phrase();
    // libtest picks tests by substring: `broadcast` alone would also run
    // `cluster_broadcast`.
    let name = scenario.test_name();
    let exact = Scenario::ALL
        .iter()
        .any(|other| *other != scenario && other.test_name().contains(name.as_str()));
    let mut out = format!(
        "$ cargo test -p {} --test scenarios {name}{}\n{} / {}: {verdict}\n",
        checkpoint.package(),
        if exact { " -- --exact" } else { "" },
        checkpoint.package(),
        scenario.id()
    );
    for fact in facts {
        out.push_str(&format!("- {fact}\n"));
    }
    out
}

/// The figures part: a heading that says where they come from, then one
/// line each. Empty when there are none.
pub fn render_figures(figures: &[String], when_and_where: &str) -> String {
    if figures.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{FIGURES_HEADING} ({when_and_where}); they vary from run to run and no test compares them:\n"
    );
    for figure in figures {
        out.push_str(&format!("- {figure}\n"));
    }
    out
}

/// The compared part of a transcript on disk (everything before its figures).
pub fn facts_part(transcript: &str) -> &str {
    match transcript.find(FIGURES_HEADING) {
        Some(at) => &transcript[..at],
        None => transcript,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_not_part_of_the_facts() {
        let facts = render_facts(
            Checkpoint::Part4,
            Scenario::Healthcheck,
            Verdict::Works,
            &[Fact::Healthy],
        );
        let whole = format!(
            "{facts}{}",
            render_figures(&["took 1.2 s".into()], "one machine")
        );
        assert_eq!(facts_part(&whole), facts);
        assert!(
            facts.starts_with("$ cargo test -p part4-hardening --test scenarios healthcheck\n")
        );
        assert_eq!(render_figures(&[], "x"), "");
    }
}
