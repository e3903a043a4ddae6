//! The book stays lean: a transcript is shown once outside the matrix (which
//! shows them all), and elsewhere it is linked.

use std::collections::BTreeMap;
use xtask::{find_includes, workspace_root};

/// Pages allowed to show a transcript that a chapter shows too: the matrix
/// is the catalogue of every transcript.
const CATALOGUES: &[&str] = &["generated/matrix.md"];

#[test]
fn every_transcript_is_shown_once_outside_the_matrix() {
    let book_src = workspace_root().join("book/src");
    let includes = find_includes(&book_src).expect("reading the book");
    let mut shown: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for include in &includes {
        let page = include.page.to_string_lossy().replace('\\', "/");
        if CATALOGUES.contains(&page.as_str()) {
            continue;
        }
        let Some((_, transcript)) = include.argument.split_once("evidence/") else {
            continue;
        };
        shown
            .entry(transcript.to_string())
            .or_default()
            .push(format!("{page}:{}", include.line));
    }
    let repeated: Vec<_> = shown
        .iter()
        .filter(|(_, places)| places.len() > 1)
        .collect();
    assert!(
        repeated.is_empty(),
        "each transcript is shown in one chapter and linked from the others; these are shown \
         more than once: {repeated:#?}"
    );
}
