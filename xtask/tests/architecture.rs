//! ARCHITECTURE.md cannot drift from the code where it names it: every
//! file it names in backticks exists, and every Rust name it writes in
//! backticks (`fn_name()`, `Type`, `Type::item`, `CONST`, `macro!`)
//! occurs in the workspace's Rust sources.
//!
//! Grep-level on purpose: a name must occur somewhere, not in the file the
//! prose puts it in. Plain lowercase words (`params`, `check`) are not
//! checked, since English and Rust share them; neither is anything with a
//! `<placeholder>`, a glob or a space in it.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use xtask::workspace_root;

/// Folders that hold build output or history, not the repository's files.
const NOT_SOURCES: &[&str] = &["target", ".git", "book/book"];

/// Crates of crates.io whose paths the prose may name
/// (`tokio::time::timeout`); their names are not ours to check.
const EXTERNAL: &[&str] = &[
    "std",
    "tokio",
    "actix_web",
    "actix_ws",
    "serde_json",
    "libc",
];

/// Every file and folder of the repository, relative to its root, with `/`.
fn repository_paths(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let entries = fs::read_dir(root.join(&relative))
            .unwrap_or_else(|err| panic!("listing {}: {err}", relative.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|err| panic!("listing {}: {err}", relative.display()));
            let path = relative.join(entry.file_name());
            let shown = path.to_string_lossy().replace('\\', "/");
            if NOT_SOURCES.contains(&shown.as_str()) {
                continue;
            }
            let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
            if is_dir {
                pending.push(path);
                found.push(format!("{shown}/"));
            } else {
                found.push(shown);
            }
        }
    }
    found
}

/// What the Rust sources declare and mention.
struct Sources {
    /// Every identifier that occurs in any `.rs` file.
    words: HashSet<String>,
    /// Every name declared with `fn`.
    functions: HashSet<String>,
}

impl Sources {
    fn read(root: &Path, paths: &[String]) -> Sources {
        let mut words = HashSet::new();
        let mut functions = HashSet::new();
        for path in paths.iter().filter(|p| p.ends_with(".rs")) {
            let text = fs::read_to_string(root.join(path))
                .unwrap_or_else(|err| panic!("reading {path}: {err}"));
            let mut previous = "";
            for word in identifiers(&text) {
                if previous == "fn" {
                    functions.insert(word.to_string());
                }
                words.insert(word.to_string());
                previous = word;
            }
        }
        Sources { words, functions }
    }
}

/// The identifiers of a text, in order.
fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with(|c: char| c.is_alphabetic() || c == '_'))
}

/// The spans between backticks, outside fenced code blocks.
fn code_spans(markdown: &str) -> Vec<String> {
    let mut prose = String::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if !in_fence {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    prose
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|span| span.replace('\n', " ").trim().to_string())
        .collect()
}

/// Whether a span names a file or folder of the repository (rather than
/// a pattern, a command, a URL or a path outside it).
fn names_a_path(span: &str) -> bool {
    let looks_like_one = span.contains('/')
        || [".rs", ".md", ".toml"]
            .iter()
            .any(|extension| span.ends_with(extension));
    let pattern_or_elsewhere = span.contains(['<', '*', '{', '#', ' ', '$', '='])
        || span.contains("://")
        || span.contains("..")
        || span.starts_with('/')
        || span == "n/a"
        || NOT_SOURCES
            .iter()
            .any(|output| span.starts_with(&format!("{output}/")));
    looks_like_one && !pattern_or_elsewhere
}

/// Whether a path exists: from the root, or as the tail of a path (the
/// prose often names `runners/mod.rs` inside the crate it describes).
fn exists(paths: &[String], span: &str) -> bool {
    let wanted = span.trim_start_matches("./");
    paths.iter().any(|path| {
        path == wanted
            || path.trim_end_matches('/') == wanted.trim_end_matches('/')
            || path.ends_with(&format!("/{wanted}"))
    })
}

/// The Rust names a span stands for, if it is Rust: a path of identifiers,
/// optionally called (`name(args)`), a macro (`name!`), or a signature
/// (`name(args) -> Type`). Each comes with whether it must be a `fn`.
fn rust_names(span: &str) -> Option<Vec<(String, bool)>> {
    let (head, returns) = match span.split_once("->") {
        Some((head, returns)) => (head.trim(), Some(returns.trim())),
        None => (span, None),
    };
    let (path, call, arguments) = if let Some(path) = head.strip_suffix('!') {
        (path, false, "")
    } else if let Some((path, rest)) = head.split_once('(') {
        let arguments = rest.strip_suffix(')')?;
        (path, true, arguments)
    } else {
        (head, false, "")
    };
    let segments: Vec<&str> = path.split("::").collect();
    if EXTERNAL.contains(&segments[0]) {
        return None;
    }
    let is_identifier = |word: &str| {
        !word.is_empty()
            && word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !segments.iter().all(|segment| is_identifier(segment)) {
        return None;
    }
    if returns.is_some_and(|returns| !is_identifier(returns)) {
        return None;
    }
    // A plain lowercase word is as likely English as Rust.
    let last = segments[segments.len() - 1];
    let plain_word = segments.len() == 1
        && !call
        && !head.ends_with('!')
        && last.chars().all(|c| c.is_ascii_lowercase());
    if plain_word {
        return None;
    }
    let mut names: Vec<(String, bool)> = segments
        .iter()
        .enumerate()
        .map(|(index, segment)| {
            let is_function = call
                && index == segments.len() - 1
                && segment.starts_with(|c: char| c.is_ascii_lowercase());
            (segment.to_string(), is_function)
        })
        .collect();
    // Paths among the arguments (`Cell::Like(Checkpoint::Part4)`), not the
    // parameter names (`row(scenario)`).
    for argument in arguments.split(',').map(str::trim) {
        if argument.contains("::") && argument.split("::").all(is_identifier) {
            names.extend(
                argument
                    .split("::")
                    .map(|segment| (segment.to_string(), false)),
            );
        }
    }
    names.extend(returns.map(|returns| (returns.to_string(), false)));
    Some(names)
}

#[test]
fn architecture_names_only_what_exists() {
    let root = workspace_root();
    let text = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("reading ARCHITECTURE.md");
    let paths = repository_paths(&root);
    let sources = Sources::read(&root, &paths);
    let spans = code_spans(&text);
    assert!(spans.len() > 300, "found only {} code spans", spans.len());
    let (mut files, mut names) = (0, 0);
    let mut problems = Vec::new();
    for span in &spans {
        if names_a_path(span) {
            files += 1;
            if !exists(&paths, span) {
                problems.push(format!("`{span}`: no such file or folder"));
            }
        } else if let Some(rust) = rust_names(span) {
            names += 1;
            for (name, is_function) in rust {
                if is_function && !sources.functions.contains(&name) {
                    problems.push(format!("`{span}`: no `fn {name}` in the Rust sources"));
                } else if !sources.words.contains(&name) {
                    problems.push(format!("`{span}`: `{name}` occurs in no Rust source"));
                }
            }
        }
    }
    // The checks must have checked something.
    assert!(files > 40 && names > 150, "{files} paths and {names} names");
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn spans_are_told_apart() {
    assert!(names_a_path("tools/testkit"));
    assert!(names_a_path("guards.rs"));
    assert!(!names_a_path(
        "book/src/generated/evidence/<scenario-id>/<package>.txt"
    ));
    assert!(!names_a_path("book/theme/*.css"));
    assert!(!names_a_path("target/evidence/"));
    assert!(!names_a_path("n/a"));
    assert!(!names_a_path("git diff --no-index"));
    assert_eq!(
        rust_names("row(scenario) -> Row"),
        Some(vec![("row".into(), true), ("Row".into(), false)])
    );
    assert_eq!(
        rust_names("Cell::Like(Checkpoint::Part4)"),
        Some(vec![
            ("Cell".into(), false),
            ("Like".into(), false),
            ("Checkpoint".into(), false),
            ("Part4".into(), false)
        ])
    );
    assert_eq!(
        rust_names("catalogue!"),
        Some(vec![("catalogue".into(), false)])
    );
    assert_eq!(rust_names("params"), None);
    assert_eq!(
        rust_names("tokio::time::timeout(scenario.deadline(), ...)"),
        None
    );
    assert_eq!(rust_names("Saw { who, event: Seen }"), None);
}
