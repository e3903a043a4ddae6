//! The transcripts the scenario tests leave behind: which the book must
//! hold, which are stale, and copying them into the book.

use crate::generated::{Generated, crate_files, read_if_exists, write};
use anyhow::{Result, bail};
use scenarios::{Checkpoint, Expect, Scenario};
use std::path::{Path, PathBuf};

/// Where the scenario transcripts live.
pub const EVIDENCE_DIR: &str = "book/src/generated/evidence";

/// Every transcript the book holds: for each cell that applies, the file the
/// scenario test writes, whose facts part must be the table's facts.
pub fn transcripts(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut all = Vec::new();
    for scenario in Scenario::ALL {
        for checkpoint in Checkpoint::ALL {
            let expect = scenarios::expect(*checkpoint, *scenario);
            if matches!(expect, Expect::NotApplicable(_)) {
                continue;
            }
            let facts = expect
                .facts()
                .iter()
                .map(|fact| fact.resolved(root))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|err| anyhow::anyhow!(err))?;
            let rendered =
                scenarios::render_facts(*checkpoint, *scenario, expect.verdict(), &facts);
            all.push((scenarios::transcript_path(*checkpoint, *scenario), rendered));
        }
    }
    Ok(all)
}

/// Transcripts that are missing or whose facts differ from the table's.
pub fn stale_transcripts(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let expected = transcripts(root)?;
    for (path, facts) in &expected {
        match read_if_exists(&root.join(path))? {
            None => problems.push(format!(
                "{} is missing: run the scenario tests, then `cargo xtask evidence`",
                path.display()
            )),
            Some(text) if scenarios::facts_part(&text) != facts => problems.push(format!(
                "{} does not show the table's facts: run the scenario tests, then `cargo xtask evidence`",
                path.display()
            )),
            Some(_) => {}
        }
    }
    let dir = root.join(EVIDENCE_DIR);
    if dir.exists() {
        for file in crate_files(&dir)? {
            let path = Path::new(EVIDENCE_DIR).join(&file);
            if !expected.iter().any(|(p, _)| *p == path) {
                problems.push(format!(
                    "{} belongs to no cell of the table: delete it",
                    path.display()
                ));
            }
        }
    }
    Ok(problems)
}

/// Copies the transcripts the scenario tests left in `from` into the book,
/// where the facts changed or the book has none (every one with
/// `figures`). Returns the paths written.
pub fn copy_evidence(root: &Path, from: &Path, figures: bool) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (path, facts) in transcripts(root)? {
        let relative = path.strip_prefix(EVIDENCE_DIR).unwrap_or(&path);
        let Some(observed) = read_if_exists(&from.join(relative))? else {
            continue;
        };
        if scenarios::facts_part(&observed) != facts {
            bail!(
                "{} under {} does not show the table's facts: rerun its scenario test",
                relative.display(),
                from.display()
            );
        }
        let committed = read_if_exists(&root.join(&path))?;
        let fresh = committed
            .as_deref()
            .is_some_and(|text| scenarios::facts_part(text) == facts);
        if fresh && !figures {
            continue;
        }
        if committed.as_deref() == Some(observed.as_str()) {
            continue;
        }
        write(
            root,
            &Generated {
                path: path.clone(),
                content: observed,
                command: "cargo xtask evidence",
            },
        )?;
        written.push(path);
    }
    Ok(written)
}
