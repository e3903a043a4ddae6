//! Support code stays easy to change: no file of `tools/` or `xtask/` grows
//! past what one can read and hold in mind. (The checkpoints are exempt:
//! each is the blog's shape, one crate a reader diffs whole.)

use std::fs;
use std::path::{Path, PathBuf};
use xtask::workspace_root;

const MOST_LINES: usize = 600;

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|err| panic!("listing {}: {err}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|err| panic!("listing {}: {err}", dir.display()))
            .path();
        if path.file_name().is_some_and(|name| name == "target") {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_support_file_is_longer_than_600_lines() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("tools"), &mut files);
    rust_files(&root.join("xtask"), &mut files);
    assert!(!files.is_empty(), "found no support code");
    let long: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let lines = fs::read_to_string(path)
                .unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
                .lines()
                .count();
            (lines > MOST_LINES).then(|| format!("{}: {lines} lines", path.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by job (see ARCHITECTURE.md): {long:?}"
    );
}
