//! The files xtask generates: what each must hold, writing those that
//! changed, and saying which are stale.

use crate::{diagrams, diffs, layout, matrix, workshop};
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};

/// A file this crate generates: where it goes and what it must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// Path relative to the workspace root.
    pub path: PathBuf,
    pub content: String,
    /// The command that writes it.
    pub command: &'static str,
}

/// The files under `dir`, relative to it, without build output (`target/`,
/// `Cargo.lock`); an error if there are none.
pub(crate) fn crate_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let absolute = dir.join(&relative);
        let entries =
            fs::read_dir(&absolute).with_context(|| format!("listing {}", absolute.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", absolute.display()))?;
            let name = entry.file_name();
            // A crate's `steps/` (part 4's patches) are how it was made, not
            // part of it.
            let top_level = relative.as_os_str().is_empty();
            if name == "target" || name == "Cargo.lock" || (top_level && name == "steps") {
                continue;
            }
            let path = relative.join(&name);
            let kind = entry
                .file_type()
                .with_context(|| format!("reading the type of {}", path.display()))?;
            if kind.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    if found.is_empty() {
        bail!("{} holds no files", dir.display());
    }
    Ok(found)
}

/// A file's text, or `None` if there is no such file.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Every page `cargo xtask pages` writes: the diffs, the diagrams, the
/// matrix, the close codes, the workshop's exercises, the README with its
/// summary and layout table, and the introduction with its layout table.
pub fn pages(root: &Path) -> Result<Vec<Generated>> {
    let mut pages = diffs::diff_pages(root)?;
    pages.extend(diagrams::diagram_pages(root)?);
    pages.extend([
        Generated {
            path: PathBuf::from(matrix::MATRIX_PATH),
            content: matrix::render_matrix(&root.join("book/src"))?,
            command: "cargo xtask pages",
        },
        Generated {
            path: PathBuf::from(matrix::CLOSE_CODES_PATH),
            content: matrix::render_close_codes(),
            command: "cargo xtask pages",
        },
        Generated {
            path: PathBuf::from(workshop::EXERCISES_PAGE),
            content: workshop::render_exercises(),
            command: "cargo xtask pages",
        },
    ]);
    // The README holds two generated blocks: the summary and the layout.
    let layout_table = layout::render_layout(&layout::layout_rows(root)?);
    for page in layout::LAYOUT_PAGES {
        let text =
            fs::read_to_string(root.join(page)).with_context(|| format!("reading {page}"))?;
        let text = if *page == "README.md" {
            matrix::readme_with_summary(&text)?
        } else {
            text
        };
        pages.push(Generated {
            path: PathBuf::from(page),
            content: layout::with_layout(&text, page, &layout_table)?,
            command: "cargo xtask pages",
        });
    }
    Ok(pages)
}

/// Writes the generated files whose content changed, creating folders as
/// needed, and returns the paths written.
pub fn write_changed(root: &Path, pages: &[Generated]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for page in pages {
        if read_if_exists(&root.join(&page.path))?.as_deref() == Some(page.content.as_str()) {
            continue;
        }
        write(root, page)?;
        written.push(page.path.clone());
    }
    Ok(written)
}

/// Writes a generated file under `root`, creating folders as needed.
pub(crate) fn write(root: &Path, page: &Generated) -> Result<()> {
    let path = root.join(&page.path);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(&path, &page.content).with_context(|| format!("writing {}", path.display()))
}

/// Generated files whose committed copy differs, each with its fix.
pub fn stale(root: &Path, pages: &[Generated]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for page in pages {
        let on_disk = read_if_exists(&root.join(&page.path))?;
        if on_disk.as_deref() != Some(page.content.as_str()) {
            problems.push(format!(
                "{} is stale: run `{}` and commit the result",
                page.path.display(),
                page.command
            ));
        }
    }
    Ok(problems)
}

/// `page` (named `name` in errors) with the text between the lines
/// `start` and `end` replaced by `body`: how a generated block lives in a
/// hand-written page (the README's summary and layout, the introduction's
/// layout).
pub(crate) fn between_markers(
    page: &str,
    name: &str,
    start: &str,
    end: &str,
    body: &str,
) -> Result<String> {
    let from = page
        .find(start)
        .with_context(|| format!("{name} has no line {start:?}"))?;
    let to = page
        .find(end)
        .with_context(|| format!("{name} has no line {end:?}"))?;
    if to < from {
        bail!("{name}'s markers {start:?} and {end:?} are in the wrong order");
    }
    let body_start = from + start.len();
    Ok(format!("{}\n{body}{}", &page[..body_start], &page[to..]))
}
