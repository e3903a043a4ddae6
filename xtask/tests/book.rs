//! The book cannot drift from the code: generated pages must be fresh and
//! every include must bring in real text.

use xtask::{diff_pages, find_includes, matrix_pages, resolve, stale, workspace_root};

#[test]
fn diffs_are_fresh() {
    let root = workspace_root();
    let problems = stale(&root, &diff_pages(&root).expect("rendering diffs")).expect("reading");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn matrix_and_readme_summary_are_fresh() {
    let root = workspace_root();
    let problems = stale(&root, &matrix_pages(&root).expect("rendering")).expect("reading");
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
    let missing: Vec<&str> = testkit::TABLE
        .iter()
        .filter(|row| {
            testkit::Checkpoint::ALL
                .iter()
                .any(|c| matches!(row.expect(*c), testkit::Expect::Defect(_)))
        })
        .map(|row| row.scenario.id())
        .filter(|id| !page.contains(&format!("{{#{id}}}")))
        .collect();
    assert!(
        missing.is_empty(),
        "what-breaks.md has no heading with {{#id}} for: {}",
        missing.join(", ")
    );
}
