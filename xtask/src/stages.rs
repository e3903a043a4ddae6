//! Stages: a crate rebuilt patch by patch in a scratch workspace, each stage
//! checked from outside by `workshop-check` against the verdicts it should
//! show. The workshop's solutions and part 4's steps are both proven this
//! way.
//!
//! Builds need the CPU and checks mostly wait, so the two overlap: while a
//! stage's scenarios run, the next stage builds. xtask runs no scenario
//! itself (it has no async runtime); it reads the checker's `--json`.

use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What each scenario should show at a stage: `works` or `defect`.
pub type Verdicts = BTreeMap<&'static str, &'static str>;

/// Checkers running at once, and scenarios each runs at once. Scenarios
/// mostly wait, but some load the CPU (a crowd, a flood), and a build runs
/// beside them: twelve at once keeps every timing bound far from its limit
/// on 2 cores.
const CHECKERS: usize = 2;
const SCENARIOS_EACH: &str = "6";

/// One stage: the patch that makes it from the one before, and what it
/// should show then.
pub struct Stage {
    /// How progress names it, such as `solution 3: 03-empty-close-frame.patch`.
    pub name: String,
    pub patch: PathBuf,
    pub wanted: Verdicts,
    /// What to print when it shows exactly `wanted`.
    pub done: String,
}

/// A workspace of its own under `target/`, holding one crate, with the
/// repository's lock file and dependency versions so that it builds with the
/// same dependencies (and reuses their builds).
pub struct Scratch {
    dir: PathBuf,
    /// The crate's folder inside it.
    member: PathBuf,
    /// Where `git apply` runs: patches name their files from here.
    patch_root: PathBuf,
}

impl Scratch {
    /// A fresh scratch workspace `target/<name>/` whose one member is
    /// `member`, holding `files` (paths relative to the workspace). Patches
    /// apply in `patch_root`, relative to the workspace too.
    pub fn new(
        root: &Path,
        name: &str,
        member: &str,
        patch_root: &str,
        files: &[(PathBuf, String)],
    ) -> Result<Scratch> {
        let dir = scenarios::target_dir().join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        for (path, content) in files {
            let to = dir.join(path);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            fs::write(&to, content).with_context(|| format!("writing {}", to.display()))?;
        }
        let manifest = fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
        fs::write(
            dir.join("Cargo.toml"),
            scratch_manifest(&manifest, member, root)?,
        )
        .context("writing the scratch Cargo.toml")?;
        fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))
            .context("copying Cargo.lock to the scratch workspace")?;
        Ok(Scratch {
            member: dir.join(member),
            patch_root: dir.join(patch_root),
            dir,
        })
    }

    /// The scratch workspace's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Applies `patch` (a `git diff`, paths from the patch root).
    pub fn apply(&self, patch: &Path) -> Result<()> {
        apply(&self.patch_root, patch)
    }

    /// Builds the crate's binary into `target` and returns its path.
    pub fn build(&self, target: &Path) -> Result<PathBuf> {
        let package = package_name(&self.member)?;
        crate::workshop::cargo(
            &self.dir,
            &["build", "--quiet", "-p", &package],
            &[("CARGO_TARGET_DIR", target.as_os_str())],
        )?;
        Ok(target.join("debug").join(exe(&package)))
    }
}

/// The package name in `crate_dir`'s `Cargo.toml`.
fn package_name(crate_dir: &Path) -> Result<String> {
    let manifest = crate_dir.join("Cargo.toml");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("name = "))
        .map(|name| name.trim_matches('"').to_string())
        .with_context(|| format!("{} has no package name", manifest.display()))
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Applies `patch` with `git apply` in `dir`.
pub fn apply(dir: &Path, patch: &Path) -> Result<()> {
    git(
        dir,
        &["apply", "--whitespace=nowarn", &patch.to_string_lossy()],
    )?;
    Ok(())
}

/// Runs git in `dir` and returns what it printed. The ceiling keeps git
/// from looking above `dir` for a repository (a scratch copy under
/// `target/` is inside the clone's work tree, whose root would otherwise be
/// where a patch's paths start).
pub(crate) fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .current_dir(dir)
        .env("GIT_CEILING_DIRECTORIES", dir.parent().unwrap_or(dir))
        .args(["-c", "core.autocrlf=false", "-c", "core.quotepath=off"])
        .args(args)
        .output()
        .with_context(|| format!("running git {} (git must be on the PATH)", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "git {} failed in {}:\n{}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The root manifest with `member` as the only member, and its path
/// dependencies pointing into `root`, so that the crate's own dependencies
/// on the support crates resolve.
pub fn scratch_manifest(manifest: &str, member: &str, root: &Path) -> Result<String> {
    let (before, after) = without_list(manifest, "\nmembers = [")?
        .context("the root Cargo.toml has no members list")?;
    // The root's default members are not members of the scratch workspace.
    let after = match without_list(&after, "\ndefault-members = [")? {
        Some((head, tail)) => format!("{head}{tail}"),
        None => after,
    };
    let root = root.to_string_lossy().replace('\\', "/");
    let kept: Vec<String> = after
        .lines()
        .map(|line| line.replace("path = \"", &format!("path = \"{root}/")))
        .collect();
    Ok(format!(
        "{before}\nmembers = [\"{member}\"]{}\n",
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

/// The scenarios whose verdict is not the wanted one, as lines.
pub fn differences(wanted: &Verdicts, seen: &BTreeMap<String, String>) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|(id, want)| {
            let got = seen.get(*id).map_or("not run", String::as_str);
            (got != *want).then(|| format!("  {id}: expected {want}, saw {got}"))
        })
        .collect()
}

/// Builds `workshop-check` in the repository and returns its path.
fn build_checker(root: &Path) -> Result<PathBuf> {
    crate::workshop::cargo(root, &["build", "--quiet", "-p", "workshop-check"], &[])?;
    Ok(scenarios::target_dir()
        .join("debug")
        .join(exe("workshop-check")))
}

/// A checker running on one stage's binary.
struct Running {
    index: usize,
    child: Child,
}

/// Applies the stages' patches one by one to `scratch`, builds each stage,
/// and checks each with `workshop-check` while the next one builds. Prints
/// each stage's outcome in order; fails, after every stage has been
/// checked, naming each one that did not show what it should.
pub fn verify(root: &Path, scratch: &Scratch, stages: &[Stage]) -> Result<()> {
    let checker = build_checker(root)?;
    let target = scenarios::target_dir();
    // Each stage's binary is kept apart: the next build overwrites the
    // crate's own while the checker still runs this one.
    let binaries = scratch.dir().join("stages");
    fs::create_dir_all(&binaries).with_context(|| format!("creating {}", binaries.display()))?;
    let mut running: VecDeque<Running> = VecDeque::new();
    let mut seen: Vec<Option<Result<BTreeMap<String, String>>>> =
        stages.iter().map(|_| None).collect();
    // What each checker said of the scenarios that did not work.
    let mut told: Vec<String> = stages.iter().map(|_| String::new()).collect();
    let mut printed = 0;
    for (index, stage) in stages.iter().enumerate() {
        scratch
            .apply(&stage.patch)
            .with_context(|| format!("{}: applying its patch", stage.name))?;
        let built = scratch
            .build(&target)
            .with_context(|| format!("{}: building it", stage.name))?;
        let binary = binaries.join(exe(&format!("stage-{:02}", index + 1)));
        fs::copy(&built, &binary).with_context(|| format!("copying {}", built.display()))?;
        while running.len() >= CHECKERS {
            finish_oldest(&mut running, &mut seen, &mut told)?;
            printed = print_ready(stages, &seen, printed);
        }
        let mut command = Command::new(&checker);
        command
            .args(["--json", "--jobs", SCENARIOS_EACH, "--bin"])
            .arg(&binary)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for id in stage.wanted.keys() {
            command.args(["--only", id]);
        }
        let child = command
            .spawn()
            .with_context(|| format!("running {}", checker.display()))?;
        running.push_back(Running { index, child });
    }
    while !running.is_empty() {
        finish_oldest(&mut running, &mut seen, &mut told)?;
        printed = print_ready(stages, &seen, printed);
    }
    // Twelve scenarios and a build share two cores here, and a scenario
    // that times its users can miss a deadline it keeps when it has the
    // machine (leave-while-talking did, in one CI run of several). A verdict
    // that is off is checked again, alone; the stage fails only if it is
    // off again, and the log shows both runs.
    for (index, (stage, seen)) in stages.iter().zip(seen.iter_mut()).enumerate() {
        let Some(Ok(seen)) = seen else { continue };
        let binary = binaries.join(exe(&format!("stage-{:02}", index + 1)));
        let off: Vec<&str> = stage
            .wanted
            .iter()
            .filter(|(id, wanted)| seen.get(**id).map(String::as_str) != Some(**wanted))
            .map(|(id, _)| *id)
            .collect();
        for id in off {
            println!("== {}: {id}, beside the others, saw:", stage.name);
            print!("{}", block_of(&told[index], id));
            println!("== {}: {id} again, alone", stage.name);
            let output = Command::new(&checker)
                .args(["--only", id, "--bin"])
                .arg(&binary)
                .output()
                .with_context(|| format!("running {}", checker.display()))?;
            print!("{}", String::from_utf8_lossy(&output.stdout));
            print!("{}", String::from_utf8_lossy(&output.stderr));
            // workshop-check: 0 when it works, 1 when it does not yet.
            let verdict = match output.status.code() {
                Some(0) => "works",
                Some(1) => "defect",
                _ => "error",
            };
            seen.insert(id.to_string(), verdict.to_string());
        }
    }
    let failed: Vec<String> = stages
        .iter()
        .zip(&seen)
        .filter_map(|(stage, seen)| problem(stage, seen.as_ref()))
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} stages:\n{}",
            failed.len(),
            stages.len(),
            failed.join("\n")
        );
    }
    Ok(())
}

/// The lines `workshop-check --json` wrote on stderr about scenario `id`.
fn block_of(stderr: &str, id: &str) -> String {
    let mut block = String::new();
    let mut inside = false;
    for line in stderr.lines() {
        if line.starts_with("  ") {
            if inside {
                block.push_str(line);
                block.push('\n');
            }
            continue;
        }
        inside = line.starts_with(&format!("{id}: "));
        if inside {
            block.push_str(line);
            block.push('\n');
        }
    }
    if block.is_empty() {
        block.push_str("(nothing was said of it)\n");
    }
    block
}

/// Waits for the oldest checker and keeps what it saw.
fn finish_oldest(
    running: &mut VecDeque<Running>,
    seen: &mut [Option<Result<BTreeMap<String, String>>>],
    told: &mut [String],
) -> Result<()> {
    let Some(Running { index, child }) = running.pop_front() else {
        return Ok(());
    };
    let output = child
        .wait_with_output()
        .context("waiting for workshop-check")?;
    seen[index] = Some(verdicts(&output));
    told[index] = String::from_utf8_lossy(&output.stderr).into_owned();
    Ok(())
}

/// Prints the outcome of every stage from `printed` on whose check has
/// finished, in order; returns how many are printed.
fn print_ready(
    stages: &[Stage],
    seen: &[Option<Result<BTreeMap<String, String>>>],
    mut printed: usize,
) -> usize {
    while let Some(Some(result)) = seen.get(printed) {
        let stage = &stages[printed];
        println!("== {}", stage.name);
        match problem(stage, Some(result)) {
            None => println!("   {}", stage.done),
            Some(problem) => println!("{problem}"),
        }
        printed += 1;
    }
    printed
}

/// What is wrong with a stage's outcome, or `None`.
fn problem(stage: &Stage, seen: Option<&Result<BTreeMap<String, String>>>) -> Option<String> {
    match seen {
        None => Some(format!("   {}: not checked", stage.name)),
        Some(Err(err)) => Some(format!("   {}: {err:#}", stage.name)),
        Some(Ok(seen)) => {
            let wrong = differences(&stage.wanted, seen);
            (!wrong.is_empty()).then(|| format!("   {}:\n{}", stage.name, wrong.join("\n")))
        }
    }
}

/// The verdicts a checker printed.
fn verdicts(output: &std::process::Output) -> Result<BTreeMap<String, String>> {
    // Exit status 1 only means that some scenario does not work yet.
    if !matches!(output.status.code(), Some(0 | 1)) {
        bail!(
            "workshop-check failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("reading workshop-check's verdicts")?;
    let object = json
        .as_object()
        .context("the verdicts are not a JSON object")?;
    Ok(object
        .iter()
        .map(|(id, verdict)| (id.clone(), verdict.as_str().unwrap_or("?").to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_manifest_has_one_member_and_paths_into_the_repository() {
        let root = "[workspace]\nresolver = \"3\"\nmembers = [\n    \"part1\",\n    \"xtask\",\n]\n\
                    default-members = [\n    \"part1\",\n]\n\n\
                    [workspace.dependencies]\ntokio = \"1\"\nscenarios = { path = \"tools/scenarios\" }\n";
        let scratch =
            scratch_manifest(root, "workshop", Path::new("/repo")).expect("a members list");
        assert!(scratch.contains("members = [\"workshop\"]"), "{scratch}");
        assert!(scratch.contains("tokio = \"1\""), "{scratch}");
        assert!(
            scratch.contains("scenarios = { path = \"/repo/tools/scenarios\" }"),
            "{scratch}"
        );
        assert!(!scratch.contains("part1"), "{scratch}");
        assert!(!scratch.contains("default-members"), "{scratch}");
    }

    #[test]
    fn the_block_of_a_scenario_is_its_line_and_the_indented_ones_after() {
        let stderr = "burst: defect\n  - a fact\n  ~ a figure\nshutdown: defect\n  - other\n";
        assert_eq!(
            block_of(stderr, "burst"),
            "burst: defect\n  - a fact\n  ~ a figure\n"
        );
        assert_eq!(
            block_of(stderr, "shutdown"),
            "shutdown: defect\n  - other\n"
        );
        assert_eq!(block_of(stderr, "crowd"), "(nothing was said of it)\n");
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
