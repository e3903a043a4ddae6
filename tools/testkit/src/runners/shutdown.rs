//! Stopping: what clients hear when the server is told to stop.

use super::REPLY;
use super::Run;
use anyhow::Result;
use scenarios::close::GOING_AWAY;
use scenarios::params::{BACKLOG_LINES, SHUTDOWN_CLIENTS, SHUTDOWN_LIMIT_SECS};
use scenarios::{Fact, Seen};
use std::time::Duration;

pub async fn shutdown(run: &mut Run) -> Result<()> {
    let limit = Duration::from_secs(SHUTDOWN_LIMIT_SECS);
    let mut clients = Vec::new();
    for uid in 1..=SHUTDOWN_CLIENTS {
        clients.push(run.join(&uid.to_string()).await?);
    }
    run.step("SIGTERM");
    let started = tokio::time::Instant::now();
    run.server().terminate()?;
    let seen = futures_util::future::join_all(
        clients
            .iter_mut()
            .map(|client| client.next_non_text(limit + Duration::from_secs(1))),
    )
    .await;
    for (index, event) in seen.iter().enumerate() {
        let event = event.seen();
        let ok = matches!(&event, Seen::Close { code: GOING_AWAY, reason } if !reason.is_empty());
        run.saw(format!("client {}", index + 1), event, ok);
    }
    run.step("waiting for the process to exit");
    let left = limit.saturating_sub(started.elapsed());
    match run.server().wait_exit(left).await? {
        Some(status) => {
            run.figure(format!(
                "the process exited {:.1} s after SIGTERM",
                started.elapsed().as_secs_f64()
            ));
            let status = status.code().unwrap_or(-1);
            run.record(
                Fact::Exited {
                    secs: SHUTDOWN_LIMIT_SECS,
                    status,
                },
                status == 0,
            );
        }
        None => {
            run.record(
                Fact::StillRunning {
                    secs: SHUTDOWN_LIMIT_SECS,
                },
                false,
            );
        }
    }
    Ok(())
}

/// SIGTERM while a reader has fallen behind: lines wait for it behind a
/// full socket, and a write to it is blocked. Once it reads again, it must
/// get every one of them, then the 1001.
pub async fn shutdown_backlog(run: &mut Run) -> Result<()> {
    let mut talker = run.join("2").await?;
    let stalled = super::faults::stalled_user(run, "1", &mut talker).await?;
    let reader = stalled.local_addr()?;
    let filled = super::faults::fill_socket(run, &mut talker, "2", reader).await?;
    run.step(format!(
        "user 2 sends {BACKLOG_LINES} short lines past user 1"
    ));
    let line = "y".repeat(1000);
    for n in 0..BACKLOG_LINES {
        talker.send_text(&format!("tail {n} {line}")).await?;
    }
    let last = format!("[UID: 2]: tail {} {line}", BACKLOG_LINES - 1);
    talker
        .wait_for_text(&last, REPLY)
        .await
        .map_err(|event| anyhow::anyhow!("user 2 saw {event} instead of its last echo"))?;
    run.step("SIGTERM; user 1 reads again");
    let started = tokio::time::Instant::now();
    run.server().terminate()?;
    let limit = Duration::from_secs(SHUTDOWN_LIMIT_SECS);
    let read = stalled.read_back(limit).await?;
    let fills: Vec<&String> = read
        .texts
        .iter()
        .filter(|text| text.starts_with("[UID: 2]: fill "))
        .collect();
    let tails: Vec<&String> = read
        .texts
        .iter()
        .filter(|text| text.starts_with("[UID: 2]: tail "))
        .collect();
    let numbered = |lines: &[&String], tag: &str| {
        lines.iter().enumerate().all(|(n, text)| {
            text.strip_prefix(&format!("[UID: 2]: {tag} {n} "))
                .is_some()
        })
    };
    let whole = fills.len() == filled
        && tails.len() == BACKLOG_LINES
        && numbered(&fills, "fill")
        && numbered(&tails, "tail");
    let who = "user 1, who had fallen behind,";
    if whole {
        run.record(Fact::delivered(who, BACKLOG_LINES), true);
    } else {
        run.figure(format!(
            "user 1 got {} of {filled} long lines and {} of {BACKLOG_LINES} short ones",
            fills.len(),
            tails.len()
        ));
        run.record(Fact::Undelivered { who: who.into() }, false);
    }
    let ok = matches!(&read.end, Seen::Close { code: GOING_AWAY, reason } if !reason.is_empty());
    run.saw("user 1", read.end, ok);
    run.step("waiting for the process to exit");
    let left = limit.saturating_sub(started.elapsed());
    match run.server().wait_exit(left).await? {
        Some(status) => {
            let status = status.code().unwrap_or(-1);
            let exited = Fact::Exited {
                secs: SHUTDOWN_LIMIT_SECS,
                status,
            };
            run.record(exited, status == 0);
        }
        None => {
            let running = Fact::StillRunning {
                secs: SHUTDOWN_LIMIT_SECS,
            };
            run.record(running, false);
        }
    }
    Ok(())
}
