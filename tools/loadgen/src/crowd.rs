//! A crowd of real clients: connected at once, each reading from the moment
//! it connects, each recording what it receives.

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use testkit::{Client, Event};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// What one client received, handed back when the crowd is dismissed.
pub struct Received {
    /// Delivery latencies of timed lines, in microseconds.
    pub latencies: Histogram<u64>,
    /// Timed lines received.
    pub lines: u64,
    /// The close frame or end that ended the client early, if any.
    pub ended: Option<String>,
}

/// Clients connected to one server, reading in their own tasks.
pub struct Crowd {
    tasks: JoinSet<Result<Received>>,
    stop: watch::Sender<bool>,
    probed: mpsc::Receiver<()>,
    /// Timed lines received by all clients so far.
    pub delivered: Arc<AtomicU64>,
    /// How many clients there are.
    pub size: usize,
    /// Whether its clients, and its prober, set TCP_NODELAY.
    nodelay: bool,
}

/// Connects as `uid` with TCP_NODELAY, as browsers set it, or with Nagle's
/// algorithm on, as most clients that are not browsers leave it.
pub async fn connect(url: &str, uid: &str, nodelay: bool) -> Result<Client> {
    if nodelay {
        Client::connect(url, uid).await
    } else {
        Client::connect_with_nagle(url, uid).await
    }
}

/// The client kind as the JSON line and the summary name it.
pub fn client_kind(nodelay: bool) -> &'static str {
    if nodelay { "nodelay" } else { "nagle" }
}

/// The shared clock of a run: timed lines carry microseconds since it.
pub fn micros_since(base: Instant) -> u64 {
    u64::try_from(base.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A timed line: `t <seq> <micros>`.
pub fn timed_line(seq: u64, base: Instant) -> String {
    format!("t {seq} {}", micros_since(base))
}

impl Crowd {
    /// Connects `size` clients with uids from `first_uid`, at most
    /// `in_flight` handshakes at a time (a listen backlog that drops SYNs
    /// would add a retransmission second to any server), and returns once
    /// every one has connected. `nodelay` is as in [`connect`].
    pub async fn connect(
        url: &str,
        size: usize,
        first_uid: u64,
        in_flight: usize,
        base: Instant,
        nodelay: bool,
    ) -> Result<Crowd> {
        let gate = Arc::new(Semaphore::new(in_flight.max(1)));
        let (probed_tx, probed) = mpsc::channel::<()>(size.max(1));
        let (connected_tx, mut connected) = mpsc::channel::<()>(size.max(1));
        let (stop, stop_rx) = watch::channel(false);
        let delivered = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for uid in first_uid..first_uid + size as u64 {
            let (url, gate) = (url.to_string(), Arc::clone(&gate));
            let (probed_tx, connected_tx) = (probed_tx.clone(), connected_tx.clone());
            let (stop, delivered) = (stop_rx.clone(), Arc::clone(&delivered));
            tasks.spawn(async move {
                let permit = gate.acquire_owned().await.context("the gate closed")?;
                let client = connect(&url, &uid.to_string(), nodelay).await?;
                drop(permit);
                let _ = connected_tx.send(()).await;
                read(client, probed_tx, stop, delivered, base).await
            });
        }
        drop((probed_tx, connected_tx));
        for _ in 0..size {
            tokio::select! {
                Some(()) = connected.recv() => {}
                Some(done) = tasks.join_next() => {
                    done.context("a client task panicked")??;
                    bail!("a client ended before all had connected");
                }
            }
        }
        Ok(Crowd {
            tasks,
            stop,
            probed,
            delivered,
            size,
            nodelay,
        })
    }

    /// Sends probe lines from a client of its own until every member has
    /// seen one: then every session is registered and the server has caught
    /// up with the joins. Returns the prober, which stays connected.
    pub async fn sync(&mut self, url: &str, prober_uid: u64) -> Result<Client> {
        let mut prober = connect(url, &prober_uid.to_string(), self.nodelay).await?;
        let mut reached = 0;
        let mut round = 0;
        let limit = Instant::now() + Duration::from_secs(600);
        while reached < self.size {
            prober.send_text(&format!("probe {round}")).await?;
            round += 1;
            let resend = tokio::time::sleep(Duration::from_millis(500));
            tokio::pin!(resend);
            loop {
                tokio::select! {
                    Some(()) = self.probed.recv() => {
                        reached += 1;
                        if reached == self.size { break; }
                    }
                    Some(done) = self.tasks.join_next() => {
                        done.context("a client task panicked")??;
                        bail!("a client ended before the probe reached everyone");
                    }
                    () = &mut resend => break,
                }
            }
            // The prober reads too, so that it is never the slow one.
            while let Event::Text(_) = prober.next_event(Duration::ZERO).await {}
            if Instant::now() > limit {
                bail!(
                    "after 600 s only {reached} of {} clients had seen a probe",
                    self.size
                );
            }
        }
        Ok(prober)
    }

    /// Tells every client to stop and gathers what each received.
    pub async fn dismiss(mut self) -> Result<Vec<Received>> {
        let _ = self.stop.send(true);
        let mut all = Vec::with_capacity(self.size);
        while let Some(done) = self.tasks.join_next().await {
            all.push(done.context("a client task panicked")??);
        }
        Ok(all)
    }
}

/// One client's life: read until told to stop, noting the first probe and
/// the latency of every timed line.
async fn read(
    mut client: Client,
    probed: mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
    delivered: Arc<AtomicU64>,
    base: Instant,
) -> Result<Received> {
    let mut received = Received {
        latencies: Histogram::new_with_bounds(1, 600_000_000, 3)
            .context("making a latency histogram")?,
        lines: 0,
        ended: None,
    };
    let mut seen_probe = false;
    loop {
        let event = tokio::select! {
            event = client.next_event(Duration::from_secs(3600)) => event,
            _ = stop.changed() => return Ok(received),
        };
        let text = match event {
            Event::Text(text) => text,
            other => {
                received.ended = Some(other.to_string());
                // Wait to be dismissed, so the crowd's count stays right.
                let _ = stop.changed().await;
                return Ok(received);
            }
        };
        let Some((_, body)) = text.split_once("]: ") else {
            continue;
        };
        if body.starts_with("probe ") {
            if !seen_probe {
                seen_probe = true;
                let _ = probed.send(()).await;
            }
        } else if let Some(sent) = body
            .strip_prefix("t ")
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|micros| micros.parse::<u64>().ok())
        {
            let latency = micros_since(base).saturating_sub(sent).max(1);
            received.latencies.saturating_record(latency);
            received.lines += 1;
            delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
}
