//! Where each server's CPU time goes: `perf` samples, grouped by the code
//! they fell in.

use super::config::ChatRun;
use super::loadgen::{chat_args, loadgen_json};
use super::pages::GENERATED;
use super::servers::{Server, servers};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// Where each profiled server's CPU time goes during `chat`, by `perf`
/// samples grouped by the code they fell in; a note instead where `perf`
/// cannot run.
pub fn profile_page(loadgen: &Path, chat: &ChatRun, header: &str) -> Result<String> {
    let mut out = format!(
        "{GENERATED}\n\n\
         Where the server's CPU time goes: `perf record` (CPU-clock samples at 999 Hz) on the \
         server during one run of **{}**; {header}. Shares of the samples, grouped by the code \
         they fell in.\n\n",
        chat.title()
    );
    let profiled: Vec<Server> = servers().into_iter().filter(|s| s.profiled).collect();
    let mut columns = Vec::new();
    for server in &profiled {
        let data = std::env::temp_dir().join(format!("xtask-bench-{}.perf", server.label));
        let mut args = chat_args(&server.bin(), chat);
        args.extend(["--perf".into(), data.display().to_string()]);
        eprintln!("bench: profile: {}", server.label);
        if let Err(err) = loadgen_json(loadgen, &args) {
            let _ = writeln!(
                out,
                "No profile was recorded on this machine: {err:#}. With linux-perf installed, \
                 `cargo xtask bench` records one."
            );
            return Ok(out);
        }
        let report = Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "--sort",
                "symbol",
                "-i",
            ])
            .arg(&data)
            .output()
            .context("running perf report")?;
        let _ = std::fs::remove_file(&data);
        if !report.status.success() {
            bail!(
                "perf report failed ({}): {}",
                report.status,
                String::from_utf8_lossy(&report.stderr).trim()
            );
        }
        columns.push(group_samples(&String::from_utf8_lossy(&report.stdout)));
    }
    out.push_str("| code |");
    for server in &profiled {
        let _ = write!(out, " {} |", server.label);
    }
    out.push_str("\n| --- |");
    for _ in &profiled {
        out.push_str(" --- |");
    }
    out.push('\n');
    for (group, _) in groups() {
        let _ = write!(out, "| {group} |");
        for column in &columns {
            let share = column.get(group).copied().unwrap_or(0.0);
            let _ = write!(out, " {share:.0} % |");
        }
        out.push('\n');
    }
    Ok(out)
}

/// The group that takes every symbol no other group claims.
const REST: &str = "everything else";

/// Groups of code, each with the fragments of a symbol that put it there;
/// the first match wins, and [`REST`] takes the rest. The chat's own code
/// is the servers' crates (`part4_hardening::` ...) and the blog's
/// `merge_streams`.
fn groups() -> Vec<(&'static str, Vec<String>)> {
    let fixed =
        |name, fragments: &[&str]| (name, fragments.iter().map(|f| f.to_string()).collect());
    let own = servers()
        .iter()
        .map(|server| format!("{}::", server.package.replace('-', "_")))
        .chain(["merge_streams".to_string()])
        .collect();
    vec![
        fixed("the kernel (sockets, scheduling)", &["[k]"]),
        fixed("actix-ws", &["actix_ws"]),
        fixed(
            "actix-web and actix-http",
            &[
                "actix_http",
                "actix_web",
                "actix_server",
                "actix_rt",
                "actix_codec",
                "actix_service",
            ],
        ),
        fixed("tungstenite", &["tungstenite"]),
        fixed("tokio", &["tokio"]),
        ("the chat's own code", own),
        fixed(
            "allocation and copying",
            &["malloc", "free", "memmove", "memcpy", "alloc::", "_int_"],
        ),
        (REST, Vec::new()),
    ]
}

/// Sums the shares of `perf report --sort symbol` lines by [`groups`].
pub fn group_samples(report: &str) -> HashMap<&'static str, f64> {
    let groups = groups();
    let mut shares = HashMap::new();
    for line in report.lines() {
        let Some((share, symbol)) = line.trim().split_once('%') else {
            continue;
        };
        let Ok(share) = share.trim().parse::<f64>() else {
            continue;
        };
        let group = groups
            .iter()
            .find(|(_, fragments)| fragments.iter().any(|f| symbol.contains(f.as_str())))
            .map_or(REST, |(name, _)| *name);
        *shares.entry(group).or_insert(0.0) += share;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_lines_are_grouped() {
        let report = "# comment\n    12.50%  [k] finish_task_switch\n     2.50%  [.] tokio::sync::mpsc::list::Tx<T>::push\n     1.00%  [.] part4_hardening::UserSession::run\n     1.00%  [.] _int_malloc\n     0.50%  [.] core::fmt::write\n";
        let shares = group_samples(report);
        assert_eq!(shares["the kernel (sockets, scheduling)"], 12.5);
        assert_eq!(shares["tokio"], 2.5);
        assert_eq!(shares["the chat's own code"], 1.0);
        assert_eq!(shares["allocation and copying"], 1.0);
        assert_eq!(shares["everything else"], 0.5);
    }
}
