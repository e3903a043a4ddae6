//! A TCP proxy on loopback that makes the faults a real network makes, put
//! between a WebSocket client and a checkpoint, or between a node and Redis.
//!
//! Loopback never loses a byte, so without it a test cannot show what a
//! server does when the network misbehaves. The proxy forwards bytes both
//! ways and, on request, in one [`Direction`] of every connection or of one
//! connection (by accept index; a node opens its Redis subscription first):
//!
//! - [`pause`](FaultProxy::pause): a link that stalls one way. The proxy
//!   stops reading, so the sender's TCP window fills up and pushes back, and
//!   on [`resume`](FaultProxy::resume) the held bytes flow again, in order.
//! - [`drop_bytes`](FaultProxy::drop_bytes): a deaf link, such as a Redis
//!   subscription that is open but hears nothing. Bytes are read and
//!   discarded; neither end notices.
//! - [`delay`](FaultProxy::delay): a slow network. Each chunk waits before
//!   it is forwarded, in order. The proxy reads nothing while a chunk waits,
//!   so bytes that arrive meanwhile wait up to twice as long: a link that is
//!   slow as well as far, which keeps the proxy to one buffer per direction.
//! - [`cut`](FaultProxy::cut): a cut cable as the ends see it once they
//!   notice, an abortive close (RST) of both sides of every connection.
//! - [`refuse`](FaultProxy::refuse): an upstream that cannot be reached. New
//!   connections are accepted and closed at once.

use anyhow::{Context, Result};
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Which bytes of a connection a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the upstream server.
    ToUpstream,
    /// From the upstream server back to the client.
    ToClient,
}

impl Direction {
    fn slot(self) -> usize {
        match self {
            Direction::ToUpstream => 0,
            Direction::ToClient => 1,
        }
    }
}

/// What a pump does with the bytes of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Fault {
    #[default]
    Forward,
    Pause,
    Drop,
    Delay(Duration),
}

/// Everything the tests asked for, watched by every connection's tasks.
#[derive(Debug, Default)]
struct Faults {
    /// For every connection, by [`Direction::slot`].
    all: [Fault; 2],
    /// For one connection, by accept index: overrides `all` where `Some`.
    one: HashMap<usize, [Option<Fault>; 2]>,
    /// How many times [`FaultProxy::cut`] was called: a connection accepted
    /// before the last call is closed.
    cuts: u64,
    /// Connections closed (or to be closed when accepted) one by one.
    cut_one: HashSet<usize>,
    refuse: bool,
}

impl Faults {
    fn fault(&self, index: usize, direction: Direction) -> Fault {
        let slot = direction.slot();
        self.one
            .get(&index)
            .and_then(|faults| faults[slot])
            .unwrap_or(self.all[slot])
    }
}

/// A fault-injecting TCP proxy on a free loopback port. Dropping it stops it
/// and closes every connection it carries.
pub struct FaultProxy {
    addr: SocketAddr,
    faults: watch::Sender<Faults>,
    accepted: watch::Receiver<usize>,
    /// Owns every connection's task: aborting it ends them all.
    task: JoinHandle<()>,
}

/// The faults of one connection, chosen by accept index: see
/// [`FaultProxy::connection`].
pub struct ConnectionFaults<'a> {
    proxy: &'a FaultProxy,
    index: usize,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards each connection to
    /// `upstream`, faultless until told otherwise.
    pub async fn start(upstream: SocketAddr) -> Result<FaultProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the fault proxy to a loopback port")?;
        let addr = listener
            .local_addr()
            .context("reading the fault proxy's address")?;
        let (faults, watching) = watch::channel(Faults::default());
        let (count, accepted) = watch::channel(0);
        let task = tokio::spawn(accept(listener, upstream, watching, count));
        Ok(FaultProxy {
            addr,
            faults,
            accepted,
            task,
        })
    }

    /// The address clients connect to instead of the upstream's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The faults of connection `index` alone (0 is the first accepted),
    /// whether it is open yet or not. They take precedence over the faults
    /// set for every connection, until those are set again.
    pub fn connection(&self, index: usize) -> ConnectionFaults<'_> {
        ConnectionFaults { proxy: self, index }
    }

    /// Stops forwarding `direction` on every connection; bytes wait.
    pub fn pause(&self, direction: Direction) {
        self.set(None, direction, Fault::Pause);
    }

    /// Forwards `direction` on every connection again, held bytes first.
    pub fn resume(&self, direction: Direction) {
        self.set(None, direction, Fault::Forward);
    }

    /// Reads and discards `direction` on every connection.
    pub fn drop_bytes(&self, direction: Direction) {
        self.set(None, direction, Fault::Drop);
    }

    /// Forwards each chunk of `direction` after `delay`, on every connection.
    pub fn delay(&self, direction: Direction, delay: Duration) {
        self.set(None, direction, Fault::Delay(delay));
    }

    /// Closes both sides of every connection accepted so far, abortively.
    pub fn cut(&self) {
        self.faults.send_modify(|faults| faults.cuts += 1);
    }

    /// While `refuse` is true, new connections are closed as soon as accepted.
    pub fn refuse(&self, refuse: bool) {
        self.faults.send_modify(|faults| faults.refuse = refuse);
    }

    /// How many connections were accepted so far, refused ones included.
    pub fn connections(&self) -> usize {
        *self.accepted.borrow()
    }

    /// Waits until at least `count` connections were accepted.
    pub async fn wait_for_connections(&self, count: usize, within: Duration) -> Result<()> {
        let mut accepted = self.accepted.clone();
        tokio::time::timeout(within, accepted.wait_for(|&n| n >= count))
            .await
            .with_context(|| {
                format!(
                    "the proxy accepted {} connections within {within:?}, not {count}",
                    self.connections()
                )
            })?
            .context("the proxy stopped accepting connections (its listener failed)")?;
        Ok(())
    }

    /// Setting a fault for every connection (`index` `None`) replaces the
    /// per-connection faults of that direction, so that it really is every one.
    fn set(&self, index: Option<usize>, direction: Direction, fault: Fault) {
        let slot = direction.slot();
        self.faults.send_modify(|faults| match index {
            Some(index) => faults.one.entry(index).or_default()[slot] = Some(fault),
            None => {
                faults.all[slot] = fault;
                faults.one.values_mut().for_each(|one| one[slot] = None);
            }
        });
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConnectionFaults<'_> {
    /// Stops forwarding `direction` on this connection; bytes wait.
    pub fn pause(&self, direction: Direction) {
        self.proxy.set(Some(self.index), direction, Fault::Pause);
    }

    /// Forwards `direction` on this connection again, held bytes first.
    pub fn resume(&self, direction: Direction) {
        self.proxy.set(Some(self.index), direction, Fault::Forward);
    }

    /// Reads and discards `direction` on this connection.
    pub fn drop_bytes(&self, direction: Direction) {
        self.proxy.set(Some(self.index), direction, Fault::Drop);
    }

    /// Forwards each chunk of `direction` after `delay`, on this connection.
    pub fn delay(&self, direction: Direction, delay: Duration) {
        self.proxy
            .set(Some(self.index), direction, Fault::Delay(delay));
    }

    /// Closes both sides of this connection abortively, now or as soon as
    /// it is accepted.
    pub fn cut(&self) {
        let index = self.index;
        self.proxy.faults.send_modify(|faults| {
            faults.cut_one.insert(index);
        });
    }
}

/// The accept loop. Its `JoinSet` owns the connections, so aborting this
/// task closes them all.
async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    faults: watch::Receiver<Faults>,
    count: watch::Sender<usize>,
) {
    let mut connections = JoinSet::new();
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            // A client that gave up while queued; the listener is fine.
            Err(err) if err.kind() == io::ErrorKind::ConnectionAborted => continue,
            // Anything else (out of file descriptors, say) stops the proxy:
            // ending drops `count`, and `wait_for_connections` says so.
            Err(_) => return,
        };
        while connections.try_join_next().is_some() {}
        // Read before counting: a connection counted before `cut()` is cut.
        let (born, refuse) = {
            let faults = faults.borrow();
            (faults.cuts, faults.refuse)
        };
        let index = *count.borrow();
        count.send_replace(index + 1);
        // A refused client is dropped here, which closes it (FIN).
        if !refuse {
            connections.spawn(serve(index, born, client, upstream, faults.clone()));
        }
    }
}

/// Carries one connection until either side ends it, a pump fails or it is cut.
async fn serve(
    index: usize,
    born: u64,
    mut client: TcpStream,
    upstream: SocketAddr,
    faults: watch::Receiver<Faults>,
) {
    // An unreachable upstream looks like a refusal: the client is closed.
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let mut watching = faults.clone();
    let cut = watching.wait_for(|faults| faults.cuts != born || faults.cut_one.contains(&index));
    let link = |direction| Link {
        index,
        direction,
        faults: faults.clone(),
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let pumps = async {
        tokio::try_join!(
            link(Direction::ToUpstream).pump(&mut client_read, &mut server_write),
            link(Direction::ToClient).pump(&mut server_read, &mut client_write),
        )
    };
    // A failed pump (a reset on one side) is passed on as a reset to the other.
    let abortive = tokio::select! {
        pumped = pumps => pumped.is_err(),
        cut = cut => cut.is_ok(),
    };
    if abortive {
        // If this fails the close is merely graceful, which tests still see.
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

/// One direction of one connection, and the faults that may apply to it.
struct Link {
    index: usize,
    direction: Direction,
    faults: watch::Receiver<Faults>,
}

impl Link {
    /// Copies `from` to `to` under this link's fault until `from` ends.
    async fn pump(
        mut self,
        from: &mut (impl AsyncRead + Unpin),
        to: &mut (impl AsyncWrite + Unpin),
    ) -> io::Result<()> {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            // Not reading while paused is what makes TCP push back on the sender.
            self.unpaused().await?;
            let read = from.read(&mut buffer).await?;
            // The fault may have changed while the read waited. The end of the
            // stream counts as bytes, so a deaf link does not pass it on.
            match self.unpaused().await? {
                Fault::Drop if read == 0 => return Ok(()),
                Fault::Drop => continue,
                Fault::Delay(delay) => tokio::time::sleep(delay).await,
                Fault::Forward | Fault::Pause => {}
            }
            if read == 0 {
                return to.shutdown().await;
            }
            to.write_all(&buffer[..read]).await?;
        }
    }

    /// The link's fault once it is not `Pause`.
    async fn unpaused(&mut self) -> io::Result<Fault> {
        let (index, direction) = (self.index, self.direction);
        let faults = self
            .faults
            .wait_for(|faults| faults.fault(index, direction) != Fault::Pause)
            .await
            .map_err(|_| io::Error::other("the fault proxy was dropped"))?;
        Ok(faults.fault(index, direction))
    }
}

#[cfg(test)]
mod tests {
    use super::{Direction, FaultProxy};
    use anyhow::{Context, Result, bail};
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Long enough for any echo on a loaded machine.
    const PATIENCE: Duration = Duration::from_secs(10);
    /// How long to listen for something that must not arrive.
    const QUIET: Duration = Duration::from_millis(300);

    /// An echo server on a free loopback port, for the life of the test.
    async fn echo_server() -> Result<SocketAddr> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        Ok(addr)
    }

    async fn proxied() -> Result<(FaultProxy, TcpStream)> {
        let proxy = FaultProxy::start(echo_server().await?).await?;
        let stream = TcpStream::connect(proxy.addr()).await?;
        Ok((proxy, stream))
    }

    async fn read_n(stream: &mut TcpStream, n: usize) -> Result<Vec<u8>> {
        let mut bytes = vec![0; n];
        tokio::time::timeout(PATIENCE, stream.read_exact(&mut bytes))
            .await
            .context("no echo in time")??;
        Ok(bytes)
    }

    async fn echoes(stream: &mut TcpStream, text: &[u8]) -> Result<()> {
        stream.write_all(text).await?;
        assert_eq!(read_n(stream, text.len()).await?, text);
        Ok(())
    }

    async fn silent(stream: &mut TcpStream) -> Result<()> {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(QUIET, stream.read(&mut byte)).await {
            Err(_) => Ok(()),
            Ok(read) => bail!("expected silence and an open socket, read {read:?}"),
        }
    }

    /// EOF or a reset, but not data and not a wait.
    async fn closed(stream: &mut TcpStream) -> Result<()> {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(PATIENCE, stream.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => Ok(()),
            other => bail!("expected the connection to close, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn bytes_flow_both_ways_and_so_does_the_end() -> Result<()> {
        let (_proxy, mut stream) = proxied().await?;
        echoes(&mut stream, b"hello").await?;
        stream.shutdown().await?;
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut byte)).await?;
        assert_eq!(read?, 0, "the echo server's close should reach the client");
        Ok(())
    }

    #[tokio::test]
    async fn pause_holds_bytes_until_resume() -> Result<()> {
        let (proxy, mut stream) = proxied().await?;
        echoes(&mut stream, b"a").await?;
        proxy.pause(Direction::ToClient);
        stream.write_all(b"b").await?;
        stream.write_all(b"c").await?;
        silent(&mut stream).await?;
        proxy.resume(Direction::ToClient);
        assert_eq!(read_n(&mut stream, 2).await?, b"bc");
        Ok(())
    }

    #[tokio::test]
    async fn dropped_bytes_never_arrive_and_the_socket_stays_open() -> Result<()> {
        let (proxy, mut stream) = proxied().await?;
        echoes(&mut stream, b"a").await?;
        proxy.drop_bytes(Direction::ToUpstream);
        stream.write_all(b"lost").await?;
        silent(&mut stream).await?;
        proxy.resume(Direction::ToUpstream);
        echoes(&mut stream, b"c").await
    }

    #[tokio::test]
    async fn delay_adds_at_least_the_delay() -> Result<()> {
        let proxy = FaultProxy::start(echo_server().await?).await?;
        let delay = Duration::from_millis(300);
        proxy.delay(Direction::ToUpstream, delay);
        let mut stream = TcpStream::connect(proxy.addr()).await?;
        let started = Instant::now();
        echoes(&mut stream, b"slow").await?;
        assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
        Ok(())
    }

    #[tokio::test]
    async fn cut_closes_current_connections_only() -> Result<()> {
        let (proxy, mut stream) = proxied().await?;
        echoes(&mut stream, b"a").await?;
        proxy.cut();
        closed(&mut stream).await?;
        let mut later = TcpStream::connect(proxy.addr()).await?;
        echoes(&mut later, b"after the cut").await
    }

    #[tokio::test]
    async fn a_fault_on_one_connection_leaves_the_other_alone() -> Result<()> {
        let (proxy, mut first) = proxied().await?;
        echoes(&mut first, b"first").await?;
        let mut second = TcpStream::connect(proxy.addr()).await?;
        proxy.wait_for_connections(2, PATIENCE).await?;
        proxy.connection(1).drop_bytes(Direction::ToClient);
        second.write_all(b"unheard").await?;
        silent(&mut second).await?;
        echoes(&mut first, b"still fine").await?;
        proxy.connection(1).cut();
        closed(&mut second).await?;
        echoes(&mut first, b"and still").await
    }

    #[tokio::test]
    async fn refused_connections_end_at_once() -> Result<()> {
        let (proxy, mut stream) = proxied().await?;
        echoes(&mut stream, b"a").await?;
        proxy.refuse(true);
        let mut refused = TcpStream::connect(proxy.addr()).await?;
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(PATIENCE, refused.read(&mut byte)).await?;
        assert_eq!(read?, 0);
        echoes(&mut stream, b"open ones stay").await?;
        proxy.refuse(false);
        let mut welcome = TcpStream::connect(proxy.addr()).await?;
        echoes(&mut welcome, b"b").await?;
        assert_eq!(proxy.connections(), 3);
        Ok(())
    }

    #[tokio::test]
    async fn waits_for_connections_and_closes_them_when_dropped() -> Result<()> {
        let proxy = FaultProxy::start(echo_server().await?).await?;
        assert!(proxy.wait_for_connections(1, QUIET).await.is_err());
        let mut stream = TcpStream::connect(proxy.addr()).await?;
        proxy.wait_for_connections(1, PATIENCE).await?;
        assert_eq!(proxy.connections(), 1);
        echoes(&mut stream, b"a").await?;
        drop(proxy);
        closed(&mut stream).await
    }
}
