//! A node fails: killed, stopped for a rolling restart, or paused.

use super::{Nodes, SETTLE, expect_text, next_notice, next_notice_about, read_chat};
use crate::client::Client;
use crate::runners::{Listener, REPLY, Run};
use anyhow::{Context, Result, bail};
use scenarios::params::*;
use scenarios::{Fact, Seen, close};
use std::time::Duration;

pub(in crate::runners) async fn node_killed(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let mut users = Vec::new();
    for n in 1..=3 {
        let url = nodes.url(run, n)?;
        users.push(run.join_at(&url, &n.to_string()).await?);
    }
    let [one, _two, three] = &mut users[..] else {
        bail!("three users were expected");
    };
    // Node 3 heard user 2's claim when it came (it was listening already);
    // user 1 must hear of user 2 before it can hear that user 2 left.
    run.step("user 1 waits to hear that user 2 joined");
    // Any join notice after user 1's own echo names user 2, perhaps with 3.
    let _ = next_notice_about(one, "joined", SETTLE).await;
    run.step("node 2 is killed");
    nodes
        .others
        .first_mut()
        .context("there is no node 2")?
        .kill()
        .await?;
    let killed = std::time::Instant::now();
    let within = Duration::from_secs(NODE_GONE_SECS);
    for (who, user) in [
        ("user 1 on node 1", &mut *one),
        ("user 3 on node 3", &mut *three),
    ] {
        run.step(format!("{who} waits to hear that user 2 left"));
        let left = within.saturating_sub(killed.elapsed());
        let heard = expect_text(run, who, user, "[server]: user 2 left", left).await;
        if heard {
            run.figure(format!(
                "{who} heard it {} ms after the kill",
                killed.elapsed().as_millis()
            ));
        }
    }
    run.step("users 1 and 3 chat across nodes 1 and 3");
    one.send_text("hello 3").await?;
    three.send_text("hello 1").await?;
    let mut all = true;
    for (uid, user) in [("1", &mut *one), ("3", &mut *three)] {
        let got = read_chat(user, 2, REPLY).await;
        let mut sorted = got.clone();
        sorted.sort();
        if sorted != ["[UID: 1]: hello 3", "[UID: 3]: hello 1"] {
            run.figure(format!("user {uid} got {got:?}"));
            all = false;
        }
    }
    let who = "users 1 and 3, each from the other's node";
    if all {
        run.record(Fact::delivered(who, 2), true);
    } else {
        run.record(Fact::Undelivered { who: who.into() }, false);
    }
    Ok(())
}

/// A rolling restart as users live it: a node is stopped, its user moves on.
pub(in crate::runners) async fn rolling_restart(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2, url_3) = (nodes.url(run, 1)?, nodes.url(run, 2)?, nodes.url(run, 3)?);
    let mut two = run.join_at(&url_2, "2").await?;
    let mut three = run.join_at(&url_3, "3").await?;
    // User 3 hears of user 2 only if it joined first; either way node 3
    // knows user 2 (it heard the claim), and the notice is out of the way.
    let _ = next_notice_about(&mut three, "joined", SETTLE).await;
    run.step("node 2 gets SIGTERM");
    nodes
        .others
        .first()
        .context("there is no node 2")?
        .terminate()?;
    let closed = two.next_non_text(REPLY).await.seen();
    let ok = matches!(
        &closed,
        Seen::Close {
            code: close::GOING_AWAY,
            ..
        }
    );
    run.saw("user 2 on node 2", closed, ok);
    run.step("user 2 reconnects to node 1 and chats");
    let mut again = Client::connect(&url_1, "2").await?;
    again.send_text("back, on node 1").await?;
    let line = "[UID: 2]: back, on node 1";
    expect_text(run, "user 3 on node 3", &mut three, line, REPLY).await;
    run.step("user 3 listens for news of user 2 while node 2's silence runs out");
    // Node 2 is buried once its heartbeats have been missing for a while;
    // its user is on node 1 by then, so nobody has left.
    let news = next_notice(&mut three, Duration::from_secs(NODE_GONE_SECS)).await;
    let ok = news == Seen::Nothing;
    run.saw("user 3, listening for news of user 2", news, ok);
    drop(again);
    Ok(())
}

/// Node 1 is paused for a few seconds; node 2 and its user live on.
pub(in crate::runners) async fn node_paused(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let (url_1, url_2) = (nodes.url(run, 1)?, nodes.url(run, 2)?);
    let mut one = run.join_at(&url_1, "1").await?;
    let two = run.join_at(&url_2, "2").await?;
    let _ = next_notice_about(&mut one, "2 joined", SETTLE).await;
    let listener = Listener::start(two);
    run.step("node 1 is paused, then resumed");
    run.server().pause()?;
    tokio::time::sleep(Duration::from_secs(NODE_PAUSE_SECS)).await;
    run.server().resume()?;
    run.step("user 1 listens for news of user 2");
    // The one wait without an event to end it: nothing must come, for
    // longer than node 1 would take to bury a node it has not heard.
    let news = next_notice_about(&mut one, "user 2 ", Duration::from_secs(NODE_GONE_SECS)).await;
    let ok = news == Seen::Nothing;
    run.saw("user 1, listening for news of user 2", news, ok);
    let (mut two, _) = listener.stop().await?;
    run.step("user 2's next line reaches user 1");
    two.send_text("after the pause").await?;
    expect_text(
        run,
        "user 1 on node 1",
        &mut one,
        "[UID: 2]: after the pause",
        REPLY,
    )
    .await;
    Ok(())
}
