//! For unit tests that stand up a tiny WebSocket server in process.

use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// Completes the WebSocket handshake on `stream` and returns the socket with
/// the `uid` header the client sent (`?` when it sent none).
pub(crate) async fn accept_with_uid(
    stream: TcpStream,
) -> Result<(WebSocketStream<TcpStream>, String), tungstenite::Error> {
    let mut uid = String::new();
    // The callback's type is tungstenite's, a large error included.
    #[allow(clippy::result_large_err)]
    let read_uid = |request: &Request, response: Response| {
        let header = request.headers().get("uid");
        uid = header.and_then(|v| v.to_str().ok()).unwrap_or("?").into();
        Ok(response)
    };
    let ws = tokio_tungstenite::accept_hdr_async(stream, read_uid).await?;
    Ok((ws, uid))
}
