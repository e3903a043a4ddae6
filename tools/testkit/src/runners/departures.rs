//! Leaving: every way a user can go (politely, by vanishing, with an empty
//! close, by being replaced or dropped). Each ends by checking that the
//! users left can still chat and that `/healthcheck` answers.

use super::{REPLY, Run, is_leave_notice};
use crate::client::Event;
use crate::raw::RawClient;
use anyhow::Result;
use scenarios::params::{HALF_OPEN_LIMIT_SECS, HALF_OPEN_WATCH_SECS, NEIGHBOURS, TCP_CLOSE_MS};
use scenarios::{Fact, Seen};
use std::time::Duration;

pub async fn user_leaves(run: &mut Run) -> Result<()> {
    let one = run.join("1").await?;
    let mut two = run.join("2").await?;
    run.step("user 1 closes politely");
    let answer = one.close_politely("bye", REPLY).await.seen();
    let polite = answer == Seen::close(1000, "bye");
    run.saw("user 1", answer, polite);
    // The session reports its end before it answers the close, so a notice
    // that user 1 left comes before anything user 2 sends now.
    run.observe_others_chat(&mut [("2", &mut two)], true)
        .await?;
    Ok(())
}

pub async fn close_handshake(run: &mut Run) -> Result<()> {
    let one = run.join("1").await?;
    run.step("user 1 closes politely and waits for the server to close TCP");
    let limit = Duration::from_millis(TCP_CLOSE_MS);
    let (answer, end) = one.close_and_time_the_end("bye", REPLY).await;
    let answer = answer.seen();
    let polite = answer == Seen::close(1000, "bye");
    if !run.saw("user 1", answer, polite) {
        return Ok(());
    }
    match end {
        Some(after) => run.figure(format!(
            "the server closed TCP {} ms after its close frame",
            after.as_millis()
        )),
        None => run.figure(format!(
            "the connection was still open after {} s",
            REPLY.as_secs()
        )),
    }
    let prompt = end.is_some_and(|after| after <= limit);
    let fact = if prompt {
        Fact::TcpClosedWithin { ms: TCP_CLOSE_MS }
    } else {
        Fact::TcpLingered { ms: TCP_CLOSE_MS }
    };
    run.record(fact, prompt);
    Ok(())
}

pub async fn client_vanishes(run: &mut Run) -> Result<()> {
    let one = run.join("1").await?;
    let mut two = run.join("2").await?;
    run.step("user 1 vanishes");
    one.vanish();
    if !run.observe_idle("user 1 vanished").await? {
        // A spinning server stays spinning: what follows would vary.
        return Ok(());
    }
    // The spin window gave the server time to see the end of the connection.
    run.observe_others_chat(&mut [("2", &mut two)], true)
        .await?;
    Ok(())
}

pub async fn vanish_neighbours(run: &mut Run) -> Result<()> {
    let one = run.join("1").await?;
    let mut neighbours = Vec::with_capacity(NEIGHBOURS);
    for uid in 2..2 + NEIGHBOURS {
        neighbours.push((uid.to_string(), run.join(&uid.to_string()).await?));
    }
    run.step("user 1 vanishes");
    one.vanish();
    let idle = run.observe_idle("user 1 vanished").await?;
    // Whether a "left" notice comes before a neighbour's line is a race
    // with the server noticing the vanished connection: not recorded.
    let mut users: Vec<(&str, &mut crate::Client)> = neighbours
        .iter_mut()
        .map(|(uid, client)| (uid.as_str(), client))
        .collect();
    if idle {
        run.observe_others_chat(&mut users, false).await?;
    } else {
        // A spinning session starves the users of its worker thread. It may
        // also crash the server later, or not: that varies from run to run,
        // so the starved users are the fact and a crash only a figure.
        run.observe_others_served(&mut users).await?;
    }
    Ok(())
}

pub async fn empty_close_frame(run: &mut Run) -> Result<()> {
    let mut one = run.join("1").await?;
    let mut two = run.join("2").await?;
    run.step("user 1 sends an empty close frame");
    one.send_empty_close().await?;
    // RFC 6455 asks the server to answer a close frame with one of its own.
    let answer = one.next_non_text(REPLY).await.seen();
    let answered = matches!(answer, Seen::Close { .. } | Seen::EmptyClose);
    run.saw("user 1", answer, answered);
    // A client that gets no answer gives up and hangs up, as browsers do.
    one.vanish();
    if !run.observe_idle("user 1 hung up").await? {
        return Ok(());
    }
    run.observe_others_chat(&mut [("2", &mut two)], true)
        .await?;
    Ok(())
}

pub async fn same_uid_twice(run: &mut Run) -> Result<()> {
    let mut older = run.join("1").await?;
    let mut two = run.join("2").await?;
    run.step("a second connection with uid 1 sends");
    let mut newer = crate::Client::connect(&run.server().ws_url(), "1").await?;
    newer.send_text("second connection").await?;
    let echo = "[UID: 1]: second connection";
    let newer_saw = match newer.wait_for_text(echo, REPLY).await {
        Ok(()) => Seen::Text(echo.into()),
        Err(event) => event.seen(),
    };
    let chats = newer_saw == Seen::Text(echo.into());
    run.saw("the newer connection", newer_saw, chats);
    if !run.observe_idle("the second connection").await? {
        return Ok(());
    }
    run.step("reading what the older connection got");
    let older_saw = older.next_non_text(REPLY).await.seen();
    let closed = matches!(older_saw, Seen::Close { .. } | Seen::EmptyClose);
    run.saw("the older connection", older_saw, closed);
    run.observe_others_chat(&mut [("1", &mut newer), ("2", &mut two)], false)
        .await?;
    Ok(())
}

/// Who `half-open-client` watches.
const SILENT: &str = "the silent client";

pub async fn half_open_client(run: &mut Run) -> Result<()> {
    let mut two = run.join("2").await?;
    run.step("a client that never answers pings connects as user 1");
    let silent = RawClient::open(run.server().addr(), "1", None).await?;
    run.step("waiting for the server to drop the silent client");
    let watch = Duration::from_secs(HALF_OPEN_WATCH_SECS);
    // User 2 keeps reading meanwhile, so that it answers the server's pings
    // (tungstenite answers when it reads) and is not taken for silent too.
    let mut notices = Vec::new();
    let waited = {
        let keep_reading = async {
            loop {
                match two.next_event(watch * 2).await {
                    Event::Text(text) if is_leave_notice(&text) => notices.push(text),
                    Event::Text(_) => {}
                    event => return event,
                }
            }
        };
        tokio::select! {
            dropped = silent.wait_until_dropped(watch) => Ok(dropped?),
            event = keep_reading => Err(event),
        }
    };
    let dropped = match waited {
        Ok(dropped) => dropped,
        Err(event) => {
            let fact = run
                .crash_or(Fact::Saw {
                    who: "user 2".into(),
                    event: event.seen(),
                })
                .await?;
            run.record(fact, false);
            return Ok(());
        }
    };
    let Some(dropped) = dropped else {
        run.record(
            Fact::NotDropped {
                who: SILENT.into(),
                secs: HALF_OPEN_WATCH_SECS,
            },
            false,
        );
        return Ok(());
    };
    run.figure(format!(
        "the silent client was dropped after {:.1} s and {} unanswered pings",
        dropped.after.as_secs_f64(),
        dropped.pings
    ));
    let in_time = dropped.after <= Duration::from_secs(HALF_OPEN_LIMIT_SECS);
    let fact = if in_time {
        Fact::DroppedWithin {
            who: SILENT.into(),
            secs: HALF_OPEN_LIMIT_SECS,
            event: dropped.seen(),
        }
    } else {
        Fact::NotDropped {
            who: SILENT.into(),
            secs: HALF_OPEN_LIMIT_SECS,
        }
    };
    run.record(fact, in_time);
    for notice in notices {
        run.saw("user 2", Seen::Text(notice.into()), true);
    }
    // The session reported its end before it closed the connection, so a
    // notice not read yet comes before user 2's next echo.
    run.observe_others_chat(&mut [("2", &mut two)], true)
        .await?;
    Ok(())
}
