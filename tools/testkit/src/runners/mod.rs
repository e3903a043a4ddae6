//! The runners: each scenario of the catalogue acted out against a fresh
//! server, as real users would, reporting structured [`Fact`]s without
//! knowing what the table expects.
//!
//! One way to judge: a runner records each fact with [`Run::record`], saying
//! whether it is what a user would expect; the verdict is "works" only if
//! every fact was. Facts that vary from run to run (CPU shares, megabytes,
//! timings) are [`Run::figure`]s: printed and kept with the book's
//! transcripts, never compared. The steps that many runners share and that
//! end in a fact are `Run::observe_*`: each acts, records what it saw, and
//! returns whether that was fine.

mod admission;
mod at_url;
mod cluster;
mod delivery;
mod departures;
mod dispatch;
mod fairness;
mod faults;
mod identity;
mod input;
mod shutdown;

use crate::client::{Client, Event};
use crate::platform;
use crate::server::Server;
use anyhow::{Context, Result, anyhow};
pub use at_url::{AtUrl, at_url};
use scenarios::params::{REPLY_SECS, SPIN_SHARE, SPIN_WINDOW_MS};
use scenarios::{Fact, Scenario, Seen, Shape, Text, Verdict};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Time allowed for an answer that should come at once.
pub(crate) const REPLY: Duration = Duration::from_secs(REPLY_SECS);
/// How long to wait for a server that stopped answering to exit, before
/// calling it alive but stuck.
const CRASH_WAIT: Duration = Duration::from_secs(3);

/// What a scenario observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Works, defect, or not applicable.
    pub verdict: Verdict,
    /// What was seen, in order: compared with the table.
    pub facts: Vec<Fact>,
    /// Measurements that vary from run to run: shown, never compared.
    pub figures: Vec<String>,
}

/// A scenario in progress: the server, the facts so far, and the step it is
/// at, so that a scenario that gets stuck can say where.
pub struct Run {
    server: Server,
    facts: Vec<Fact>,
    figures: Vec<String>,
    all_ok: bool,
    /// Set when the server turned out not to have the feature at all.
    not_applicable: bool,
    step: Arc<Mutex<String>>,
}

impl Run {
    fn new(server: Server, step: Arc<Mutex<String>>) -> Run {
        Run {
            server,
            facts: Vec::new(),
            figures: Vec::new(),
            all_ok: true,
            not_applicable: false,
            step,
        }
    }

    /// The server under test.
    pub fn server(&mut self) -> &mut Server {
        &mut self.server
    }

    /// Names the step the scenario is at, for the deadline's error message.
    pub fn step(&self, what: impl Into<String>) {
        set_step(&self.step, what);
    }

    /// Records a fact and whether it is what a user would expect. A fact
    /// that is bad by itself (a crash, a spin) is never fine. Returns `ok`.
    pub fn record(&mut self, fact: Fact, ok: bool) -> bool {
        let ok = ok && !fact.is_bad();
        self.all_ok &= ok;
        self.facts.push(fact);
        ok
    }

    /// Records that `who` saw `event`, and whether that is what a user
    /// would expect. Returns `ok`.
    pub fn saw(&mut self, who: impl Into<Text>, event: Seen, ok: bool) -> bool {
        let who = who.into();
        self.record(Fact::Saw { who, event }, ok)
    }

    /// Records a measurement that varies from run to run.
    pub fn figure(&mut self, figure: impl Into<String>) {
        self.figures.push(figure.into());
    }

    /// Records that the checkpoint lacks what the scenario tests, and why:
    /// the outcome is `n/a`, whatever else was recorded.
    pub fn not_applicable(&mut self, why: impl Into<String>) {
        self.not_applicable = true;
        self.facts.clear();
        self.figures = vec![why.into()];
    }

    fn finish(self) -> Outcome {
        if self.not_applicable {
            return Outcome {
                verdict: Verdict::NotApplicable,
                facts: Vec::new(),
                figures: self.figures,
            };
        }
        Outcome {
            verdict: if self.all_ok {
                Verdict::Works
            } else {
                Verdict::Defect
            },
            facts: self.facts,
            figures: self.figures,
        }
    }

    /// Connects `uid` and waits for the echo of its own message, which proves
    /// the server has registered it (a session registers before it reads).
    pub async fn join(&mut self, uid: &str) -> Result<Client> {
        let url = self.server.ws_url();
        self.join_at(&url, uid).await
    }

    /// Like [`Run::join`], on the server at `url` (a node of a cluster).
    pub async fn join_at(&mut self, url: &str, uid: &str) -> Result<Client> {
        self.step(format!("user {uid} joins at {url}"));
        let mut client = Client::connect(url, uid).await?;
        let text = format!("{uid} joined");
        client.send_text(&text).await?;
        client
            .wait_for_text(&format!("[UID: {uid}]: {text}"), REPLY)
            .await
            .map_err(|event| anyhow!("user {uid} saw {event} instead of its own echo"))?;
        Ok(client)
    }

    /// If the server process exits within a moment, the crash with its
    /// panics; otherwise `fallback`. Use it when users stop being answered.
    pub async fn crash_or(&mut self, fallback: Fact) -> Result<Fact> {
        self.step("waiting to see whether the server exits");
        Ok(match self.server.wait_exit(CRASH_WAIT).await? {
            Some(status) => {
                for panic in self.server.worker_panics() {
                    self.figure(format!(
                        "on the way down, a worker thread panicked at {}: {}",
                        panic.at, panic.message
                    ));
                }
                Fact::Crashed {
                    status: status.code().unwrap_or(-1),
                    panics: self.server.panics().into(),
                }
            }
            None => fallback,
        })
    }

    /// Watches the server's threads and records [`Fact::Spinning`] or
    /// [`Fact::Idle`], with the busiest thread as a figure. Returns whether
    /// it was idle.
    pub async fn observe_idle(&mut self, after: &str) -> Result<bool> {
        self.step(format!("watching the server's threads after {after}"));
        let window = Duration::from_millis(SPIN_WINDOW_MS);
        let busiest = platform::busiest_thread(self.server.pid()?, window).await?;
        self.figure(format!(
            "after {after}, the busiest server thread ({}) was running or waiting to run for \
             {:.0} % of {:.1} s",
            busiest.name,
            busiest.share * 100.0,
            window.as_secs_f64()
        ));
        let idle = busiest.share < SPIN_SHARE;
        let fact = if idle { Fact::Idle } else { Fact::Spinning };
        Ok(self.record(fact, idle))
    }

    /// Records whether `/healthcheck` still answers (or the crash, if the
    /// process is gone). Returns whether it answered.
    pub async fn observe_health(&mut self) -> Result<bool> {
        self.step("GET /healthcheck");
        if self.server.is_healthy(REPLY).await {
            return Ok(self.record(Fact::Healthy, true));
        }
        let fact = self.crash_or(Fact::Unresponsive).await?;
        Ok(self.record(fact, false))
    }

    /// After someone left: each user still connected sends two lines and
    /// must get their echoes ([`Fact::OthersChat`]; else the crash, or
    /// [`Fact::OthersUnserved`]), then `/healthcheck` must answer. Two lines,
    /// because a server that crashes on the first may still echo it to some
    /// users before it goes. With `notices`, each user's "... left" notice
    /// is recorded too: read along the way, or waited for up to
    /// `NOTICE_WAIT` (part 4 announces departures on a beat), for
    /// departures the server is sure to have seen by then.
    pub async fn observe_others_chat(
        &mut self,
        users: &mut [(&str, &mut Client)],
        notices: bool,
    ) -> Result<bool> {
        let mut heard: Vec<Vec<String>> = vec![Vec::new(); users.len()];
        for round in ["still here", "still here, again"] {
            for ((uid, client), heard) in users.iter_mut().zip(&mut heard) {
                if let Err(event) = self.chat(uid, client, round, heard).await? {
                    self.figure(format!("user {uid} saw {event} instead of its echo"));
                    let fact = self.crash_or(Fact::OthersUnserved).await?;
                    return Ok(self.record(fact, false));
                }
            }
        }
        if notices {
            for ((uid, client), heard) in users.iter_mut().zip(&mut heard) {
                if heard.is_empty() {
                    self.step(format!("waiting for user {uid} to hear who left"));
                    if let Some(notice) = wait_for_leave_notice(client).await {
                        heard.push(notice);
                    }
                }
                for notice in heard.drain(..) {
                    self.saw(format!("user {uid}"), Seen::Text(notice.into()), true);
                }
            }
        }
        self.record(Fact::OthersChat { users: users.len() }, true);
        self.observe_health().await
    }

    /// Like [`Run::observe_others_chat`], for a server known to be spinning:
    /// records [`Fact::OthersUnserved`] if some user gets no echo, and what
    /// else happened only as figures.
    pub async fn observe_others_served(
        &mut self,
        users: &mut [(&str, &mut Client)],
    ) -> Result<bool> {
        let mut unserved = 0;
        for (uid, client) in users.iter_mut() {
            if let Err(event) = self
                .chat(uid, client, "still here", &mut Vec::new())
                .await?
            {
                self.figure(format!("user {uid} saw {event} instead of its echo"));
                unserved += 1;
            }
        }
        if unserved == 0 {
            self.record(Fact::OthersChat { users: users.len() }, true);
            return Ok(true);
        }
        self.figure(format!("{unserved} of {} users got no echo", users.len()));
        if let Some(status) = self.server.wait_exit(Duration::ZERO).await? {
            self.figure(format!("the server then exited ({status})"));
        }
        Ok(self.record(Fact::OthersUnserved, false))
    }

    /// `uid` sends `line` and reads until its echo, keeping the leave
    /// notices it reads on the way in `heard`. `Err` is what it saw instead.
    async fn chat(
        &mut self,
        uid: &str,
        client: &mut Client,
        line: &str,
        heard: &mut Vec<String>,
    ) -> Result<Result<(), Event>> {
        self.step(format!("user {uid} chats after the departure"));
        let line = format!("{line} {uid}");
        client.send_text(&line).await?;
        let echo = format!("[UID: {uid}]: {line}");
        loop {
            match client.next_event(REPLY).await {
                Event::Text(text) if text == echo => return Ok(Ok(())),
                Event::Text(text) if is_leave_notice(&text) => heard.push(text),
                Event::Text(_) => {}
                event => return Ok(Err(event)),
            }
        }
    }
}

/// A user who keeps reading in the background, and so answers the server's
/// pings, while a scenario does something else; [`Listener::stop`] gives
/// the client back with what it heard.
pub(crate) struct Listener {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(Client, Heard)>,
}

/// What a listener heard.
#[derive(Default)]
pub(crate) struct Heard {
    /// Every text, in order.
    pub texts: Vec<String>,
    /// What ended the listening before it was stopped: a close, the end.
    pub ended: Option<Event>,
}

impl Listener {
    /// Starts reading `client` in a task of its own.
    pub(crate) fn start(mut client: Client) -> Listener {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut heard = Heard::default();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    event = client.next_event(Duration::from_secs(3600)) => match event {
                        Event::Text(text) => heard.texts.push(text),
                        Event::Silent => {}
                        ended => {
                            heard.ended = Some(ended);
                            break;
                        }
                    },
                }
            }
            (client, heard)
        });
        Listener { stop, task }
    }

    /// Stops reading, and gives the client back with what it heard.
    pub(crate) async fn stop(self) -> Result<(Client, Heard)> {
        // The task may have ended on its own already; then it is not listening.
        let _ = self.stop.send(());
        self.task.await.context("a listening task panicked")
    }
}

/// Names the step a scenario is at, before it has a [`Run`].
fn set_step(step: &Mutex<String>, what: impl Into<String>) {
    if let Ok(mut step) = step.lock() {
        *step = what.into();
    }
}

/// A notice that a user left, as part4 sends them.
fn is_leave_notice(text: &str) -> bool {
    text.starts_with("[server]: ") && text.ends_with(" left")
}

/// How long a user waits to hear who left, when it has not yet: part 4
/// announces departures every half second.
const NOTICE_WAIT: Duration = Duration::from_secs(2);

/// Reads `client` for up to `NOTICE_WAIT`, returning the first leave notice.
async fn wait_for_leave_notice(client: &mut Client) -> Option<String> {
    let deadline = tokio::time::Instant::now() + NOTICE_WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_event(left).await {
            Event::Text(text) if is_leave_notice(&text) => return Some(text),
            Event::Text(_) => {}
            _ => return None,
        }
    }
}

/// Runs `scenario` against a fresh server started from `binary`, within the
/// scenario's deadline. An `Err` means the scenario could not be carried
/// out: the server would not start, or the scenario got stuck (the error
/// names the step).
pub async fn run(scenario: Scenario, binary: &Path) -> Result<Outcome> {
    let step = Arc::new(Mutex::new("starting the server".to_string()));
    let acted = async {
        let env = scenario.setup().env();
        let (run, nodes) = match scenario.setup().shape {
            Shape::Server => {
                let server = Server::start_with(binary, &env).await?;
                (Run::new(server, Arc::clone(&step)), None)
            }
            // A server meant not to start: its runner watches it fail.
            Shape::Unstarted => {
                let server = Server::spawn_with(binary, &env)?;
                (Run::new(server, Arc::clone(&step)), None)
            }
            Shape::Cluster { .. } => {
                match cluster::prepare(scenario, binary, Arc::clone(&step))
                    .await
                    .with_context(|| format!("scenario {}", scenario.id()))?
                {
                    cluster::Prepared::Ready(ready) => *ready,
                    cluster::Prepared::NotApplicable(outcome) => return Ok(outcome),
                }
            }
        };
        dispatch::dispatch(scenario, run, nodes).await
    };
    within_deadline(scenario.id(), scenario.deadline(), &step, acted).await
}

/// Runs `scenario` against a server someone else started, at `url`
/// (`ws://host:port/ws`). The server may be shared by other scenarios at
/// the same time: this one speaks with uids of its own (`crate::uids`).
/// Whether its verdict means anything there is [`at_url`]'s to say; those
/// that watch or signal the process fail with [`crate::server::NOT_STARTED`].
pub async fn run_at(scenario: Scenario, url: &str) -> Result<Outcome> {
    let step = Arc::new(Mutex::new(format!("reaching {url}")));
    let acted = async {
        if scenario.is_cluster() {
            anyhow::bail!("a cluster scenario starts its own nodes and Redis: it needs --bin");
        }
        let server = Server::attach(url).await?;
        dispatch::dispatch(scenario, Run::new(server, Arc::clone(&step)), None).await
    };
    let acted = crate::uids::within(crate::uids::space_of(scenario), acted);
    within_deadline(scenario.id(), scenario.deadline(), &step, acted).await
}

/// `acted`, or an error naming the scenario and the step it was stuck at
/// once `deadline` has passed. Dropping a stuck scenario kills its server.
async fn within_deadline<T>(
    id: &str,
    deadline: Duration,
    step: &Mutex<String>,
    acted: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(deadline, acted).await {
        Ok(outcome) => outcome,
        Err(_elapsed) => {
            let step = step.lock().map(|s| s.clone()).unwrap_or_default();
            Err(anyhow!(
                "scenario {id} did not finish within {deadline:?}; it was at: {step}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_scenario_fails_naming_its_step() {
        let step = Mutex::new("user 1 joins".to_string());
        let stuck = std::future::pending::<Result<()>>();
        let err = crate::block_on(within_deadline(
            "burst",
            Duration::from_millis(50),
            &step,
            stuck,
        ))
        .expect_err("it never finishes");
        assert_eq!(
            err.to_string(),
            "scenario burst did not finish within 50ms; it was at: user 1 joins"
        );
    }

    #[test]
    fn leave_notices_are_told_apart() {
        assert!(is_leave_notice("[server]: user 12 left"));
        assert!(!is_leave_notice("[server]: user 12 joined"));
        assert!(!is_leave_notice("[UID: 3]: I left"));
    }
}
