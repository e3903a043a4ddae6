//! Clients that speak the WebSocket handshake and frames themselves, to
//! misbehave in ways tungstenite will not:
//!
//! - a silent client never answers anything, the way a laptop that lost its
//!   network looks from the other side ([`RawClient::wait_until_dropped`]);
//! - a stalled client stops reading, with a receive buffer as small as the
//!   system allows, and may keep pinging, the way a client whose program
//!   hangs or whose reader stopped looks ([`RawClient::ping_until_cut`]);
//! - any of them can send a frame that breaks the protocol
//!   ([`RawClient::send_frame`]).
//!
//! tungstenite answers pings whenever it reads and validates what it sends,
//! so none of this can be done through it.

use anyhow::{Context, Result, bail};
use scenarios::Seen;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// RFC 6455 opcodes this module sends or reads.
pub mod opcode {
    /// A text frame.
    pub const TEXT: u8 = 0x1;
    /// A close frame.
    pub const CLOSE: u8 = 0x8;
    /// A ping.
    pub const PING: u8 = 0x9;
}

/// An open WebSocket connection, written and read frame by frame.
pub struct RawClient {
    stream: TcpStream,
    /// Bytes read past the handshake answer, not yet parsed.
    buffered: Vec<u8>,
    /// The base of the uid space it speaks in (see `crate::uids`); 0: none.
    uid_base: u32,
}

/// How a silent client's connection ended, as far as it could tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Time from the handshake to the end.
    pub after: Duration,
    /// Pings the server sent that went unanswered.
    pub pings: usize,
    /// The close frame the server sent, if any: its code and reason, or
    /// `None` for an empty frame.
    pub close: Option<Option<(u16, String)>>,
}

impl Dropped {
    /// What the client saw last, as the scenario table records it.
    pub fn seen(&self) -> Seen {
        seen_close(&self.close)
    }
}

/// What a client that read again found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    /// Every text message, in order.
    pub texts: Vec<String>,
    /// How the reading ended: a close frame, the end of the connection, or
    /// nothing more within the time given.
    pub end: Seen,
}

/// A close frame as the table records it; `None`: the connection ended.
fn seen_close(close: &Option<Option<(u16, String)>>) -> Seen {
    match close {
        Some(Some((code, reason))) => Seen::Close {
            code: *code,
            reason: reason.clone().into(),
        },
        Some(None) => Seen::EmptyClose,
        None => Seen::Ended,
    }
}

impl RawClient {
    /// Opens `ws://addr/ws` with a `uid` header; fails unless the server
    /// answers `101 Switching Protocols`. With `receive_buffer`, the socket
    /// asks for a receive buffer that small before it connects, so that the
    /// window it offers the server is small from the start.
    pub async fn open(addr: SocketAddr, uid: &str, receive_buffer: Option<usize>) -> Result<Self> {
        let uid_base = crate::uids::current();
        let uid = crate::uids::outward(uid_base, uid);
        // Part 6's token for the uid (see `crate::identity`).
        let authorization = crate::identity::token_for(&uid)
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .context("making a socket")?;
        if let Some(size) = receive_buffer {
            let size = u32::try_from(size).context("a receive buffer that large")?;
            socket
                .set_recv_buffer_size(size)
                .context("asking for a small receive buffer")?;
        }
        let mut stream = socket
            .connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        // The key is the example from RFC 6455; the answer is not checked
        // because this client never trusts the connection with anything.
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             uid: {uid}\r\n{authorization}\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .context("sending the upgrade request")?;
        let mut head = Vec::new();
        let mut chunk = [0u8; 1024];
        let end = loop {
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .context("no handshake answer within 10 s")?
                .context("reading the handshake answer")?;
            if read == 0 {
                bail!("the server closed the connection during the handshake");
            }
            head.extend_from_slice(&chunk[..read]);
        };
        let status_line = String::from_utf8_lossy(&head[..end]);
        if !status_line.starts_with("HTTP/1.1 101") {
            bail!(
                "the upgrade was refused: {}",
                status_line.lines().next().unwrap_or("")
            );
        }
        Ok(Self {
            stream,
            buffered: head[end..].to_vec(),
            uid_base,
        })
    }

    /// This end's address: with the server's, it names the connection.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.stream
            .local_addr()
            .context("reading the client's address")
    }

    /// Sends one whole frame with this opcode and payload, masked as RFC
    /// 6455 section 5.3 asks of a client, whatever the payload holds.
    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<()> {
        self.stream
            .write_all(&client_frame(opcode, payload))
            .await
            .with_context(|| format!("sending a frame with opcode {opcode:#x}"))
    }

    /// Reads, without ever answering, until the server closes the connection
    /// or `within` passes. `None` means the connection was still open.
    pub async fn wait_until_dropped(mut self, within: Duration) -> Result<Option<Dropped>> {
        let started = Instant::now();
        let mut pings = 0;
        let mut close = None;
        let mut chunk = [0u8; 4096];
        loop {
            while let Some((opcode, payload)) = take_frame(&mut self.buffered) {
                match opcode {
                    opcode::PING => pings += 1,
                    opcode::CLOSE => close = Some(close_payload(&payload)),
                    _ => {}
                }
            }
            let left = within.saturating_sub(started.elapsed());
            let read = match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Err(_elapsed) => return Ok(None),
                Ok(Ok(read)) => read,
                // A reset ends the connection just as an orderly end does.
                Ok(Err(_)) => 0,
            };
            if read == 0 {
                return Ok(Some(Dropped {
                    after: started.elapsed(),
                    pings,
                    close,
                }));
            }
            self.buffered.extend_from_slice(&chunk[..read]);
        }
    }

    /// Reads nothing, and sends a ping every `every` until one cannot be
    /// sent: the server has cut the connection. Returns how long after the
    /// call that was, or `None` if the connection still took pings after
    /// `within`. A ping that cannot be sent is the only sign such a client
    /// gets: it does not read, so it sees no close frame and no end.
    pub async fn ping_until_cut(&mut self, every: Duration, within: Duration) -> Option<Duration> {
        let started = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(every);
        while started.elapsed() < within {
            tick.tick().await;
            if self.send_frame(opcode::PING, b"").await.is_err() {
                return Some(started.elapsed());
            }
        }
        None
    }

    /// Reads again, taking every frame, until a close frame, the end of the
    /// connection, or `within` with nothing more.
    pub async fn read_back(mut self, within: Duration) -> Result<ReadBack> {
        let mut texts = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            while let Some((opcode, payload)) = take_frame(&mut self.buffered) {
                match opcode {
                    opcode::TEXT => texts.push(crate::uids::inward(
                        self.uid_base,
                        &String::from_utf8_lossy(&payload),
                    )),
                    opcode::CLOSE => {
                        let end = seen_close(&Some(close_payload(&payload)));
                        return Ok(ReadBack { texts, end });
                    }
                    _ => {}
                }
            }
            let read = match tokio::time::timeout(within, self.stream.read(&mut chunk)).await {
                Err(_elapsed) => {
                    let end = Seen::Nothing;
                    return Ok(ReadBack { texts, end });
                }
                Ok(Ok(read)) => read,
                Ok(Err(_)) => 0,
            };
            if read == 0 {
                return Ok(ReadBack {
                    texts,
                    end: Seen::Ended,
                });
            }
            self.buffered.extend_from_slice(&chunk[..read]);
        }
    }
}

/// The code and reason of a close frame's payload; `None` for an empty one.
fn close_payload(payload: &[u8]) -> Option<(u16, String)> {
    (payload.len() >= 2).then(|| {
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        (code, String::from_utf8_lossy(&payload[2..]).into_owned())
    })
}

/// One final frame as a client must send it: masked (RFC 6455 section 5.2).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    // Any key will do: the server unmasks, and nobody else is listening.
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | (opcode & 0x0f)];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&KEY);
    frame.extend(payload.iter().zip(KEY.iter().cycle()).map(|(b, k)| b ^ k));
    frame
}

/// Removes one complete server frame (unmasked, RFC 6455 section 5.2) from
/// the front of `buffer`, returning its opcode and payload.
fn take_frame(buffer: &mut Vec<u8>) -> Option<(u8, Vec<u8>)> {
    let opcode = *buffer.first()? & 0x0f;
    let short_len = *buffer.get(1)? & 0x7f;
    let (len, header) = match short_len {
        126 => (
            u16::from_be_bytes([*buffer.get(2)?, *buffer.get(3)?]) as usize,
            4,
        ),
        127 => {
            let bytes: [u8; 8] = buffer.get(2..10)?.try_into().ok()?;
            (usize::try_from(u64::from_be_bytes(bytes)).ok()?, 10)
        }
        len => (len as usize, 2),
    };
    if buffer.len() < header + len {
        return None;
    }
    let payload = buffer[header..header + len].to_vec();
    buffer.drain(..header + len);
    Some((opcode, payload))
}

#[cfg(test)]
mod tests {
    use super::{client_frame, take_frame};

    #[test]
    fn takes_frames_one_at_a_time_and_waits_for_partial_ones() {
        // A ping with no payload, a close with code 1000, half of a text frame.
        let mut buffer = vec![0x89, 0x00, 0x88, 0x02, 0x03, 0xe8, 0x81, 0x05, b'h'];
        assert_eq!(take_frame(&mut buffer), Some((0x9, vec![])));
        assert_eq!(take_frame(&mut buffer), Some((0x8, vec![0x03, 0xe8])));
        assert_eq!(take_frame(&mut buffer), None);
        assert_eq!(buffer.len(), 3);
    }

    #[test]
    fn reads_a_16_bit_length() {
        let mut buffer = vec![0x82, 126, 0x01, 0x00];
        buffer.extend(std::iter::repeat_n(7u8, 256));
        let (opcode, payload) = take_frame(&mut buffer).expect("a whole frame");
        assert_eq!((opcode, payload.len()), (0x2, 256));
        assert!(buffer.is_empty());
    }

    #[test]
    fn client_frames_are_masked_and_unmask_to_the_payload() {
        let frame = client_frame(0x1, b"hi");
        assert_eq!(frame[0], 0x81, "final text frame");
        assert_eq!(frame[1], 0x80 | 2, "masked, 2 bytes");
        let key = &frame[2..6];
        let unmasked: Vec<u8> = frame[6..]
            .iter()
            .zip(key.iter().cycle())
            .map(|(b, k)| b ^ k)
            .collect();
        assert_eq!(unmasked, b"hi");
        let long = client_frame(0x1, &[0u8; 300]);
        assert_eq!((long[1], long[2], long[3]), (0x80 | 126, 0x01, 0x2c));
        assert_eq!(long.len(), 4 + 4 + 300);
    }
}
