//! Stopping: what clients hear when the server is told to stop.

use super::Run;
use anyhow::Result;
use scenarios::params::{SHUTDOWN_CLIENTS, SHUTDOWN_LIMIT_SECS};
use scenarios::{Fact, Seen};
use std::time::Duration;

/// RFC 6455 section 7.4.1: "going away", for a server that shuts down.
const GOING_AWAY: u16 = 1001;

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
            run.check(
                Fact::Exited {
                    secs: SHUTDOWN_LIMIT_SECS,
                    status,
                },
                status == 0,
            );
        }
        None => {
            run.check(
                Fact::StillRunning {
                    secs: SHUTDOWN_LIMIT_SECS,
                },
                false,
            );
        }
    }
    Ok(())
}
