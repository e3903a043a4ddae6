//! Users talking while another misbehaves: stops reading (the slow reader)
//! or leaves in the middle.

use super::InOrder;
use crate::client::{Client, Event};
use crate::platform;
use crate::runners::{REPLY, Run, is_leave_notice};
use anyhow::Result;
use scenarios::params::*;
use scenarios::{Fact, Seen};

/// Sends `count` numbered messages of `size` bytes from `client` (uid
/// `uid`), keeping at most a window unanswered, and reads its own echoes so
/// that the sender is never the slow one; a notice that someone left
/// notifies `left`. Returns how many came back in order.
async fn talk(
    client: &mut Client,
    uid: &str,
    count: usize,
    size: usize,
    left: &tokio::sync::Notify,
) -> Result<usize> {
    // At most 32 messages or 256 KiB unanswered: a client that reads its
    // echoes promptly, whatever the size of its messages.
    let window = (256 * 1024 / size.max(1)).clamp(1, 32);
    let filler = "x".repeat(size.saturating_sub(16));
    let mut order = InOrder::new("talk ");
    let mut sent = 0;
    while order.from(uid) < count {
        while sent < count && sent - order.from(uid) < window {
            client.send_text(&format!("talk {sent} {filler}")).await?;
            sent += 1;
        }
        match client.next_event(REPLY).await {
            Event::Text(text) if is_leave_notice(&text) => left.notify_one(),
            Event::Text(text) => {
                if order.take(&text).is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    Ok(order.from(uid))
}

pub(in crate::runners) async fn slow_reader(run: &mut Run) -> Result<()> {
    slow_reader_of(run, SLOW_MESSAGES, SLOW_MESSAGE_BYTES, SLOW_LIMIT_MIB).await
}

pub(in crate::runners) async fn slow_reader_large(run: &mut Run) -> Result<()> {
    let size = LARGE_MESSAGE_KIB * 1024;
    slow_reader_of(run, LARGE_MESSAGES, size, LARGE_LIMIT_MIB).await
}

/// User 1 stops reading while user 2 sends `count` messages of `size`
/// bytes: the server's memory must grow by less than `limit_mib`.
async fn slow_reader_of(run: &mut Run, count: usize, size: usize, limit_mib: u64) -> Result<()> {
    let mut slow = run.join("1").await?;
    let mut talker = run.join("2").await?;
    // From here on user 1 reads nothing until the flood is over.
    let pid = run.server().pid()?;
    let before = platform::rss_bytes(pid)?;
    run.step("user 2 sends while user 1 does not read");
    // User 1 reads again once it has been dropped, as a client that fell
    // behind for a while would; or, if it never is, once the flood is over.
    let left = tokio::sync::Notify::new();
    let (echoed, slow_saw) = {
        let talking = talk(&mut talker, "2", count, size, &left);
        tokio::pin!(talking);
        tokio::select! {
            echoed = &mut talking => (echoed, slow.next_non_text(REPLY).await),
            () = left.notified() => {
                let (slow_saw, echoed) = tokio::join!(slow.next_non_text(REPLY), talking);
                (echoed, slow_saw)
            }
        }
    };
    let echoed = echoed?;
    let after = platform::rss_bytes(pid)?;
    let growth = after.saturating_sub(before);
    run.figure(format!(
        "the server's memory grew by {:.1} MiB while user 1 did not read",
        growth as f64 / f64::from(1 << 20)
    ));
    let below = growth < limit_mib << 20;
    let fact = if below {
        Fact::MemoryBelow { mib: limit_mib }
    } else {
        Fact::MemoryAbove { mib: limit_mib }
    };
    if !run.record(fact, below) {
        return Ok(());
    }
    if echoed == count {
        run.record(Fact::delivered("user 2", count), true);
    } else {
        run.figure(format!("user 2 got {echoed} of its {count} echoes"));
        run.record(
            Fact::Undelivered {
                who: "user 2".into(),
            },
            false,
        );
        return Ok(());
    }
    let slow_saw = slow_saw.seen();
    let told = matches!(slow_saw, Seen::Close { .. });
    run.saw("user 1", slow_saw, told);
    run.observe_others_chat(&mut [("2", &mut talker)], false)
        .await?;
    Ok(())
}

pub(in crate::runners) async fn leave_while_talking(run: &mut Run) -> Result<()> {
    let leaver = run.join("1").await?;
    let two = run.join("2").await?;
    let three = run.join("3").await?;
    run.step("users 2 and 3 talk; user 1 leaves halfway");
    // User 1 leaves when user 2 is halfway through, so the others are in full flow.
    let halfway = tokio::sync::Notify::new();
    let talker = |mut client: Client, uid: &'static str| {
        let halfway = &halfway;
        async move {
            let mut order = InOrder::new("talk ");
            let mut sent = 0;
            let mut told = false;
            while order.received < 2 * TALK_EACH {
                if sent < TALK_EACH && sent - order.from(uid) < 16 {
                    client.send_text(&format!("talk {sent}")).await?;
                    sent += 1;
                    continue;
                }
                match client.next_event(REPLY).await {
                    Event::Text(text) => {
                        if let Err(problem) = order.take(&text) {
                            return anyhow::Ok(Some(format!("user {uid} {problem}")));
                        }
                        if !told && uid == "2" && order.from(uid) == TALK_EACH / 2 {
                            told = true;
                            halfway.notify_one();
                        }
                    }
                    event => {
                        return Ok(Some(format!(
                            "user {uid} saw {event} after {} messages",
                            order.received
                        )));
                    }
                }
            }
            Ok(None)
        }
    };
    let leave = async {
        halfway.notified().await;
        leaver.close_politely("bye", REPLY).await
    };
    let both = async { tokio::join!(talker(two, "2"), talker(three, "3")) };
    tokio::pin!(both);
    // If user 2 never gets halfway, the talkers end on their own and the
    // leave never happens; either way the talkers' results decide.
    let (two, three) = tokio::select! {
        results = &mut both => results,
        _answer = leave => both.await,
    };
    let problems: Vec<String> = [two?, three?].into_iter().flatten().collect();
    if problems.is_empty() {
        run.record(Fact::delivered("users 2 and 3", 2 * TALK_EACH), true);
        return Ok(());
    }
    for problem in problems {
        run.figure(problem);
    }
    let fact = run
        .crash_or(Fact::Undelivered {
            who: "users 2 and 3".into(),
        })
        .await?;
    run.record(fact, false);
    Ok(())
}
