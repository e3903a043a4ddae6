//! Fairness: one user who floods must not cost the others their chat. The
//! flooder sends as fast as the connection allows (reading what it gets, so
//! that it is not also a slow reader); the others chat at a person's pace.

use super::{REPLY, Run};
use crate::client::{Client, Event};
use anyhow::Result;
use scenarios::close::POLICY;
use scenarios::params::*;
use scenarios::{Fact, Seen};
use std::time::Duration;
use tokio::time::Instant;

/// Floods from `client` for `FLOOD_SECS`, then waits for the server's verdict.
/// Returns what the flooder saw that was not chat: a close, the end of the
/// connection, or nothing.
async fn flood(mut client: Client) -> Result<Seen> {
    let until = Instant::now() + Duration::from_secs(FLOOD_SECS);
    let mut n = 0u64;
    while Instant::now() < until {
        if client.send_text(&format!("flood {n}")).await.is_err() {
            break;
        }
        n += 1;
        // Read whatever is ready, so that the flooder is never slow to read.
        loop {
            match client.next_event(Duration::ZERO).await {
                Event::Text(_) => {}
                Event::Silent => break,
                event => return Ok(event.seen()),
            }
        }
    }
    Ok(client.next_non_text(REPLY).await.seen())
}

/// Sends a numbered line every `CHAT_EVERY_MS` for `FLOOD_SECS`, each
/// carrying its send time (ms since `base`), reading between lines; then
/// keeps reading until it has `expected` numbered lines in all, or the chat
/// goes quiet. `pauses` stops reading for `READER_PAUSE_MS` that many times
/// (a reader who looks away). Returns (lines received in order, the longest
/// delay seen), or what ended the chat for this user.
async fn chat(
    client: &mut Client,
    send: bool,
    pauses: u32,
    expected: usize,
    base: Instant,
) -> Result<Result<(usize, Duration), Seen>> {
    let lines = CHAT_LINES;
    let mut next_send = Instant::now();
    let mut sent = 0;
    let mut pauses_left = pauses;
    let mut next_pause = Instant::now() + Duration::from_millis(READER_PAUSE_MS);
    let mut next: std::collections::HashMap<String, u64> = Default::default();
    let mut received = 0;
    let mut slowest = Duration::ZERO;
    loop {
        if send && sent < lines && Instant::now() >= next_send {
            let ms = base.elapsed().as_millis();
            client.send_text(&format!("talk {sent} {ms}")).await?;
            sent += 1;
            next_send += Duration::from_millis(CHAT_EVERY_MS);
        }
        if pauses_left > 0 && Instant::now() >= next_pause {
            tokio::time::sleep(Duration::from_millis(READER_PAUSE_MS)).await;
            pauses_left -= 1;
            next_pause = Instant::now() + Duration::from_millis(READER_PAUSE_MS);
        }
        if received >= expected && (!send || sent == lines) {
            return Ok(Ok((received, slowest)));
        }
        let wait = if send && sent < lines {
            next_send.saturating_duration_since(Instant::now())
        } else {
            REPLY
        };
        match client.next_event(wait).await {
            Event::Text(text) => {
                let Some((sender, rest)) = text
                    .strip_prefix("[UID: ")
                    .and_then(|t| t.split_once("]: talk "))
                else {
                    continue;
                };
                let mut fields = rest.split_whitespace().map(str::parse::<u64>);
                let (Some(Ok(n)), Some(Ok(ms))) = (fields.next(), fields.next()) else {
                    continue;
                };
                let expected_n = next.entry(sender.to_string()).or_insert(0);
                if n != *expected_n {
                    return Ok(Err(Seen::Text(text.into())));
                }
                *expected_n += 1;
                received += 1;
                let delay = base.elapsed().saturating_sub(Duration::from_millis(ms));
                slowest = slowest.max(delay);
            }
            Event::Silent if !send || sent == lines => return Ok(Err(Seen::Nothing)),
            Event::Silent => {}
            event => return Ok(Err(event.seen())),
        }
    }
}

/// Records what the flooder saw; returns whether it was closed with 1008.
fn flooder_closed(run: &mut Run, seen: Seen) -> bool {
    let closed = matches!(&seen, Seen::Close { code: POLICY, reason } if !reason.is_empty());
    run.saw("the flooder", seen, closed)
}

pub async fn flood_vs_reader(run: &mut Run) -> Result<()> {
    let flooder = run.join("1").await?;
    let mut reader = run.join("2").await?;
    let mut talker = run.join("3").await?;
    run.step("user 1 floods while user 2 reads with pauses and user 3 chats");
    let base = Instant::now();
    let lines = CHAT_LINES;
    let (flooder_saw, reader_got, _talker) = tokio::join!(
        flood(flooder),
        chat(&mut reader, false, 2, lines, base),
        chat(&mut talker, true, 0, lines, base),
    );
    if !flooder_closed(run, flooder_saw?) {
        return Ok(());
    }
    match reader_got? {
        Ok((received, _)) => {
            run.record(Fact::delivered("user 2 (who paused twice)", received), true);
        }
        Err(seen) => {
            run.saw("user 2 (who paused twice)", seen, false);
        }
    }
    Ok(())
}

pub async fn flood_vs_chat(run: &mut Run) -> Result<()> {
    let flooder = run.join("1").await?;
    let mut chatters = Vec::new();
    for uid in 2..2 + CHATTERS {
        chatters.push(run.join(&uid.to_string()).await?);
    }
    run.step(format!("user 1 floods while {CHATTERS} users chat"));
    let base = Instant::now();
    let lines = CHAT_LINES;
    let expected = lines * CHATTERS;
    let chats = futures_util::future::join_all(
        chatters
            .iter_mut()
            .map(|client| chat(client, true, 0, expected, base)),
    );
    let (flooder_saw, got) = tokio::join!(flood(flooder), chats);
    if !flooder_closed(run, flooder_saw?) {
        return Ok(());
    }
    let mut slowest = Duration::ZERO;
    for (index, got) in got.into_iter().enumerate() {
        match got? {
            Ok((_, delay)) => slowest = slowest.max(delay),
            Err(seen) => {
                run.saw(format!("user {}", index + 2), seen, false);
                return Ok(());
            }
        }
    }
    run.record(Fact::delivered("every chatter", expected), true);
    run.figure(format!(
        "the slowest line took {} ms to reach a chatter",
        slowest.as_millis()
    ));
    let prompt = slowest < Duration::from_secs(PROMPT_SECS);
    let fact = if prompt {
        Fact::ArrivedWithin { secs: PROMPT_SECS }
    } else {
        Fact::ArrivedLate { secs: PROMPT_SECS }
    };
    run.record(fact, prompt);
    Ok(())
}

/// A flooder that starts afresh: it sends as fast as it can and, whenever
/// it is closed (or after a few lines), connects again with the same uid,
/// the new connection replacing the old. Limits kept per connection reset
/// each time; limits kept per user and per address do not.
pub async fn reconnect_flood(run: &mut Run) -> Result<()> {
    let observer = run.join("2").await?;
    let listener = super::Listener::start(observer);
    let url = run.server().ws_url();
    run.step(format!(
        "uid 1 floods and reconnects for {RECONNECT_SECS} s"
    ));
    let until = Instant::now() + Duration::from_secs(RECONNECT_SECS);
    let (mut connections, mut sent) = (0, 0u64);
    let mut refusal = None;
    let flooding = async {
        let mut previous: Option<Client> = None;
        while Instant::now() < until {
            let mut client = match Client::open(&url, Some("1")).await? {
                crate::client::Connection::Open(client) => *client,
                refused => {
                    refusal.get_or_insert_with(|| refused.seen());
                    // It retries at once, a hundred times a second.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            connections += 1;
            // The new connection replaces the old, which only now goes away.
            drop(previous.take());
            for _ in 0..PER_CONNECTION {
                if client.send_text(&format!("flood {sent}")).await.is_err() {
                    break;
                }
                sent += 1;
            }
            previous = Some(client);
        }
        anyhow::Ok(())
    };
    // A server that stops accepting connections ends the flood early.
    let flooded = tokio::time::timeout(Duration::from_secs(RECONNECT_SECS) + REPLY, flooding).await;
    match flooded {
        Ok(Ok(())) => {}
        Ok(Err(err)) => run.figure(format!("the flood stopped: {err:#}")),
        Err(_) => run.figure("the flood stopped: the server took too long to answer"),
    }
    // What the server accepted arrives within a moment: user 2 listens on
    // for a second of quiet, as there is no event for "no more lines".
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, heard) = listener.stop().await?;
    if let Some(status) = run.server().wait_exit(Duration::ZERO).await? {
        run.figure(format!("the server exited ({status})"));
        let fact = run.crash_or(Fact::OthersUnserved).await?;
        run.record(fact, false);
        return Ok(());
    }
    let got = heard
        .texts
        .iter()
        .filter(|text| text.starts_with("[UID: 1]: flood "))
        .count();
    run.figure(format!(
        "uid 1 sent {sent} lines over {connections} connections; user 2 got {got}"
    ));
    let who = "user 2, of uid 1's lines,";
    if got <= RECONNECT_MOST {
        run.record(
            Fact::DeliveredAtMost {
                who: who.into(),
                messages: RECONNECT_MOST,
            },
            true,
        );
    } else {
        run.record(
            Fact::DeliveredMore {
                who: who.into(),
                messages: RECONNECT_MOST,
            },
            false,
        );
        return Ok(());
    }
    let who = "the reconnecting client";
    match refusal {
        Some(refused) => {
            let ok = matches!(refused, Seen::Refused { status: 429, .. });
            run.saw(who, refused, ok);
        }
        None => {
            run.saw(who, Seen::Accepted, false);
        }
    }
    Ok(())
}

/// Lines the reconnecting flooder sends on each connection before it
/// connects again: more than the scenario allows in all, so that a server
/// without a limit shows it on the first connection, and past the burst, so
/// that every connection meets the limit.
const PER_CONNECTION: usize = 2 * RECONNECT_MOST;
