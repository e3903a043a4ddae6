//! End to end in a real browser: two headless Chromium tabs load the page at
//! `/`, connect as two users and chat. Reported as ignored, with the reason,
//! where no browser is installed, unless REQUIRE_BROWSER=1 (CI sets it after
//! installing Chromium) makes that a failure.

use std::time::Duration;
use testkit::Server;
use testkit::browser::{Browser, Page, js_string};

const BINARY: &str = env!("CARGO_BIN_EXE_part4-hardening");
const WAIT: Duration = Duration::from_secs(10);

fn main() {
    testkit::browser::suite(
        &[
            (
                "a_page_from_another_site_cannot_join",
                a_page_from_another_site_cannot_join,
            ),
            (
                "two_tabs_chat_through_the_page",
                two_tabs_chat_through_the_page,
            ),
        ],
        false,
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

/// A JavaScript expression: whether some `#log` item's text is exactly `line`.
fn log_has(line: &str) -> String {
    format!(
        "[...document.querySelectorAll('#log li')].some(li => li.textContent === {})",
        js_string(line)
    )
}

/// Opens a WebSocket to `url` from `page` and waits for its fate: whether
/// it opened, or closed without ever opening (how a browser reports a
/// refused upgrade).
/// `name` keeps the answers of several calls on one page apart.
async fn websocket_fate(page: &Page, name: &str, url: &str) -> String {
    let url = js_string(url);
    page.eval(&format!(
        "{{
           window.{name} = 'pending';
           const ws = new WebSocket({url});
           ws.onopen = () => {{ window.{name} = 'opened'; ws.close(); }};
           ws.onclose = () => {{ if (window.{name} === 'pending') window.{name} = 'refused'; }};
         }}"
    ))
    .await
    .expect("opening a WebSocket from the page");
    page.wait_until(&format!("window.{name} !== 'pending'"), WAIT)
        .await
        .expect("the WebSocket opens or fails");
    let fate = page
        .eval(&format!("window.{name}"))
        .await
        .expect("reading the result");
    fate.as_str().unwrap_or_default().to_string()
}

fn a_page_from_another_site_cannot_join() {
    testkit::block_on(async {
        let chat = Server::start(BINARY).await.expect("the chat starts");
        // Another part4 on another port serves a page of another origin.
        let elsewhere = Server::start(BINARY).await.expect("the other site starts");
        let browser = Browser::launch().await.expect("the browser starts");
        let page = browser
            .open(&format!("http://{}/", elsewhere.addr()))
            .await
            .expect("the other site's page opens");
        page.wait_until("document.getElementById('connect') !== null", WAIT)
            .await
            .expect("the page loads");
        // The same page may open its own server's chat: the check is the origin.
        let own = websocket_fate(&page, "own", &format!("{}?uid=8", elsewhere.ws_url())).await;
        assert_eq!(own, "opened", "a page could not open its own server's chat");
        let foreign = websocket_fate(&page, "foreign", &format!("{}?uid=9", chat.ws_url())).await;
        assert_eq!(
            foreign, "refused",
            "a page from another site joined the chat"
        );
    });
}

fn two_tabs_chat_through_the_page() {
    testkit::block_on(async {
        let server = Server::start(BINARY).await.expect("part4 starts");
        let browser = Browser::launch().await.expect("the browser starts");
        let page_url = format!("http://{}/", server.addr());
        let one = browser.open(&page_url).await.expect("tab 1 opens");
        let two = browser.open(&page_url).await.expect("tab 2 opens");

        connect(&one, 1).await;
        connect(&two, 2).await;
        // Joins are announced on a beat, so users 1 and 2 may come in one notice.
        let joined = "[...document.querySelectorAll('#log li')].some(li => \
                      ['[server]: user 2 joined', '[server]: users 1 and 2 joined'] \
                      .includes(li.textContent))";
        one.wait_until(joined, WAIT)
            .await
            .expect("tab 1 sees user 2 join");

        say(&one, "hello from tab 1").await;
        for page in [&one, &two] {
            page.wait_until(&log_has("[UID: 1]: hello from tab 1"), WAIT)
                .await
                .expect("both tabs show the message");
        }

        // User text is shown as text, never parsed as HTML.
        let markup = "<img src=x onerror=\"document.title='owned'\">";
        say(&two, markup).await;
        one.wait_until(&log_has(&format!("[UID: 2]: {markup}")), WAIT)
            .await
            .expect("tab 1 shows the markup as text");
        let injected = one
            .eval("document.querySelector('#log img') !== null || document.title === 'owned'")
            .await
            .expect("inspecting the log");
        assert_eq!(injected.as_bool(), Some(false), "user text became markup");

        // Leaving shows up in the other tab.
        one.eval("document.getElementById('connect').click()")
            .await
            .expect("clicking disconnect");
        two.wait_until(&log_has("[server]: user 1 left"), WAIT)
            .await
            .expect("tab 2 sees user 1 leave");
    });
}
