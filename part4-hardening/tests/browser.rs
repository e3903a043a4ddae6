//! End to end in a real browser: two headless Chromium tabs load the page at
//! `/`, connect as two users and chat. Reported as ignored, with the reason,
//! where no browser is installed, unless REQUIRE_BROWSER=1 (CI sets it after
//! installing Chromium) makes that a failure.

use std::time::Duration;
use testkit::Server;
use testkit::browser::{Browser, Page, js_string};
use testkit::chat_page::ChatPage;

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
        ChatPage::new(&page, WAIT)
            .loaded()
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
        let tab1 = browser.open(&page_url).await.expect("tab 1 opens");
        let tab2 = browser.open(&page_url).await.expect("tab 2 opens");
        let (one, two) = (ChatPage::new(&tab1, WAIT), ChatPage::new(&tab2, WAIT));

        one.connect(1).await.expect("tab 1 connects");
        two.connect(2).await.expect("tab 2 connects");
        // Joins are announced on a beat, so users 1 and 2 may come in one notice.
        one.wait_for_line(
            0,
            &["[server]: user 2 joined", "[server]: users 1 and 2 joined"],
        )
        .await
        .expect("tab 1 sees user 2 join");

        one.say("hello from tab 1").await.expect("tab 1 sends");
        for page in [&one, &two] {
            page.wait_for_line(0, &["[UID: 1]: hello from tab 1"])
                .await
                .expect("both tabs show the message");
        }

        // User text is shown as text, never parsed as HTML.
        let markup = "<img src=x onerror=\"document.title='owned'\">";
        two.say(markup).await.expect("tab 2 sends");
        one.wait_for_line(0, &[&format!("[UID: 2]: {markup}")])
            .await
            .expect("tab 1 shows the markup as text");
        let injected = one
            .eval("document.querySelector('#log img') !== null || document.title === 'owned'")
            .await
            .expect("inspecting the log");
        assert_eq!(injected.as_bool(), Some(false), "user text became markup");

        // Leaving shows up in the other tab.
        one.disconnect().await.expect("tab 1 disconnects");
        two.wait_for_line(0, &["[server]: user 1 left"])
            .await
            .expect("tab 2 sees user 1 leave");
    });
}
