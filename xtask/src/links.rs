//! Links to a section of a page: the ids mdBook gives a page's headings,
//! and the links that would find none.

use crate::course::fence_of;
use crate::includes::{expand_markdown_includes, markdown_pages};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The fragment ids a page will have once mdBook renders it: one per
/// heading (mdBook's rule: a `{#id}` attribute, or the heading's text in
/// lower case, whitespace as `-`, other punctuation dropped, a repeat
/// numbered `-1`, `-2` ...), and every `id="..."` written in HTML. Markdown
/// pages it includes count as part of it.
pub fn fragment_ids(book_src: &Path, page: &Path) -> Result<Vec<String>> {
    let text = expand_markdown_includes(book_src, page)?;
    let mut ids: Vec<String> = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if fence_of(line).is_some() {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let mut rest = line;
        while let Some((_, after)) = rest.split_once("id=\"") {
            let Some((id, after)) = after.split_once('"') else {
                break;
            };
            ids.push(id.to_string());
            rest = after;
        }
        let hashes = line.len() - line.trim_start_matches('#').len();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let heading = line[hashes..].trim();
        let id = match heading.rsplit_once("{#") {
            Some((_, custom)) => custom.trim_end_matches('}').to_string(),
            None => {
                let base = heading_slug(heading);
                let repeats = ids
                    .iter()
                    .filter(|id| {
                        **id == base
                            || id
                                .strip_prefix(&format!("{base}-"))
                                .is_some_and(|n| n.parse::<u32>().is_ok())
                    })
                    .count();
                match repeats {
                    0 => base,
                    n => format!("{base}-{n}"),
                }
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// A heading's text as mdBook makes it an id.
fn heading_slug(heading: &str) -> String {
    // Link targets are not part of the text.
    let mut text = String::new();
    let mut rest = heading;
    while let Some((before, after)) = rest.split_once("](") {
        text.push_str(before);
        rest = after.split_once(')').map_or("", |(_, after)| after);
    }
    text.push_str(rest);
    text.chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// Every link from one page of the book to a fragment (`page.md#id`,
/// `#id`, `page.html#id`) whose page will have no such id.
pub fn broken_fragments(book_src: &Path) -> Result<Vec<String>> {
    let pages: Vec<PathBuf> = markdown_pages(book_src)?
        .into_iter()
        .filter(|p| p.parent() == Some(Path::new("")))
        .collect();
    let mut ids = std::collections::HashMap::new();
    for page in &pages {
        ids.insert(
            page.to_string_lossy().into_owned(),
            fragment_ids(book_src, page)?,
        );
    }
    let mut problems = Vec::new();
    for page in &pages {
        let name = page.to_string_lossy().into_owned();
        let text = expand_markdown_includes(book_src, page)?;
        for target in link_targets(&text) {
            let Some((file, fragment)) = target.split_once('#') else {
                continue;
            };
            if file.contains("://") || file.contains('/') {
                continue;
            }
            let file = match file {
                "" => name.clone(),
                other => other.replace(".html", ".md"),
            };
            match ids.get(&file) {
                None => problems.push(format!("{name}: a link to {target}: no page {file}")),
                Some(known) if !known.iter().any(|id| id == fragment) => {
                    problems.push(format!("{name}: a link to {target}: {file} has no such id"))
                }
                Some(_) => {}
            }
        }
    }
    Ok(problems)
}

/// The targets of markdown links `](...)` and HTML `href="..."`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for (opener, closer) in [("](", ')'), ("href=\"", '"')] {
        let mut rest = text;
        while let Some((_, after)) = rest.split_once(opener) {
            let Some((target, after)) = after.split_once(closer) else {
                break;
            };
            if !target.contains(char::is_whitespace) {
                targets.push(target.to_string());
            }
            rest = after;
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_become_ids_as_mdbook_makes_them() {
        assert_eq!(heading_slug("Why `spawn_local`"), "why-spawn_local");
        assert_eq!(
            heading_slug("The flaw: `None` means \"go round again\""),
            "the-flaw-none-means-go-round-again"
        );
        assert_eq!(
            heading_slug("How `tokio::select!` works"),
            "how-tokioselect-works"
        );
        assert_eq!(
            heading_slug("See [Part 2](part2.md) first"),
            "see-part-2-first"
        );
    }
}
