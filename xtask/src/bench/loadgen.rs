//! Running `loadgen`, a separate program (xtask itself has no async
//! runtime), and reading the JSON lines it prints.

use super::config::ChatRun;
use anyhow::{Context, Result, bail};
use scenarios::figures::MACHINE;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

/// The arguments of `loadgen chat` for `chat` against `bin`.
pub fn chat_args(bin: &Path, chat: &ChatRun) -> Vec<String> {
    let mut args = vec!["chat".into(), "--bin".into(), bin.display().to_string()];
    args.extend(chat.loadgen_args());
    args
}

/// Runs loadgen and parses every JSON line it prints, in order. Its
/// progress goes to this process's stderr.
pub fn loadgen_lines<S: AsRef<std::ffi::OsStr>>(loadgen: &Path, args: &[S]) -> Result<Vec<Value>> {
    let output = Command::new(loadgen)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", loadgen.display()))?;
    if !output.status.success() {
        bail!("loadgen failed ({})", output.status);
    }
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).context("parsing a JSON line of loadgen's"))
        .collect::<Result<Vec<Value>>>()?;
    if lines.is_empty() {
        bail!("loadgen printed no JSON line");
    }
    Ok(lines)
}

/// Runs loadgen and parses the one JSON line it prints (the last, if more).
pub fn loadgen_json<S: AsRef<std::ffi::OsStr>>(loadgen: &Path, args: &[S]) -> Result<Value> {
    let mut lines = loadgen_lines(loadgen, args)?;
    lines.pop().context("loadgen printed no JSON line")
}

/// Where and when: loadgen's description of the machine (date, CPU
/// model, cores, system), so that it is written in one place.
pub fn machine_and_date(loadgen: &Path) -> Result<String> {
    let described = loadgen_json(loadgen, &["machine"])?;
    described[MACHINE]
        .as_str()
        .map(str::to_string)
        .context("loadgen described no machine")
}
