//! What keeps the book a course: every listing has a caption that says
//! where it lives, the introduction lists the chapters in order, and every
//! chapter ends with what to run and what it prints.

use crate::includes::{Include, includes_in_line, markdown_pages};
use anyhow::{Context, Result};
use std::fs;
use std::path::Path;

/// A listing: an include inside a fenced code block, and the caption line
/// above the fence, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The include inside the fence (the first one, if several).
    pub include: Include,
    /// The nearest non-blank line above the opening fence, when it is a
    /// `<p class="... caption ...">` paragraph.
    pub caption: Option<String>,
}

/// Every listing of every markdown file under `book_src`, in path order.
/// Includes outside a code fence (generated tables, diagrams) are not
/// listings.
pub fn find_listings(book_src: &Path) -> Result<Vec<Listing>> {
    let mut found = Vec::new();
    for page in markdown_pages(book_src)? {
        let text = fs::read_to_string(book_src.join(&page))
            .with_context(|| format!("reading {}", page.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        let mut index = 0;
        while index < lines.len() {
            let Some(fence) = fence_of(lines[index]) else {
                index += 1;
                continue;
            };
            let close = (index + 1..lines.len())
                .find(|&i| lines[i].trim() == fence)
                .unwrap_or(lines.len());
            let include = (index + 1..close).find_map(|i| {
                includes_in_line(lines[i])
                    .into_iter()
                    .next()
                    .map(|argument| Include {
                        page: page.clone(),
                        line: i + 1,
                        argument,
                    })
            });
            if let Some(include) = include {
                let above = lines[..index].iter().rev().find(|l| !l.trim().is_empty());
                let caption = above
                    .filter(|line| is_caption(line))
                    .map(|line| line.trim().to_string());
                found.push(Listing { include, caption });
            }
            index = close + 1;
        }
    }
    Ok(found)
}

/// The fence that opens a code block on this line (the run of backticks),
/// if it does.
pub(crate) fn fence_of(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
    (ticks >= 3).then(|| &trimmed[..ticks])
}

fn is_caption(line: &str) -> bool {
    let line = line.trim_start();
    line.strip_prefix("<p class=\"")
        .and_then(|rest| rest.split_once('"'))
        .is_some_and(|(classes, _)| classes.split_whitespace().any(|c| c == "caption"))
}

/// The texts inside `<code>...</code>` in a caption.
fn code_spans(caption: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut rest = caption;
    while let Some((_, after)) = rest.split_once("<code>") {
        let Some((span, after)) = after.split_once("</code>") else {
            break;
        };
        spans.push(span);
        rest = after;
    }
    spans
}

/// Why a listing's caption does not say where the listing lives, if it
/// does not. The caption must name the file (a transcript: its scenario and
/// checkpoint), and a Rust listing must also name an item (`fn ..`,
/// `impl ..`, `struct ..` ...) that the file declares.
pub fn caption_problem(root: &Path, listing: &Listing) -> Option<String> {
    let Some(caption) = &listing.caption else {
        return Some(
            "no caption above the listing: add <p class=\"caption\"><code>file</code>: <code>item</code></p>"
                .to_string(),
        );
    };
    let file = listing
        .include
        .argument
        .split(':')
        .next()
        .unwrap_or_default();
    let in_repo = file.trim_start_matches("../");
    if let Some((_, transcript)) = in_repo
        .rsplit_once("evidence/")
        .filter(|_| in_repo.ends_with(".txt"))
    {
        let (id, package) = transcript
            .trim_end_matches(".txt")
            .split_once('/')
            .unwrap_or((transcript, ""));
        let spans = code_spans(caption);
        if !(spans.contains(&id) && spans.contains(&package)) {
            return Some(format!(
                "the caption names neither the file nor <code>{id}</code> and <code>{package}</code>"
            ))
            .filter(|_| !caption.contains(in_repo));
        }
        return None;
    }
    if !caption.contains(in_repo) {
        return Some(format!("the caption does not name {in_repo}"));
    }
    if !in_repo.ends_with(".rs") {
        return None;
    }
    let source = match fs::read_to_string(root.join(in_repo)) {
        Ok(source) => source,
        Err(err) => return Some(format!("reading {in_repo}: {err}")),
    };
    const ITEMS: &[&str] = &[
        "fn ",
        "async fn ",
        "impl ",
        "impl<",
        "struct ",
        "enum ",
        "const ",
        "static ",
        "type ",
        "trait ",
        "mod ",
    ];
    let names_an_item = code_spans(caption)
        .iter()
        .any(|span| ITEMS.iter().any(|item| span.starts_with(item)) && source.contains(span));
    if names_an_item {
        None
    } else {
        Some(format!(
            "the caption names no item of {in_repo} (such as <code>impl UserSession</code>)"
        ))
    }
}

/// The chapters `SUMMARY.md` lists, in order, as paths relative to `book/src`.
pub fn summary_chapters(book_src: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(book_src.join("SUMMARY.md")).context("reading SUMMARY.md")?;
    Ok(text.lines().filter_map(first_md_link).collect())
}

/// The chapters listed in the first column of the introduction's table of
/// chapters, in order.
pub fn introduction_chapters(book_src: &Path) -> Result<Vec<String>> {
    let text =
        fs::read_to_string(book_src.join("introduction.md")).context("reading introduction.md")?;
    let table = text
        .split("| chapter |")
        .nth(1)
        .context("introduction.md has no table whose first column is `chapter`")?;
    Ok(table
        .lines()
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.split('|').nth(1).and_then(first_md_link))
        .collect())
}

fn first_md_link(text: &str) -> Option<String> {
    let (_, after) = text.split_once("](")?;
    let (target, _) = after.split_once(')')?;
    let target = target.split('#').next().unwrap_or(target);
    target.ends_with(".md").then(|| target.to_string())
}

/// Why a chapter does not end as a reader needs it to, if it does not: its
/// last `##` section must be "Run it", with a shell command block and at
/// least one transcript included in a code block, so the reader sees the
/// output to expect.
pub fn run_it_problem(book_src: &Path, chapter: &str) -> Result<Option<String>> {
    let text =
        fs::read_to_string(book_src.join(chapter)).with_context(|| format!("reading {chapter}"))?;
    let mut in_fence = false;
    let mut last = None;
    for (index, line) in text.lines().enumerate() {
        if fence_of(line).is_some() {
            in_fence = !in_fence;
        }
        if !in_fence && line.starts_with("## ") {
            last = Some((index, line));
        }
    }
    let Some((index, heading)) = last else {
        return Ok(Some("it has no `## Run it` section".to_string()));
    };
    if heading.trim_end() != "## Run it" && !heading.starts_with("## Run it {") {
        return Ok(Some(format!(
            "its last section is {heading:?}, not `## Run it`"
        )));
    }
    let section: Vec<&str> = text.lines().skip(index).collect();
    if !section.iter().any(|l| l.trim_start().starts_with("```sh")) {
        return Ok(Some("its `## Run it` shows no ```sh command".to_string()));
    }
    if !section
        .iter()
        .any(|l| l.contains("{{#include generated/evidence/"))
    {
        return Ok(Some(
            "its `## Run it` includes no transcript (generated/evidence/...)".to_string(),
        ));
    }
    Ok(None)
}
