//! The terminal client against the real part 6 binary: `chat-client --user
//! alice` (its library, run as its binary runs it, with the password given
//! and its input and output in the test's hands) logs in with `POST /login`,
//! upgrades with the token it got, and chats: another user hears alice's
//! line, and the client prints the echo. With a wrong password it stops at
//! the login, with the server's 401 and reason in its error.

mod support;

use chat_client::Args;
use clap::Parser;
use support::{Printed, WAIT, printed_line};
use testkit::{Client, Server};
use tokio::sync::mpsc;

const BINARY: &str = env!("CARGO_BIN_EXE_part6-identity");

/// The demo account (`demo-users.txt`) alice, uid 1.
const ALICE: (&str, &str) = ("alice", "rabbit-hole");
const LINE: &str = "hello from the terminal";
const ECHO: &str = "[UID: 1]: hello from the terminal";

#[test]
fn the_client_logs_in_and_chats() {
    testkit::block_on(async {
        let server = Server::start(BINARY).await.expect("part6 starts");
        let url = server.ws_url();
        // Bob (uid 2) with a token of testkit's, signed with the server's key.
        let mut bob = Client::connect(&url, "2").await.expect("bob connects");

        let args = alice(&url);
        let (lines, input) = mpsc::unbounded_channel();
        let (printed, mut output) = mpsc::unbounded_channel();
        lines.send(Ok(LINE.to_string())).expect("queue a line");
        let mut client = tokio::spawn(async move {
            chat_client::run(&args, Some(ALICE.1.to_string()), input, Printed(printed)).await
        });

        tokio::select! {
            heard = bob.wait_for_text(ECHO, WAIT) => {
                if let Err(seen) = heard {
                    panic!("bob waited for alice's line and saw {seen}");
                }
            }
            ended = &mut client => panic!("the client ended before bob heard it: {ended:?}"),
        }
        let shown = printed_line(&mut output, ECHO).await;
        drop(lines); // the end of input: the client leaves
        tokio::time::timeout(WAIT, client)
            .await
            .expect("the client leaves at the end of its input")
            .expect("the client's task")
            .unwrap_or_else(|err| panic!("the client failed: {err:#}; it printed:\n{shown}"));
    });
}

#[test]
fn a_wrong_password_stops_the_client_at_the_login() {
    testkit::block_on(async {
        let server = Server::start(BINARY).await.expect("part6 starts");
        let args = alice(&server.ws_url());
        // The input stays open: only the login can end the client.
        let (_lines, input) = mpsc::unbounded_channel();
        let mut printed = Vec::new();
        let ran = tokio::time::timeout(
            WAIT,
            chat_client::run(
                &args,
                Some("not-her-password".to_string()),
                input,
                &mut printed,
            ),
        )
        .await
        .expect("the client gives up within the wait");
        let err = ran.expect_err("a wrong password is refused");
        let message = format!("{err:#}");
        assert!(message.contains("401"), "{message}");
        assert!(message.contains("wrong name or password"), "{message}");
        assert!(
            !message.contains("not-her-password"),
            "the password is not shown: {message}"
        );
        assert!(
            printed.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&printed)
        );
    });
}

/// `chat-client --user alice --url <url>`, as a person would type it.
fn alice(url: &str) -> Args {
    Args::try_parse_from(["chat-client", "--user", ALICE.0, "--url", url]).expect("valid arguments")
}
