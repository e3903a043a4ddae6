//! The library as another crate's test uses it: `Args::try_parse_from`,
//! `run` with its own input and output, and `login` alone.

mod support;

use chat_client::Args;
use clap::Parser;
use support::{
    PASSWORD, PASSWORD_ENCODED, TOKEN, assert_is_login, listener, serve_login,
    serve_login_then_chat,
};
use tokio::sync::mpsc;

#[tokio::test]
async fn run_logs_in_chats_and_writes_what_it_receives() {
    let (listener, url) = listener().await;
    let authority = listener.local_addr().expect("local addr").to_string();
    let server = serve_login_then_chat(listener);

    let args = Args::try_parse_from(["chat-client", "--user", "alice", "--url", &url])
        .expect("valid arguments");
    let (lines, input) = mpsc::unbounded_channel();
    lines.send(Ok("one".to_string())).expect("queue a line");
    lines.send(Ok("two".to_string())).expect("queue a line");
    drop(lines);
    let mut printed = Vec::new();
    chat_client::run(&args, Some(PASSWORD.to_string()), input, &mut printed)
        .await
        .expect("the chat ran");
    let (login, session) = server.await.expect("server task");

    assert_is_login(&login, &authority, "alice", PASSWORD_ENCODED);
    assert_eq!(session.authorization, Some(format!("Bearer {TOKEN}")));
    assert_eq!(session.texts, ["one", "two"]);
    assert_eq!(session.close_code, Some(1000));
    assert_eq!(
        String::from_utf8(printed).expect("UTF-8"),
        "[alice]: one\n[alice]: two\n"
    );
}

#[tokio::test]
async fn login_returns_the_token_or_an_error_with_status_and_body() {
    let (listener, url) = listener().await;
    let authority = listener.local_addr().expect("local addr").to_string();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept the first login");
        // A trailing newline is not part of the token.
        serve_login(stream, "200 OK", &format!("{TOKEN}\n")).await;
        let (stream, _) = listener.accept().await.expect("accept the second login");
        serve_login(stream, "401 Unauthorized", "wrong name or password").await
    });

    let token = chat_client::login(&url, "alice", PASSWORD, None)
        .await
        .expect("a token");
    assert_eq!(token, TOKEN);
    let err = chat_client::login(&url, "alice", "wrong", None)
        .await
        .expect_err("a refused login");
    let login = server.await.expect("server task");
    assert_is_login(&login, &authority, "alice", "wrong");
    let message = format!("{err:#}");
    assert!(message.contains("HTTP 401 Unauthorized"), "{message}");
    assert!(message.contains("\"wrong name or password\""), "{message}");
    assert!(
        !message.contains("wrong\""),
        "the password is not shown: {message}"
    );
}

#[test]
fn run_can_be_spawned_on_a_multi_threaded_runtime() {
    fn assert_send<T: Send>(_: &T) {}
    let args = Args::try_parse_from(["chat-client", "--uid", "1"]).expect("valid arguments");
    let (_lines, input) = mpsc::unbounded_channel();
    let future = chat_client::run(&args, None, input, Vec::new());
    assert_send(&future);
}
