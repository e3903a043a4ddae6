//! `cargo xtask bench` and `--target`: the matrix's runs, alternating the
//! servers run by run, and the pages they write.

use super::before_after::{BEFORE_AFTERS, before_after};
use super::chart::latency_chart;
use super::config::Matrix;
use super::loadgen::{chat_args, loadgen_json, machine_and_date};
use super::pages::{chat_page, connections_page};
use super::profile::profile_page;
use super::servers::{Server, build_servers, servers};
use super::target::write_target;
use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Builds the release binaries and runs only the target run, writing
/// `target.md` into `out`: the page to redo after a change to part 4's
/// latency, without the rest of the matrix.
pub fn bench_target(root: &Path, matrix: &Matrix, out: &Path) -> Result<Vec<PathBuf>> {
    let loadgen = build_servers(root)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let header = machine_and_date(&loadgen)?;
    Ok(vec![write_target(&loadgen, matrix, &header, out)?])
}

/// Runs one before-and-after of the full bench alone (its page's name, such
/// as `part4-two-sources`), and rewrites its page.
pub fn bench_before_after(root: &Path, name: &str, out: &Path) -> Result<Vec<PathBuf>> {
    let Some(compare) = BEFORE_AFTERS
        .iter()
        .find(|compare| compare.page.trim_end_matches(".md") == name)
    else {
        let names: Vec<&str> = BEFORE_AFTERS
            .iter()
            .map(|compare| compare.page.trim_end_matches(".md"))
            .collect();
        anyhow::bail!("no before-and-after is called {name:?}; there are {names:?}");
    };
    let loadgen = build_servers(root)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let header = machine_and_date(&loadgen)?;
    before_after(root, &loadgen, compare, &header, out)
}

/// Builds the release binaries and runs the matrix, writing its pages into
/// `out`. Returns the files written.
pub fn bench(root: &Path, matrix: &Matrix, out: &Path) -> Result<Vec<PathBuf>> {
    let loadgen = build_servers(root)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let header = machine_and_date(&loadgen)?;
    let write = |name: String, content: String| -> Result<PathBuf> {
        let path = out.join(name);
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let mut written = Vec::new();
    for chat in &matrix.chats {
        let figures = alternate(matrix.runs, chat.name, |server| {
            loadgen_json(&loadgen, &chat_args(&server.bin(), chat))
        })?;
        let page = chat_page(chat, matrix.runs, &header, &figures);
        written.push(write(format!("{}.md", chat.name), page)?);
        let chart = latency_chart(chat, &figures);
        written.push(write(format!("{}.svg", chat.name), chart)?);
    }

    let idle_clients = matrix.idle_clients.to_string();
    let idle = alternate(matrix.runs, "idle connections", |server| {
        let bin = server.bin().display().to_string();
        loadgen_json(
            &loadgen,
            &["idle", "--bin", &bin, "--clients", &idle_clients],
        )
    })?;
    let storm_clients = matrix.storm_clients.to_string();
    let storm = alternate(matrix.runs, "join storm", |server| {
        let bin = server.bin().display().to_string();
        let args = [
            "join-storm",
            "--bin",
            &bin,
            "--clients",
            &storm_clients,
            "--runs",
            "1",
        ];
        loadgen_json(&loadgen, &args)
    })?;
    let page = connections_page(matrix, &header, &idle, &storm);
    written.push(write("connections.md".to_string(), page)?);

    written.push(write_target(&loadgen, matrix, &header, out)?);

    if matrix.before_after {
        for compare in BEFORE_AFTERS {
            written.extend(before_after(root, &loadgen, compare, &header, out)?);
        }
    }

    if let Some(chat) = matrix.profile {
        written.push(write(
            "profile.md".to_string(),
            profile_page(&loadgen, &chat, &header)?,
        )?);
    }
    Ok(written)
}

/// Runs `measure` on every server of the matrix, `runs` times over,
/// alternating the servers within each round; the figures come back per
/// server, in table order.
fn alternate(
    runs: usize,
    what: &str,
    mut measure: impl FnMut(&Server) -> Result<Value>,
) -> Result<Vec<(Server, Vec<Value>)>> {
    let mut figures: Vec<(Server, Vec<Value>)> = servers()
        .into_iter()
        .map(|server| (server, Vec::new()))
        .collect();
    for run in 1..=runs {
        for (server, results) in &mut figures {
            eprintln!("bench: {what} run {run}: {}", server.label);
            results.push(measure(server)?);
        }
    }
    Ok(figures)
}
