//! The book cannot drift from the code: generated pages and transcripts must
//! be fresh, every include must bring in real text, and every close reason
//! part 4 declares must be asserted by a scenario.

use scenarios::{Checkpoint, Expect, Scenario};
use xtask::{
    asserted_closes, find_includes, pages, resolve, stale, stale_transcripts, workspace_root,
};

#[test]
fn pages_are_fresh() {
    let root = workspace_root();
    let problems = stale(&root, &pages(&root).expect("rendering")).expect("reading");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn transcripts_show_the_tables_facts() {
    let problems = stale_transcripts(&workspace_root()).expect("reading");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_include_resolves_to_text() {
    let book_src = workspace_root().join("book/src");
    let includes = find_includes(&book_src).expect("reading the book");
    assert!(
        !includes.is_empty(),
        "the book includes nothing: is book/src there?"
    );
    let problems: Vec<String> = includes
        .iter()
        .filter_map(|include| {
            resolve(&book_src, include).err().map(|err| {
                format!(
                    "{}:{}: {{{{#include {}}}}}: {err:#}",
                    include.page.display(),
                    include.line,
                    include.argument
                )
            })
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_known_defect_has_a_section_in_what_breaks() {
    // The matrix links each defect to what-breaks.md#<scenario id>.
    let page = std::fs::read_to_string(workspace_root().join("book/src/what-breaks.md"))
        .expect("reading what-breaks.md");
    let missing: Vec<&str> = Scenario::ALL
        .iter()
        .filter(|scenario| {
            Checkpoint::ALL
                .iter()
                .any(|c| matches!(scenarios::expect(*c, **scenario), Expect::Defect { .. }))
        })
        .map(|scenario| scenario.id())
        .filter(|id| !page.contains(&format!("{{#{id}}}")))
        .collect();
    assert!(
        missing.is_empty(),
        "what-breaks.md has no heading with {{#id}} for: {}",
        missing.join(", ")
    );
}

#[test]
fn every_close_reason_of_part4_is_asserted() {
    // Each `const NAME: &str = "...";` in part 4's `limits` block, but the
    // healthcheck text, is a close reason; each must be one a scenario sees.
    let source = std::fs::read_to_string(workspace_root().join("part4-hardening/src/main.rs"))
        .expect("reading part4");
    let asserted: Vec<String> = asserted_closes(Checkpoint::Part4)
        .into_iter()
        .map(|(_, reason, _)| reason)
        .collect();
    let declared: Vec<&str> = source
        .lines()
        .skip_while(|line| !line.contains("ANCHOR: limits"))
        .take_while(|line| !line.contains("ANCHOR_END: limits"))
        .filter(|line| line.starts_with("const ") && line.contains(": &str"))
        .filter(|line| !line.contains("HEALTHCHECK_TEXT"))
        .map(|line| line.split_whitespace().nth(1).unwrap_or(line))
        .collect();
    assert!(declared.len() >= 7, "found only {declared:?}");
    // The reasons may wrap onto the next line, so look them up in the whole text.
    for reason in &asserted {
        assert!(
            source.contains(&format!("\"{reason}\"")),
            "part 4 never declares the asserted reason {reason:?}"
        );
    }
    assert_eq!(
        declared.len(),
        asserted.len(),
        "part 4 declares {declared:?} but the scenarios assert {asserted:?}"
    );
}
