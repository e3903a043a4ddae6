//! The join storm: many clients connect at once while user 1 watches.

use crate::client::{Client, Event};
use crate::runners::{REPLY, Run};
use anyhow::{Context, Result};
use scenarios::Fact;
use scenarios::params::*;
use std::time::Duration;
use tokio::task::JoinSet;

/// Many clients join at once while user 1 watches: whatever the server says
/// about them must be true and must not flood user 1.
pub(in crate::runners) async fn join_storm(run: &mut Run) -> Result<()> {
    let mut watcher = run.join("1").await?;
    let url = run.server().ws_url();
    run.step(format!("{STORM_CLIENTS} clients connect at once"));
    let first = 1000;
    let storm: std::collections::BTreeSet<i64> = (first..first + STORM_CLIENTS as i64).collect();
    let mut connecting = JoinSet::new();
    for &uid in &storm {
        let url = url.clone();
        connecting.spawn(async move {
            let mut client = Client::connect(&url, &uid.to_string()).await?;
            // Each newcomer reads everything, so that none of them is slow.
            tokio::spawn(async move {
                while let Event::Text(_) = client.next_event(Duration::from_secs(60)).await {}
            });
            anyhow::Ok(())
        });
    }
    while let Some(done) = connecting.join_next().await {
        done.context("a connecting task panicked")??;
    }
    // A line from user 1 after the storm proves the server still serves it;
    // what user 1 reads on the way, and on the beats after, is what it heard.
    run.step("user 1 reads what it heard of the storm");
    watcher.send_text("after the storm").await?;
    let mut notices = Vec::new();
    let echoed = loop {
        match watcher.next_event(REPLY).await {
            Event::Text(text) if text == "[UID: 1]: after the storm" => break true,
            Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
            Event::Text(_) => {}
            event => {
                run.figure(format!("user 1 saw {event} instead of its echo"));
                break false;
            }
        }
    };
    if !echoed {
        let fact = run.crash_or(Fact::OthersUnserved).await?;
        run.record(fact, false);
        return Ok(());
    }
    run.record(Fact::OthersChat { users: 1 }, true);
    // Joins still gathered are announced on the next beat, within 2 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match watcher.next_event(left).await {
            Event::Text(text) if text.starts_with("[server]: ") => notices.push(text),
            Event::Text(_) => {}
            _ => break,
        }
    }
    let announced = announced_joins(&notices, &storm);
    run.figure(format!(
        "user 1 heard of the storm in {} notices: {}",
        notices.len(),
        notices.join(" / ")
    ));
    let true_and_few =
        announced.is_some_and(|n| n <= storm.len()) && notices.len() <= STORM_NOTICES;
    let fact = if true_and_few {
        Fact::PresenceTrue {
            at_most: STORM_NOTICES,
        }
    } else {
        Fact::PresenceNoisy {
            at_most: STORM_NOTICES,
        }
    };
    run.record(fact, true_and_few);
    Ok(())
}

/// How many joins the notices announce, if every one of them is a true
/// "joined" notice about users of `storm`: `user 7 joined`, `users 3, 7 and
/// 9 joined`, or `120 users joined`. `None` for anything else.
fn announced_joins(notices: &[String], storm: &std::collections::BTreeSet<i64>) -> Option<usize> {
    let mut total = 0;
    for notice in notices {
        let who = notice.strip_prefix("[server]: ")?.strip_suffix(" joined")?;
        if let Some(count) = who.strip_suffix(" users") {
            total += count.parse::<usize>().ok()?;
            continue;
        }
        let names = who
            .strip_prefix("users ")
            .or_else(|| who.strip_prefix("user "))?;
        for name in names
            .split([',', ' '])
            .filter(|n| !n.is_empty() && *n != "and")
        {
            if !storm.contains(&name.parse::<i64>().ok()?) {
                return None;
            }
            total += 1;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::announced_joins;

    #[test]
    fn join_notices_are_counted_and_checked() {
        let storm = (1000..1300).collect();
        let notices = |texts: &[&str]| texts.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(
            announced_joins(
                &notices(&[
                    "[server]: user 1000 joined",
                    "[server]: users 1001, 1002 and 1003 joined",
                    "[server]: 296 users joined"
                ]),
                &storm
            ),
            Some(300)
        );
        assert_eq!(
            announced_joins(&notices(&["[server]: user 7 joined"]), &storm),
            None
        );
        assert_eq!(
            announced_joins(&notices(&["[server]: user 1000 left"]), &storm),
            None
        );
        assert_eq!(announced_joins(&[], &storm), Some(0));
    }
}
