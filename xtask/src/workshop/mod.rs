//! The workshop's chores: resetting the attendee's crate, applying the
//! solutions, proving every solution with the scenarios, and packing the
//! offline bundle.
//!
//! xtask runs no scenario itself (it has no async runtime): `verify` builds
//! `workshop-check` and reads its `--json` verdicts.

use anyhow::{Context, Result, bail};
use scenarios::exercises::{EXERCISES, Exercise, workshop_scenarios};
use scenarios::{Checkpoint, Verdict, expect};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::stages::{Scratch, Stage};

mod bundle;
mod page;

pub use bundle::{BUNDLE_NAME, OFFLINE_CONFIG, OFFLINE_README, bundle, offline_config};
pub use page::{EXERCISES_PAGE, INSTRUCTORS_PAGE, render_exercises, schedule_problems};

/// The attendee's crate, relative to the workspace root.
pub const CRATE: &str = "workshop";
/// Where the solution patches live, relative to the workspace root.
pub const SOLUTIONS: &str = "workshop/solutions";
/// The workshop crate's description in its pristine `Cargo.toml`.
const DESCRIPTION: &str = "The workshop's crate: a copy of part2 for attendees to fix. \
                           `cargo xtask workshop reset` restores it.";

/// The files of the pristine workshop crate (relative path, content): part2's
/// `src/main.rs`, and part2's manifest under the name `workshop`, without
/// part2's scenario tests (the checker runs them from outside instead).
pub fn pristine(root: &Path) -> Result<Vec<(PathBuf, String)>> {
    let read =
        |path: &str| fs::read_to_string(root.join(path)).with_context(|| format!("reading {path}"));
    let main = read("part2/src/main.rs")?;
    let manifest = read("part2/Cargo.toml")?;
    let manifest = manifest
        .split("\n[dev-dependencies]")
        .next()
        .unwrap_or_default();
    let manifest: Vec<String> = manifest
        .lines()
        .map(|line| {
            if line.starts_with("name = ") {
                format!("name = \"{CRATE}\"")
            } else if line.starts_with("description = ") {
                format!("description = \"{DESCRIPTION}\"")
            } else {
                line.to_string()
            }
        })
        .collect();
    Ok(vec![
        (PathBuf::from("workshop/src/main.rs"), main),
        (
            PathBuf::from("workshop/Cargo.toml"),
            manifest.join("\n") + "\n",
        ),
    ])
}

/// The pristine files that differ from what is in `root` now.
pub fn edited(root: &Path) -> Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    for (path, content) in pristine(root)? {
        let now = fs::read_to_string(root.join(&path)).unwrap_or_default();
        if now != content {
            changed.push(path);
        }
    }
    Ok(changed)
}

/// Copies the workshop files that differ from part2's into a new folder
/// under `target/workshop-backup/`, and says where; does nothing if none do.
pub fn back_up_edits(root: &Path) -> Result<Option<PathBuf>> {
    let edits = edited(root)?;
    if edits.is_empty() {
        return Ok(None);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let backup = scenarios::target_dir()
        .join("workshop-backup")
        .join(stamp.to_string());
    for path in &edits {
        let to = backup.join(path);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::copy(root.join(path), &to).with_context(|| format!("backing up {}", path.display()))?;
    }
    println!("your edits are saved in {}", backup.display());
    Ok(Some(backup))
}

/// The folder of the latest backup under `target/workshop-backup/`, if any.
pub fn latest_backup() -> Result<Option<PathBuf>> {
    let backups = scenarios::target_dir().join("workshop-backup");
    let entries = match fs::read_dir(&backups) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {}", backups.display())),
    };
    let mut stamped = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", backups.display()))?;
        // Backups are named by the milliseconds of their time: the largest is the latest.
        if let Ok(stamp) = entry.file_name().to_string_lossy().parse::<u128>() {
            stamped.push((stamp, entry.path()));
        }
    }
    Ok(stamped.into_iter().max().map(|(_, path)| path))
}

/// Puts the edits of `backup` (a folder `back_up_edits` wrote) back into
/// `root`, after backing up what is there now. Returns the files restored.
pub fn restore(root: &Path, backup: &Path) -> Result<Vec<PathBuf>> {
    let mut restored = Vec::new();
    for (path, _) in pristine(root)? {
        let saved = backup.join(&path);
        if saved.is_file() {
            restored.push(path);
        }
    }
    if restored.is_empty() {
        bail!("{} holds no workshop file", backup.display());
    }
    back_up_edits(root)?;
    reset(root)?;
    for path in &restored {
        fs::copy(backup.join(path), root.join(path))
            .with_context(|| format!("restoring {}", path.display()))?;
    }
    Ok(restored)
}

/// Writes the pristine workshop crate into `root`.
pub fn reset(root: &Path) -> Result<()> {
    for (path, content) in pristine(root)? {
        let path = root.join(path);
        fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The solution patches, in order.
pub fn patches(root: &Path) -> Vec<PathBuf> {
    EXERCISES
        .iter()
        .enumerate()
        .map(|(index, exercise)| root.join(SOLUTIONS).join(exercise.patch_name(index + 1)))
        .collect()
}

/// Resets the workshop crate, then applies solutions 1 to `upto`.
pub fn solve(root: &Path, upto: usize) -> Result<()> {
    if upto > EXERCISES.len() {
        bail!("there are {} exercises, not {upto}", EXERCISES.len());
    }
    reset(root)?;
    for patch in patches(root).iter().take(upto) {
        crate::stages::apply(root, patch)?;
    }
    Ok(())
}

/// What every scenario of the workshop should show once exercises
/// `1..=done` are solved: works if part2 already worked or a solved
/// exercise covers it, defect otherwise.
pub fn expected_after(done: usize) -> BTreeMap<&'static str, &'static str> {
    workshop_scenarios()
        .map(|scenario| {
            let solved = EXERCISES[..done]
                .iter()
                .any(|exercise| exercise.scenarios.contains(&scenario));
            let works = solved || expect(Checkpoint::Part2, scenario).verdict() == Verdict::Works;
            (scenario.id(), if works { "works" } else { "defect" })
        })
        .collect()
}

/// Applies the solutions one by one to a scratch copy of the workshop crate
/// and checks, after each, that exactly its scenarios turned from defect to
/// works and nothing that worked broke. Prints progress; fails naming every
/// solution that does not do what its exercise says.
pub fn verify(root: &Path) -> Result<()> {
    let scratch = Scratch::new(root, "workshop-verify", CRATE, ".", &pristine(root)?)?;
    let stages: Vec<Stage> = EXERCISES
        .iter()
        .zip(patches(root))
        .enumerate()
        .map(|(index, (exercise, patch))| {
            let verb = if exercise.scenarios.len() == 1 {
                "works"
            } else {
                "work"
            };
            Stage {
                name: format!(
                    "solution {}: {}",
                    index + 1,
                    patch.file_name().unwrap_or_default().to_string_lossy()
                ),
                patch,
                wanted: expected_after(index + 1),
                done: format!("{} now {verb}; nothing else changed", ids(exercise)),
            }
        })
        .collect();
    crate::stages::verify(root, &scratch, &stages)?;
    println!(
        "all {} solutions verified: together they fix every defect of part2 the workshop covers",
        EXERCISES.len()
    );
    Ok(())
}

fn ids(exercise: &Exercise) -> String {
    let ids: Vec<&str> = exercise.scenarios.iter().map(|s| s.id()).collect();
    ids.join(", ")
}

/// The instructor's check of a laptop, the day before: builds what the
/// room runs (the workspace's default members: the checkpoints, the
/// workshop crate, its checker, the chat client) and checks one scenario
/// against the workshop crate, so that nothing is left to download or
/// compile on the day.
pub fn preflight(root: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    println!("preflight 1/2: building what the room runs (cargo build) ...");
    cargo(root, &["build"], &[])?;
    println!("preflight 2/2: checking one scenario against the workshop crate ...");
    cargo(
        root,
        &["run", "-p", "workshop-check", "--", "--only", "broadcast"],
        &[],
    )
    .context("the workshop crate did not pass `broadcast`, which part2 passes")?;
    println!(
        "preflight passed in {} s: this laptop is ready for the workshop",
        started.elapsed().as_secs()
    );
    Ok(())
}

/// Runs cargo with `args` in `dir`, failing with its status.
pub(crate) fn cargo(dir: &Path, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Result<()> {
    let status = Command::new(env!("CARGO"))
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed in {}", args.join(" "), dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_brings_back_what_a_backup_saved_and_saves_what_it_replaces() {
        // A scratch root with part2's files, so that the repository's own
        // workshop crate is never touched.
        let root = scenarios::workspace_root();
        let scratch = scenarios::target_dir().join(format!("restore-test-{}", std::process::id()));
        for path in ["part2/src/main.rs", "part2/Cargo.toml"] {
            let to = scratch.join(path);
            fs::create_dir_all(to.parent().expect("a parent")).expect("creating folders");
            fs::copy(root.join(path), &to).expect("copying part2");
        }
        // reset writes into workshop/src/, which must exist first.
        fs::create_dir_all(scratch.join("workshop/src")).expect("creating workshop/src");
        reset(&scratch).expect("writing the pristine crate");
        let main = scratch.join("workshop/src/main.rs");
        let edit = "// my edit\n";
        let pristine = fs::read_to_string(&main).expect("reading main.rs");
        fs::write(&main, format!("{pristine}{edit}")).expect("editing");
        let backup = back_up_edits(&scratch)
            .expect("backing up")
            .expect("an edit to back up");
        reset(&scratch).expect("resetting");
        assert_eq!(fs::read_to_string(&main).expect("reading"), pristine);
        let restored = restore(&scratch, &backup).expect("restoring");
        assert_eq!(restored, [PathBuf::from("workshop/src/main.rs")]);
        assert!(fs::read_to_string(&main).expect("reading").ends_with(edit));
        fs::remove_dir_all(&scratch).expect("removing the scratch root");
        fs::remove_dir_all(&backup).expect("removing the test's backup");
    }

    #[test]
    fn each_stage_expects_one_more_exercise_to_work() {
        let works = |stage: &BTreeMap<&'static str, &'static str>| -> Vec<&'static str> {
            let mut ids: Vec<&str> = stage
                .iter()
                .filter(|(_, verdict)| **verdict == "works")
                .map(|(id, _)| *id)
                .collect();
            ids.sort();
            ids
        };
        let before = expected_after(0);
        // Every scenario that part2 gets wrong belongs to exactly one exercise.
        let fixed: usize = EXERCISES.iter().map(|e| e.scenarios.len()).sum();
        assert_eq!(before.len() - works(&before).len(), fixed, "{before:?}");
        assert_eq!(before["user-leaves"], "defect");
        assert_eq!(before["broadcast"], "works");
        for (index, exercise) in EXERCISES.iter().enumerate() {
            let (earlier, stage) = (expected_after(index), expected_after(index + 1));
            let mut wanted = works(&earlier);
            for scenario in exercise.scenarios {
                assert_eq!(earlier[scenario.id()], "defect", "{}", exercise.slug);
                wanted.push(scenario.id());
            }
            wanted.sort();
            assert_eq!(works(&stage), wanted, "after exercise {}", index + 1);
        }
        let first = expected_after(1);
        assert_eq!(first["user-leaves"], "works");
        assert_eq!(first["leave-while-talking"], "works");
        assert_eq!(first["shutdown"], "defect");
        let all = expected_after(EXERCISES.len());
        assert!(all.values().all(|verdict| *verdict == "works"), "{all:?}");
    }
}
