//! A crowd: many real clients connected to one server at once, each reading
//! in a task of its own from the moment it connects and handing every text
//! to a [`Reader`] of the caller's. The `crowd` scenario's readers check
//! that each sender's messages arrive in order; loadgen's time each delivery.
//!
//! A crowd is in the chat once every member has seen a probe, a line that a
//! client of its own sends until then ([`Crowd::sync`]): a session registers a
//! moment after its handshake, so only a line sent afterwards proves it.

use crate::client::{Client, Event};
use anyhow::{Context, Result, bail};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// How often the prober sends its line again while some member has not seen it.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// What a member does with the texts it reads.
pub trait Reader: Send + 'static {
    /// What a member hands back once it stops reading.
    type Report: Send + 'static;

    /// Takes one text the member read; probes are not passed on. `Break`
    /// stops the member's reading: it has all it waits for, or it saw
    /// something wrong, which its report should tell.
    fn take(&mut self, text: &str) -> ControlFlow<()>;

    /// The member's report. `ended` is what stopped the reading before the
    /// reader did or the crowd was dismissed: a close frame, the end of the
    /// connection, or silence for longer than [`Members::patience`].
    fn report(self, ended: Option<Event>) -> Self::Report;
}

/// Who is in a crowd and how they connect.
#[derive(Debug, Clone, Copy)]
pub struct Members {
    /// How many clients.
    pub size: usize,
    /// The uid of the first client; the others count up from it.
    pub first_uid: u64,
    /// Handshakes in flight at once. A listen backlog that drops SYNs adds a
    /// retransmission second to any server, so benchmarks keep this below it.
    pub in_flight: usize,
    /// Whether the members and the prober set TCP_NODELAY (see [`connect`]).
    pub nodelay: bool,
    /// How long a member waits for its next text, and [`Crowd::sync`] for
    /// every member to see a probe, before calling it a failure.
    pub patience: Duration,
}

/// A member that stopped reading, with its client, which stays connected
/// until the whole crowd is done: a member leaving would put a notice of its
/// departure in everyone else's way.
type Stopped<R> = (Client, <R as Reader>::Report);

/// Clients connected to one server, reading in their own tasks.
pub struct Crowd<R: Reader> {
    reading: JoinSet<Result<Stopped<R>>>,
    /// Members whose task ended while the crowd was connecting or syncing.
    stopped: Vec<Stopped<R>>,
    probed: mpsc::Receiver<()>,
    stop: watch::Sender<bool>,
    members: Members,
}

/// Connects as `uid` with TCP_NODELAY, as browsers set it, or with Nagle's
/// algorithm on, as a default tokio-tungstenite connection leaves it.
pub async fn connect(url: &str, uid: &str, nodelay: bool) -> Result<Client> {
    if nodelay {
        Client::connect(url, uid).await
    } else {
        Client::connect_with_nagle(url, uid).await
    }
}

impl<R: Reader> Crowd<R> {
    /// Connects `members` to `url`, each with the reader `reader(uid)` makes,
    /// and returns once every one has connected.
    pub async fn connect(
        url: &str,
        members: Members,
        mut reader: impl FnMut(u64) -> R,
    ) -> Result<Crowd<R>> {
        let gate = Arc::new(Semaphore::new(members.in_flight.max(1)));
        let (probed_tx, probed) = mpsc::channel::<()>(members.size.max(1));
        let (connected_tx, mut connected) = mpsc::channel::<()>(members.size.max(1));
        let (stop, stop_rx) = watch::channel(false);
        let mut reading = JoinSet::new();
        let uids = members.first_uid..members.first_uid + members.size as u64;
        for uid in uids {
            let (url, gate, reader) = (url.to_string(), Arc::clone(&gate), reader(uid));
            let (probed, connected, stop) =
                (probed_tx.clone(), connected_tx.clone(), stop_rx.clone());
            reading.spawn(async move {
                let permit = gate
                    .acquire_owned()
                    .await
                    .context("the handshake gate closed")?;
                let client = connect(&url, &uid.to_string(), members.nodelay).await?;
                drop(permit);
                let _ = connected.send(()).await;
                Ok(read(client, reader, probed, stop, members.patience).await)
            });
        }
        drop((probed_tx, connected_tx));
        let mut stopped = Vec::new();
        let mut count = 0;
        while count < members.size {
            tokio::select! {
                Some(()) = connected.recv() => count += 1,
                // A member that stopped already connected: sync reports it.
                Some(done) = reading.join_next() => {
                    stopped.push(done.context("a crowd member panicked")??);
                }
                else => bail!("only {count} of {} clients connected", members.size),
            }
        }
        Ok(Crowd {
            reading,
            stopped,
            probed,
            stop,
            members,
        })
    }

    /// Sends probe lines from a client of its own, uid `prober_uid`, until
    /// every member has seen one: then every session is registered and the
    /// server has caught up with the joins. Returns the prober, which stays
    /// connected; `None` if a member stopped reading first (its report
    /// says why), and then nobody is waiting for the probe any longer.
    pub async fn sync(&mut self, url: &str, prober_uid: u64) -> Result<Option<Client>> {
        if !self.stopped.is_empty() {
            return Ok(None);
        }
        let size = self.members.size;
        let mut prober = connect(url, &prober_uid.to_string(), self.members.nodelay).await?;
        let limit = tokio::time::Instant::now() + self.members.patience;
        let mut reached = 0;
        let mut round = 0;
        while reached < size {
            prober.send_text(&format!("probe {round}")).await?;
            round += 1;
            let resend = tokio::time::sleep(PROBE_EVERY);
            tokio::pin!(resend);
            loop {
                tokio::select! {
                    Some(()) = self.probed.recv() => {
                        reached += 1;
                        if reached == size { break; }
                    }
                    Some(done) = self.reading.join_next() => {
                        self.stopped.push(done.context("a crowd member panicked")??);
                        return Ok(None);
                    }
                    () = &mut resend => break,
                }
            }
            // The prober reads too, so that it is never the slow one.
            while let Event::Text(_) = prober.next_event(Duration::ZERO).await {}
            if tokio::time::Instant::now() > limit {
                bail!(
                    "after {:?} only {reached} of {size} clients had seen a probe",
                    self.members.patience
                );
            }
        }
        Ok(Some(prober))
    }

    /// Waits until every member has stopped reading on its own (its reader
    /// had all it waited for, saw something wrong, or its connection ended)
    /// and gathers their reports.
    pub async fn finish(mut self) -> Result<Vec<R::Report>> {
        let mut all = std::mem::take(&mut self.stopped);
        while let Some(done) = self.reading.join_next().await {
            all.push(done.context("a crowd member panicked")??);
        }
        // Only now do the clients hang up, all together.
        Ok(all.into_iter().map(|(_client, report)| report).collect())
    }

    /// Tells every member to stop reading and gathers their reports.
    pub async fn dismiss(self) -> Result<Vec<R::Report>> {
        // No member may be listening any longer; that is fine.
        let _ = self.stop.send(true);
        self.finish().await
    }
}

/// One member's life: read until its reader or the crowd says stop, or the
/// connection ends, and tell the crowd of the first probe.
async fn read<R: Reader>(
    mut client: Client,
    mut reader: R,
    probed: mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
    patience: Duration,
) -> Stopped<R> {
    let mut seen_probe = false;
    let ended = loop {
        let event = tokio::select! {
            event = client.next_event(patience) => event,
            _ = stop.changed() => break None,
        };
        let text = match event {
            Event::Text(text) => text,
            other => break Some(other),
        };
        if is_probe(&text) {
            if !seen_probe {
                seen_probe = true;
                // The crowd stops counting probes once it is in sync.
                let _ = probed.send(()).await;
            }
        } else if reader.take(&text).is_break() {
            break None;
        }
    };
    let report = reader.report(ended);
    (client, report)
}

/// Whether a chat line is a prober's: `[UID: <uid>]: probe <round>`.
fn is_probe(text: &str) -> bool {
    text.split_once("]: ")
        .is_some_and(|(_, body)| body.starts_with("probe "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::net::TcpListener;
    use tokio::sync::broadcast;
    use tokio_tungstenite::tungstenite::Message;

    #[test]
    fn probes_are_told_from_other_lines() {
        assert!(is_probe("[UID: 0]: probe 3"));
        assert!(!is_probe("[UID: 0]: crowd 3"));
        assert!(!is_probe("[server]: user 4 joined"));
        assert!(!is_probe("probe 3"));
    }

    /// Counts the lines that are not probes, and stops after `until`.
    struct Counter {
        lines: usize,
        until: usize,
    }

    impl Reader for Counter {
        type Report = (usize, Option<Event>);

        fn take(&mut self, _text: &str) -> ControlFlow<()> {
            self.lines += 1;
            if self.lines < self.until {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        }

        fn report(self, ended: Option<Event>) -> Self::Report {
            (self.lines, ended)
        }
    }

    /// The least chat: every text from user N to everyone as `[UID: N]: text`.
    /// It closes the connection of user `refused` at once.
    async fn chat_server(refused: &'static str) -> Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("ws://{}/ws", listener.local_addr()?);
        let (lines, _) = broadcast::channel::<String>(1024);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let lines = lines.clone();
                tokio::spawn(async move {
                    let Ok((ws, uid)) = crate::test_server::accept_with_uid(stream).await else {
                        return;
                    };
                    let (mut sink, mut source) = ws.split();
                    if uid == refused {
                        let _ = sink.close().await;
                        return;
                    }
                    let mut heard = lines.subscribe();
                    loop {
                        tokio::select! {
                            Some(Ok(Message::Text(text))) = source.next() => {
                                let _ = lines.send(format!("[UID: {uid}]: {text}"));
                            }
                            Ok(line) = heard.recv() => {
                                if sink.send(Message::text(line)).await.is_err() {
                                    return;
                                }
                            }
                            else => return,
                        }
                    }
                });
            }
        });
        Ok(url)
    }

    fn members(size: usize) -> Members {
        Members {
            size,
            first_uid: 1,
            in_flight: 4,
            nodelay: true,
            patience: Duration::from_secs(10),
        }
    }

    #[test]
    fn a_synced_crowd_reads_until_its_readers_stop() -> Result<()> {
        crate::block_on(async {
            let url = chat_server("none").await?;
            let mut crowd =
                Crowd::connect(&url, members(20), |_| Counter { lines: 0, until: 3 }).await?;
            let _prober = crowd
                .sync(&url, 100)
                .await?
                .context("nobody stopped early")?;
            let mut sender = Client::connect(&url, "101").await?;
            for n in 0..3 {
                sender.send_text(&format!("line {n}")).await?;
            }
            let reports = crowd.finish().await?;
            assert_eq!(reports, vec![(3, None); 20]);
            Ok(())
        })
    }

    #[test]
    fn a_dismissed_crowd_reports_what_it_had() -> Result<()> {
        crate::block_on(async {
            let url = chat_server("none").await?;
            let mut crowd =
                Crowd::connect(&url, members(5), |_| Counter { lines: 0, until: 9 }).await?;
            let _prober = crowd
                .sync(&url, 100)
                .await?
                .context("nobody stopped early")?;
            let reports = crowd.dismiss().await?;
            assert_eq!(reports, vec![(0, None); 5]);
            Ok(())
        })
    }

    #[test]
    fn a_member_that_stops_before_the_probe_stops_the_sync() -> Result<()> {
        crate::block_on(async {
            let url = chat_server("3").await?;
            let mut crowd =
                Crowd::connect(&url, members(5), |_| Counter { lines: 0, until: 9 }).await?;
            assert!(crowd.sync(&url, 100).await?.is_none());
            let mut reports = crowd.dismiss().await?;
            reports.sort_by_key(|(_, ended)| ended.is_none());
            assert!(matches!(
                reports[0],
                (0, Some(Event::Close { .. } | Event::Gone(_)))
            ));
            assert_eq!(reports[1..], vec![(0, None); 4]);
            Ok(())
        })
    }
}
