//! One WebSocket connection: a reader (the connection's task) and a writer task.

use crate::http::hang_up;
use crate::room::{Outbox, Room, close_frame};
use crate::{
    CLOSE_TIMEOUT, MAX_MESSAGE_BYTES, NOT_UTF8, OUTBOX_CAPACITY, TEXT_ONLY, TOO_BIG, UID_REQUIRED,
};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// Each connection's read buffer. tungstenite allocates it up front and its
/// default is 128 KiB, which would make the floor look heavy per connection;
/// frames larger than this still arrive whole, the buffer grows for them.
const READ_BUFFER_BYTES: usize = 4 * 1024;

type Ws = WebSocketStream<TcpStream>;
type WsSink = SplitSink<Ws, Message>;

/// Completes a WebSocket upgrade and serves the connection.
pub(crate) async fn serve_websocket(
    mut stream: TcpStream,
    peer: SocketAddr,
    accept: &str,
    uid: Option<i32>,
    room: Arc<Room>,
) {
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if let Err(err) = stream.write_all(response.as_bytes()).await {
        log::debug!("{peer}: answering the WebSocket upgrade: {err}");
        return;
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let mut ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;

    match uid {
        Some(uid) => serve_user(ws, uid, room).await,
        None => {
            // As part4-hardening: the upgrade completes, then a 1008 that
            // says what to send.
            let close = Message::Close(Some(close_frame(CloseCode::Policy, UID_REQUIRED)));
            match timeout(CLOSE_TIMEOUT, ws.send(close)).await {
                Ok(Ok(())) => hang_up(ws.get_mut()).await,
                Ok(Err(err)) => log::debug!("{peer}: closing a connection without uid: {err}"),
                Err(_) => log::debug!("{peer}: did not take its close frame in time"),
            }
        }
    }
}

/// Serves one user until either side ends the connection.
///
/// The reader runs here: it broadcasts what the client sends, and ends on
/// the client's close, a bad frame, or the writer's end. The writer runs in
/// its own task, so a client that does not read never holds up its reads,
/// and other users never wait on it at all (they only `try_send`).
async fn serve_user(ws: Ws, uid: i32, room: Arc<Room>) {
    let (sink, mut source) = ws.split();
    let conn_id = room.new_conn_id();
    let (queue, queue_receiver) = mpsc::channel(OUTBOX_CAPACITY);
    let (kick, kicked) = oneshot::channel();
    let (stop_writer, reader_stopped) = oneshot::channel();
    room.join(
        uid,
        Outbox {
            conn_id,
            queue,
            kick,
        },
    );
    let stop = Stop {
        reader: reader_stopped,
        kick: kicked,
    };
    let mut writer = tokio::spawn(write_loop(uid, sink, queue_receiver, stop));

    let mut writer_ended = None;
    let reason = loop {
        tokio::select! {
            // Cancel safe: the stream keeps its state, not the future.
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => room.broadcast(uid, &text),
                Some(Ok(Message::Binary(_))) => break Some(close_frame(CloseCode::Unsupported, TEXT_ONLY)),
                // tungstenite has queued the echo of the client's close frame;
                // the next read sends it, and then the stream ends.
                Some(Ok(Message::Close(_))) => {}
                // Pings are answered by tungstenite as it reads; pongs and
                // raw frames need nothing.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // A frame over `max_frame_size` or a message over `max_message_size`.
                Some(Err(WsError::Capacity(err))) => {
                    log::debug!("user {uid}: {err}");
                    break Some(close_frame(CloseCode::Size, TOO_BIG));
                }
                Some(Err(WsError::Utf8(_))) => break Some(close_frame(CloseCode::Invalid, NOT_UTF8)),
                // The client hung up without a close frame: nobody to tell.
                Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                    log::debug!("user {uid}: hung up without a close frame");
                    break None;
                }
                Some(Err(WsError::Protocol(err))) => {
                    log::warn!("user {uid}: WebSocket protocol error: {err}");
                    break Some(CloseFrame { code: CloseCode::Protocol, reason: Utf8Bytes::default() });
                }
                Some(Err(err)) => {
                    log::debug!("user {uid}: connection lost: {err}");
                    break None;
                }
                None => break None,
            },
            // The writer ended first: it was told to close (replaced, too
            // slow) or could not write. Nothing is left to say.
            ended = &mut writer, if writer_ended.is_none() => {
                writer_ended = Some(ended);
                break None;
            }
        }
    };

    // Before leaving the room, whose entry holds the kick and the queue:
    // see `Stop::wait`.
    let _ = stop_writer.send(reason);
    room.leave(uid, conn_id);

    let ended = match writer_ended {
        Some(ended) => Some(ended),
        // The writer bounds its close frame by `CLOSE_TIMEOUT` itself; this
        // is only a backstop.
        None => match timeout(CLOSE_TIMEOUT * 2, &mut writer).await {
            Ok(ended) => Some(ended),
            Err(_) => {
                writer.abort();
                None
            }
        },
    };
    match ended {
        Some(Ok(sink)) => match source.reunite(sink) {
            Ok(mut ws) => hang_up(ws.get_mut()).await,
            Err(err) => log::error!("user {uid}: the socket's halves do not match: {err}"),
        },
        Some(Err(err)) => log::error!("user {uid}: the writer task failed: {err}"),
        None => log::debug!("user {uid}: the writer did not finish in time"),
    }
}

/// How a connection's writer learns that it must stop, and with what frame.
struct Stop {
    /// From the reader, when the connection ends on its side.
    reader: oneshot::Receiver<Option<CloseFrame>>,
    /// From the room: replaced by a newer connection, or too slow.
    kick: oneshot::Receiver<CloseFrame>,
}

impl Stop {
    /// The close frame to end with, if any. Cancel safe: the receivers are
    /// polled by reference and keep their value.
    async fn wait(&mut self) -> Option<CloseFrame> {
        tokio::select! {
            // The reader first: it sends its reason and only then leaves the
            // room, which drops the entry and with it the kick's sender.
            biased;
            from_reader = &mut self.reader => from_reader.ok().flatten(),
            // An entry leaves the room without a kick only when the reader
            // leaves, whose reason the arm above has already taken.
            kick = &mut self.kick => kick.ok(),
        }
    }
}

/// Writes the user's queue to the client until told to close, then hands
/// the sink back so that the connection can be ended cleanly.
///
/// Batching: after waiting for one message it `feed`s every message already
/// queued (up to a queue's worth) and `flush`es once, so a burst costs a few
/// large writes instead of one system call per message.
async fn write_loop(
    uid: i32,
    mut sink: WsSink,
    mut queue: mpsc::Receiver<Utf8Bytes>,
    mut stop: Stop,
) -> WsSink {
    loop {
        // `biased`: stopping wins over queued messages. Both arms are cancel
        // safe.
        let first = tokio::select! {
            biased;
            frame = stop.wait() => return send_close(uid, sink, frame).await,
            message = queue.recv() => match message {
                Some(message) => message,
                // Out of the room without a reason: the connection is over.
                None => return sink,
            },
        };
        let batch = async {
            sink.feed(Message::Text(first)).await?;
            for _ in 1..OUTBOX_CAPACITY {
                let Ok(next) = queue.try_recv() else { break };
                sink.feed(Message::Text(next)).await?;
            }
            sink.flush().await
        };
        // A client that stops reading blocks the write; the kick (from the
        // room, once the queue is full) must still get through.
        // Cancelling the write loses only messages the user is being
        // dropped for not reading.
        let interrupted = tokio::select! {
            biased;
            frame = stop.wait() => Some(frame),
            written = batch => match written {
                Ok(()) => None,
                Err(err) => {
                    log::debug!("user {uid}: writing: {err}");
                    return sink;
                }
            },
        };
        if let Some(frame) = interrupted {
            return send_close(uid, sink, frame).await;
        }
    }
}

/// Sends `frame` (if any) as the close frame, within `CLOSE_TIMEOUT`.
async fn send_close(uid: i32, mut sink: WsSink, frame: Option<CloseFrame>) -> WsSink {
    let Some(frame) = frame else {
        return sink;
    };
    match timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => log::debug!("user {uid}: sending the close frame: {err}"),
        Err(_) => log::debug!("user {uid}: did not take its close frame in time"),
    }
    sink
}
