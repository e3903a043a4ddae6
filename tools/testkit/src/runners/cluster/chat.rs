//! The cluster when nothing fails: every line to every node, who is here,
//! and one uid on two nodes.

use super::{Nodes, SETTLE, expect_text, next_notice, read_lines};
use crate::client::Client;
use crate::runners::{REPLY, Run};
use anyhow::Result;
use scenarios::params::*;
use scenarios::{Fact, Seen, close};
use std::time::Duration;

/// How long user 2 listens for news of user 1 in `cluster-same-uid`: longer
/// than part 4's presence beat (half a second), so a notice would be sent.
const NEWS_WAIT: Duration = Duration::from_secs(2);

/// Users 1, 2 and 3 on nodes 1, 2 and 3; users 1 and 2 send at once.
pub(in crate::runners) async fn broadcast(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let mut users = Vec::new();
    for n in 1..=3 {
        let url = nodes.url(run, n)?;
        users.push(run.join_at(&url, &n.to_string()).await?);
    }
    run.step("users 1 and 2 send their lines");
    let lines = |uid: usize| (0..CLUSTER_EACH).map(move |i| format!("line {i} from {uid}"));
    for (uid, user) in users.iter_mut().enumerate().take(2) {
        for line in lines(uid + 1) {
            user.send_text(&line).await?;
        }
    }
    run.step("every user reads every line");
    let expected: Vec<Vec<String>> = (1..=2)
        .map(|uid| lines(uid).map(|l| format!("[UID: {uid}]: {l}")).collect())
        .collect();
    let started = std::time::Instant::now();
    let mut all_ok = true;
    for (index, user) in users.iter_mut().enumerate() {
        // Only the lines sent now: the echoes of the joins are on the way too.
        let got = read_lines(user, "]: line ", 2 * CLUSTER_EACH, Duration::from_secs(20)).await;
        // Each sender's lines, in the order received, must be exactly the
        // lines it sent: a line missing, repeated or out of order differs.
        for (uid, sent) in expected.iter().enumerate() {
            let prefix = format!("[UID: {}]: line ", uid + 1);
            let from: Vec<&String> = got.iter().filter(|l| l.starts_with(&prefix)).collect();
            if from.len() != sent.len() || from.iter().zip(sent).any(|(a, b)| *a != b) {
                run.figure(format!(
                    "user {} got {} of user {}'s {} lines, or not in order",
                    index + 1,
                    from.len(),
                    uid + 1,
                    sent.len()
                ));
                all_ok = false;
            }
        }
    }
    run.figure(format!(
        "all three users had all {} lines {} ms after the last was sent",
        2 * CLUSTER_EACH,
        started.elapsed().as_millis()
    ));
    let who = "every user on every node";
    if all_ok {
        run.record(Fact::delivered(who, 2 * CLUSTER_EACH), true);
    } else {
        run.record(Fact::Undelivered { who: who.into() }, false);
    }
    Ok(())
}

/// User 2 joins on node 2 and leaves: user 1 on node 1 hears of both.
pub(in crate::runners) async fn presence(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let url = nodes.url(run, 1)?;
    let mut one = run.join_at(&url, "1").await?;
    // User 1's own arrival was announced to it before its echo (the room
    // was quiet), so the next notice is about someone else.
    let url = nodes.url(run, 2)?;
    let two = run.join_at(&url, "2").await?;
    run.step("user 1 waits to hear that user 2 joined");
    let joined = next_notice(&mut one, REPLY).await;
    let ok = joined == Seen::text("[server]: user 2 joined");
    run.saw("user 1 on node 1", joined, ok);
    run.step("user 2 leaves; user 1 waits to hear of it");
    two.close_politely("bye", REPLY).await;
    let left = next_notice(&mut one, REPLY).await;
    let ok = left == Seen::text("[server]: user 2 left");
    run.saw("user 1 on node 1", left, ok);
    Ok(())
}

/// Uid 1 connects to node 1, then to node 2: the newer connection chats,
/// the older is closed with 1008, and user 2 hears no news of user 1.
pub(in crate::runners) async fn same_uid(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let url_1 = nodes.url(run, 1)?;
    let mut older = run.join_at(&url_1, "1").await?;
    let mut two = run.join_at(&url_1, "2").await?;
    // Let the presence notices of those two joins go out before listening.
    run.step("user 2 waits to hear that user 2 joined");
    let _ = two.wait_for_text("[server]: user 2 joined", SETTLE).await;
    run.step("a second connection with uid 1, on node 2, sends");
    let url_2 = nodes.url(run, 2)?;
    let mut newer = Client::connect(&url_2, "1").await?;
    newer.send_text("second connection").await?;
    let line = "[UID: 1]: second connection";
    expect_text(
        run,
        "the newer connection, on node 2",
        &mut newer,
        line,
        REPLY,
    )
    .await;
    run.step("the older connection waits for its close frame");
    let closed = older.next_non_text(REPLY).await.seen();
    let ok = matches!(
        &closed,
        Seen::Close {
            code: close::POLICY,
            ..
        }
    );
    run.saw("the older connection, on node 1", closed, ok);
    run.step("user 2 waits for the newer connection's line");
    expect_text(run, "user 2 on node 1", &mut two, line, REPLY).await;
    run.step("user 2 listens for news of user 1");
    // The one wait without an event to end it: nothing must come.
    let news = next_notice(&mut two, NEWS_WAIT).await;
    let ok = news == Seen::Nothing;
    run.saw("user 2, listening for news of user 1", news, ok);
    Ok(())
}

/// Alice logs in at node 1 and chats at node 2 with that token; user 2, on
/// node 1, reads her line. A node without `POST /login` does not apply.
pub(in crate::runners) async fn one_token(run: &mut Run, nodes: &mut Nodes) -> Result<()> {
    let node_1 = nodes.url(run, 1)?;
    let mut user_2 = run.join_at(&node_1, "2").await?;
    run.step("alice logs in at node 1");
    let Some(answer) = crate::runners::identity::login(run, DEMO_NAME, DEMO_PASSWORD).await? else {
        return Ok(());
    };
    let token = answer.body.clone();
    let ok = answer.status == 200;
    let fact = crate::runners::identity::logged_in("as alice at node 1", &answer, &token);
    if !run.record(fact, ok) {
        return Ok(());
    }
    run.step("alice chats at node 2 with node 1's token");
    let node_2 = nodes.url(run, 2)?;
    let bearer = format!("Bearer {token}");
    let line = "node 2, with node 1's token";
    match Client::open_with(&node_2, &[("authorization", &bearer)]).await? {
        crate::client::Connection::Open(mut alice) => {
            alice.send_text(line).await?;
            let expected = format!("[UID: {DEMO_UID}]: {line}");
            let within = Duration::from_secs(10);
            expect_text(run, "user 2 on node 1", &mut user_2, &expected, within).await;
        }
        refused => {
            run.saw("alice at node 2", refused.seen(), false);
        }
    }
    Ok(())
}
