//! A client that completes the WebSocket handshake and then never answers:
//! the server sees an open TCP connection whose peer is gone, the way a
//! laptop that lost its network looks from the other side.
//!
//! tungstenite answers pings whenever it reads, so this client speaks the
//! handshake itself and only ever reads raw frames.

use anyhow::{Context, Result, bail};
use scenarios::Seen;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An open WebSocket connection that never writes after the handshake.
pub struct SilentClient {
    stream: TcpStream,
    /// Bytes read past the handshake answer, not yet parsed.
    buffered: Vec<u8>,
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
        match &self.close {
            Some(Some((code, reason))) => Seen::Close {
                code: *code,
                reason: reason.clone().into(),
            },
            Some(None) => Seen::EmptyClose,
            None => Seen::Ended,
        }
    }
}

impl SilentClient {
    /// Opens `ws://addr/ws` with a `uid` header; fails unless the server
    /// answers `101 Switching Protocols`.
    pub async fn open(addr: SocketAddr, uid: &str) -> Result<Self> {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        // The key is the example from RFC 6455; the answer is not checked
        // because this client never trusts the connection with anything.
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             uid: {uid}\r\n\r\n"
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
        })
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
                    0x9 => pings += 1,
                    0x8 => {
                        close = Some((payload.len() >= 2).then(|| {
                            let code = u16::from_be_bytes([payload[0], payload[1]]);
                            (code, String::from_utf8_lossy(&payload[2..]).into_owned())
                        }));
                    }
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
    use super::take_frame;

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
}
