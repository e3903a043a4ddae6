//! End to end in a real browser, across two nodes: a private redis-server,
//! two part5 processes on it, and two headless Chromium tabs, each on the
//! page at `/` of its own node, chatting as two users, as the README has a
//! reader do by hand. Reported as ignored, with the reason, where no browser
//! or no redis-server is installed, unless REQUIRE_BROWSER=1 or
//! REQUIRE_REDIS=1 makes that a failure (CI sets both after installing them).
//!
//! Its own harness (`testkit::browser::suite`, `harness = false`): whether it
//! can run is known only at run time.

use std::time::Duration;
use testkit::browser::{Browser, Page, js_string};
use testkit::{RedisServer, Server};

const BINARY: &str = env!("CARGO_BIN_EXE_part5-scale-out");
/// Every wait is for something the page shows; this only bounds it. News
/// from the other node crosses Redis, and a lost envelope is made good by
/// the next node heartbeat (a second), so ten seconds is plenty.
const WAIT: Duration = Duration::from_secs(10);

fn main() {
    testkit::browser::suite(
        &[(
            "two_nodes_chat_through_their_pages",
            two_nodes_chat_through_their_pages,
        )],
        true,
    )
}

/// Types `uid` into the page and connects, then waits for the status line.
async fn connect(page: &Page, uid: u32) {
    // A new tab starts on about:blank; wait for our page's form, not any page.
    page.wait_until("document.getElementById('connect') !== null", WAIT)
        .await
        .expect("the page loads");
    page.eval(&format!(
        "document.getElementById('uid').value = '{uid}';
         document.getElementById('connect').click();"
    ))
    .await
    .expect("clicking connect");
    page.wait_until(
        &format!("document.getElementById('status').textContent.includes('connected as {uid}')"),
        WAIT,
    )
    .await
    .expect("the status says connected");
}

/// Sends `text` through the page's form.
async fn say(page: &Page, text: &str) {
    let literal = js_string(text);
    page.eval(&format!(
        "document.getElementById('message').value = {literal};
         document.getElementById('send').click();"
    ))
    .await
    .expect("sending a message");
}

/// How many lines the page's `#log` holds now: a later check looks past
/// them, at what arrived since.
async fn log_len(page: &Page) -> u64 {
    page.eval("document.querySelectorAll('#log li').length")
        .await
        .expect("counting the log")
        .as_u64()
        .expect("the log's length is a number")
}

/// A JavaScript expression: whether some `#log` item from the `from`th on
/// has exactly the text `line`.
fn log_has_since(from: u64, line: &str) -> String {
    format!(
        "[...document.querySelectorAll('#log li')].slice({from}) \
         .some(li => li.textContent === {})",
        js_string(line)
    )
}

/// The chat lines (`[UID: n]: ...`) in the page's `#log`, in order;
/// notices left out, since when they come depends on the beat.
async fn chat_lines(page: &Page) -> Vec<String> {
    page.eval(
        "[...document.querySelectorAll('#log li')] \
         .map(li => li.textContent).filter(text => text.startsWith('[UID: '))",
    )
    .await
    .expect("reading the log")
    .as_array()
    .expect("the log's lines are an array")
    .iter()
    .map(|line| line.as_str().expect("a log line is text").to_string())
    .collect()
}

fn two_nodes_chat_through_their_pages() {
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
        let one = browser
            .open(&format!("http://{}/", node1.addr()))
            .await
            .expect("tab 1 opens on node 1");
        let two = browser
            .open(&format!("http://{}/", node2.addr()))
            .await
            .expect("tab 2 opens on node 2");

        connect(&one, 1).await;
        // The newcomer hears its own join: node 1 has user 1 by then, so
        // news of user 2 cannot reach node 1 before there is anyone to tell.
        one.wait_until(&log_has_since(0, "[server]: user 1 joined"), WAIT)
            .await
            .expect("tab 1 sees user 1 join");
        let mark = log_len(&one).await;
        connect(&two, 2).await;
        // Node 1 hears of user 2 through Redis: from node 2's claim, or from
        // its next heartbeat if the claim was lost.
        one.wait_until(&log_has_since(mark, "[server]: user 2 joined"), WAIT)
            .await
            .expect("tab 1 sees user 2 join");

        let (from_one, from_two) = ("[UID: 1]: hello from node 1", "[UID: 2]: hello from node 2");
        say(&one, "hello from node 1").await;
        for page in [&one, &two] {
            page.wait_until(&log_has_since(0, from_one), WAIT)
                .await
                .expect("both tabs show tab 1's line");
        }
        say(&two, "hello from node 2").await;
        for page in [&one, &two] {
            page.wait_until(&log_has_since(0, from_two), WAIT)
                .await
                .expect("both tabs show tab 2's line");
        }

        // There is no roster: user 1 joined before tab 2 was there, so tab 2
        // may never have heard it (or heard it late, if node 2 learnt of
        // user 1 after user 2 connected). Leaving and coming back shows tab 2
        // both notices, each after what its log held before.
        let mark = log_len(&two).await;
        one.eval("document.getElementById('connect').click()")
            .await
            .expect("clicking disconnect");
        // The button connects again only once the page has seen the close.
        one.wait_until(
            "document.getElementById('status').textContent.startsWith('closed')",
            WAIT,
        )
        .await
        .expect("tab 1 disconnects");
        two.wait_until(&log_has_since(mark, "[server]: user 1 left"), WAIT)
            .await
            .expect("tab 2 sees user 1 leave");
        let mark = log_len(&two).await;
        connect(&one, 1).await;
        two.wait_until(&log_has_since(mark, "[server]: user 1 joined"), WAIT)
            .await
            .expect("tab 2 sees user 1 join");

        // Each line once, in order. Several trips through Redis have passed
        // since the last line was sent, so a copy would have arrived by now.
        let both = vec![from_one.to_string(), from_two.to_string()];
        assert_eq!(chat_lines(&two).await, both, "tab 2's chat lines");

        // Closing the tab ends its WebSocket: node 2 tells node 1 through
        // Redis that user 2 left.
        let mark = log_len(&one).await;
        two.eval("window.close()").await.expect("closing tab 2");
        one.wait_until(&log_has_since(mark, "[server]: user 2 left"), WAIT)
            .await
            .expect("tab 1 sees user 2 leave");
        assert_eq!(chat_lines(&one).await, both, "tab 1's chat lines");
    });
}
