//! Who is speaking: impersonation (every checkpoint with `/ws`) and part
//! 6's login and tokens. A checkpoint without `POST /login` does not apply
//! to the login scenarios; the runners find that out by asking.

use super::{REPLY, Run};
use crate::client::{Client, Connection};
use crate::identity::{TOKEN_KEY, token_for, token_with, unix_now};
use crate::server::HttpAnswer;
use anyhow::{Context, Result};
use scenarios::params::*;
use scenarios::{Fact, Seen};
use std::time::Duration;

/// How long user 1 listens for a close after the impostor connects: a
/// replacement closes the older connection at once.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// User 1 chats; a client with a token of its own (uid 9) names uid 1 in
/// the header and speaks.
pub async fn impersonation(run: &mut Run) -> Result<()> {
    let mut user_1 = run.join("1").await?;
    let mut user_2 = run.join("2").await?;
    run.step("the impostor connects with `uid: 1` and a token for uid 9");
    let url = run.server().ws_url();
    let token = token_for(&IMPOSTOR_UID.to_string()).context("a token for a numeric uid")?;
    let bearer = format!("Bearer {token}");
    let mut impostor =
        match Client::open_with(&url, &[("uid", "1"), ("authorization", &bearer)]).await? {
            Connection::Open(client) => client,
            refused => {
                run.saw("the impostor", refused.seen(), false);
                return Ok(());
            }
        };
    impostor.send_text("it is me, user 1").await?;
    run.step("user 2 reads the impostor's line");
    let as_impostor = format!("[UID: {IMPOSTOR_UID}]: it is me, user 1");
    let as_user_1 = "[UID: 1]: it is me, user 1";
    let seen = read_one_of(&mut user_2, &[&as_impostor, as_user_1]).await;
    let shown_as_itself = seen == Seen::Text(as_impostor.clone().into());
    run.saw("user 2", seen, shown_as_itself);
    run.step("user 1 listens for a close");
    let closed = loop {
        match user_1.next_event(CLOSE_WAIT).await {
            crate::client::Event::Text(_) => continue,
            crate::client::Event::Silent => break Seen::Nothing,
            ended => break ended.seen(),
        }
    };
    let stayed = closed == Seen::Nothing;
    run.saw("user 1, listening for a close", closed, stayed);
    if !stayed {
        return Ok(());
    }
    run.step("user 1 speaks again");
    user_1.send_text("still me").await?;
    let seen = read_one_of(&mut user_2, &["[UID: 1]: still me"]).await;
    let reached = seen == Seen::text("[UID: 1]: still me");
    run.saw("user 2", seen, reached);
    Ok(())
}

/// Reads `client` until one of `lines` arrives, or something else ends the
/// wait; returns what it saw.
async fn read_one_of(client: &mut Client, lines: &[&str]) -> Seen {
    let deadline = tokio::time::Instant::now() + REPLY;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_event(left).await {
            crate::client::Event::Text(text) if lines.contains(&text.as_str()) => {
                return Seen::Text(text.into());
            }
            crate::client::Event::Text(_) => continue,
            other => return other.seen(),
        }
    }
}

/// Logs in at the run's server (node 1 of a cluster), or finds out that it
/// has no login: then the scenario does not apply, and `None` is returned.
pub(super) async fn login(run: &mut Run, name: &str, password: &str) -> Result<Option<HttpAnswer>> {
    let answer = run
        .server()
        .post_form("/login", &[("name", name), ("password", password)])
        .await?;
    if answer.status == 404 {
        run.not_applicable("POST /login answered 404");
        return Ok(None);
    }
    Ok(Some(answer))
}

/// Whether the server has `POST /login`; if not, the run is marked n/a.
async fn has_login(run: &mut Run) -> Result<bool> {
    Ok(login(run, "nobody", "-").await?.is_some())
}

/// Opens `/ws` with exactly these headers and returns what came of it: a
/// refusal, or the upgrade accepted.
async fn upgrade(run: &mut Run, headers: &[(&str, &str)]) -> Result<Seen> {
    let url = run.server().ws_url();
    Ok(Client::open_with(&url, headers).await?.seen())
}

pub async fn no_token(run: &mut Run) -> Result<()> {
    if !has_login(run).await? {
        return Ok(());
    }
    run.step("an upgrade with `uid: 1` and no token");
    let seen = upgrade(run, &[("uid", "1"), ("authorization", "")]).await?;
    let refused = matches!(seen, Seen::Refused { status: 401, .. });
    run.saw("a client with `uid: 1` and no token", seen, refused);
    Ok(())
}

pub async fn tampered_token(run: &mut Run) -> Result<()> {
    if !has_login(run).await? {
        return Ok(());
    }
    run.step("a token for uid 1, changed to say uid 2");
    let token = token_for("1").context("a token for a numeric uid")?;
    let changed = format!("Bearer 2{}", &token[1..]);
    let seen = upgrade(run, &[("authorization", &changed)]).await?;
    let refused = matches!(seen, Seen::Refused { status: 401, .. });
    run.saw("a token for uid 1 changed to say uid 2", seen, refused);
    run.step("a token signed with another key");
    let forged = token_with(
        "somebody else's key, as long as ours",
        "1",
        unix_now() + 3600,
    );
    let seen = upgrade(run, &[("authorization", &format!("Bearer {forged}"))]).await?;
    let refused = matches!(seen, Seen::Refused { status: 401, .. });
    run.saw("a token signed with another key", seen, refused);
    Ok(())
}

pub async fn expired_token(run: &mut Run) -> Result<()> {
    if !has_login(run).await? {
        return Ok(());
    }
    run.step("a token that expired a second ago");
    let token = token_with(TOKEN_KEY, "1", unix_now() - 1);
    let seen = upgrade(run, &[("authorization", &format!("Bearer {token}"))]).await?;
    let refused = matches!(seen, Seen::Refused { status: 401, .. });
    run.saw("a token that expired a second ago", seen, refused);
    Ok(())
}

pub async fn login_scenario(run: &mut Run) -> Result<()> {
    run.step("alice logs in with her password");
    let Some(answer) = login(run, DEMO_NAME, DEMO_PASSWORD).await? else {
        return Ok(());
    };
    let token = answer.body.clone();
    let ok = answer.status == 200 && !token.is_empty();
    run.record(logged_in("as alice with her password", &answer, &token), ok);
    if !ok {
        return Ok(());
    }
    let cookie = answer
        .header("set-cookie")
        .unwrap_or("")
        .replace(&token, "<token>");
    let strict = cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict");
    // The token itself says when it expires: as the cookie does, give or take
    // the seconds the login took.
    let lifetime = |text: &str| -> Option<u64> {
        let max_age = text.split("Max-Age=").nth(1)?.split(';').next()?;
        max_age.trim().parse().ok()
    };
    let expires: Option<u64> = token.split('.').nth(1).and_then(|e| e.parse().ok());
    let agrees = match (lifetime(&cookie), expires) {
        (Some(max_age), Some(expires)) => expires.abs_diff(unix_now() + max_age) <= 5,
        _ => false,
    };
    run.record(Fact::Cookie { set: cookie.into() }, strict && agrees);
    run.step("alice chats with her token");
    let url = run.server().ws_url();
    let bearer = format!("Bearer {token}");
    let line = "hello, I logged in";
    let echo = format!("[UID: {DEMO_UID}]: {line}");
    let seen = match Client::open_with(&url, &[("authorization", &bearer)]).await? {
        Connection::Open(mut client) => {
            client.send_text(line).await?;
            read_one_of(&mut client, &[&echo]).await
        }
        refused => refused.seen(),
    };
    let chats = seen == Seen::Text(echo.clone().into());
    run.saw("alice, with her token", seen, chats);
    run.step("alice chats with the cookie alone, as her browser would");
    let cookies = format!("theme=dark; chat_token={token}");
    let line = "hello, with my cookie";
    let echo = format!("[UID: {DEMO_UID}]: {line}");
    let headers = [("cookie", cookies.as_str()), ("authorization", "")];
    let seen = match Client::open_with(&url, &headers).await? {
        Connection::Open(mut client) => {
            client.send_text(line).await?;
            read_one_of(&mut client, &[&echo]).await
        }
        refused => refused.seen(),
    };
    let chats = seen == Seen::Text(echo.clone().into());
    run.saw("alice, with the cookie alone", seen, chats);
    run.step("wrong passwords");
    for (who, name, password) in [
        (
            "as alice with a wrong password",
            DEMO_NAME,
            "not her password",
        ),
        (
            "as nobody, a name without an account",
            "nobody",
            DEMO_PASSWORD,
        ),
    ] {
        if let Some(answer) = login(run, name, password).await? {
            let refused = answer.status == 401;
            run.record(logged_in(who, &answer, ""), refused);
        }
    }
    Ok(())
}

pub async fn login_limit(run: &mut Run) -> Result<()> {
    run.step("wrong passwords, one after another");
    let mut refusals = Vec::new();
    for _ in 0..LOGIN_ATTEMPTS {
        let Some(answer) = login(run, DEMO_NAME, "a guess").await? else {
            return Ok(());
        };
        refusals.push(answer);
    }
    // One fact for the attempts, if they were all alike; else each.
    let first = &refusals[0];
    let alike = refusals
        .iter()
        .all(|a| a.status == first.status && a.body == first.body);
    let who = format!("{LOGIN_ATTEMPTS} times with a wrong password");
    if alike {
        let fact = logged_in(&who, first, "");
        run.record(fact, first.status == 401);
    } else {
        for (n, answer) in refusals.iter().enumerate() {
            let fact = logged_in(
                &format!("attempt {} with a wrong password", n + 1),
                answer,
                "",
            );
            run.record(fact, false);
        }
    }
    run.step("the right password, one attempt too many");
    if let Some(answer) = login(run, DEMO_NAME, DEMO_PASSWORD).await? {
        // The wait is in `Retry-After` too, for a client that reads no body.
        let wait = LOGIN_WAIT_SECS.to_string();
        let limited = answer.status == 429 && answer.header("retry-after") == Some(wait.as_str());
        let token = if answer.status == 200 {
            answer.body.clone()
        } else {
            String::new()
        };
        run.record(
            logged_in("once more, with the right password", &answer, &token),
            limited,
        );
    }
    Ok(())
}

/// The fact of a login answer, its token (if any) written `<token>`.
pub(super) fn logged_in(who: &str, answer: &HttpAnswer, token: &str) -> Fact {
    let body = if token.is_empty() {
        answer.body.clone()
    } else {
        answer.body.replace(token, "<token>")
    };
    Fact::LoggedIn {
        who: who.to_string().into(),
        status: answer.status,
        body: body.into(),
    }
}
