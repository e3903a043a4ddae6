//! Starting a checkpoint's real binary and watching it from the outside.

use anyhow::{Context, Result, bail};
use scenarios::{Panic, Place};
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How long a freshly started binary may take to answer `/healthcheck`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often to retry with another port when the chosen one was taken meanwhile.
const START_ATTEMPTS: usize = 5;

/// A checkpoint binary running on a free loopback port, killed when dropped;
/// or, from [`Server::attach`], a server someone else started.
pub struct Server {
    binary: PathBuf,
    /// `None` for an attached server: no process to watch, signal or reap.
    child: Option<Child>,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    collector: Option<JoinHandle<()>>,
}

/// An answer to a plain HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status code, such as 200 or 404.
    pub status: u16,
    /// The body, as text.
    pub body: String,
    /// The headers, names in lowercase, in order.
    pub headers: Vec<(String, String)>,
}

impl HttpAnswer {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Server {
    /// Starts `binary` with `HOST=127.0.0.1` and a free `PORT`, and waits until
    /// its `/healthcheck` answers.
    pub async fn start(binary: impl AsRef<Path>) -> Result<Server> {
        Self::start_with(binary, &[]).await
    }

    /// Like [`Server::start`], with these extra environment variables.
    pub async fn start_with(binary: impl AsRef<Path>, env: &[(&str, &str)]) -> Result<Server> {
        Self::start_probed(binary.as_ref(), env, "", async |addr| {
            get_at(addr, "/healthcheck").await
        })
        .await
    }

    /// Starts `binary` with `env` on a free port and waits until `probe`
    /// (a `GET /healthcheck`, over plain HTTP or `over` something else, such
    /// as TLS) answers 200 at its address.
    pub(crate) async fn start_probed(
        binary: &Path,
        env: &[(&str, &str)],
        over: &str,
        probe: impl AsyncFn(SocketAddr) -> Result<HttpAnswer>,
    ) -> Result<Server> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let mut server = Self::spawn_with(binary, env)?;
            match server.wait_until_healthy(over, &probe).await {
                Ok(()) => return Ok(server),
                // Another process may grab the port between our probe and the
                // server's bind; only that case is worth another try.
                Err(err) if format!("{err:#}").contains("Address already in use") => {
                    last_error = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt was made")))
            .with_context(|| format!("starting {} on a free port", binary.display()))
    }

    /// Starts `binary` like [`Server::start_with`] but does not wait for it
    /// to answer: for a scenario in which it should not start at all.
    pub fn spawn_with(binary: impl AsRef<Path>, env: &[(&str, &str)]) -> Result<Server> {
        let binary = binary.as_ref();
        crate::platform::raise_open_file_limit();
        let port = free_port()?;
        let mut command = Command::new(binary);
        command
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            // The checkpoints log at info by default; a RUST_LOG of the caller's
            // passes through, to debug a failing scenario.
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            // Part 6 checks tokens with this key, which the harness's
            // clients sign with; the other checkpoints ignore it.
            .env("TOKEN_KEY", crate::identity::TOKEN_KEY)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // If the test process dies without dropping us (killed by a timeout,
        // say), take the server with it: a spinning checkpoint left behind
        // would skew every later measurement on the machine.
        crate::platform::die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child
            .stderr
            .take()
            .context("the child's stderr was not piped")?;
        let collector = tokio::spawn(collect_lines(pipe, Arc::clone(&stderr)));

        Ok(Server {
            binary: binary.to_path_buf(),
            child: Some(child),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            stderr,
            collector: Some(collector),
        })
    }

    /// A server that is already running at `url` (`ws://host:port/ws`), for
    /// checking a server the harness did not start. Scenarios that need its
    /// process (its threads, its exit, a signal) fail with [`NOT_STARTED`].
    pub async fn attach(url: &str) -> Result<Server> {
        let addr = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .with_context(|| format!("{url} is not a ws://host:port/... URL"))?;
        let addr = tokio::net::lookup_host(addr)
            .await
            .with_context(|| format!("resolving {addr}"))?
            .next()
            .with_context(|| format!("{addr} resolves to no address"))?;
        let server = Server {
            binary: PathBuf::from(url),
            child: None,
            addr,
            stderr: Arc::new(Mutex::new(Vec::new())),
            collector: None,
        };
        if !server.is_healthy(Duration::from_secs(10)).await {
            bail!("nothing at {addr} answers GET /healthcheck with 200");
        }
        Ok(server)
    }

    fn child(&mut self) -> Result<&mut Child> {
        self.child.as_mut().context(NOT_STARTED)
    }

    async fn wait_until_healthy(
        &mut self,
        over: &str,
        probe: &impl AsyncFn(SocketAddr) -> Result<HttpAnswer>,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child()?.try_wait().context("checking the child")? {
                self.drain_stderr().await;
                bail!(
                    "{} exited with {status} before answering /healthcheck{over}; stderr:\n{}",
                    self.binary.display(),
                    self.stderr_text()
                );
            }
            let answered = tokio::time::timeout(Duration::from_secs(10), probe(self.addr)).await;
            if matches!(answered, Ok(Ok(ref answer)) if answer.status == 200) {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "{} did not answer /healthcheck{over} on {} within {START_TIMEOUT:?}; \
                     stderr:\n{}",
                    self.binary.display(),
                    self.addr,
                    self.stderr_text()
                );
            }
            // The process gives no readiness signal but the port, so poll it.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL of the `/ws` route.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The operating-system process id.
    pub fn pid(&self) -> Result<u32> {
        self.child
            .as_ref()
            .context(NOT_STARTED)?
            .id()
            .context("the server process has already been reaped")
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        match self.stderr.lock() {
            Ok(lines) => lines.join("\n"),
            Err(_) => "(stderr collector panicked)".to_string(),
        }
    }

    /// Every panic the server reported on stderr so far, in order.
    ///
    /// Only the main thread's: there run `main` and, in every checkpoint,
    /// the chat server task, whose panics end the process. A panic on a
    /// worker thread ends one session, and when the process crashes others
    /// may race to panic on the way down, differently each run; those are
    /// [`Server::worker_panics`].
    pub fn panics(&self) -> Vec<Panic> {
        self.panics_where(|thread| thread == "main")
    }

    /// The panics of other threads than the main one.
    pub fn worker_panics(&self) -> Vec<Panic> {
        self.panics_where(|thread| thread != "main")
    }

    fn panics_where(&self, keep: impl Fn(&str) -> bool) -> Vec<Panic> {
        match self.stderr.lock() {
            Ok(lines) => panics_in(&lines)
                .into_iter()
                .filter(|(thread, _)| keep(thread))
                .map(|(_, panic)| panic)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Waits up to `within` for the process to exit; `None` if it is still running.
    /// Once it has exited, everything it wrote to stderr has been collected.
    /// An attached server is never seen to exit.
    pub async fn wait_exit(&mut self, within: Duration) -> Result<Option<ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        match tokio::time::timeout(within, child.wait()).await {
            Ok(status) => {
                let status = status.context("waiting for the server process")?;
                self.drain_stderr().await;
                Ok(Some(status))
            }
            Err(_elapsed) => Ok(None),
        }
    }

    /// After an exit, waits for the collector to read the pipe to its end, so
    /// that a panic message is not lost to a race.
    async fn drain_stderr(&mut self) {
        if let Some(collector) = self.collector.take() {
            // A collector that panicked or hangs only costs us the message.
            let _ = tokio::time::timeout(Duration::from_secs(5), collector).await;
        }
    }

    /// Sends `GET path` over a fresh connection and reads the whole answer.
    ///
    /// Written by hand rather than with an HTTP client crate: the tests only
    /// need a status line and a short body, and a client stack would add
    /// build time for every attendee.
    pub async fn get(&self, path: &str) -> Result<HttpAnswer> {
        get_at(self.addr, path).await
    }

    /// Sends `POST path` with `fields` as a form (part 6's `/login`).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Result<HttpAnswer> {
        let (headers, body) = form(fields);
        self.request("POST", path, &headers, &body).await
    }

    /// Sends one request over a fresh connection and reads the whole answer.
    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &str,
        body: &str,
    ) -> Result<HttpAnswer> {
        request_at(self.addr, method, path, headers, body).await
    }
    /// Whether `/healthcheck` answers 200 within `within`.
    pub async fn is_healthy(&self, within: Duration) -> bool {
        let answer = tokio::time::timeout(within, self.get("/healthcheck")).await;
        matches!(answer, Ok(Ok(ref a)) if a.status == 200)
    }

    /// Whether the checkpoint has a `/ws` route at all (part1 has none).
    pub async fn serves_ws(&self) -> Result<bool> {
        Ok(self.get("/ws").await?.status != 404)
    }

    /// Kills the process at once (SIGKILL on Unix), as a crash or a pulled
    /// plug would, and waits until it is gone.
    pub async fn kill(&mut self) -> Result<()> {
        self.child()?.kill().await.context("killing the server")?;
        self.drain_stderr().await;
        Ok(())
    }

    /// Sends SIGTERM, as a service manager or `kill` would on shutdown.
    pub fn terminate(&self) -> Result<()> {
        crate::platform::terminate(self.pid()?)
    }

    /// Pauses the process (SIGSTOP): it runs no more, its sockets stay open.
    pub fn pause(&self) -> Result<()> {
        crate::platform::pause(self.pid()?)
    }

    /// Resumes a paused process (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        crate::platform::resume(self.pid()?)
    }
}

/// Why a scenario that needs the server's process cannot run on an attached one.
pub const NOT_STARTED: &str = "this scenario watches or signals the server process, so it needs \
                               a server the checker starts itself (--bin), not a --url";

/// A loopback port nobody listens on at the moment.
pub(crate) fn free_port() -> Result<u16> {
    let listener =
        StdListener::bind((Ipv4Addr::LOCALHOST, 0)).context("probing for a free port")?;
    Ok(listener
        .local_addr()
        .context("reading the probed port")?
        .port())
}

async fn collect_lines(pipe: tokio::process::ChildStderr, into: Arc<Mutex<Vec<String>>>) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match into.lock() {
            Ok(mut all) => all.push(line),
            Err(_) => return,
        }
    }
}

/// The panics in a server's stderr, with the thread of each: each
/// `thread 'name' (tid) panicked at <place>:` line and the message line after
/// it, with task ids written as `..` so that runs compare.
fn panics_in(lines: &[String]) -> Vec<(String, Panic)> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| {
            let (thread, place) = line.split_once(" panicked at ")?;
            let thread = thread.split('\'').nth(1).unwrap_or_default().to_string();
            let message = lines.get(index + 1).map_or("", String::as_str);
            let panic = Panic {
                at: Place::At(place.trim_end_matches(':').to_string().into()),
                message: without_task_ids(message).into(),
            };
            Some((thread, panic))
        })
        .collect()
}

/// `Id(12)` becomes `Id(..)`: tokio numbers tasks in the order they start.
fn without_task_ids(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("Id(") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str("..");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

fn parse_http_answer(raw: &[u8]) -> Result<HttpAnswer> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("no end of headers in the answer")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .context("no status line")?
        .parse()
        .context("the status code is not a number")?;
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok(HttpAnswer {
        status,
        body: body.to_string(),
        headers,
    })
}

/// `GET path` at `addr` over a fresh plain connection.
async fn get_at(addr: SocketAddr, path: &str) -> Result<HttpAnswer> {
    request_at(addr, "GET", path, "", "").await
}

/// One request at `addr` over a fresh plain connection.
async fn request_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Result<HttpAnswer> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    exchange(&mut stream, addr, method, path, headers, body).await
}

/// How long one request, from sending it to the end of the answer, may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one request (`headers` each ending in CRLF) with `Connection:
/// close` over `stream`, plain or TLS, and reads the answer to its end.
pub(crate) async fn exchange<S>(
    stream: &mut S,
    host: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Result<HttpAnswer>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n{body}"
    );
    let talk = async {
        stream
            .write_all(request.as_bytes())
            .await
            .context("sending the request")?;
        // TLS holds the last record until flushed.
        stream.flush().await.context("sending the request")?;
        let mut raw = Vec::new();
        match stream.read_to_end(&mut raw).await {
            Ok(_) => {}
            // A TLS server may close without a close_notify: that is the end too.
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(err) => return Err(err).context("reading the answer"),
        }
        Ok(raw)
    };
    let raw = tokio::time::timeout(REQUEST_TIMEOUT, talk)
        .await
        .with_context(|| {
            format!("{method} {path} got no complete answer within {REQUEST_TIMEOUT:?}")
        })??;
    parse_http_answer(&raw).with_context(|| format!("{method} {path}"))
}

/// The headers and body of a form of `fields`
/// (`application/x-www-form-urlencoded`).
pub(crate) fn form(fields: &[(&str, &str)]) -> (String, String) {
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
        .collect();
    let body = body.join("&");
    let headers = format!(
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        body.len()
    );
    (headers, body)
}

/// Unreserved bytes as they are, the rest as `%XX`.
fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_panic_and_hides_task_ids() {
        let lines: Vec<String> = [
            "[INFO] starting",
            "thread 'main' (4242) panicked at part2/src/main.rs:62:18:",
            "called `Result::unwrap()` on an `Err` value: SendError { .. }",
            "note: run with `RUST_BACKTRACE=1`",
            "thread 'actix-rt|system:0|arbiter:1' (4243) panicked at part2/src/main.rs:130:38:",
            "called `Result::unwrap()` on an `Err` value: Closed",
            "thread 'main' (4242) panicked at part2/src/main.rs:282:65:",
            "boom: JoinError::Panic(Id(12), \"x\", ..)",
        ]
        .map(String::from)
        .to_vec();
        let panics = panics_in(&lines);
        assert_eq!(panics.len(), 3);
        assert_eq!(panics[0].0, "main");
        assert_eq!(panics[0].1.at, Place::At("part2/src/main.rs:62:18".into()));
        assert_eq!(
            panics[0].1.message,
            "called `Result::unwrap()` on an `Err` value: SendError { .. }"
        );
        assert_eq!(panics[1].0, "actix-rt|system:0|arbiter:1");
        assert_eq!(
            panics[2].1.message,
            "boom: JoinError::Panic(Id(..), \"x\", ..)"
        );
    }

    #[test]
    fn parses_status_and_body() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        let answer = parse_http_answer(raw).expect("parses");
        assert_eq!(
            answer,
            HttpAnswer {
                status: 404,
                body: String::new(),
                headers: vec![("content-length".to_string(), "0".to_string())],
            }
        );
        assert_eq!(answer.header("content-length"), Some("0"));
        assert_eq!(answer.header("set-cookie"), None);
    }

    #[test]
    fn forms_are_percent_encoded() {
        assert_eq!(form_encode("rabbit-hole"), "rabbit-hole");
        assert_eq!(form_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
