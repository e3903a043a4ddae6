//! A headless Chromium driven over the Chrome DevTools Protocol, for end-to-end
//! tests of a page. CDP runs over a WebSocket, so tokio-tungstenite (already a
//! dependency) is the whole transport; only the JSON needs serde_json.

use anyhow::{Context, Result, anyhow, bail};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// Calls waiting for an answer, by id; `None` once the connection has ended,
/// so that no call waits for an answer that cannot come.
type Pending = Arc<std::sync::Mutex<Option<HashMap<u64, oneshot::Sender<Result<Value>>>>>>;

/// The names Chromium and Chrome go by on the PATH.
const NAMES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "chrome",
    "chrome.exe",
];

/// Where macOS and Windows install them, off the PATH.
const INSTALLED: &[&str] = &[
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
];

/// How long a single CDP command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A running headless browser. Killed when dropped.
pub struct Browser {
    _child: Child,
    _profile: TempDir,
    cdp: Arc<Cdp>,
}

/// One tab of the browser.
pub struct Page {
    cdp: Arc<Cdp>,
    session: String,
}

struct Cdp {
    sink: Mutex<SplitSink<Socket, Message>>,
    pending: Pending,
    next_id: AtomicU64,
}

/// A profile folder removed on drop, so runs never share browser state.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    /// The browser binary, if one is installed: the first of [`NAMES`] on
    /// the PATH, else one of the usual install locations.
    pub fn find() -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .flat_map(|dir| NAMES.iter().map(move |name| dir.join(name)))
            .chain(INSTALLED.iter().map(PathBuf::from))
            .find(|candidate| candidate.is_file())
    }

    /// Starts the browser found by [`Browser::find`] headless, with a fresh
    /// profile and no background traffic, and connects to its DevTools socket.
    pub async fn launch() -> Result<Browser> {
        let binary = Self::find().context("no Chromium or Chrome is installed")?;
        let profile = std::env::temp_dir().join(format!(
            "testkit-browser-{}-{}",
            std::process::id(),
            NEXT_PROFILE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&profile)
            .with_context(|| format!("creating {}", profile.display()))?;
        let profile = TempDir(profile);
        let mut child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child
            .stderr
            .take()
            .context("the browser's stderr was not piped")?;
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines
                .next_line()
                .await
                .context("reading the browser's stderr")?
            {
                if let Some((_, url)) = line.split_once("DevTools listening on ") {
                    return Ok(url.trim().to_string());
                }
            }
            bail!("the browser exited without opening its DevTools socket")
        })
        .await
        .context("the browser did not open its DevTools socket within 30 s")??;
        // Keep draining stderr so the browser never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let (socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .with_context(|| format!("connecting to the browser at {url}"))?;
        let cdp = Cdp::over(socket);
        Ok(Browser {
            _child: child,
            _profile: profile,
            cdp,
        })
    }

    /// Opens `url` in a new tab.
    pub async fn open(&self, url: &str) -> Result<Page> {
        let target = self
            .cdp
            .call(None, "Target.createTarget", json!({ "url": url }))
            .await?;
        let target_id = target["targetId"]
            .as_str()
            .context("no targetId")?
            .to_string();
        let attached = self
            .cdp
            .call(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await?;
        let session = attached["sessionId"]
            .as_str()
            .context("no sessionId")?
            .to_string();
        Ok(Page {
            cdp: Arc::clone(&self.cdp),
            session,
        })
    }
}

static NEXT_PROFILE: AtomicU64 = AtomicU64::new(0);

/// `text` as a JavaScript string literal (JSON's string syntax is valid JavaScript).
pub fn js_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

impl Page {
    /// Evaluates a JavaScript expression in the page and returns its value
    /// (promises are awaited). A thrown exception becomes an error.
    pub async fn eval(&self, expression: &str) -> Result<Value> {
        let answer = self
            .cdp
            .call(
                Some(&self.session),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await?;
        if let Some(exception) = answer.get("exceptionDetails") {
            bail!("{expression} threw: {exception}");
        }
        Ok(answer["result"]["value"].clone())
    }

    /// Waits up to `within` for `condition` (a JavaScript expression) to be
    /// true. The page gives no event for most DOM changes, so this polls.
    pub async fn wait_until(&self, condition: &str, within: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Not ready yet (the page may still be loading) counts as false.
            if let Ok(Value::Bool(true)) = self.eval(condition).await {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("`{condition}` was still not true after {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Cdp {
    /// Starts routing the answers that arrive on `socket` to their callers.
    fn over(socket: Socket) -> Arc<Cdp> {
        let (sink, stream) = socket.split();
        let pending: Pending = Arc::new(std::sync::Mutex::new(Some(HashMap::new())));
        tokio::spawn(dispatch(stream, Arc::clone(&pending)));
        Arc::new(Cdp {
            sink: Mutex::new(sink),
            pending,
            next_id: AtomicU64::new(1),
        })
    }

    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let (answer_tx, answer_rx) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| anyhow!("the CDP dispatcher panicked"))?
            .as_mut()
            .with_context(|| format!("the browser connection had ended before {method}"))?
            .insert(id, answer_tx);
        self.sink
            .lock()
            .await
            .send(Message::text(message.to_string()))
            .await
            .with_context(|| format!("sending {method}"))?;
        tokio::time::timeout(COMMAND_TIMEOUT, answer_rx)
            .await
            .with_context(|| format!("{method} got no answer within {COMMAND_TIMEOUT:?}"))?
            .with_context(|| format!("the browser connection closed during {method}"))?
            .with_context(|| format!("{method} failed"))
    }
}

/// Routes each answer to the call waiting for its id; events are ignored.
async fn dispatch(mut stream: futures_util::stream::SplitStream<Socket>, pending: Pending) {
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let Some(id) = value.get("id").and_then(Value::as_u64) else {
            continue;
        };
        let waiting = pending
            .lock()
            .ok()
            .and_then(|mut p| p.as_mut().and_then(|p| p.remove(&id)));
        let Some(waiting) = waiting else {
            continue;
        };
        let answer = match value.get("error") {
            Some(error) => Err(anyhow!("{error}")),
            None => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
        };
        let _ = waiting.send(answer);
    }
    // The connection is over: dropping every waiting sender wakes each
    // caller at once with "the browser connection closed during ...".
    if let Ok(mut pending) = pending.lock() {
        pending.take();
    }
}

/// The environment variable that makes a missing browser a failure.
pub const REQUIRE_BROWSER: &str = "REQUIRE_BROWSER";

/// The `main` of a browser test: runs `tests` (name, test) with the usual
/// test-runner options, each reported as ignored, with the reason, where no
/// browser (or, with `needs_redis`, no redis-server) is installed, and as a
/// failure instead where REQUIRE_BROWSER=1 (or REQUIRE_REDIS=1) says it must
/// be there. libtest's `#[ignore]` is fixed when compiling; whether a
/// browser is there is known only now.
pub fn suite(tests: &[(&'static str, fn())], needs_redis: bool) -> ! {
    let args = libtest_mimic::Arguments::from_args();
    let trials = tests
        .iter()
        .map(|&(name, test)| {
            libtest_mimic::Trial::ignorable_test(name, move || {
                if let Some(reason) = skip_reason(needs_redis)? {
                    return Ok(libtest_mimic::Completion::ignored_with(reason));
                }
                test();
                Ok(libtest_mimic::Completion::Completed)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

/// Why a browser test cannot run here, or `None` if it can; an error where
/// what is missing is required.
fn skip_reason(needs_redis: bool) -> Result<Option<String>, libtest_mimic::Failed> {
    let mut missing = Vec::new();
    if Browser::find().is_none() {
        if std::env::var(REQUIRE_BROWSER).as_deref() == Ok("1") {
            return Err(format!(
                "{REQUIRE_BROWSER}=1 but no Chromium is installed (apt-get install chromium)"
            )
            .into());
        }
        missing.push(format!(
            "no Chromium found: install Debian's `chromium` package to run it; \
             {REQUIRE_BROWSER}=1 makes this a failure"
        ));
    }
    if needs_redis && !crate::redis_available() {
        if crate::redis_required() {
            return Err(format!(
                "{}=1 but no redis-server is installed (apt-get install redis-server)",
                crate::REQUIRE_REDIS
            )
            .into());
        }
        missing.push(format!(
            "no redis-server found: install Debian's `redis-server` package to run it; \
             {}=1 makes this a failure",
            crate::REQUIRE_REDIS
        ));
    }
    Ok((!missing.is_empty()).then(|| missing.join(". ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_fails_at_once_when_the_connection_ends() {
        crate::block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("binding");
            let addr = listener.local_addr().expect("address");
            // A "browser" that reads one command and hangs up without answering.
            tokio::spawn(async move {
                let (stream, _) = listener.accept().await.expect("accepting");
                let mut ws = tokio_tungstenite::accept_async(stream)
                    .await
                    .expect("handshake");
                let _ = ws.next().await;
            });
            let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
                .await
                .expect("connecting");
            let cdp = Cdp::over(socket);
            let started = std::time::Instant::now();
            let err = cdp
                .call(None, "Target.getTargets", json!({}))
                .await
                .expect_err("no answer can come");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "waited {:?}",
                started.elapsed()
            );
            assert!(format!("{err:#}").contains("closed"), "{err:#}");
            let again = cdp.call(None, "Target.getTargets", json!({})).await;
            assert!(again.is_err());
        });
    }
}
