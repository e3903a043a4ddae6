//! The servers the bench measures, and building them: in release mode, or
//! in debug mode for a `--quick` run; today's, and a checkpoint as it was at
//! an older commit.

use anyhow::{Context, Result, bail};
use scenarios::Checkpoint;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once by `--quick`: the run only proves that the bench works end to
/// end, so it reuses the debug builds `cargo test` left rather than
/// spending minutes on release builds whose figures nobody reads.
static DEBUG_BUILDS: AtomicBool = AtomicBool::new(false);

/// Makes every later build and binary path of this process a debug one.
pub fn use_debug_builds() {
    DEBUG_BUILDS.store(true, Ordering::Relaxed);
}

fn debug_builds() -> bool {
    DEBUG_BUILDS.load(Ordering::Relaxed)
}

/// How the pages name the builds they measured.
pub fn builds() -> &'static str {
    if debug_builds() {
        "debug builds (a --quick run: it proves the bench runs, its figures mean nothing)"
    } else {
        "release builds"
    }
}

/// A server the bench measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// Its Cargo package, which is also its binary's name.
    pub package: &'static str,
    /// Its name in the tables and charts.
    pub label: &'static str,
    /// Whether the profile shows where its CPU time goes.
    pub profiled: bool,
}

/// The checkpoint every ratio is to: the blog's code.
pub const REFERENCE: Checkpoint = Checkpoint::Part2;

/// The checkpoint that has a target to meet against [`REFERENCE`]: the
/// hardened one.
pub const HARDENED: Checkpoint = Checkpoint::Part4;

/// The checkpoints the matrix measures. Part 1 has no chat; part 5 alone is
/// part 4, and its cluster has benches of its own (`--cluster`,
/// `--presence`).
const MEASURED: RangeInclusive<Checkpoint> = REFERENCE..=HARDENED;

/// The checkpoint that runs as several nodes, for `--cluster` and
/// `--presence`.
pub const CLUSTER: Checkpoint = Checkpoint::Part5;

/// The floor: the same chat on tokio-tungstenite, without actix.
pub const BASELINE: Server = Server {
    package: "baseline-chat",
    label: "baseline",
    profiled: true,
};

impl Server {
    /// A checkpoint, under its short name; the profile shows the blog's
    /// code and the hardened one beside the floor.
    pub fn checkpoint(checkpoint: Checkpoint) -> Server {
        Server {
            package: checkpoint.package(),
            label: checkpoint.short(),
            profiled: checkpoint == REFERENCE || checkpoint == HARDENED,
        }
    }

    /// Its binary, once [`build_servers`] has built it.
    pub fn bin(&self) -> PathBuf {
        release(self.package)
    }
}

/// The servers of the matrix, in table order: the [`MEASURED`] checkpoints,
/// [`REFERENCE`] first, then the [`BASELINE`].
pub fn servers() -> Vec<Server> {
    Checkpoint::ALL
        .iter()
        .filter(|checkpoint| MEASURED.contains(checkpoint))
        .map(|checkpoint| Server::checkpoint(*checkpoint))
        .chain([BASELINE])
        .collect()
}

/// `name` with the platform's suffix for programs.
pub fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Where cargo puts the binary of `package`: the release one, or the debug
/// one after [`use_debug_builds`].
pub fn release(package: &str) -> PathBuf {
    let profile = if debug_builds() { "debug" } else { "release" };
    scenarios::target_dir().join(profile).join(exe(package))
}

/// `cargo build --release --quiet` of `packages` in `root` (without
/// `--release` after [`use_debug_builds`]).
pub fn build_release(root: &Path, packages: &[&str]) -> Result<()> {
    let mut args = vec!["build", "--quiet"];
    if !debug_builds() {
        args.push("--release");
    }
    for package in packages {
        args.extend(["-p", package]);
    }
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(&args)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}

/// Builds loadgen in release mode and returns its path.
pub fn build_loadgen(root: &Path) -> Result<PathBuf> {
    build_release(root, &["loadgen"])?;
    Ok(release("loadgen"))
}

/// Builds loadgen and the [`servers`] in release mode; returns loadgen's
/// path (each server's is [`Server::bin`]).
pub fn build_servers(root: &Path) -> Result<PathBuf> {
    let mut packages = vec!["loadgen"];
    packages.extend(servers().iter().map(|server| server.package));
    build_release(root, &packages)?;
    Ok(release("loadgen"))
}

/// Checks that `redis-server` is installed (`bench` is what needs it, for
/// the message) and builds loadgen and [`CLUSTER`] in release mode; returns
/// their paths.
pub fn build_cluster(root: &Path, bench: &str) -> Result<(PathBuf, PathBuf)> {
    let probe = Command::new("redis-server").arg("--version").output();
    if !probe.is_ok_and(|output| output.status.success()) {
        bail!(
            "redis-server is not installed (Debian: `apt-get install redis-server`); {bench} \
             starts its own"
        );
    }
    build_release(root, &["loadgen", CLUSTER.package()])?;
    Ok((release("loadgen"), release(CLUSTER.package())))
}

/// Whether this copy's git history holds `commit` (the offline bundle, for
/// one, has no history).
pub fn has_commit(root: &Path, commit: &str) -> bool {
    Command::new("git")
        .current_dir(root)
        .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Builds `package` in release mode as it was at `commit`, from a copy of
/// that commit's files under `target/bench-before/`, and returns the binary.
pub fn build_at(root: &Path, commit: &str, package: &str) -> Result<PathBuf> {
    let before = scenarios::target_dir().join("bench-before");
    let tree = before.join(commit);
    if !tree.join("Cargo.toml").exists() {
        std::fs::create_dir_all(&tree).with_context(|| format!("creating {}", tree.display()))?;
        let archive = before.join(format!("{commit}.tar"));
        let status = Command::new("git")
            .current_dir(root)
            .args(["archive", "--format=tar", "-o"])
            .arg(&archive)
            .arg(commit)
            .status()
            .context("running git archive")?;
        if !status.success() {
            bail!("git archive {commit} failed");
        }
        let status = Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&tree)
            .status()
            .context("running tar")?;
        if !status.success() {
            bail!("unpacking {} failed", archive.display());
        }
    }
    // A target folder per commit. Sharing ours would overwrite today's
    // binary; sharing one between commits would not even rebuild, because
    // `git archive` dates every file at its commit, older than the last build.
    let target = tree.join("target");
    eprintln!("bench: building {package} at {commit}");
    let status = Command::new(env!("CARGO"))
        .current_dir(&tree)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            package,
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .context("running cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release -p {package} failed at {commit}");
    }
    let built = target.join("release").join(exe(package));
    let kept = before.join(exe(&format!("{package}-{commit}")));
    std::fs::copy(&built, &kept)
        .with_context(|| format!("copying {} to {}", built.display(), kept.display()))?;
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_run_from_the_reference_to_the_hardened_then_the_floor() {
        let servers = servers();
        assert_eq!(servers.first(), Some(&Server::checkpoint(REFERENCE)));
        assert_eq!(servers.last(), Some(&BASELINE));
        assert!(servers.contains(&Server::checkpoint(HARDENED)));
        assert!(!servers.contains(&Server::checkpoint(Checkpoint::Part1)));
        assert!(!servers.contains(&Server::checkpoint(CLUSTER)));
        let profiled: Vec<&str> = servers
            .iter()
            .filter(|s| s.profiled)
            .map(|s| s.label)
            .collect();
        assert_eq!(profiled, ["part2", "part4", "baseline"]);
    }
}
