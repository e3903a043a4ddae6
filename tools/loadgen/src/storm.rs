//! `loadgen join-storm`: many clients connecting at once, as after a restart.

use crate::crowd::Crowd;
use anyhow::Result;
use std::time::{Duration, Instant};
use testkit::Server;

/// Starts `bin` and times from the first connection attempt until a line
/// sent after the last connection has reached every client.
pub async fn once(bin: &std::path::Path, clients: usize, in_flight: usize) -> Result<Duration> {
    // Joins only: lift part 4's input limit so that no probe is refused.
    let server = Server::start_with(bin, &[("RATE_LIMIT_PER_SEC", "0")]).await?;
    let url = server.ws_url();
    let started = Instant::now();
    let mut crowd = Crowd::connect(&url, clients, 1, in_flight, started).await?;
    let _prober = crowd.sync(&url, 0).await?;
    let taken = started.elapsed();
    crowd.dismiss().await?;
    Ok(taken)
}
