//! The diff of each checkpoint against the one before it, for the book's
//! appendix.

use crate::generated::{Generated, crate_files, read_if_exists};
use anyhow::{Result, bail};
use scenarios::Checkpoint;
use similar::TextDiff;
use std::path::{Path, PathBuf};

/// The checkpoint pairs the book shows a diff for: each checkpoint against
/// the one before it, oldest first. A new checkpoint gets its diff page by
/// being declared in `Checkpoint::ALL`.
pub fn diffs() -> impl Iterator<Item = (Checkpoint, Checkpoint)> {
    Checkpoint::ALL.windows(2).map(|pair| (pair[0], pair[1]))
}

/// Every diff page, rendered from the checkpoints on disk.
pub fn diff_pages(root: &Path) -> Result<Vec<Generated>> {
    diffs()
        .map(|(from, to)| {
            let (from, to) = (from.package(), to.package());
            Ok(Generated {
                path: PathBuf::from(format!("book/src/diffs/{from}--{to}.diff")),
                content: render_diff(root, from, to)?,
                command: "cargo xtask pages",
            })
        })
        .collect()
}

/// A unified diff of every file of crate `from` against crate `to`, in sorted
/// order, without `target/` or `Cargo.lock`, with fixed headers and no dates.
pub fn render_diff(root: &Path, from: &str, to: &str) -> Result<String> {
    let mut files = crate_files(&root.join(from))?;
    files.extend(crate_files(&root.join(to))?);
    files.sort();
    files.dedup();
    let mut out = String::new();
    for file in files {
        let old = read_if_exists(&root.join(from).join(&file))?;
        let new = read_if_exists(&root.join(to).join(&file))?;
        let shown = file.display().to_string();
        let old_name = match old {
            Some(_) => format!("a/{from}/{shown}"),
            None => "/dev/null".to_string(),
        };
        let new_name = match new {
            Some(_) => format!("b/{to}/{shown}"),
            None => "/dev/null".to_string(),
        };
        let (old, new) = (old.unwrap_or_default(), new.unwrap_or_default());
        let diff = TextDiff::from_lines(&old, &new);
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&old_name, &new_name)
            .to_string();
        out.push_str(&text);
    }
    if out.is_empty() {
        bail!("{from} and {to} are identical");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_checkpoint_is_diffed_against_the_one_before() {
        let pairs: Vec<(&str, &str)> = diffs().map(|(a, b)| (a.package(), b.package())).collect();
        assert_eq!(pairs.len(), Checkpoint::ALL.len() - 1);
        assert_eq!(pairs[0], ("part1", "part2"));
        assert_eq!(pairs[2], ("part3-select-comparison", "part4-hardening"));
    }
}
