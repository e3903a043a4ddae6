//! Getting in: the healthcheck, the first chat, and who may connect.

use super::{REPLY, Run};
use crate::client::{Client, Connection};
use anyhow::Result;
use scenarios::params::QUERY_UID;
use scenarios::{Fact, Seen};

/// RFC 6455 section 7.4.1: "policy violation", the generic refusal.
const POLICY: u16 = 1008;

pub async fn healthcheck(run: &mut Run) -> Result<()> {
    run.step("GET /healthcheck");
    let answer = run.server().get("/healthcheck").await?;
    let ok = answer.status == 200 && answer.body == "rust-websocket-tutorial is live";
    run.check(
        Fact::Answered {
            path: "/healthcheck".into(),
            status: answer.status,
            body: answer.body.into(),
        },
        ok,
    );
    Ok(())
}

pub async fn broadcast(run: &mut Run) -> Result<()> {
    let mut one = run.join("1").await?;
    let mut two = run.join("2").await?;
    run.step("user 1 sends hello");
    one.send_text("hello").await?;
    let expected = "[UID: 1]: hello";
    let (got_one, got_two) = tokio::join!(
        one.wait_for_text(expected, REPLY),
        two.wait_for_text(expected, REPLY)
    );
    for (who, got) in [("user 1", got_one), ("user 2", got_two)] {
        let event = match got {
            Ok(()) => Seen::Text(expected.into()),
            Err(event) => event.seen(),
        };
        let ok = event == Seen::Text(expected.into());
        run.saw(who, event, ok);
    }
    Ok(())
}

/// A connection with no uid, or one that is not a number: it must be closed
/// with 1008 and a reason, and the server must stay up.
pub async fn refused(run: &mut Run, uid: Option<&str>) -> Result<()> {
    run.step("connecting with a bad uid");
    let event = match Client::open(&run.server().ws_url(), uid).await? {
        Connection::Refused(status) => Seen::Refused(status),
        Connection::Open(mut client) => client.next_event(REPLY).await.seen(),
    };
    let ok = matches!(&event, Seen::Close { code: POLICY, reason } if !reason.is_empty());
    run.saw("the client", event, ok);
    run.check_healthy().await?;
    Ok(())
}

/// A browser can only put the uid in the URL.
pub async fn query_string_uid(run: &mut Run) -> Result<()> {
    run.step("connecting with ?uid= and no header");
    let url = format!("{}?uid={QUERY_UID}", run.server().ws_url());
    let who = "the browser-style client";
    let mut client = match Client::open(&url, None).await? {
        Connection::Open(client) => client,
        Connection::Refused(status) => {
            run.saw(who, Seen::Refused(status), false);
            return Ok(());
        }
    };
    client.send_text("from a browser").await?;
    let expected = format!("[UID: {QUERY_UID}]: from a browser");
    let event = match client.wait_for_text(&expected, REPLY).await {
        Ok(()) => Seen::Text(expected.into()),
        Err(event) => event.seen(),
    };
    let ok = matches!(event, Seen::Text(_));
    run.saw(who, event, ok);
    Ok(())
}
