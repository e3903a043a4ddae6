//! `loadgen join-storm`: many clients connecting at once, as after a restart.

use crate::crowd;
use anyhow::{Context, Result};
use std::time::{Duration, Instant};
use testkit::Server;

/// Starts `bin` and times from the first connection attempt until a line
/// sent after the last connection has reached every client.
pub async fn once(bin: &std::path::Path, clients: usize, in_flight: usize) -> Result<Duration> {
    // Joins from one address, faster than people: lift part 4's limits.
    let env: Vec<(&str, &str)> = crate::chat::lifted().collect();
    let server = Server::start_with(bin, &env).await?;
    let url = server.ws_url();
    let started = Instant::now();
    // Only the prober sends, a line each half second: nothing for Nagle's
    // algorithm to hold back, so the clients keep TCP_NODELAY.
    let members = crowd::members(clients, 1, in_flight, true);
    let (mut crowd, _) = crowd::timed(&url, members, started).await?;
    let _prober = crowd
        .sync(&url, 0)
        .await?
        .context("a client stopped reading before the probe reached everyone")?;
    let taken = started.elapsed();
    crowd.dismiss().await?;
    Ok(taken)
}
