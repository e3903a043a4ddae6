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

/// Pages whose prose may state figures: the catalogue of transcripts, the
/// appendices (generated diffs with a guide) and the workshop's pages.
fn figures_allowed_on(page: &str) -> bool {
    page.starts_with("generated/") || page.starts_with("appendix-") || page.starts_with("workshop")
}

/// A measured figure, typed by hand: a number with one of the units a
/// measurement comes in.
fn figures(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == '.' || bytes[j] == ',') {
            j += 1;
        }
        let number: String = bytes[i..j].iter().collect();
        let number = number.trim_end_matches(['.', ',']);
        let mut k = j;
        if k < bytes.len() && bytes[k] == ' ' {
            k += 1;
        }
        let rest: String = bytes[k..bytes.len().min(k + 4)].iter().collect();
        let unit = ["ms", "µs", "MiB", "KiB", "s", "x", "×", "%"]
            .into_iter()
            .find(|unit| {
                rest.starts_with(unit)
                    && rest[unit.len()..]
                        .chars()
                        .next()
                        .is_none_or(|next| !next.is_alphanumeric())
            });
        if let Some(unit) = unit {
            found.push(format!("{number} {unit}"));
        }
        i = j.max(i + 1);
    }
    found
}

/// Whether a sentence that states a figure says where it comes from: it
/// names the constant of the code (`OUTBOX_BYTES`, `shutdown_timeout`), a
/// library's documented default, or the scenario whose parameter it is.
fn sourced(sentence: &str) -> bool {
    let spans: Vec<&str> = sentence.split('`').skip(1).step_by(2).collect();
    let names_constant = spans.iter().any(|span| {
        let name = span.trim_end_matches("()");
        (name.len() > 2
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            || name.contains("timeout")
            || name.contains("_size")
            || name.contains("interval")
    });
    names_constant || sentence.contains("default") || sentence.contains("matrix.md#")
}

/// The prose of a markdown page: no code blocks, no code spans' insides
/// are checked for figures, no HTML lines (captions, figures).
fn sentences(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_fence = false;
    let mut paragraph = String::new();
    let mut first_line = 0;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || trimmed.starts_with('<') || trimmed.starts_with("{{#") {
            continue;
        }
        if trimmed.is_empty() {
            if !paragraph.is_empty() {
                out.push((first_line, std::mem::take(&mut paragraph)));
            }
            continue;
        }
        if paragraph.is_empty() {
            first_line = index + 1;
        }
        paragraph.push_str(line);
        paragraph.push(' ');
    }
    if !paragraph.is_empty() {
        out.push((first_line, paragraph));
    }
    out.into_iter()
        .flat_map(|(line, paragraph)| {
            paragraph
                .split(". ")
                .map(|sentence| (line, sentence.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The book's own pages (`book/src/*.md`, not the generated ones below it):
/// name and text.
fn chapters() -> Vec<(String, String)> {
    let book_src = workspace_root().join("book/src");
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(&book_src).expect("listing book/src") {
        let path = entry.expect("listing book/src").path();
        let page = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if page.ends_with(".md") {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("reading {page}: {err}"));
            pages.push((page, text));
        }
    }
    pages
}

#[test]
fn no_measured_figure_is_typed_by_hand() {
    let mut typed = Vec::new();
    for (page, text) in chapters() {
        if figures_allowed_on(&page) {
            continue;
        }
        for (line, sentence) in sentences(&text) {
            let without_code: String = sentence.split('`').step_by(2).collect::<Vec<_>>().join(" ");
            let found = figures(&without_code);
            if !found.is_empty() && !sourced(&sentence) {
                typed.push(format!(
                    "{page}:{line}: {found:?} in \"{}\"",
                    sentence.trim()
                ));
            }
        }
    }
    assert!(
        typed.is_empty(),
        "a figure in prose must come from a generated snippet, or name the constant, the \
         library default or the scenario it is (a number that moves between runs belongs in a \
         table: say what to read there):\n{}",
        typed.join("\n")
    );
}

#[test]
fn figures_are_found_with_their_units_and_words_are_not() {
    assert_eq!(figures("waits 5 s, then 40 ms"), ["5 s", "40 ms"]);
    assert_eq!(figures("about 2.5 MiB and 30x"), ["2.5 MiB", "30 x"]);
    assert!(figures("part2 has 3 sessions and 2 users").is_empty());
    assert!(sourced("`WRITE_TIMEOUT` (10 s)"));
    assert!(sourced("actix-ws refuses frames over 64 KiB by default"));
    assert!(!sourced("part 4 took 3 s"));
}

/// A chapter a reader can finish: no page of the book's own prose is longer
/// than this, but the catalogues (the matrix, the exercises) and the
/// appendices, which hold generated diffs.
const MOST_LINES: usize = 600;

#[test]
fn no_chapter_is_longer_than_a_sitting() {
    let mut long = Vec::new();
    for (page, text) in chapters() {
        if page.starts_with("appendix-") {
            continue;
        }
        let lines = text.lines().count();
        if lines > MOST_LINES {
            long.push(format!("{page}: {lines} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "chapters over {MOST_LINES} lines; split them into sub-chapters: {long:?}"
    );
}
