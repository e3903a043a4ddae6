//! The benchmark floor: the checkpoints' broadcast chat on plain tokio and
//! tokio-tungstenite, without actix.
//!
//! The benchmarks compare each actix checkpoint against this server to show
//! what the framework and the tutorial's design cost over the least a correct
//! chat has to do. So it speaks exactly the checkpoints' protocol, and the
//! same load generator and test harness drive it unchanged:
//!
//! - `GET /healthcheck` answers `rust-websocket-tutorial is live`;
//! - `GET /ws` upgrades to a WebSocket; the user id comes from the `uid`
//!   header, or else from a `?uid=` query parameter, and must be an `i32`
//!   (without one the upgrade completes and is closed with 1008);
//! - each text message from user N reaches every connected user, the sender
//!   included, as `[UID: N]: <text>`;
//! - binary messages are closed with 1003, messages over 64 KiB with 1009, a
//!   user with 256 messages waiting is dropped with 1008, and a newer
//!   connection with the same uid replaces the older one, closed with 1008.
//!
//! It deliberately leaves out what part4-hardening adds on top of that: rate
//! limits, join and leave notices, heartbeats, the byte limit on a user's
//! queue, `Origin` checks, the browser page and graceful shutdown (on a
//! signal the process just exits). Anything left out here is work the
//! checkpoints do that the floor does not, and the benchmarks should read
//! their numbers that way.
//!
//! - `http.rs`: the request head, `/healthcheck` and the checks of an upgrade;
//! - `websocket.rs`: one user's connection, a reader and a writer task;
//! - `room.rs`: the users and their queues, and the broadcast.

mod http;
mod room;
mod websocket;

use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The largest message accepted, whole or in fragments, as in part4-hardening.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// How many messages may wait for one user before the user is dropped.
const OUTBOX_CAPACITY: usize = 256;
/// How long a close frame may take to go out, and then how long the client
/// may take to hang up before the connection is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

// Close reasons, worded as in part4-hardening where it has the same rule.
// Each must fit a control frame: at most 123 bytes.
const UID_REQUIRED: &str =
    "a numeric uid is required: send a uid header or a ?uid= query parameter";
const REPLACED: &str = "replaced by a newer connection with the same uid";
const TOO_SLOW: &str = "too slow: more than 256 messages were waiting";
const TOO_BIG: &str = "messages are limited to 65536 bytes";
const TEXT_ONLY: &str = "only text messages are supported";
const NOT_UTF8: &str = "text messages must be valid UTF-8";

/// One worker thread per actix worker: the checkpoints run `.workers(2)`, so
/// the floor gets the same two threads and the comparison is about the code,
/// not the core count.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    env_logger::init_from_env(env_logger::Env::new().default_filter_or("info"));

    let host = std::env::var("HOST").unwrap_or_else(|_| "0.0.0.0".to_string());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .with_context(|| format!("PORT must be a number from 1 to 65535, not {port:?}"))?,
        Err(std::env::VarError::NotPresent) => 5000,
        Err(err) => return Err(err).context("reading PORT"),
    };
    let listener = TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("binding {host}:{port}"))?;
    log::info!("Server will be live on http://{host}:{port}");

    let room = Arc::new(room::Room::default());
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(http::handle_connection(stream, peer, Arc::clone(&room)));
            }
            Err(err) => {
                // Out of file descriptors, most likely: wait rather than spin.
                log::warn!("accepting a connection: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_fit_a_close_frame_and_agree_with_limits() {
        for reason in [
            UID_REQUIRED,
            REPLACED,
            TOO_SLOW,
            TOO_BIG,
            TEXT_ONLY,
            NOT_UTF8,
        ] {
            assert!(reason.len() <= 123, "{reason:?} is too long");
        }
        assert_eq!(
            TOO_SLOW,
            format!("too slow: more than {OUTBOX_CAPACITY} messages were waiting")
        );
        assert_eq!(
            TOO_BIG,
            format!("messages are limited to {MAX_MESSAGE_BYTES} bytes")
        );
    }
}
