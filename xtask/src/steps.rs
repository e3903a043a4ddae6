//! Part 4 in steps (`scenarios::steps`): the stacked patches in
//! `part4-hardening/steps/`, applied to part 3's crate.
//!
//! - [`stage_files`]: part 3's files with the first steps applied;
//! - [`reproduction_problems`]: whether all of them give part 4 exactly;
//! - [`changed_lines`]: how big each step is;
//! - [`verify`]: every stage built and checked by its scenarios;
//! - [`write_stage`]: `cargo xtask step 4.N`, a stage to run and test.

use crate::stages::{Scratch, Stage, Verdicts, git};
use anyhow::{Context, Result, bail};
use scenarios::steps::{STEPS, STEPS_DIR, Step};
use scenarios::{Checkpoint, Scenario, Shape, Verdict, expect};
use std::fs;
use std::path::{Path, PathBuf};

/// The crate the steps start from.
pub const FROM: Checkpoint = Checkpoint::Part3;
/// The crate they arrive at.
pub const TO: Checkpoint = Checkpoint::Part4;
/// No step may change more lines than this: a diff to read in one sitting.
pub const MOST_CHANGED_LINES: usize = 300;

/// The patches, in order.
pub fn patches(root: &Path) -> Vec<PathBuf> {
    STEPS
        .iter()
        .enumerate()
        .map(|(index, step)| root.join(STEPS_DIR).join(step.patch_name(index + 1)))
        .collect()
}

/// Every file of a crate folder (relative path, content), in path order,
/// as the checkpoint diffs see it.
fn crate_files(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let mut paths = crate::generated::crate_files(dir)?;
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let file = dir.join(&path);
            let content =
                fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            Ok((path, content))
        })
        .collect()
}

/// Part 3's crate with steps `1..=upto` applied, in a folder of its own
/// under `target/` (the crate's files at its top); returns the folder.
pub fn stage_files(root: &Path, upto: usize) -> Result<PathBuf> {
    let dir = scenarios::target_dir().join("steps-apply");
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    for (path, content) in crate_files(&root.join(FROM.package()))? {
        let to = dir.join(&path);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&to, content).with_context(|| format!("writing {}", to.display()))?;
    }
    for patch in patches(root).iter().take(upto) {
        crate::stages::apply(&dir, patch)?;
    }
    Ok(dir)
}

/// How all the steps applied to part 3 differ from part 4, file by file
/// (none when they give part 4 exactly).
pub fn reproduction_problems(root: &Path) -> Result<Vec<String>> {
    let built = crate_files(&stage_files(root, STEPS.len())?)?;
    let wanted = crate_files(&root.join(TO.package()))?;
    let mut problems = Vec::new();
    for (path, content) in &wanted {
        match built.iter().find(|(built, _)| built == path) {
            None => problems.push(format!("{}: missing", path.display())),
            Some((_, made)) if made != content => {
                problems.push(format!("{}: differs from part 4's", path.display()));
            }
            Some(_) => {}
        }
    }
    for (path, _) in &built {
        if !wanted.iter().any(|(wanted, _)| wanted == path) {
            problems.push(format!("{}: not in part 4", path.display()));
        }
    }
    Ok(problems)
}

/// The lines a patch adds or removes.
pub fn changed_lines(patch: &str) -> usize {
    patch
        .lines()
        .filter(|line| {
            (line.starts_with('+') && !line.starts_with("+++"))
                || (line.starts_with('-') && !line.starts_with("---"))
        })
        .count()
}

/// The scenarios a step is judged by: all but the cluster's, which need
/// part 5, and those part 3 cannot run (part 6's logins).
pub fn judged_scenarios() -> impl Iterator<Item = Scenario> {
    Scenario::ALL.iter().copied().filter(|&scenario| {
        !matches!(scenario.setup().shape, Shape::Cluster { .. })
            && expect(FROM, scenario).verdict() != Verdict::NotApplicable
    })
}

/// What every judged scenario should show once steps `1..=done` are
/// applied: works if part 3 already worked or a step so far fixed it.
pub fn expected_after(done: usize) -> Verdicts {
    judged_scenarios()
        .map(|scenario| {
            let fixed = STEPS[..done]
                .iter()
                .any(|step| step.fixes.contains(&scenario));
            let works = fixed || expect(FROM, scenario).verdict() == Verdict::Works;
            (scenario.id(), if works { "works" } else { "defect" })
        })
        .collect()
}

fn fixes(step: &Step) -> String {
    if step.fixes.is_empty() {
        return "no scenario changed, as intended".to_string();
    }
    let ids: Vec<&str> = step.fixes.iter().map(|s| s.id()).collect();
    let verb = if ids.len() == 1 { "works" } else { "work" };
    format!("{} now {verb}; nothing else changed", ids.join(", "))
}

/// Builds every stage in a scratch workspace and checks each with its
/// scenarios (see [`crate::stages::verify`]).
pub fn verify(root: &Path) -> Result<()> {
    let files: Vec<(PathBuf, String)> = crate_files(&root.join(FROM.package()))?
        .into_iter()
        .map(|(path, content)| (Path::new(TO.package()).join(path), content))
        .collect();
    let scratch = Scratch::new(root, "steps-verify", TO.package(), TO.package(), &files)?;
    let stages: Vec<Stage> = STEPS
        .iter()
        .zip(patches(root))
        .enumerate()
        .map(|(index, (step, patch))| Stage {
            name: format!("step 4.{}: {}", index + 1, step.title),
            patch,
            wanted: expected_after(index + 1),
            done: fixes(step),
        })
        .collect();
    crate::stages::verify(root, &scratch, &stages)?;
    println!(
        "all {} steps verified: each builds and fixes what it says, and nothing else",
        STEPS.len()
    );
    Ok(())
}

/// The step numbered `number` (from 1), from `4.N` or `N`.
pub fn parse_step(text: &str) -> Result<usize> {
    let number = text.strip_prefix("4.").unwrap_or(text);
    let number: usize = number
        .parse()
        .with_context(|| format!("{text:?} is not a step such as 4.3"))?;
    if number == 0 || number > STEPS.len() {
        bail!("part 4 has steps 4.1 to 4.{}, not {text}", STEPS.len());
    }
    Ok(number)
}

/// Writes part 3 with steps `1..=number` into a workspace of its own,
/// `target/steps/4.N/`, and says how to run and check it.
pub fn write_stage(root: &Path, number: usize) -> Result<String> {
    let step = &STEPS[number - 1];
    let applied = stage_files(root, number)?;
    let files: Vec<(PathBuf, String)> = crate_files(&applied)?
        .into_iter()
        .map(|(path, content)| (Path::new(TO.package()).join(path), content))
        .collect();
    let name = format!("steps/4.{number}");
    let scratch = Scratch::new(root, &name, TO.package(), TO.package(), &files)?;
    let dir = scratch.dir().display().to_string();
    // One target folder for every stage: each rebuilds only the crate.
    let target = scenarios::target_dir().join("steps/target");
    let binary = target.join("debug").join(TO.package());
    let checks: Vec<String> = step
        .fixes
        .iter()
        .map(|scenario| format!("--only {}", scenario.id()))
        .collect();
    Ok(format!(
        "step 4.{number}: {title} (book/src/{page})\n\
         wrote {dir}/\n\n\
         run it:\n  cargo run --manifest-path {dir}/Cargo.toml --target-dir {target}\n\
         check it, once built:\n  cargo run -p workshop-check -- --bin {binary}{checks}\n\
         read its diff:\n  cargo xtask step 4.{number} --diff\n",
        title = step.title,
        page = step.page,
        target = target.display(),
        binary = binary.display(),
        checks = if checks.is_empty() {
            "\n  (this step changes no verdict: that checks every scenario)".to_string()
        } else {
            format!(" {}", checks.join(" "))
        },
    ))
}

fn commit_all(dir: &Path, message: &str) -> Result<()> {
    git(dir, &["add", "--all"])?;
    git(
        dir,
        &[
            "-c",
            "user.name=steps",
            "-c",
            "user.email=steps@localhost",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            message,
        ],
    )?;
    Ok(())
}

/// `cargo xtask steps unpack DIR`: the steps as a git history in `DIR`, one
/// commit for part 3 and one per step, so that a step can be changed with
/// the tools made for that (`git rebase -i --root`, `git commit --fixup`).
pub fn unpack(root: &Path, dir: &Path) -> Result<String> {
    if dir.exists()
        && fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!("{} is not empty: unpack into a new folder", dir.display());
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    git(dir, &["init", "--quiet"])?;
    for (path, content) in crate_files(&root.join(FROM.package()))? {
        let to = dir.join(&path);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&to, content).with_context(|| format!("writing {}", to.display()))?;
    }
    commit_all(dir, "part 3")?;
    for (index, (step, patch)) in STEPS.iter().zip(patches(root)).enumerate() {
        crate::stages::apply(dir, &patch)?;
        commit_all(
            dir,
            &format!("step 4.{}: {}\n\n{}", index + 1, step.title, step.slug),
        )?;
    }
    Ok(format!(
        "wrote part 3 and steps 4.1 to 4.{last} as {count} commits in {dir}\n\
         change a step with `git rebase -i --root` there, then write the patches and part 4 \
         back with\n  cargo xtask steps pack {dir}\n",
        last = STEPS.len(),
        count = STEPS.len() + 1,
        dir = dir.display(),
    ))
}

/// `cargo xtask steps pack DIR`: the patches again from the history that
/// `unpack` made (and someone changed), and part 4's files from its last
/// commit. The number of steps and their order stay `STEPS`'s; a step added
/// or removed is a change to `scenarios::steps` too.
pub fn pack(root: &Path, dir: &Path) -> Result<String> {
    let commits: Vec<String> = git(dir, &["rev-list", "--reverse", "--first-parent", "HEAD"])?
        .lines()
        .map(str::to_string)
        .collect();
    if commits.len() != STEPS.len() + 1 {
        bail!(
            "{} has {} commits; it should have {}: part 3, then one per step of \
             scenarios::steps::STEPS",
            dir.display(),
            commits.len(),
            STEPS.len() + 1
        );
    }
    let part3 = git(dir, &["ls-tree", "-r", "--name-only", &commits[0]])?;
    let wanted: Vec<String> = crate_files(&root.join(FROM.package()))?
        .into_iter()
        .map(|(path, _)| path.to_string_lossy().replace('\\', "/"))
        .collect();
    if part3.lines().collect::<Vec<_>>() != wanted.iter().map(String::as_str).collect::<Vec<_>>() {
        bail!(
            "the first commit of {} is not part 3's files",
            dir.display()
        );
    }
    for (index, patch) in patches(root).iter().enumerate() {
        let diff = git(
            dir,
            &[
                "diff",
                "--no-color",
                "--no-ext-diff",
                "--no-renames",
                &commits[index],
                &commits[index + 1],
            ],
        )?;
        fs::write(patch, diff).with_context(|| format!("writing {}", patch.display()))?;
    }
    let last = &commits[STEPS.len()];
    let to = root.join(TO.package());
    for path in git(dir, &["ls-tree", "-r", "--name-only", last])?.lines() {
        let content = git(dir, &["show", &format!("{last}:{path}")])?;
        let file = to.join(path);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&file, content).with_context(|| format!("writing {}", file.display()))?;
    }
    let problems = reproduction_problems(root)?;
    if !problems.is_empty() {
        bail!(
            "the steps and part 4 differ after packing (a file part 4 has and the last step \
             does not?): {problems:?}"
        );
    }
    Ok(format!(
        "wrote the {} patches in {STEPS_DIR} and part 4's files from {}; now run \
         cargo test -p xtask --test steps, and cargo xtask steps verify\n",
        STEPS.len(),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_count_additions_and_removals_not_headers() {
        let patch = "diff --git a/src/main.rs b/src/main.rs\n--- a/src/main.rs\n+++ b/src/main.rs\n\
                     @@ -1,3 +1,3 @@\n fn main() {\n-    old();\n+    new();\n+    more();\n }\n";
        assert_eq!(changed_lines(patch), 3);
    }

    #[test]
    fn steps_are_named_like_part_4_point_n() {
        assert_eq!(parse_step("4.3").ok(), Some(3));
        assert_eq!(parse_step("3").ok(), Some(3));
        assert!(parse_step("4.0").is_err());
        assert!(parse_step("five").is_err());
        assert!(parse_step(&format!("4.{}", STEPS.len() + 1)).is_err());
    }
}
