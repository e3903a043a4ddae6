//! Faults a deployment meets that no user does on purpose: a client that
//! stops reading, a server that is paused, a client with Nagle's algorithm
//! on. Each is made for real: a socket with a tiny receive buffer, SIGSTOP
//! and SIGCONT, a client without TCP_NODELAY.

use super::{Listener, REPLY, Run, is_leave_notice, wait_for_leave_notice};
use crate::client::{Client, Event};
use crate::platform;
use crate::raw::{RawClient, opcode};
use anyhow::{Result, anyhow};
use scenarios::params::*;
use scenarios::{Fact, Seen};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Who `stalled-reader` watches.
const STALLED: &str = "user 1, who stopped reading but kept pinging";
/// Lines sent past a stalled reader when its server's socket cannot be
/// read (off Linux): more than a default Linux socket takes, at most.
const FILL_LINES_BLIND: usize = 100;
/// Lines in a row that must leave the server's socket no fuller for it to
/// count as full.
const FULL_AFTER: usize = 5;

/// Connects `uid` with a tiny receive buffer, sends one line and waits for
/// `witness` to see it, so that the user is registered; then it reads nothing.
pub(super) async fn stalled_user(
    run: &mut Run,
    uid: &str,
    witness: &mut Client,
) -> Result<RawClient> {
    run.step(format!(
        "user {uid} connects with a small receive buffer and stops reading"
    ));
    let addr = run.server().addr();
    let mut stalled = RawClient::open(addr, uid, Some(STALL_RECEIVE_BUFFER)).await?;
    let line = format!("{uid} joined");
    stalled.send_frame(opcode::TEXT, line.as_bytes()).await?;
    witness
        .wait_for_text(&format!("[UID: {uid}]: {line}"), REPLY)
        .await
        .map_err(|event| anyhow!("user {uid}'s first line never came back: {event}"))?;
    Ok(stalled)
}

/// `talker` (uid `uid`) sends `STALL_LINE_KIB` KiB lines, each after the
/// echo of the one before, until the server's socket to the client at
/// `reader` has grown no fuller for `FULL_AFTER` lines: then the server's
/// writes to that client wait. The socket's queue is read from the kernel
/// on Linux; elsewhere a fixed number of lines is sent. Returns how many.
pub(super) async fn fill_socket(
    run: &mut Run,
    talker: &mut Client,
    uid: &str,
    reader: SocketAddr,
) -> Result<usize> {
    run.step(format!(
        "user {uid} fills the server's socket to a reader that stopped"
    ));
    let server = run.server().addr();
    let filler = "x".repeat(STALL_LINE_KIB * 1024 - 16);
    let (mut most, mut still, mut sent) = (0, 0, 0);
    loop {
        let line = format!("fill {sent} {filler}");
        talker.send_text(&line).await?;
        let echo = format!("[UID: {uid}]: {line}");
        talker
            .wait_for_text(&echo, REPLY)
            .await
            .map_err(|event| anyhow!("user {uid} saw {event} instead of its echo"))?;
        sent += 1;
        match platform::tcp_unsent(server, reader) {
            Ok(Some(unsent)) if unsent > most => (most, still) = (unsent, 0),
            Ok(Some(_)) => still += 1,
            Ok(None) => return Err(anyhow!("the server's socket to the reader is gone")),
            Err(why) if sent == FILL_LINES_BLIND => {
                run.figure(format!("{sent} lines sent blind ({why})"));
                return Ok(sent);
            }
            Err(_) => continue,
        }
        if still == FULL_AFTER {
            run.figure(format!(
                "the server's socket to the stalled reader held {:.1} MB after {sent} lines",
                most as f64 / 1e6
            ));
            return Ok(sent);
        }
    }
}

pub async fn stalled_reader(run: &mut Run) -> Result<()> {
    let mut talker = run.join("2").await?;
    let mut bystander = run.join("3").await?;
    let mut stalled = stalled_user(run, "1", &mut bystander).await?;
    let reader = stalled.local_addr()?;
    // The bystander reads on, and so answers pings, while the socket fills.
    let listener = Listener::start(bystander);
    let filled = fill_socket(run, &mut talker, "2", reader).await;
    let (bystander, heard) = listener.stop().await?;
    filled?;
    if let Some(event) = heard.ended {
        let fact = run.crash_or(Fact::saw("user 3", event.seen())).await?;
        run.record(fact, false);
        return Ok(());
    }
    let mut notices: Vec<String> = heard
        .texts
        .into_iter()
        .filter(|t| is_leave_notice(t))
        .collect();

    run.step("the room is quiet; user 1 pings and reads nothing");
    let listeners = (Listener::start(talker), Listener::start(bystander));
    let limit = Duration::from_secs(STALL_LIMIT_SECS);
    let cut = stalled
        .ping_until_cut(Duration::from_millis(STALL_PING_MS), limit)
        .await;
    let (talker, _) = listeners.0.stop().await?;
    let (bystander, heard) = listeners.1.stop().await?;
    let (mut talker, mut bystander) = (talker, bystander);
    let Some(after) = cut else {
        run.record(
            Fact::NotDropped {
                who: STALLED.into(),
                secs: STALL_LIMIT_SECS,
            },
            false,
        );
        return Ok(());
    };
    run.figure(format!(
        "user 1's pings failed {:.1} s after the room went quiet",
        after.as_secs_f64()
    ));
    run.record(
        Fact::DroppedWithin {
            who: STALLED.into(),
            secs: STALL_LIMIT_SECS,
            event: Seen::Ended,
        },
        true,
    );
    if let Some(event) = heard.ended {
        let fact = run.crash_or(Fact::saw("user 3", event.seen())).await?;
        run.record(fact, false);
        return Ok(());
    }
    notices.extend(heard.texts.into_iter().filter(|t| is_leave_notice(t)));
    if notices.is_empty()
        && let Some(notice) = wait_for_leave_notice(&mut bystander).await
    {
        notices.push(notice);
    }
    for notice in notices {
        run.saw("user 3", Seen::Text(notice.into()), true);
    }
    let log = run.server().stderr_text();
    let said = log
        .lines()
        .filter_map(|line| line.split_once("] ").map(|(_, said)| said))
        .find(|said| said.starts_with("user 1: ") && said.contains("not reading"));
    match said {
        Some(said) => run.record(
            Fact::Logged {
                text: said.to_string().into(),
            },
            true,
        ),
        None => run.record(
            Fact::Logged {
                text: "nothing about user 1 not reading".into(),
            },
            false,
        ),
    };
    run.observe_others_chat(&mut [("2", &mut talker), ("3", &mut bystander)], false)
        .await?;
    Ok(())
}

pub async fn chatty_client(run: &mut Run) -> Result<()> {
    let two = run.join("2").await?;
    let listener = Listener::start(two);
    run.step("user 1, with Nagle's algorithm on, chats");
    let url = run.server().ws_url();
    let mut chatty = Client::connect_with_nagle(&url, "1").await?;
    let mut slowest = Duration::ZERO;
    for n in 0..CHATTY_LINES {
        let next = Instant::now() + Duration::from_millis(CHATTY_EVERY_MS);
        let line = format!("chat {n}");
        let sent = Instant::now();
        chatty.send_text(&line).await?;
        // Reading answers the server's pings, as any client does.
        if let Err(event) = chatty
            .wait_for_text(&format!("[UID: 1]: {line}"), REPLY)
            .await
        {
            let (_, _) = listener.stop().await?;
            run.saw("user 1", event.seen(), false);
            return Ok(());
        }
        slowest = slowest.max(sent.elapsed());
        while let Event::Text(_) = chatty
            .next_event(next.saturating_duration_since(Instant::now()))
            .await
        {}
    }
    run.figure(format!(
        "the slowest echo of user 1's lines took {} ms; it got {} pings",
        slowest.as_millis(),
        chatty.pings()
    ));
    let who = "user 1, who sent a line every 500 ms";
    if chatty.pings() == 0 {
        run.record(Fact::NotPinged { who: who.into() }, true);
    } else {
        run.record(Fact::Pinged { who: who.into() }, false);
    }
    let (_, heard) = listener.stop().await?;
    let got = heard
        .texts
        .iter()
        .filter(|text| text.starts_with("[UID: 1]: chat "))
        .count();
    if got == CHATTY_LINES {
        run.record(Fact::delivered("user 2", CHATTY_LINES), true);
    } else {
        run.figure(format!("user 2 got {got} of {CHATTY_LINES} lines"));
        run.record(
            Fact::Undelivered {
                who: "user 2".into(),
            },
            false,
        );
    }
    Ok(())
}

pub async fn paused_server(run: &mut Run) -> Result<()> {
    let mut sender = run.join("1").await?;
    let mut listeners = Vec::new();
    for uid in 2..=PAUSE_CLIENTS {
        listeners.push(Listener::start(run.join(&uid.to_string()).await?));
    }
    run.step("user 1 sends a line every 100 ms; the server is paused, then resumed");
    // Paused after a second of chat, for `PAUSE_SECS`; the lines sent
    // meanwhile wait in the sockets, as they would behind a stalled network.
    let pause_at = 10;
    let (mut pause_ends, mut resumed) = (None, None);
    let (mut sender_end, mut warned) = (None, false);
    let mut next = Instant::now();
    for n in 0..PAUSE_LINES {
        if n == pause_at {
            run.server().pause()?;
            pause_ends = Some(Instant::now() + Duration::from_secs(PAUSE_SECS));
        }
        if resumed.is_none() && pause_ends.is_some_and(|at| Instant::now() >= at) {
            run.server().resume()?;
            resumed = Some(Instant::now());
        }
        sender.send_text(&format!("talk {n}")).await?;
        next += Duration::from_millis(PAUSE_LINE_MS);
        // Reading, the sender answers pings, and sees any warning.
        loop {
            let left = next.saturating_duration_since(Instant::now());
            match sender.next_event(left).await {
                Event::Text(text) => warned |= text.starts_with("[server]: slow down"),
                Event::Silent => break,
                event => {
                    sender_end = Some(event);
                    break;
                }
            }
        }
        if sender_end.is_some() {
            break;
        }
    }
    if resumed.is_none() {
        run.server().resume()?;
    }
    if warned {
        run.figure("user 1 was told to slow down");
    }
    run.step("user 2 gets the last of user 1's lines");
    let last = format!("[UID: 1]: talk {}", PAUSE_LINES - 1);
    let mut first_gone = sender_end.map(|event| ("user 1".to_string(), event));
    let mut heard = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        let uid = index + 2;
        let (mut client, mut got) = listener.stop().await?;
        // The last lines may still be on their way to user 2.
        while uid == 2 && got.ended.is_none() && !got.texts.contains(&last) {
            match client.next_event(REPLY).await {
                Event::Text(text) => got.texts.push(text),
                event => got.ended = Some(event),
            }
        }
        if let Some(event) = got.ended
            && first_gone.is_none()
        {
            first_gone = Some((format!("user {uid}"), event));
        }
        if uid == 2 {
            heard = got.texts;
        }
    }
    if let Some((who, event)) = first_gone {
        run.saw(who, event.seen(), false);
        // A server that dropped its users must still serve a newcomer.
        run.step("a newcomer chats after the drops");
        match run.join("9").await {
            Ok(mut newcomer) => {
                run.observe_others_chat(&mut [("9", &mut newcomer)], false)
                    .await?;
            }
            Err(err) => {
                run.figure(format!("the newcomer could not join: {err:#}"));
                let fact = run.crash_or(Fact::OthersUnserved).await?;
                run.record(fact, false);
            }
        }
        return Ok(());
    }
    run.record(
        Fact::Stayed {
            users: PAUSE_CLIENTS,
            secs: PAUSE_WATCH_SECS,
        },
        true,
    );
    let lines: Vec<&String> = heard
        .iter()
        .filter(|text| text.starts_with("[UID: 1]: talk "))
        .collect();
    let in_order = lines
        .iter()
        .enumerate()
        .all(|(n, text)| **text == format!("[UID: 1]: talk {n}"));
    let who = "user 2, of user 1's lines,";
    if in_order && lines.len() == PAUSE_LINES {
        run.record(Fact::delivered(who, PAUSE_LINES), true);
    } else {
        run.figure(format!(
            "user 2 got {} of user 1's {PAUSE_LINES} lines",
            lines.len()
        ));
        run.record(Fact::Undelivered { who: who.into() }, false);
    }
    Ok(())
}
