//! What the scenarios run against, and the check that it can be run at all,
//! made once before any scenario: a server that cannot start, or that does
//! not answer, is one clear message rather than one error per scenario.

use anyhow::{Context, Result, bail};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// Where the scenarios run.
pub enum Target {
    /// A binary the checker starts for each scenario.
    Binary(PathBuf),
    /// A server someone else started, at this `ws://` URL.
    Url(String),
}

/// How long a server at a URL may take to answer `/healthcheck` in the
/// check up front: generous for a debug build on a busy laptop.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Fails, saying what is wrong, unless `bin` looks like a program that can
/// be started: it exists, is a file, and (on Unix) may be executed. A
/// missing path under `target/` while `CARGO_TARGET_DIR` points elsewhere
/// says where cargo put the binary instead.
pub fn check_binary(bin: &Path) -> Result<()> {
    let metadata = match std::fs::metadata(bin) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "{}",
                missing_binary(bin, std::env::var_os("CARGO_TARGET_DIR"))
            );
        }
        Err(err) => return Err(err).with_context(|| format!("reading {}", bin.display())),
    };
    if metadata.is_dir() {
        bail!(
            "{} is a folder; --bin takes a server's binary, such as target/debug/part4-hardening",
            bin.display()
        );
    }
    if !is_executable(&metadata) {
        bail!(
            "{} is a file but not a program (it may not be executed); --bin takes a server's \
             binary, such as target/debug/part4-hardening after `cargo build -p part4-hardening`",
            bin.display()
        );
    }
    Ok(())
}

/// The message for a `--bin` path that does not exist.
fn missing_binary(bin: &Path, target_dir: Option<std::ffi::OsString>) -> String {
    let mut parts = bin.components();
    let under_target = matches!(parts.next(), Some(Component::Normal(first)) if first == "target");
    match target_dir {
        Some(elsewhere) if under_target && Path::new(&elsewhere) != Path::new("target") => {
            let instead = Path::new(&elsewhere).join(parts.as_path());
            format!(
                "{} does not exist: CARGO_TARGET_DIR is set to {}, so cargo builds there; \
                 try --bin {}",
                bin.display(),
                Path::new(&elsewhere).display(),
                instead.display()
            )
        }
        _ => format!(
            "{} does not exist; build the server first (for example `cargo build -p \
             part4-hardening`, then --bin target/debug/part4-hardening)",
            bin.display()
        ),
    }
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

/// Windows has no execute bit: a program is told by its name.
#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    true
}

/// Starts the target once, or reaches it, and fails with one message when
/// it does not answer `/healthcheck`: nothing at the URL, a binary that
/// exits at start (with its status and what it wrote to stderr), or one
/// that never answers.
pub fn check_server(target: &Target) -> Result<()> {
    match target {
        Target::Binary(bin) => {
            check_binary(bin)?;
            testkit::block_on(testkit::Server::start(bin))
                .map(drop)
                .with_context(|| format!("{} did not start as a chat server", bin.display()))
        }
        Target::Url(url) => reach(url),
    }
}

fn reach(url: &str) -> Result<()> {
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("{url} is not a ws://host:port/... URL"))?;
    let sockets: Vec<_> = addr
        .to_socket_addrs()
        .with_context(|| format!("resolving {addr}"))?
        .collect();
    let reached = sockets
        .iter()
        .map(|socket| TcpStream::connect_timeout(socket, ANSWER_WITHIN))
        .find_map(Result::ok);
    if reached.is_none() {
        bail!("nothing answers at {addr}: is the server running, on that port?");
    }
    // The harness's own GET, in a thread of its own so that a server that
    // never answers costs ANSWER_WITHIN and no more.
    let (answer, answered) = mpsc::channel();
    let owned = url.to_string();
    std::thread::spawn(move || {
        let attached = testkit::block_on(testkit::Server::attach(&owned)).map(drop);
        // Nobody listens any more once the check gave up: nothing to do.
        let _ = answer.send(attached);
    });
    match answered.recv_timeout(ANSWER_WITHIN) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err).with_context(|| format!("the server at {url}")),
        Err(_) => bail!(
            "the server at {addr} accepts connections but did not answer GET /healthcheck \
             within {} s: it may be stuck",
            ANSWER_WITHIN.as_secs()
        ),
    }
}

/// Builds the workshop crate with cargo, showing cargo's own progress, and
/// returns its binary.
pub fn build_workshop() -> Result<PathBuf> {
    let root = scenarios::workspace_root();
    eprintln!("building the workshop crate (cargo build -p workshop) ...");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&root)
        .args(["build", "-p", "workshop"])
        .status()
        .context("running cargo build -p workshop")?;
    if !status.success() {
        bail!("the workshop crate does not build: fix the errors above, then check again");
    }
    Ok(scenarios::target_dir()
        .join("debug")
        .join(format!("workshop{}", std::env::consts::EXE_SUFFIX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_under_target_names_cargo_target_dir() {
        let bin = Path::new("target/debug/part4-hardening");
        let message = missing_binary(bin, Some("/elsewhere".into()));
        assert!(
            message.contains("CARGO_TARGET_DIR is set to /elsewhere"),
            "{message}"
        );
        assert!(
            message.contains(&format!(
                "--bin {}",
                Path::new("/elsewhere/debug/part4-hardening").display()
            )),
            "{message}"
        );
        let plain = missing_binary(bin, None);
        assert!(
            plain.contains("does not exist; build the server first"),
            "{plain}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_program_is_said_to_be_one() {
        let readme = scenarios::workspace_root().join("README.md");
        let err = check_binary(&readme).expect_err("README.md is no server");
        if cfg!(unix) {
            assert!(
                err.to_string().contains("is a file but not a program"),
                "{err}"
            );
        }
        let folder = scenarios::workspace_root().join("workshop");
        let err = check_binary(&folder).expect_err("a folder is no server");
        assert!(err.to_string().contains("is a folder"), "{err}");
    }
}
