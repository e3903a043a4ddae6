//! End to end in a real browser, across two nodes: a private redis-server,
//! two part6 processes on it, and two headless Chromium tabs, each on the
//! page at `/` of its own node, where alice and bob log in with the demo
//! accounts and chat, as the README has a reader do by hand. Reported as ignored, with the reason, where no browser
//! or no redis-server is installed, unless REQUIRE_BROWSER=1 or
//! REQUIRE_REDIS=1 makes that a failure (CI sets both after installing them).
//!
//! Its own harness (`testkit::browser::suite`, `harness = false`): whether it
//! can run is known only at run time.

use std::time::Duration;
use testkit::browser::Browser;
use testkit::chat_page::ChatPage;
use testkit::{RedisServer, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_part6-identity");
/// Every wait is for something the page shows; this only bounds it. News
/// from the other node crosses Redis, and a lost envelope is made good by
/// the next node heartbeat (a second), so ten seconds is plenty.
const WAIT: Duration = Duration::from_secs(10);

fn main() {
    testkit::browser::suite(
        &[(
            "logged_in_users_chat_through_their_pages",
            logged_in_users_chat_through_their_pages,
        )],
        true,
    )
}

/// The demo accounts (`demo-users.txt`): alice is uid 1, bob uid 2.
const ALICE: (&str, &str) = ("alice", "rabbit-hole");
const BOB: (&str, &str) = ("bob", "can-we-fix-it");

fn logged_in_users_chat_through_their_pages() {
    testkit::block_on(async {
        let redis = RedisServer::start().await.expect("redis-server starts");
        let url = redis.url();
        let node1 = Server::start_with(BINARY, &[("REDIS_URL", &url)])
            .await
            .expect("node 1 starts");
        let node2 = Server::start_with(BINARY, &[("REDIS_URL", &url)])
            .await
            .expect("node 2 starts");
        let browser = Browser::launch().await.expect("the browser starts");
        let tab1 = browser
            .open(&format!("http://{}/", node1.addr()))
            .await
            .expect("tab 1 opens on node 1");
        // Tab 2 names its node `localhost`: cookies belong to a host, not
        // to a port, so on 127.0.0.1 bob's login would replace alice's
        // cookie in tab 1 too, and tab 1 would reconnect as bob.
        let tab2 = browser
            .open(&format!("http://localhost:{}/", node2.addr().port()))
            .await
            .expect("tab 2 opens on node 2");
        let (one, two) = (ChatPage::new(&tab1, WAIT), ChatPage::new(&tab2, WAIT));

        // A wrong password is refused, and the page says why.
        one.loaded().await.expect("tab 1 loads");
        one.eval(
            "document.getElementById('name').value = 'alice';
             document.getElementById('password').value = 'not her password';
             document.getElementById('login').requestSubmit();",
        )
        .await
        .expect("tab 1 submits a wrong password");
        one.wait_for_status("login refused: 401 wrong name or password")
            .await
            .expect("tab 1 says the login was refused");

        one.log_in(ALICE.0, ALICE.1)
            .await
            .expect("alice logs in on tab 1");
        // The token is in an HttpOnly cookie: the page's script cannot read it.
        let cookies = one.eval("document.cookie").await.expect("reading cookies");
        assert_eq!(cookies, "", "the page's script sees no cookie");
        one.connect_logged_in(ALICE.0)
            .await
            .expect("tab 1 connects");
        // The newcomer hears its own join: node 1 has user 1 by then, so
        // news of user 2 cannot reach node 1 before there is anyone to tell.
        one.wait_for_line(0, &["[server]: user 1 joined"])
            .await
            .expect("tab 1 sees user 1 join");
        let mark = one.log_len().await.expect("counting tab 1's log");
        two.log_in(BOB.0, BOB.1)
            .await
            .expect("bob logs in on tab 2");
        two.connect_logged_in(BOB.0).await.expect("tab 2 connects");
        // Node 1 hears of user 2 through Redis: from node 2's claim, or from
        // its next heartbeat if the claim was lost.
        one.wait_for_line(mark, &["[server]: user 2 joined"])
            .await
            .expect("tab 1 sees user 2 join");

        let (from_one, from_two) = ("[UID: 1]: hello from node 1", "[UID: 2]: hello from node 2");
        one.say("hello from node 1").await.expect("tab 1 sends");
        for page in [&one, &two] {
            page.wait_for_line(0, &[from_one])
                .await
                .expect("both tabs show tab 1's line");
        }
        two.say("hello from node 2").await.expect("tab 2 sends");
        for page in [&one, &two] {
            page.wait_for_line(0, &[from_two])
                .await
                .expect("both tabs show tab 2's line");
        }

        // There is no roster: user 1 joined before tab 2 was there, so tab 2
        // may never have heard it (or heard it late, if node 2 learnt of
        // user 1 after user 2 connected). Leaving and coming back shows tab 2
        // both notices, each after what its log held before.
        let mark = two.log_len().await.expect("counting tab 2's log");
        one.disconnect().await.expect("tab 1 disconnects");
        two.wait_for_line(mark, &["[server]: user 1 left"])
            .await
            .expect("tab 2 sees user 1 leave");
        let mark = two.log_len().await.expect("counting tab 2's log");
        one.connect_logged_in(ALICE.0)
            .await
            .expect("tab 1 connects again, with the same cookie");
        two.wait_for_line(mark, &["[server]: user 1 joined"])
            .await
            .expect("tab 2 sees user 1 join");

        // Each line once, in order. Several trips through Redis have passed
        // since the last line was sent, so a copy would have arrived by now.
        let both = vec![from_one.to_string(), from_two.to_string()];
        let lines = two.chat_lines().await.expect("reading tab 2's log");
        assert_eq!(lines, both, "tab 2's chat lines");

        // Closing the tab ends its WebSocket: node 2 tells node 1 through
        // Redis that user 2 left.
        let mark = one.log_len().await.expect("counting tab 1's log");
        two.eval("window.close()").await.expect("closing tab 2");
        one.wait_for_line(mark, &["[server]: user 2 left"])
            .await
            .expect("tab 1 sees user 2 leave");
        let lines = one.chat_lines().await.expect("reading tab 1's log");
        assert_eq!(lines, both, "tab 1's chat lines");
    });
}
