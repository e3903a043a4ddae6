//! Delivery: every message to everyone, each sender's in order. Here with
//! many clients at once (a burst to a few hundred, several senders to a
//! crowd); `talkers.rs` has users talking while another stops reading or
//! leaves, and `join_storm.rs` many clients joining at once.

mod join_storm;
mod talkers;

pub(super) use join_storm::join_storm;
pub(super) use talkers::{leave_while_talking, slow_reader, slow_reader_large};

use super::Run;
use crate::client::{Client, Event};
use crate::crowd::{Crowd, Members, Reader};
use anyhow::{Context, Result};
use scenarios::Fact;
use scenarios::params::*;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// The one in-order checker: messages look like `[UID: <sender>]: <tag><n>`
/// and each sender numbers its own from 0.
pub(super) struct InOrder {
    tag: &'static str,
    next: HashMap<String, usize>,
    received: usize,
}

impl InOrder {
    pub(super) fn new(tag: &'static str) -> Self {
        Self {
            tag,
            next: HashMap::new(),
            received: 0,
        }
    }

    /// Takes one received text. `Ok(false)` for a text that is not one of
    /// the numbered messages (a notice, a join line), `Err` for a gap or a
    /// message out of order.
    pub(super) fn take(&mut self, text: &str) -> Result<bool, String> {
        let Some((sender, n)) = text
            .strip_prefix("[UID: ")
            .and_then(|rest| rest.split_once("]: "))
            .and_then(|(sender, rest)| Some((sender, rest.strip_prefix(self.tag)?)))
        else {
            return Ok(false);
        };
        let n: usize = n
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unreadable message {text:?}"))?;
        let expected = self.next.entry(sender.to_string()).or_insert(0);
        if n != *expected {
            return Err(format!(
                "got message {n} from user {sender} when {expected} was next"
            ));
        }
        *expected += 1;
        self.received += 1;
        Ok(true)
    }

    /// How many messages from `sender` arrived in order so far.
    pub(super) fn from(&self, sender: &str) -> usize {
        self.next.get(sender).copied().unwrap_or(0)
    }
}

/// Reads from `client` until `count` numbered messages have arrived in order.
async fn collect(client: &mut Client, order: &mut InOrder, count: usize) -> Result<(), String> {
    while order.received < count {
        match client.next_event(Duration::from_secs(60)).await {
            Event::Text(text) => {
                order.take(&text)?;
            }
            event => {
                return Err(format!("saw {event} after {} messages", order.received));
            }
        }
    }
    Ok(())
}

/// Whether the clients may go on, once every one of them is ready.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    Closed,
    Open,
    /// A client failed before everyone was ready: nobody waits any longer.
    Abandoned,
}

/// A client task: hands back what it observed (`Err(String)` is an observed
/// failure), keeping its client connected until the end of the scenario.
type Tasks = JoinSet<Result<(Client, Result<(), String>)>>;

/// Waits until `ready` has heard from `count` clients, or until a task
/// ends early (a failure: it never became ready), which abandons the gate so
/// that no client is left waiting for one that will never come.
async fn open_when_ready(
    tasks: &mut Tasks,
    ready: &mut mpsc::Receiver<()>,
    gate: &watch::Sender<Gate>,
    count: usize,
    early: &mut Vec<(Client, Result<(), String>)>,
) -> Result<bool> {
    let mut seen = 0;
    while seen < count {
        tokio::select! {
            Some(()) = ready.recv() => seen += 1,
            Some(done) = tasks.join_next() => {
                early.push(done.context("a client task panicked")??);
                let _ = gate.send(Gate::Abandoned);
                return Ok(false);
            }
        }
    }
    let _ = gate.send(Gate::Open);
    Ok(true)
}

/// Waits for every client task and gathers the observed failures.
async fn gather(
    mut tasks: Tasks,
    mut early: Vec<(Client, Result<(), String>)>,
) -> Result<Vec<String>> {
    while let Some(done) = tasks.join_next().await {
        early.push(done.context("a client task panicked")??);
    }
    Ok(failures(early.into_iter().map(|(_, seen)| seen).collect()))
}

/// Records that every one of `clients` got all `messages`, or, with the
/// first of the `failures` as a figure, that some did not.
fn record_delivery(run: &mut Run, failures: &[String], clients: usize, messages: usize) {
    match failures.first() {
        None => {
            run.record(Fact::delivered("every client", messages), true);
        }
        Some(first) => {
            run.figure(format!(
                "{} of {clients} clients missed or reordered messages; first: {first}",
                failures.len()
            ));
            run.record(
                Fact::Undelivered {
                    who: "the clients".into(),
                },
                false,
            );
        }
    }
}

/// Waits until the gate opens; `Err` if it was abandoned instead.
async fn wait_gate(gate: &mut watch::Receiver<Gate>) -> Result<(), String> {
    match gate.wait_for(|g| *g != Gate::Closed).await.map(|g| *g) {
        Ok(Gate::Open) => Ok(()),
        _ => Err("another client failed before everyone was ready".to_string()),
    }
}

pub(in crate::runners) async fn burst(run: &mut Run) -> Result<()> {
    let url = run.server().ws_url();
    let (ready_tx, mut ready) = mpsc::channel(BURST_CLIENTS);
    let (gate, gate_rx) = watch::channel(Gate::Closed);
    let mut tasks = Tasks::new();
    run.step(format!("{BURST_CLIENTS} clients join"));
    for uid in 1..=BURST_CLIENTS {
        let (url, ready_tx, mut gate_rx) = (url.clone(), ready_tx.clone(), gate_rx.clone());
        tasks.spawn(async move {
            let mut client = Client::connect(&url, &uid.to_string()).await?;
            let seen = async {
                client
                    .send_text("joined")
                    .await
                    .map_err(|e| format!("client {uid}: {e:#}"))?;
                client
                    .wait_for_text(&format!("[UID: {uid}]: joined"), Duration::from_secs(30))
                    .await
                    .map_err(|event| format!("client {uid} saw {event} instead of its echo"))?;
                let _ = ready_tx.send(()).await;
                wait_gate(&mut gate_rx).await?;
                if uid == 1 {
                    for n in 0..BURST_MESSAGES {
                        client
                            .send_text(&format!("burst {n}"))
                            .await
                            .map_err(|e| format!("client 1 could not send: {e:#}"))?;
                    }
                }
                let mut order = InOrder::new("burst ");
                collect(&mut client, &mut order, BURST_MESSAGES)
                    .await
                    .map_err(|e| format!("client {uid}: {e}"))
            }
            .await;
            anyhow::Ok((client, seen))
        });
    }
    let mut early = Vec::new();
    open_when_ready(&mut tasks, &mut ready, &gate, BURST_CLIENTS, &mut early).await?;
    run.step("the burst is delivered");
    let failures = gather(tasks, early).await?;
    record_delivery(run, &failures, BURST_CLIENTS, BURST_MESSAGES);
    Ok(())
}

/// Every member of the crowd reads the senders' numbered messages until it
/// has them all, each sender's in order.
struct CrowdMember {
    uid: u64,
    order: InOrder,
    count: usize,
    problem: Option<String>,
}

impl Reader for CrowdMember {
    /// `Err` says what went wrong for this member.
    type Report = Result<(), String>;

    fn take(&mut self, text: &str) -> ControlFlow<()> {
        if let Err(problem) = self.order.take(text) {
            self.problem = Some(problem);
            return ControlFlow::Break(());
        }
        if self.order.received < self.count {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    fn report(self, ended: Option<Event>) -> Self::Report {
        let received = self.order.received;
        let problem = match (self.problem, ended) {
            (Some(problem), _) => problem,
            (None, Some(event)) => format!("saw {event} after {received} messages"),
            (None, None) if received < self.count => {
                format!(
                    "had {received} of {} messages when told to stop",
                    self.count
                )
            }
            (None, None) => return Ok(()),
        };
        Err(format!("client {}: {problem}", self.uid))
    }
}

pub(in crate::runners) async fn crowd(run: &mut Run) -> Result<()> {
    let url = run.server().ws_url();
    run.step(format!("{CROWD_CLIENTS} clients connect"));
    let messages = CROWD_SENDERS * CROWD_EACH;
    let members = Members {
        size: CROWD_CLIENTS,
        first_uid: 1,
        // All at once, as a crowd that comes back after a restart.
        in_flight: CROWD_CLIENTS,
        nodelay: true,
        patience: Duration::from_secs(60),
    };
    let mut crowd = Crowd::connect(&url, members, |uid| CrowdMember {
        uid,
        order: InOrder::new("crowd "),
        count: messages,
        problem: None,
    })
    .await?;
    run.step("every client sees a probe line");
    let Some(_prober) = crowd.sync(&url, 0).await? else {
        // A client stopped before the crowd was in the chat: its report
        // says why, and the burst is not sent.
        let failures = failures(crowd.dismiss().await?);
        record_delivery(run, &failures, CROWD_CLIENTS, messages);
        return Ok(());
    };
    // The burst: several senders at once, each numbering its messages. They
    // stay connected until the end: one that hung up at once could lose its
    // last messages with the connection.
    run.step("the senders send");
    let mut senders = Vec::new();
    for sender in 0..CROWD_SENDERS {
        let mut client = Client::connect(&url, &format!("{}", 10_000 + sender)).await?;
        senders.push(async move {
            for n in 0..CROWD_EACH {
                client.send_text(&format!("crowd {n}")).await?;
            }
            anyhow::Ok(client)
        });
    }
    let _senders = futures_util::future::try_join_all(senders).await?;
    run.step("the crowd's messages are delivered");
    let failures = failures(crowd.finish().await?);
    record_delivery(run, &failures, CROWD_CLIENTS, messages);
    Ok(())
}

/// The failures among the crowd's reports, sorted.
fn failures(reports: Vec<Result<(), String>>) -> Vec<String> {
    let mut failures: Vec<String> = reports.into_iter().filter_map(Result::err).collect();
    failures.sort();
    failures
}

#[cfg(test)]
mod tests {
    use super::InOrder;

    #[test]
    fn in_order_counts_per_sender_and_spots_gaps() {
        let mut order = InOrder::new("talk ");
        assert_eq!(order.take("[UID: 2]: talk 0 xx"), Ok(true));
        assert_eq!(order.take("[UID: 3]: talk 0"), Ok(true));
        assert_eq!(order.take("[server]: user 1 left"), Ok(false));
        assert_eq!(order.take("[UID: 2]: 2 joined"), Ok(false));
        assert_eq!(order.take("[UID: 2]: talk 1"), Ok(true));
        assert_eq!(order.from("2"), 2);
        assert!(order.take("[UID: 3]: talk 2").is_err());
        assert_eq!(order.received, 3);
    }
}
