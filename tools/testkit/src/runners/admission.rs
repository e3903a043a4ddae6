//! Getting in: the healthcheck, the first chat, and who may connect.

use super::{REPLY, Run};
use crate::client::{Client, Connection};
use anyhow::Result;
use scenarios::params::{FOREIGN_ORIGIN, QUERY_UID};
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

/// A browser names the page's origin; the server must refuse other sites'
/// pages before the upgrade, and still serve its own.
pub async fn foreign_origin(run: &mut Run) -> Result<()> {
    run.step("a page from another site opens the chat");
    let url = run.server().ws_url();
    let foreign = chat_once(&url, "9", FOREIGN_ORIGIN, "from another site").await?;
    let refused = foreign == Seen::Refused(403);
    if !run.saw("a page from another site", foreign, refused) {
        return Ok(());
    }
    run.step("a page from the server itself opens the chat");
    let own = format!("http://{}", run.server().addr());
    let line = "from the server's own page";
    let seen = chat_once(&url, "8", &own, line).await?;
    let chats = seen == Seen::Text(format!("[UID: 8]: {line}").into());
    run.saw("a page from the server itself", seen, chats);
    Ok(())
}

/// Opens `url` as `uid` with `origin`, sends `line` and returns what came
/// back: its echo, a close, or the refusal of the upgrade.
async fn chat_once(url: &str, uid: &str, origin: &str, line: &str) -> Result<Seen> {
    let headers = [("uid", uid), ("origin", origin)];
    let mut client = match Client::open_with(url, &headers).await? {
        Connection::Open(client) => client,
        Connection::Refused(status) => return Ok(Seen::Refused(status)),
    };
    client.send_text(line).await?;
    let echo = format!("[UID: {uid}]: {line}");
    Ok(match client.wait_for_text(&echo, REPLY).await {
        Ok(()) => Seen::Text(echo.into()),
        Err(event) => event.seen(),
    })
}
