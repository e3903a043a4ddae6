//! The chapter's before-and-afters: a checkpoint built at two commits and
//! compared in one run.

use super::config::{ChatRun, TARGET};
use super::servers::{Server, build_at, has_commit};
use anyhow::{Context, Result, bail};
use scenarios::Checkpoint;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A before-and-after that the chapter shows: one checkpoint built at two
/// commits and compared by `loadgen compare` in one run.
pub struct BeforeAfter {
    /// The page written, in the output folder.
    pub page: &'static str,
    /// The checkpoint built at both commits.
    pub checkpoint: Checkpoint,
    /// The commit and table label before the change.
    pub before: (&'static str, &'static str),
    /// The commit and table label after it.
    pub after: (&'static str, &'static str),
    /// The chat run they are compared on.
    pub chat: ChatRun,
    /// How many times the servers are alternated.
    pub runs: usize,
    /// A checkpoint built from today's code, to run first in every round,
    /// so that both ratios are to it.
    pub reference: Option<Checkpoint>,
}

/// Part 4 just before and just after it set `TCP_NODELAY` (see "The
/// heartbeat and Nagle's algorithm" in the chapter).
pub const NODELAY: BeforeAfter = BeforeAfter {
    page: "part4-nodelay.md",
    checkpoint: Checkpoint::Part4,
    before: ("207b96f", "part4 before (207b96f)"),
    after: ("81bffa2", "part4 with TCP_NODELAY (81bffa2)"),
    chat: ChatRun {
        name: "part4-nodelay",
        ..TARGET
    },
    runs: 3,
    reference: None,
};

/// Part 4's session loop with four sources and with two, the heartbeat and
/// the kick moved out of it (see "Why two sources and not four"), at
/// saturation, beside part 2.
pub const TWO_SOURCES: BeforeAfter = BeforeAfter {
    page: "part4-two-sources.md",
    checkpoint: Checkpoint::Part4,
    before: ("b5b5b64", "part4, four sources (b5b5b64)"),
    after: ("bcbb400", "part4, two sources (bcbb400)"),
    chat: ChatRun {
        name: "part4-two-sources",
        rate: 0,
        ..TARGET
    },
    runs: 5,
    reference: Some(Checkpoint::Part2),
};

/// Builds `compare.package` at both commits and writes the comparison page.
/// Without the commits (a copy with no git history, such as the offline
/// bundle) it says so and leaves the page as it is.
pub fn before_after(
    root: &Path,
    loadgen: &Path,
    compare: &BeforeAfter,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let mut bins = Vec::new();
    if let Some(reference) = compare.reference {
        let server = Server::checkpoint(reference);
        bins.push(format!("{}={}", server.label, server.bin().display()));
    }
    for (commit, label) in [compare.before, compare.after] {
        if !has_commit(root, commit) {
            eprintln!(
                "bench: commit {commit} is not in this copy's history; {} left as it is",
                compare.page
            );
            return Ok(Vec::new());
        }
        let bin = build_at(root, commit, compare.checkpoint.package())?;
        bins.push(format!("{label}={}", bin.display()));
    }
    let chat = &compare.chat;
    let page = out.join(compare.page);
    let mut args = vec!["compare".to_string()];
    args.extend(chat.loadgen_args());
    args.extend(["--runs".into(), compare.runs.to_string()]);
    args.extend(["--out".into(), page.display().to_string()]);
    for bin in bins {
        args.extend(["--bin".to_string(), bin]);
    }
    eprintln!("bench: {}", compare.page);
    let status = Command::new(loadgen)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {}", loadgen.display()))?;
    if !status.success() {
        bail!("loadgen compare failed ({status})");
    }
    Ok(vec![page])
}

/// Every before-and-after the full bench runs, in order.
pub const BEFORE_AFTERS: &[BeforeAfter] = &[NODELAY, TWO_SOURCES];
