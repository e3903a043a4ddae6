//! loadgen's crowds: testkit's [`Crowd`], each member timing the lines the
//! senders send (`t <seq> <micros>`) by the run's shared clock.

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use testkit::Event;
use testkit::crowd::Reader;
pub use testkit::crowd::{Crowd, Members, connect};

/// How long a member may hear nothing, and a crowd take to get in sync,
/// before the run fails: long enough for the largest join storm.
const PATIENCE: Duration = Duration::from_secs(600);

/// What one client received, handed back when the crowd is dismissed.
pub struct Received {
    /// Delivery latencies of timed lines, in microseconds.
    pub latencies: Histogram<u64>,
    /// Timed lines received.
    pub lines: u64,
    /// The close frame or end that ended the client early, if any.
    pub ended: Option<String>,
}

/// A member that records the latency of every timed line it reads.
pub struct Timing {
    received: Received,
    base: Instant,
    /// Timed lines received by every member of the crowd so far.
    delivered: Arc<AtomicU64>,
}

impl Reader for Timing {
    type Report = Received;

    fn take(&mut self, text: &str) -> ControlFlow<()> {
        let sent = text
            .split_once("]: ")
            .and_then(|(_, body)| body.strip_prefix("t "))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|micros| micros.parse::<u64>().ok());
        if let Some(sent) = sent {
            let latency = micros_since(self.base).saturating_sub(sent).max(1);
            self.received.latencies.saturating_record(latency);
            self.received.lines += 1;
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
        ControlFlow::Continue(())
    }

    fn report(mut self, ended: Option<Event>) -> Received {
        self.received.ended = ended.map(|event| event.to_string());
        self.received
    }
}

/// Who connects: `size` clients with uids from `first_uid`, at most
/// `in_flight` handshakes at a time; `nodelay` as in [`connect`].
pub fn members(size: usize, first_uid: u64, in_flight: usize, nodelay: bool) -> Members {
    Members {
        size,
        first_uid,
        in_flight,
        nodelay,
        patience: PATIENCE,
    }
}

/// Connects `members` to `url`, each timing lines by `base`, and returns
/// once every one has connected, with the count of timed lines that all of
/// them have received so far.
pub async fn timed(
    url: &str,
    members: Members,
    base: Instant,
) -> Result<(Crowd<Timing>, Arc<AtomicU64>)> {
    let latencies = latency_histogram()?;
    let delivered = Arc::new(AtomicU64::new(0));
    let crowd = Crowd::connect(url, members, |_uid| Timing {
        received: Received {
            latencies: latencies.clone(),
            lines: 0,
            ended: None,
        },
        base,
        delivered: Arc::clone(&delivered),
    })
    .await?;
    Ok((crowd, delivered))
}

/// An empty histogram of latencies from 1 µs to 10 minutes, to 3 digits.
pub fn latency_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 600_000_000, 3).context("making a latency histogram")
}

/// The shared clock of a run: timed lines carry microseconds since it.
pub fn micros_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A timed line: `t <seq> <micros>`.
pub fn timed_line(seq: u64, base: Instant) -> String {
    format!("t {seq} {}", micros_since(base))
}
