//! A private Redis server for the cluster scenarios: the distribution's
//! `redis-server`, started on a free loopback port with persistence off, and
//! killed with the test.

use anyhow::{Context, Result, bail};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The program the cluster scenarios start.
const PROGRAM: &str = "redis-server";
/// How long a fresh `redis-server` may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Set to `1` to make a missing `redis-server` fail the cluster scenarios
/// instead of skipping them (CI installs it and sets this).
pub const REQUIRE_REDIS: &str = "REQUIRE_REDIS";

/// The channel part 5's nodes publish on and listen to (`CHANNEL` in its
/// `cluster.rs`).
pub const CHANNEL: &str = "rust-websocket-tutorial:chat";

/// A command in RESP, as redis-cli sends one: an array of bulk strings.
pub fn resp_command(words: &[&str]) -> Vec<u8> {
    let mut command = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        command.extend_from_slice(format!("${}\r\n", word.len()).as_bytes());
        command.extend_from_slice(word.as_bytes());
        command.extend_from_slice(b"\r\n");
    }
    command
}

/// Whether `redis-server` can be run here.
pub fn redis_available() -> bool {
    std::process::Command::new(PROGRAM)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether a missing `redis-server` must fail the tests rather than skip them.
pub fn redis_required() -> bool {
    std::env::var(REQUIRE_REDIS).is_ok_and(|value| value == "1")
}

/// A `redis-server` child on a loopback port. Killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it
    /// answers `PING`.
    pub async fn start() -> Result<RedisServer> {
        let port = crate::server::free_port()?;
        let mut redis = RedisServer { child: None, port };
        redis.start_again().await?;
        Ok(redis)
    }

    /// The operating-system process id of the running server.
    pub fn pid(&self) -> Result<u32> {
        self.child
            .as_ref()
            .and_then(Child::id)
            .context("redis-server is not running")
    }

    /// The URL the nodes are given as `REDIS_URL`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr())
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Pauses the server (SIGSTOP): it answers nothing, its connections
    /// stay open, as when its machine stalls.
    pub fn pause(&self) -> Result<()> {
        crate::platform::pause(self.pid()?)
    }

    /// Resumes a paused server (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        crate::platform::resume(self.pid()?)
    }

    /// Sends one command, such as `ACL SETUSER default -publish`, and
    /// returns its answer: a status line, or the text of a bulk string (what
    /// `INFO` answers); an error answer is an error. Each call opens a
    /// connection of its own.
    pub async fn command(&self, words: &[&str]) -> Result<String> {
        let ask = async {
            let mut stream = TcpStream::connect(self.addr()).await?;
            stream.write_all(&resp_command(words)).await?;
            let first = read_line(&mut stream).await?;
            match first.strip_prefix('$') {
                Some(_) => read_bulk(&mut stream, &first).await,
                None => Ok(first),
            }
        };
        let answer = tokio::time::timeout(Duration::from_secs(5), ask)
            .await
            .context("redis-server did not answer within 5 s")?
            .with_context(|| format!("sending {words:?} to redis-server"))?;
        if answer.starts_with('-') {
            bail!("redis-server refused {words:?}: {answer}");
        }
        Ok(answer)
    }

    /// Subscribes to `channel` on a connection of its own, and waits until
    /// Redis has confirmed it: every message published from then on reaches
    /// [`Subscription::next_message`].
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription> {
        let subscribe = async {
            let mut stream = TcpStream::connect(self.addr()).await?;
            stream
                .write_all(&resp_command(&["SUBSCRIBE", channel]))
                .await?;
            // The confirmation: ["subscribe", channel, 1].
            let _ = read_array(&mut stream).await?;
            Ok::<TcpStream, std::io::Error>(stream)
        };
        let stream = tokio::time::timeout(Duration::from_secs(5), subscribe)
            .await
            .context("redis-server did not confirm a SUBSCRIBE within 5 s")?
            .with_context(|| format!("subscribing to {channel}"))?;
        Ok(Subscription { stream })
    }

    /// How many connections the server has accepted since it started, this
    /// question's own included (`total_connections_received` of `INFO`).
    pub async fn connections_received(&self) -> Result<u64> {
        let stats = self.command(&["INFO", "stats"]).await?;
        stats
            .lines()
            .find_map(|line| line.strip_prefix("total_connections_received:"))
            .and_then(|count| count.trim().parse().ok())
            .with_context(|| format!("no total_connections_received in INFO stats: {stats:?}"))
    }

    /// Kills the server (SIGKILL, no goodbye) and waits until it is gone.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("killing redis-server")?;
        }
        Ok(())
    }

    /// Starts the server again on the same port, as a restarted Redis would
    /// come back, and waits until it answers `PING`.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("redis-server is still running");
        }
        let mut command = Command::new(PROGRAM);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            // Nothing on disk: each scenario's Redis starts empty.
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        crate::platform::die_with_parent(&mut command);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
                "{PROGRAM} is not installed: install it (Debian: `apt-get install redis-server`) \
                 to run the cluster scenarios"
            ),
            Err(err) => return Err(err).context("spawning redis-server"),
        };
        self.child = Some(child);
        self.wait_until_ready().await
    }

    async fn wait_until_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait().context("checking redis-server")?
            {
                bail!(
                    "redis-server exited with {status} before answering on {}",
                    self.addr()
                );
            }
            if self.pings().await {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "redis-server did not answer PING on {} within {START_TIMEOUT:?}",
                    self.addr()
                );
            }
            // Redis gives no readiness signal but its port, so poll it.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the server answers `PING` with `+PONG`.
    async fn pings(&self) -> bool {
        let ask = async {
            let mut stream = TcpStream::connect(self.addr()).await?;
            stream.write_all(b"PING\r\n").await?;
            let mut answer = [0u8; 7];
            stream.read_exact(&mut answer).await?;
            Ok::<bool, std::io::Error>(&answer == b"+PONG\r\n")
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), ask).await,
            Ok(Ok(true))
        )
    }
}

/// One line of a RESP answer, without its CRLF.
async fn read_line(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        stream.read_exact(&mut byte).await?;
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// A connection subscribed to one channel.
pub struct Subscription {
    stream: TcpStream,
}

impl Subscription {
    /// The payload of the next message published on the channel, or `None`
    /// if none comes within `within`.
    pub async fn next_message(&mut self, within: Duration) -> Result<Option<String>> {
        match tokio::time::timeout(within, read_array(&mut self.stream)).await {
            Err(_) => Ok(None),
            Ok(message) => {
                // ["message", channel, payload]
                let mut parts = message.context("reading a message from redis-server")?;
                parts
                    .pop()
                    .map(Some)
                    .context("redis-server sent an empty message")
            }
        }
    }
}

/// An array of bulk strings or integers, such as a pub/sub message.
async fn read_array(stream: &mut TcpStream) -> std::io::Result<Vec<String>> {
    let head = read_line(stream).await?;
    let count = head
        .strip_prefix('*')
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| std::io::Error::other(format!("expected an array, got {head:?}")))?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let line = read_line(stream).await?;
        items.push(match line.strip_prefix('$') {
            Some(_) => read_bulk(stream, &line).await?,
            None => line,
        });
    }
    Ok(items)
}

/// The body of a bulk string whose `$<length>` line was `head`.
async fn read_bulk(stream: &mut TcpStream, head: &str) -> std::io::Result<String> {
    let length: usize = head[1..]
        .parse()
        .map_err(|_| std::io::Error::other(format!("a bad bulk length: {head:?}")))?;
    let mut body = vec![0u8; length + 2];
    stream.read_exact(&mut body).await?;
    body.truncate(length);
    Ok(String::from_utf8_lossy(&body).into_owned())
}
