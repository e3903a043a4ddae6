//! mdBook's `{{#include}}`: finding every one in the book and resolving it
//! as mdBook would (whole files, line ranges, anchors).

use crate::generated::crate_files;
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};

/// One `{{#include ...}}` or `{{#rustdoc_include ...}}` found in the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The markdown file that holds it.
    pub page: PathBuf,
    /// 1-based line in that file.
    pub line: usize,
    /// The argument as written: `path[:anchor]` or `path[:start[:end]]`.
    pub argument: String,
}

/// Every include of every markdown file under `book_src`, in path order.
pub fn find_includes(book_src: &Path) -> Result<Vec<Include>> {
    let mut found = Vec::new();
    for page in markdown_pages(book_src)? {
        let text = fs::read_to_string(book_src.join(&page))
            .with_context(|| format!("reading {}", page.display()))?;
        for (index, line) in text.lines().enumerate() {
            found.extend(includes_in_line(line).into_iter().map(|argument| Include {
                page: page.clone(),
                line: index + 1,
                argument,
            }));
        }
    }
    Ok(found)
}

/// The arguments of the includes on one line, but escaped ones (`\{{#include`).
pub(crate) fn includes_in_line(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("{{#") {
        let escaped = rest[..at].ends_with('\\');
        let after = &rest[at + 3..];
        let Some(close) = after.find("}}") else { break };
        let inner = after[..close].trim();
        rest = &after[close + 2..];
        if escaped {
            continue;
        }
        for keyword in ["include ", "rustdoc_include "] {
            if let Some(argument) = inner.strip_prefix(keyword) {
                found.push(argument.trim().to_string());
            }
        }
    }
    found
}

/// Resolves an include as mdBook would and returns the text it brings in,
/// or an error saying why it would be missing or empty.
pub fn resolve(book_src: &Path, include: &Include) -> Result<String> {
    let (file, selector) = match include.argument.split_once(':') {
        Some((file, selector)) => (file, Some(selector)),
        None => (include.argument.as_str(), None),
    };
    let base = book_src.join(&include.page);
    let dir = base.parent().unwrap_or(book_src);
    let path = dir.join(file);
    let text = fs::read_to_string(&path)
        .with_context(|| format!("the included file {} cannot be read", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let selected: Vec<&str> = match selector {
        None => lines,
        Some(selector) if is_line_range(selector) => line_range(&lines, selector)?,
        Some(anchor) => anchored(&lines, anchor)
            .with_context(|| format!("anchor {anchor:?} in {}", path.display()))?,
    };
    let body: Vec<&str> = selected
        .into_iter()
        .filter(|line| !line.contains("ANCHOR:") && !line.contains("ANCHOR_END:"))
        .collect();
    if body.iter().all(|line| line.trim().is_empty()) {
        bail!("it brings in nothing but blank lines");
    }
    Ok(body.join("\n"))
}

/// A page's markdown with the markdown pages it includes put in place.
pub(crate) fn expand_markdown_includes(book_src: &Path, page: &Path) -> Result<String> {
    let text = fs::read_to_string(book_src.join(page))
        .with_context(|| format!("reading {}", page.display()))?;
    let mut out = String::new();
    for (index, line) in text.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        for argument in includes_in_line(line) {
            if argument.ends_with(".md") {
                let include = Include {
                    page: page.to_path_buf(),
                    line: index + 1,
                    argument,
                };
                out.push_str(&resolve(book_src, &include)?);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// The markdown files under `book_src`, relative to it, sorted.
pub(crate) fn markdown_pages(book_src: &Path) -> Result<Vec<PathBuf>> {
    let mut pages: Vec<PathBuf> = crate_files(book_src)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    Ok(pages)
}

fn is_line_range(selector: &str) -> bool {
    selector
        .split(':')
        .all(|part| part.chars().all(|c| c.is_ascii_digit()))
}

fn line_range<'a>(lines: &[&'a str], selector: &str) -> Result<Vec<&'a str>> {
    let mut parts = selector.splitn(2, ':');
    let number = |text: Option<&str>| -> Result<Option<usize>> {
        match text {
            None | Some("") => Ok(None),
            Some(n) => Ok(Some(n.parse().context("a line number")?)),
        }
    };
    let start = number(parts.next())?;
    let end = match parts.next() {
        // `file:N` brings in line N alone.
        None => start,
        Some(end) => number(Some(end))?,
    };
    let first = start.unwrap_or(1).max(1) - 1;
    let last = end.unwrap_or(lines.len()).min(lines.len());
    if first >= last {
        bail!(
            "lines {selector} are outside a file of {} lines",
            lines.len()
        );
    }
    Ok(lines[first..last].to_vec())
}

fn anchored<'a>(lines: &[&'a str], anchor: &str) -> Result<Vec<&'a str>> {
    let is_marker = |line: &str, marker: &str| {
        line.split_once(marker)
            .is_some_and(|(_, rest)| rest.split_whitespace().next() == Some(anchor))
    };
    let start = lines
        .iter()
        .position(|line| is_marker(line, "ANCHOR:"))
        .context("no ANCHOR line")?;
    let end = lines[start..]
        .iter()
        .position(|line| is_marker(line, "ANCHOR_END:"))
        .context("no ANCHOR_END line after the ANCHOR")?;
    Ok(lines[start + 1..start + end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_includes_but_not_escaped_ones() {
        let line = r"{{#include a.rs:x}} and \{{#include b.rs}} and {{#rustdoc_include c.rs:2:3}}";
        assert_eq!(includes_in_line(line), ["a.rs:x", "c.rs:2:3"]);
    }

    #[test]
    fn anchors_match_whole_names_only() {
        let lines = [
            "// ANCHOR: main-loop",
            "a",
            "// ANCHOR_END: main-loop",
            "// ANCHOR: main",
            "b",
            "// ANCHOR_END: main",
        ];
        assert_eq!(anchored(&lines, "main").expect("found"), ["b"]);
        assert!(anchored(&lines, "mai").is_err());
    }

    #[test]
    fn line_ranges_follow_mdbook() {
        let lines = ["1", "2", "3", "4"];
        assert_eq!(line_range(&lines, "2:3").expect("range"), ["2", "3"]);
        assert_eq!(line_range(&lines, "3:").expect("range"), ["3", "4"]);
        assert_eq!(line_range(&lines, ":2").expect("range"), ["1", "2"]);
        assert_eq!(line_range(&lines, "2").expect("range"), ["2"]);
        assert!(line_range(&lines, "9:").is_err());
    }
}
