//! Redis, or a node's link to it, fails: unreachable from the start,
//! restarted, deaf, stalled, refusing to publish, or slow.

use super::{Nodes, SETTLE, expect_text, full_notice, next_notice_about, read_lines};
use crate::client::{Client, Event};
use crate::proxy::Direction;
use crate::redis::CHANNEL;
use crate::runners::{Listener, REPLY, Run};
use anyhow::{Context, Result, bail};
use scenarios::params::*;
use scenarios::{Fact, Seen, close};
use std::time::Duration;

/// The notices part 5 sends when Redis goes away and comes back.
const LINK_LOST: &str = "[server]: lost contact with the other nodes";
const LINK_BACK: &str = "[server]: in contact with the other nodes again";

/// A node whose Redis does not answer: it must exit at once and say why.
pub(in crate::runners) async fn redis_unreachable(run: &mut Run) -> Result<()> {
    run.step("waiting for a node whose Redis does not answer to exit");
    let within = Duration::from_secs(REPLY_SECS);
    let Some(status) = run.server().wait_exit(within).await? else {
        if run.server().is_healthy(REPLY).await {
            run.not_applicable("the server ignores REDIS_URL and serves alone");
            return Ok(());
        }
        run.record(Fact::StillRunning { secs: REPLY_SECS }, false);
        return Ok(());
    };
    let code = status.code().unwrap_or(-1);
    let log = run.server().stderr_text();
    let exited = Fact::Exited {
        secs: REPLY_SECS,
        status: code,
    };
    run.record(exited, code == 1);
    let said = log.lines().find_map(|line| {
        let (_, rest) = line.split_once("REDIS_URL")?;
        Some(format!("REDIS_URL{rest}"))
    });
    let Some(line) = said else {
        run.figure(format!("its log:\n{log}"));
        let text = "nothing about REDIS_URL".into();
        run.record(Fact::Logged { text }, false);
        return Ok(());
    };
    // The address and the Redis client's error follow, in parentheses:
    // a figure, since the port and the wording of the error vary.
    let text = line.split(" (").next().unwrap_or(&line).to_string();
    run.figure(format!("the whole line: {line}"));
    run.record(Fact::Logged { text: text.into() }, true);
    Ok(())
}

/// Redis is killed and started again: users are told both times, users of
/// one node chat meanwhile, and lines cross nodes again afterwards.
pub(in crate::runners) async fn redis_restart(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let url_1 = nodes.url(run, 1)?;
    let url_2 = nodes.url(run, 2)?;
    let mut one = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_2, "2").await?;
    let mut three = run.join_at(&url_1, "3").await?;
    // Each hears of user 3's arrival (with others', perhaps, in one notice)
    // before the outage: no notice of the joins can come after it.
    for (uid, user) in [("1", &mut one), ("2", &mut two), ("3", &mut three)] {
        run.step(format!("user {uid} waits to hear that user 3 joined"));
        if let Seen::Text(text) = next_notice_about(user, "3 joined", SETTLE).await {
            run.figure(format!("before the outage user {uid} heard {text:?}"));
        }
    }
    run.step("Redis is killed");
    nodes.redis.kill().await?;
    run.step("user 1 waits to be told");
    let lost = full_notice(&mut one, LINK_LOST, REPLY).await;
    let ok = matches!(&lost, Seen::Text(text) if text.starts_with(LINK_LOST));
    run.saw("user 1 on node 1", lost, ok);
    run.step("user 1 sends during the outage; user 3 on the same node waits for it");
    one.send_text("during the outage").await?;
    expect_text(
        run,
        "user 3 on node 1",
        &mut three,
        "[UID: 1]: during the outage",
        REPLY,
    )
    .await;
    run.step("Redis starts again");
    nodes.redis.start_again().await?;
    let resume = Duration::from_secs(RESUME_SECS);
    run.step("user 1 waits to be told the nodes are in touch again");
    let back = full_notice(&mut one, LINK_BACK, resume).await;
    if !matches!(&back, Seen::Text(text) if text.starts_with(LINK_BACK)) {
        run.figure(format!(
            "user 1 saw {back} instead of the news that Redis is back"
        ));
    }
    run.step("user 2 reads until its node is in touch again");
    // The notices are facts. A line of the outage may come late, or never:
    // node 1 publishes it when its link is back, and pub/sub keeps nothing
    // for a node that has not subscribed again by then. That is a figure.
    let mut seen_by_two = Vec::new();
    loop {
        match two.next_event(resume).await {
            Event::Text(text) if text.starts_with("[server]: ") => {
                let back = text.starts_with(LINK_BACK);
                seen_by_two.push(Seen::Text(text.into()));
                if back {
                    break;
                }
            }
            Event::Text(text) => run.figure(format!("user 2 got {text:?} after the outage")),
            event => {
                seen_by_two.push(event.seen());
                break;
            }
        }
    }
    run.step("user 1 sends after the outage; user 2 waits for it");
    one.send_text("after the outage").await?;
    let after = "[UID: 1]: after the outage";
    seen_by_two.push(match two.wait_for_text(after, REPLY).await {
        Ok(()) => Seen::Text(after.into()),
        Err(event) => event.seen(),
    });
    let expected = [
        Seen::Text(LINK_LOST.into()),
        Seen::Text(LINK_BACK.into()),
        Seen::Text(after.into()),
    ];
    for (index, seen) in seen_by_two.into_iter().enumerate() {
        let ok = match (&seen, expected.get(index)) {
            (Seen::Text(text), Some(Seen::Text(want))) => text.starts_with(want.as_ref()),
            _ => false,
        };
        run.saw("user 2 on node 2", seen, ok);
    }
    Ok(())
}

/// Redis goes away; uid 7 connects to node 1, then to node 2; Redis comes
/// back. Both claims were made while no node could hear the other's.
pub(in crate::runners) async fn outage_same_uid(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut two = run.join_at(&url_1, "2").await?;
    run.step("Redis is killed");
    nodes.redis.kill().await?;
    let _ = full_notice(&mut two, LINK_LOST, REPLY).await;
    run.step("uid 7 connects to node 1, then to node 2");
    let (mut older, mut newer) = older_then_newer(run, &url_1, &url_2).await?;
    run.step("Redis starts again");
    nodes.redis.start_again().await?;
    newer_wins(run, &mut older, &mut newer, &mut two).await
}

/// A claim made while a node is cut off from Redis never reaches it:
/// pub/sub keeps nothing for a subscriber that is away. Node 2's
/// heartbeats, which list its users and since when, settle the uid anyway.
pub(in crate::runners) async fn missed_claim(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut two = run.join_at(&url_1, "2").await?;
    run.step("node 1 is cut off from Redis, and cannot connect again");
    let proxy = nodes.proxy.as_ref().context("node 1 has no proxy")?;
    proxy.refuse(true);
    proxy.cut();
    let _ = full_notice(&mut two, LINK_LOST, REPLY).await;
    run.step("uid 7 connects to node 1, then to node 2");
    let mut channel = nodes.redis.subscribe(CHANNEL).await?;
    let (mut older, mut newer) = older_then_newer(run, &url_1, &url_2).await?;
    run.step("node 2's claim of uid 7 goes out while node 1 cannot hear it");
    let until = tokio::time::Instant::now() + REPLY;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match channel.next_message(left).await? {
            // What part 5's `Envelope::encode` writes for a claim.
            Some(envelope) if envelope.contains(" claim 7 ") => break,
            Some(_) => continue,
            None => bail!("node 2 published no claim of uid 7 within {REPLY:?}"),
        }
    }
    run.step("node 1 may connect again");
    proxy.refuse(false);
    newer_wins(run, &mut older, &mut newer, &mut two).await
}

/// Uid 7 joins node 1, then node 2, in that order by the clock. A claim is
/// timed in milliseconds, and two in the same millisecond are ordered by
/// node id, which is random: the newer connection must also be a later
/// millisecond (both joins can fit in one on a fast machine), so the second
/// waits for the clock to move on.
async fn older_then_newer(run: &mut Run, url_1: &str, url_2: &str) -> Result<(Client, Client)> {
    let older = run.join_at(url_1, "7").await?;
    tokio::time::sleep(Duration::from_millis(2)).await;
    let newer = run.join_at(url_2, "7").await?;
    Ok((older, newer))
}

/// The end of both scenarios of one uid on two nodes: the older connection
/// (on node 1) is closed as replaced, and the newer one's lines reach user
/// 2 on node 1.
async fn newer_wins(
    run: &mut Run,
    older: &mut Client,
    newer: &mut Client,
    two: &mut Client,
) -> Result<()> {
    let resume = Duration::from_secs(RESUME_SECS);
    run.step("the older connection waits to be closed");
    let closed = older.next_non_text(resume).await.seen();
    let ok = matches!(
        &closed,
        Seen::Close {
            code: close::POLICY,
            ..
        }
    );
    run.saw("the older connection of uid 7, on node 1", closed, ok);
    run.step("the newer connection chats across nodes");
    // Its line reaches node 1 once both nodes' links are back: sent until then.
    let line = "[UID: 7]: the newer connection";
    let started = tokio::time::Instant::now();
    let seen = loop {
        newer.send_text("the newer connection").await?;
        match two.wait_for_text(line, Duration::from_millis(500)).await {
            Ok(()) => break Seen::Text(line.into()),
            Err(Event::Silent) if started.elapsed() < resume => continue,
            Err(event) => break event.seen(),
        }
    };
    let ok = seen == Seen::Text(line.into());
    run.saw("user 2 on node 1", seen, ok);
    Ok(())
}

/// Node 1's subscription hears nothing: the proxy drops what Redis sends
/// on it (node 1 opens it first), and the socket stays open.
pub(in crate::runners) async fn deaf_subscription(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    let _ = next_notice_about(&mut two, "joined", SETTLE).await;
    run.step("node 1's subscription goes deaf");
    let proxy = nodes.proxy.as_ref().context("node 1 has no proxy")?;
    proxy.connection(0).drop_bytes(Direction::ToClient);
    let resume = Duration::from_secs(RESUME_SECS);
    // User 2 reads on meanwhile, answering pings, and hears what it hears.
    let listener = Listener::start(two);
    run.step("user 1 waits to be told, twice");
    for notice in [LINK_LOST, LINK_BACK] {
        let seen = full_notice(&mut one, notice, resume).await;
        let ok = matches!(&seen, Seen::Text(text) if text.starts_with(notice));
        if !run.saw("user 1 on node 1", seen, ok) {
            let _ = listener.stop().await?;
            return Ok(());
        }
    }
    let (mut two, heard) = listener.stop().await?;
    let news: Vec<&String> = heard
        .texts
        .iter()
        .filter(|text| text.starts_with("[server]: ") && text.contains("user 1 "))
        .collect();
    let seen = news
        .first()
        .map_or(Seen::Nothing, |text| Seen::Text(text.to_string().into()));
    let ok = seen == Seen::Nothing;
    run.saw("user 2, listening for news of user 1", seen, ok);
    run.step("user 2's next line reaches user 1");
    two.send_text("heard again").await?;
    expect_text(
        run,
        "user 1 on node 1",
        &mut one,
        "[UID: 2]: heard again",
        REPLY,
    )
    .await;
    Ok(())
}

/// Redis stalls for less than a second while a user sends at a person's pace.
pub(in crate::runners) async fn redis_stall(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    let listener = Listener::start(two);
    run.step("user 1 sends a line every 100 ms; Redis stalls in the middle");
    let mut notices = Vec::new();
    // Redis stalls in the middle, while user 1 goes on sending.
    let pid = nodes.redis.pid()?;
    let stall = async move {
        tokio::time::sleep(Duration::from_millis(100 * STALL_LINES as u64 / 3)).await;
        crate::platform::pause(pid)?;
        tokio::time::sleep(Duration::from_millis(REDIS_STALL_MS)).await;
        crate::platform::resume(pid)
    };
    let send = async {
        let mut next = tokio::time::Instant::now();
        for n in 0..STALL_LINES {
            one.send_text(&format!("steady {n}")).await?;
            next += Duration::from_millis(100);
            loop {
                let left = next.saturating_duration_since(tokio::time::Instant::now());
                match one.next_event(left).await {
                    Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
                    Event::Text(_) => {}
                    _ => break,
                }
            }
        }
        anyhow::Ok(())
    };
    let (stalled, sent) = tokio::join!(stall, send);
    stalled?;
    sent?;
    run.step("user 2 gets the last of them");
    let (mut two, mut heard) = listener.stop().await?;
    let last = format!("[UID: 1]: steady {}", STALL_LINES - 1);
    while heard.ended.is_none() && !heard.texts.contains(&last) {
        match two.next_event(REPLY).await {
            Event::Text(text) => heard.texts.push(text),
            event => heard.ended = Some(event),
        }
    }
    let lines: Vec<&String> = heard
        .texts
        .iter()
        .filter(|text| text.starts_with("[UID: 1]: steady "))
        .collect();
    let in_order = lines
        .iter()
        .enumerate()
        .all(|(n, text)| **text == format!("[UID: 1]: steady {n}"));
    let who = "user 2 on node 2";
    if in_order && lines.len() == STALL_LINES {
        run.record(Fact::delivered(who, STALL_LINES), true);
    } else {
        run.figure(format!("user 2 got {} of {STALL_LINES} lines", lines.len()));
        run.record(Fact::Undelivered { who: who.into() }, false);
    }
    notices.extend(
        heard
            .texts
            .into_iter()
            .filter(|t| t.starts_with("[server]: ")),
    );
    // Who joined is no news of the link; anything else would be.
    notices.retain(|text| !text.ends_with(" joined"));
    let seen = notices
        .first()
        .map_or(Seen::Nothing, |text| Seen::Text(text.clone().into()));
    let ok = seen == Seen::Nothing;
    run.saw("users 1 and 2, listening for notices", seen, ok);
    Ok(())
}

/// Redis takes connections and subscriptions but refuses PUBLISH: a link
/// that connects and fails at once, over and over.
pub(in crate::runners) async fn publish_refused(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    let _ = next_notice_about(&mut two, "joined", SETTLE).await;
    run.step("Redis refuses PUBLISH");
    let connections_before = nodes.redis.connections_received().await?;
    nodes
        .redis
        .command(&["ACL", "SETUSER", "default", "-publish"])
        .await?;
    let two_listens = Listener::start(two);
    let mut notices = Vec::new();
    let refused_until = tokio::time::Instant::now() + Duration::from_secs(REFUSED_SECS);
    loop {
        let left = refused_until.saturating_duration_since(tokio::time::Instant::now());
        match one.next_event(left).await {
            Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
            Event::Text(_) => {}
            _ => break,
        }
    }
    // The nodes' reconnections, without the two questions asked here (the
    // ACL change and this count).
    let reconnections = nodes
        .redis
        .connections_received()
        .await?
        .saturating_sub(connections_before + 2);
    run.figure(format!(
        "the nodes opened {reconnections} connections to Redis in the {REFUSED_SECS} s PUBLISH was refused"
    ));
    run.step("PUBLISH works again");
    nodes
        .redis
        .command(&["ACL", "SETUSER", "default", "+publish"])
        .await?;
    let back_until = tokio::time::Instant::now() + Duration::from_secs(RESUME_SECS);
    while !notices.iter().any(|text| text.starts_with(LINK_BACK)) {
        let left = back_until.saturating_duration_since(tokio::time::Instant::now());
        match one.next_event(left).await {
            Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
            Event::Text(_) => {}
            _ => break,
        }
    }
    run.figure(format!(
        "user 1 was told {} things: {notices:?}",
        notices.len()
    ));
    // Each notice is a fact: told once that contact was lost, once that it
    // is back, and nothing more.
    for notice in &notices {
        let ok = match notices.iter().position(|n| n == notice) {
            Some(0) => notice.starts_with(LINK_LOST),
            Some(1) => notice.starts_with(LINK_BACK),
            _ => false,
        };
        run.saw("user 1 on node 1", Seen::Text(notice.clone().into()), ok);
    }
    if notices.len() < 2 {
        run.saw("user 1 on node 1", Seen::Nothing, false);
        let _ = two_listens.stop().await?;
        return Ok(());
    }
    let (mut two, heard) = two_listens.stop().await?;
    // Node 2's link came back on its own schedule: a line published before
    // it subscribed again would be lost, as the notices say.
    run.step("user 2 waits to be told that its node is in contact again");
    if !heard.texts.iter().any(|text| text.starts_with(LINK_BACK)) {
        let _ = full_notice(&mut two, LINK_BACK, Duration::from_secs(RESUME_SECS)).await;
    }
    run.step("user 1's next line reaches user 2");
    one.send_text("publishing again").await?;
    expect_text(
        run,
        "user 2 on node 2",
        &mut two,
        "[UID: 1]: publishing again",
        REPLY,
    )
    .await;
    Ok(())
}

/// Node 1's link to Redis is slow: every chunk it sends waits.
pub(in crate::runners) async fn slow_link(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    run.step("node 1's bytes to Redis are delayed");
    let proxy = nodes.proxy.as_ref().context("node 1 has no proxy")?;
    proxy.delay(Direction::ToUpstream, Duration::from_millis(LINK_DELAY_MS));
    run.step(format!("user 1 sends {SLOW_LINK_LINES} lines at once"));
    let started = tokio::time::Instant::now();
    for n in 0..SLOW_LINK_LINES {
        one.send_text(&format!("slow {n}")).await?;
    }
    let got = read_lines(
        &mut two,
        "]: slow ",
        SLOW_LINK_LINES,
        Duration::from_secs(20),
    )
    .await;
    let took = started.elapsed();
    run.figure(format!(
        "user 2 had {} lines {} ms after the first was sent",
        got.len(),
        took.as_millis()
    ));
    let in_order = got
        .iter()
        .enumerate()
        .all(|(n, text)| *text == format!("[UID: 1]: slow {n}"));
    let who = "user 2 on node 2";
    if !(in_order && got.len() == SLOW_LINK_LINES) {
        run.record(Fact::Undelivered { who: who.into() }, false);
        return Ok(());
    }
    run.record(Fact::delivered(who, SLOW_LINK_LINES), true);
    let prompt = took <= Duration::from_secs(SLOW_LINK_SECS);
    let fact = match prompt {
        true => Fact::ArrivedWithin {
            secs: SLOW_LINK_SECS,
        },
        false => Fact::ArrivedLate {
            secs: SLOW_LINK_SECS,
        },
    };
    run.record(fact, prompt);
    Ok(())
}
