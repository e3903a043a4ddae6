//! The checkpoints' browser page (`GET /`, parts 4 to 6), driven as a person
//! would use it: type a uid and connect (or, on part 6's, log in and
//! connect), type a line and send, read the log.
//! The ids it relies on (`uid`, `connect`, `status`, `message`, `send`,
//! `log`) are the page's; a page that renames one fails these steps with the
//! condition that never came true.

use crate::browser::{Page, js_string};
use anyhow::{Context, Result};
use std::time::Duration;

/// A tab showing the chat page.
pub struct ChatPage<'a> {
    page: &'a Page,
    /// How long a step may wait for what the page should show.
    wait: Duration,
}

impl<'a> ChatPage<'a> {
    pub fn new(page: &'a Page, wait: Duration) -> Self {
        ChatPage { page, wait }
    }

    /// Waits for the page's form: a new tab starts on about:blank, and any
    /// page is not ours.
    pub async fn loaded(&self) -> Result<()> {
        self.wait_until("document.getElementById('connect') !== null")
            .await
            .context("the chat page did not load")
    }

    /// Types `uid` into the form and connects, then waits until the status
    /// line says so.
    pub async fn connect(&self, uid: u32) -> Result<()> {
        self.loaded().await?;
        self.page
            .eval(&format!(
                "document.getElementById('uid').value = '{uid}';
                 document.getElementById('connect').click();"
            ))
            .await
            .context("clicking connect")?;
        self.wait_until(&format!(
            "document.getElementById('status').textContent.includes('connected as {uid}')"
        ))
        .await
        .with_context(|| format!("the status never said connected as {uid}"))
    }

    /// Part 6's page: logs in through its form as `name`, then waits until
    /// the status line says so (the token is then in a cookie the page
    /// cannot read).
    pub async fn log_in(&self, name: &str, password: &str) -> Result<()> {
        self.loaded().await?;
        let (name_literal, password_literal) = (js_string(name), js_string(password));
        self.page
            .eval(&format!(
                "document.getElementById('name').value = {name_literal};
                 document.getElementById('password').value = {password_literal};
                 document.getElementById('login').requestSubmit();"
            ))
            .await
            .context("submitting the login form")?;
        self.wait_until(&format!(
            "document.getElementById('status').textContent === 'logged in as ' + {name_literal}"
        ))
        .await
        .with_context(|| format!("the status never said logged in as {name}"))
    }

    /// Part 6's page, logged in as `name`: connects, and waits until the
    /// status line says so.
    pub async fn connect_logged_in(&self, name: &str) -> Result<()> {
        self.page
            .eval("document.getElementById('connect').click()")
            .await
            .context("clicking connect")?;
        let literal = js_string(name);
        self.wait_until(&format!(
            "document.getElementById('status').textContent === 'connected as ' + {literal}"
        ))
        .await
        .with_context(|| format!("the status never said connected as {name}"))
    }

    /// Waits until the status line says exactly `status`.
    pub async fn wait_for_status(&self, status: &str) -> Result<()> {
        let literal = js_string(status);
        self.wait_until(&format!(
            "document.getElementById('status').textContent === {literal}"
        ))
        .await
        .with_context(|| format!("the status never said {status:?}"))
    }

    /// Clicks the button that disconnects (it connects again once the page
    /// has seen the close) and waits for the status line to say closed.
    pub async fn disconnect(&self) -> Result<()> {
        self.page
            .eval("document.getElementById('connect').click()")
            .await
            .context("clicking disconnect")?;
        self.wait_until("document.getElementById('status').textContent.startsWith('closed')")
            .await
            .context("the status never said closed")
    }

    /// Sends `text` through the form.
    pub async fn say(&self, text: &str) -> Result<()> {
        let literal = js_string(text);
        self.page
            .eval(&format!(
                "document.getElementById('message').value = {literal};
                 document.getElementById('send').click();"
            ))
            .await
            .map(drop)
            .with_context(|| format!("sending {text:?}"))
    }

    /// How many lines the log holds now, so that a later wait can look only
    /// at what arrives after them.
    pub async fn log_len(&self) -> Result<u64> {
        self.page
            .eval("document.querySelectorAll('#log li').length")
            .await
            .context("counting the log")?
            .as_u64()
            .context("the log's length is not a number")
    }

    /// Waits until some line of the log from the `from`th on is exactly one
    /// of `lines`.
    pub async fn wait_for_line(&self, from: u64, lines: &[&str]) -> Result<()> {
        let wanted: Vec<String> = lines.iter().map(|line| js_string(line)).collect();
        self.wait_until(&format!(
            "[...document.querySelectorAll('#log li')].slice({from}) \
             .some(li => [{}].includes(li.textContent))",
            wanted.join(", ")
        ))
        .await
        .with_context(|| format!("the log never showed {lines:?}"))
    }

    /// The chat lines (`[UID: n]: ...`) of the log, in order; notices left
    /// out, since when they come depends on the beat.
    pub async fn chat_lines(&self) -> Result<Vec<String>> {
        let lines = self
            .page
            .eval(
                "[...document.querySelectorAll('#log li')] \
                 .map(li => li.textContent).filter(text => text.startsWith('[UID: '))",
            )
            .await
            .context("reading the log")?;
        lines
            .as_array()
            .context("the log's lines are not an array")?
            .iter()
            .map(|line| {
                line.as_str()
                    .map(str::to_string)
                    .context("a log line is not text")
            })
            .collect()
    }

    /// Evaluates `expression` in the page (for what the steps above do not
    /// cover).
    pub async fn eval(&self, expression: &str) -> Result<serde_json::Value> {
        self.page.eval(expression).await
    }

    async fn wait_until(&self, condition: &str) -> Result<()> {
        self.page.wait_until(condition, self.wait).await
    }
}
