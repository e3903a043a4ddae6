//! Getting in: the healthcheck, the first chat, and who may connect.

use super::{REPLY, Run};
use crate::client::{Client, Connection, Event};
use anyhow::Result;
use scenarios::close::POLICY;
use scenarios::params::{
    ADDRESS_OPEN, ADDRESS_RATE, ADDRESS_STORM, FOREIGN_ORIGIN, QUERY_UID, REBOUND_HOST, REPLY_SECS,
};
use scenarios::{Fact, Seen};
use std::time::Duration;
use tokio::task::JoinSet;

pub async fn healthcheck(run: &mut Run) -> Result<()> {
    run.step("GET /healthcheck");
    let answer = run.server().get("/healthcheck").await?;
    let ok = answer.status == 200 && answer.body == "rust-websocket-tutorial is live";
    run.record(
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
        Connection::Open(mut client) => client.next_event(REPLY).await.seen(),
        refused => refused.seen(),
    };
    if asks_for_login(run, &event) {
        return Ok(());
    }
    let ok = matches!(&event, Seen::Close { code: POLICY, reason } if !reason.is_empty());
    run.saw("the client", event, ok);
    run.observe_health().await?;
    Ok(())
}

/// Whether the upgrade was refused for want of a login (part 6): then the
/// client's uid is not read at all, and the scenario does not apply.
fn asks_for_login(run: &mut Run, seen: &Seen) -> bool {
    let asks = matches!(seen, Seen::Refused { status: 401, .. });
    if asks {
        run.not_applicable("the upgrade was refused with HTTP 401: it asks for a login, not a uid");
    }
    asks
}

/// A browser can only put the uid in the URL.
pub async fn query_string_uid(run: &mut Run) -> Result<()> {
    run.step("connecting with ?uid= and no header");
    let url = format!("{}?uid={QUERY_UID}", run.server().ws_url());
    let who = "the browser-style client";
    let mut client = match Client::open(&url, None).await? {
        Connection::Open(client) => client,
        refused => {
            let seen = refused.seen();
            if !asks_for_login(run, &seen) {
                run.saw(who, seen, false);
            }
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
    let refused = matches!(foreign, Seen::Refused { status: 403, .. });
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
    chat_with(url, uid, &[("uid", uid), ("origin", origin)], line).await
}

/// Opens `url` with `headers` (naming `uid`), sends `line` and returns what
/// came back: its echo, a close, or the refusal of the upgrade.
async fn chat_with(url: &str, uid: &str, headers: &[(&str, &str)], line: &str) -> Result<Seen> {
    let mut client = match Client::open_with(url, headers).await? {
        Connection::Open(client) => client,
        refused => return Ok(refused.seen()),
    };
    client.send_text(line).await?;
    let echo = format!("[UID: {uid}]: {line}");
    Ok(match client.wait_for_text(&echo, REPLY).await {
        Ok(()) => Seen::Text(echo.into()),
        Err(event) => event.seen(),
    })
}

/// A PORT that is not a number: the server must say so and exit. The run's
/// server was started with it, without waiting for it to answer.
pub async fn bad_port(run: &mut Run) -> Result<()> {
    run.step("waiting for a server with a bad PORT to exit");
    let Some(status) = run.server().wait_exit(REPLY).await? else {
        run.record(Fact::StillRunning { secs: REPLY_SECS }, false);
        return Ok(());
    };
    let status = status.code().unwrap_or(-1);
    let panics = run.server().panics();
    if !panics.is_empty() {
        run.record(
            Fact::Crashed {
                status,
                panics: panics.into(),
            },
            false,
        );
        return Ok(());
    }
    run.record(
        Fact::Exited {
            secs: REPLY_SECS,
            status,
        },
        status == 2,
    );
    let said = run.server().stderr_text();
    let one_line = !said.contains('\n') && said.starts_with("error: PORT ");
    run.record(Fact::Stderr { text: said.into() }, one_line);
    Ok(())
}

/// DNS rebinding: a page on a name its author controls, pointed at the
/// server's address, sends `Host` and `Origin` with that name.
pub async fn rebound_origin(run: &mut Run) -> Result<()> {
    run.step("a page on a rebound name opens the chat");
    let url = run.server().ws_url();
    let port = run.server().addr().port();
    let host = format!("{REBOUND_HOST}:{port}");
    let origin = format!("http://{host}");
    let headers = [
        ("uid", "9"),
        ("origin", origin.as_str()),
        ("host", host.as_str()),
    ];
    let seen = chat_with(&url, "9", &headers, "from a rebound name").await?;
    let refused = matches!(seen, Seen::Refused { status: 403, .. });
    run.saw("a page at rebound.example", seen, refused);
    Ok(())
}

/// One address opens many connections at once, then more one at a time:
/// past the burst of new connections, and past the most it may hold, the
/// upgrade must be refused with 429 and a reason.
pub async fn address_limits(run: &mut Run) -> Result<()> {
    let url = run.server().ws_url();
    run.step(format!(
        "{ADDRESS_STORM} connections at once from one address"
    ));
    let opened = futures_util::future::join_all((0..ADDRESS_STORM).map(|n| {
        let url = &url;
        async move { Client::open(url, Some(&format!("{}", 100 + n))).await }
    }))
    .await;
    let mut open = JoinSet::new();
    let mut refusal = None;
    for connection in opened {
        match connection? {
            Connection::Open(client) => {
                // Each reads, and so answers pings, while the scenario goes on.
                open.spawn(async move {
                    let mut client = client;
                    while let Event::Text(_) = client.next_event(Duration::from_secs(3600)).await {}
                });
            }
            refused => refusal = refusal.or(Some(refused.seen())),
        }
    }
    let burst = 2 * ADDRESS_RATE;
    run.figure(format!(
        "{} of {ADDRESS_STORM} connections opened at once were accepted",
        open.len()
    ));
    let who = format!("the connections opened at once, past the first {burst}");
    let Some(refused) = refusal else {
        run.saw(who, Seen::Accepted, false);
        return Ok(());
    };
    let ok = open.len() >= burst && matches!(refused, Seen::Refused { status: 429, .. });
    if !run.saw(who, refused, ok) {
        return Ok(());
    }
    // The limit on new connections refills with time, and only with time.
    let refill = Duration::from_secs_f64(2.0 * burst as f64 / ADDRESS_RATE as f64);
    tokio::time::sleep(refill).await;
    run.step("more connections, one at a time, slower than the limit on new ones");
    let pace = Duration::from_millis(1500 / ADDRESS_RATE as u64);
    let who = format!("a connection while {ADDRESS_OPEN} are open");
    loop {
        let was_open = open.len();
        let connection = Client::open(&url, Some(&format!("{}", 1000 + was_open))).await?;
        match connection {
            Connection::Open(client) if was_open < ADDRESS_OPEN => {
                open.spawn(async move {
                    let mut client = client;
                    while let Event::Text(_) = client.next_event(Duration::from_secs(3600)).await {}
                });
            }
            Connection::Open(_) => {
                run.saw(who, Seen::Accepted, false);
                return Ok(());
            }
            refused => {
                let seen = refused.seen();
                let ok =
                    was_open == ADDRESS_OPEN && matches!(seen, Seen::Refused { status: 429, .. });
                run.figure(format!("refused with {was_open} open"));
                if !run.saw(who, seen, ok) {
                    return Ok(());
                }
                break;
            }
        }
        tokio::time::sleep(pace).await;
    }
    run.observe_health().await?;
    Ok(())
}
