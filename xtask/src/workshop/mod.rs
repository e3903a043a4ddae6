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

mod bundle;
mod page;

pub use bundle::{BUNDLE_NAME, OFFLINE_CONFIG, bundle};
pub use page::{EXERCISES_PAGE, render_exercises};

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

/// Applies `patch` with `git apply` in `dir`, whose `workshop/` it changes.
/// The ceiling keeps git from looking above `dir` for a repository (a
/// scratch copy under `target/` is inside the clone's work tree, whose root
/// would otherwise be where the patch's paths start).
fn apply(dir: &Path, patch: &Path) -> Result<()> {
    let ceiling = dir.parent().unwrap_or(dir);
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .args(["apply", "--whitespace=nowarn"])
        .arg(patch)
        .output()
        .context("running git apply (the solutions need git on the PATH)")?;
    if !output.status.success() {
        bail!(
            "git apply {} failed in {}:\n{}",
            patch.display(),
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Resets the workshop crate, then applies solutions 1 to `upto`.
pub fn solve(root: &Path, upto: usize) -> Result<()> {
    if upto > EXERCISES.len() {
        bail!("there are {} exercises, not {upto}", EXERCISES.len());
    }
    reset(root)?;
    for patch in patches(root).iter().take(upto) {
        apply(root, patch)?;
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
/// works and nothing that worked broke. Prints progress; fails at the first
/// solution that does not do what its exercise says.
pub fn verify(root: &Path) -> Result<()> {
    let target = scenarios::target_dir();
    cargo(root, &["build", "--quiet", "-p", "workshop-check"], &[])?;
    let checker = target
        .join("debug")
        .join(format!("workshop-check{}", std::env::consts::EXE_SUFFIX));
    let scratch = scratch_workspace(root, &target)?;
    for (index, (exercise, patch)) in EXERCISES.iter().zip(patches(root)).enumerate() {
        let number = index + 1;
        println!(
            "== solution {number}: {}",
            patch.file_name().unwrap_or_default().to_string_lossy()
        );
        apply(&scratch, &patch)?;
        cargo(
            &scratch,
            &["build", "--quiet", "-p", CRATE],
            &[("CARGO_TARGET_DIR", target.as_os_str())],
        )
        .with_context(|| format!("building the workshop crate with solutions 1 to {number}"))?;
        let binary = target
            .join("debug")
            .join(format!("{CRATE}{}", std::env::consts::EXE_SUFFIX));
        let seen = check(&checker, &binary)?;
        let wanted = expected_after(number);
        let wrong = differences(&wanted, &seen);
        if !wrong.is_empty() {
            bail!(
                "with solutions 1 to {number}, exercise {number} ({}) should turn {} to works and \
                 break nothing, but:\n{}",
                exercise.title,
                ids(exercise),
                wrong.join("\n")
            );
        }
        let verb = if exercise.scenarios.len() == 1 {
            "works"
        } else {
            "work"
        };
        println!("   {} now {verb}; nothing else changed", ids(exercise));
    }
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

/// The scenarios whose verdict is not the wanted one, as lines.
pub fn differences(
    wanted: &BTreeMap<&'static str, &'static str>,
    seen: &BTreeMap<String, String>,
) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|(id, want)| {
            let got = seen.get(*id).map_or("not run", String::as_str);
            (got != *want).then(|| format!("  {id}: expected {want}, saw {got}"))
        })
        .collect()
}

/// Runs the checker on `binary` and reads its verdicts.
fn check(checker: &Path, binary: &Path) -> Result<BTreeMap<String, String>> {
    let output = Command::new(checker)
        .arg("--json")
        .arg("--bin")
        .arg(binary)
        .output()
        .with_context(|| format!("running {}", checker.display()))?;
    // Exit status 1 only means that some scenario does not work yet.
    if !matches!(output.status.code(), Some(0 | 1)) {
        bail!(
            "{} failed ({}):\n{}",
            checker.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("reading the verdicts of {}", checker.display()))?;
    let object = json
        .as_object()
        .context("the verdicts are not a JSON object")?;
    Ok(object
        .iter()
        .map(|(id, verdict)| (id.clone(), verdict.as_str().unwrap_or("?").to_string()))
        .collect())
}

/// A workspace of its own under `target/` holding a pristine copy of the
/// workshop crate, with the repository's lock file and dependency versions,
/// so that it builds with the same dependencies (and reuses their builds).
fn scratch_workspace(root: &Path, target: &Path) -> Result<PathBuf> {
    let scratch = target.join("workshop-verify");
    if scratch.exists() {
        fs::remove_dir_all(&scratch).with_context(|| format!("clearing {}", scratch.display()))?;
    }
    fs::create_dir_all(scratch.join("workshop/src"))
        .with_context(|| format!("creating {}", scratch.display()))?;
    for (path, content) in pristine(root)? {
        fs::write(scratch.join(&path), content)
            .with_context(|| format!("writing the scratch {}", path.display()))?;
    }
    let manifest = fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    fs::write(scratch.join("Cargo.toml"), scratch_manifest(&manifest)?)
        .context("writing the scratch Cargo.toml")?;
    fs::copy(root.join("Cargo.lock"), scratch.join("Cargo.lock"))
        .context("copying Cargo.lock to the scratch workspace")?;
    Ok(scratch)
}

/// The root manifest with `workshop` as its only member, and without the
/// path dependencies, which do not exist in the scratch workspace.
pub fn scratch_manifest(manifest: &str) -> Result<String> {
    let (before, after) = without_list(manifest, "\nmembers = [")?
        .context("the root Cargo.toml has no members list")?;
    // The root's default members are not members of the scratch workspace.
    let after = match without_list(&after, "\ndefault-members = [")? {
        Some((head, tail)) => format!("{head}{tail}"),
        None => after,
    };
    let kept: Vec<&str> = after
        .lines()
        .filter(|line| !line.contains("path = "))
        .collect();
    Ok(format!(
        "{before}\nmembers = [\"{CRATE}\"]{}\n",
        kept.join("\n")
    ))
}

/// `manifest` split around the list that starts with `opening` (a line of
/// its own, up to its closing `]`), without the list; `None` if it has none.
fn without_list(manifest: &str, opening: &str) -> Result<Option<(String, String)>> {
    let Some(start) = manifest.find(opening) else {
        return Ok(None);
    };
    let end = start
        + manifest[start..]
            .find(']')
            .with_context(|| format!("the list `{}` is not closed", opening.trim()))?;
    Ok(Some((
        manifest[..start].to_string(),
        manifest[end + 1..].to_string(),
    )))
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
    fn the_scratch_manifest_keeps_versions_and_drops_paths() {
        let root = "[workspace]\nresolver = \"3\"\nmembers = [\n    \"part1\",\n    \"xtask\",\n]\n\
                    default-members = [\n    \"part1\",\n]\n\n\
                    [workspace.dependencies]\ntokio = \"1\"\nscenarios = { path = \"tools/scenarios\" }\n";
        let scratch = scratch_manifest(root).expect("a members list");
        assert!(scratch.contains("members = [\"workshop\"]"), "{scratch}");
        assert!(scratch.contains("tokio = \"1\""), "{scratch}");
        assert!(!scratch.contains("path ="), "{scratch}");
        assert!(!scratch.contains("part1"), "{scratch}");
        assert!(!scratch.contains("default-members"), "{scratch}");
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

    #[test]
    fn differences_name_what_is_off() {
        let wanted = BTreeMap::from([("burst", "works"), ("shutdown", "defect")]);
        let seen = BTreeMap::from([("burst".to_string(), "defect".to_string())]);
        assert_eq!(
            differences(&wanted, &seen),
            [
                "  burst: expected works, saw defect",
                "  shutdown: expected defect, saw not run"
            ]
        );
    }
}
