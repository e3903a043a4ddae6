//! Checkpoint 3: part2 with the run loop of the actix `chat-actorless` example.
//!
//! The session's run loop changes: instead of merging the server channel and
//! the client stream into one stream, it nests `futures_util::future::select`
//! over them and a heartbeat tick, as the example does, and so the helper
//! enum and methods part2's loop needed are gone and the heartbeat constants
//! are new. The server task, the handler and `main` are part2's, defects
//! included, so the scenario table shows which defects the loop style removes
//! and which live elsewhere.

use actix_web::{App, Error, HttpRequest, HttpResponse, HttpServer, Responder, web};
use actix_ws::{CloseReason, Message, MessageStream};
use futures_util::future::{Either, select};
use futures_util::{StreamExt, try_join};
use std::collections::HashMap;
use std::pin::pin;
use std::time::{Duration, Instant};
use tokio::{spawn, sync::mpsc, task::spawn_local};

// ANCHOR: commands
type SessionStore = HashMap<i32, mpsc::UnboundedSender<String>>;

enum WebSocketCommands {
    UserConnect {
        user_id: i32,
        user_sender: mpsc::UnboundedSender<String>,
    },
    UserMessage {
        user_id: i32,
        user_message: String,
    },
}
// ANCHOR_END: commands

// ANCHOR: server-struct
struct WebSocketServer {
    session_store: SessionStore,
    ws_server_receiver: mpsc::UnboundedReceiver<WebSocketCommands>,
}
// ANCHOR_END: server-struct

// ANCHOR: server-impl
impl WebSocketServer {
    fn new() -> (Self, UserSessionFactory) {
        let (ws_server_sender, ws_server_receiver) = mpsc::unbounded_channel::<WebSocketCommands>();
        let server = Self {
            session_store: SessionStore::new(),
            ws_server_receiver,
        };
        let session_factory = UserSessionFactory { ws_server_sender };
        (server, session_factory)
    }

    // ANCHOR: user-connect
    async fn user_connect(&mut self, user_id: i32, user_sender: mpsc::UnboundedSender<String>) {
        self.session_store.insert(user_id, user_sender);
    }
    // ANCHOR_END: user-connect

    // ANCHOR: user-sends-message
    async fn user_sends_message(&mut self, user_id: i32, message: String) {
        for (_, user_sender) in self.session_store.iter() {
            user_sender
                .send(format!("[UID: {}]: {}", user_id, message.clone()))
                .unwrap();
        }
    }
    // ANCHOR_END: user-sends-message

    // ANCHOR: server-run
    async fn run(mut self) -> std::io::Result<()> {
        use WebSocketCommands::*;
        while let Some(msg) = self.ws_server_receiver.recv().await {
            match msg {
                UserConnect {
                    user_id,
                    user_sender,
                } => self.user_connect(user_id, user_sender).await,
                UserMessage {
                    user_id,
                    user_message,
                } => self.user_sends_message(user_id, user_message).await,
            }
        }
        Ok(())
    }
    // ANCHOR_END: server-run
}
// ANCHOR_END: server-impl

// ANCHOR: factory
#[derive(Clone)]
struct UserSessionFactory {
    ws_server_sender: mpsc::UnboundedSender<WebSocketCommands>,
}

impl UserSessionFactory {
    fn create_session(&self, user_id: i32, session: actix_ws::Session) -> UserSession {
        let ws_server_sender = self.ws_server_sender.clone();
        UserSession {
            user_id,
            ws_server_sender,
            session,
        }
    }
}
// ANCHOR_END: factory

// ANCHOR: session-struct
struct UserSession {
    user_id: i32,
    ws_server_sender: mpsc::UnboundedSender<WebSocketCommands>,
    session: actix_ws::Session,
}
// ANCHOR_END: session-struct

// ANCHOR: heartbeat
/// How often the session pings its client.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// A client that has sent no ping or pong for this long is dropped.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
// ANCHOR_END: heartbeat

impl UserSession {
    // ANCHOR: handle-server-message
    async fn handle_server_message(&mut self, msg: Option<String>) {
        let Some(msg) = msg else {
            return;
        };
        self.session.text(msg).await.unwrap();
    }
    // ANCHOR_END: handle-server-message

    // ANCHOR: session-run
    /// The session's run loop in the style of the actix `chat-actorless`
    /// example: a `select` of the client stream and the server channel, nested
    /// in a `select` with the heartbeat tick, matched on nested `Either`s.
    ///
    /// Cost per message, compared with part2's merged streams:
    /// - Both styles build their futures anew on every iteration; here that is
    ///   a `recv`, a `next`, a `tick` and two `Select`s, all on the stack, so
    ///   neither style allocates per message.
    /// - `select` polls its left side first, every time: client frames before
    ///   chat messages, and both before the tick. merge-streams picks a random
    ///   stream first on each poll, so under load neither source is favoured.
    /// - `select` needs `Unpin` futures, hence `pin!` on those that are not
    ///   (`next()` already is). part2 needed no pinning only because
    ///   merge-streams declares its merged stream `Unpin` whatever it holds.
    /// - Every arm here either awaits something new or breaks, so the loop
    ///   cannot spin on a source that is finished.
    async fn run(mut self, mut msg_stream: MessageStream) {
        use WebSocketCommands::*;
        let (session_sender, mut session_receiver) = mpsc::unbounded_channel::<String>();
        let user_sender = session_sender;
        let user_id = self.user_id;
        self.ws_server_sender
            .send(UserConnect {
                user_id,
                user_sender,
            })
            .unwrap();

        let mut last_heartbeat = Instant::now();
        let mut interval = tokio::time::interval(HEARTBEAT_INTERVAL);

        let reason = loop {
            // `select` takes `Unpin` futures; those that are not are pinned here.
            let tick = pin!(interval.tick());
            let server_msg = pin!(session_receiver.recv());
            let messages = pin!(select(msg_stream.next(), server_msg));

            match select(messages, tick).await {
                // A frame from the client.
                Either::Left((Either::Left((Some(Ok(msg)), _)), _)) => match msg {
                    Message::Text(text) => {
                        self.ws_server_sender
                            .send(UserMessage {
                                user_id: self.user_id,
                                user_message: text.to_string(),
                            })
                            .unwrap();
                    }
                    Message::Ping(bytes) => {
                        last_heartbeat = Instant::now();
                        // A failed pong means the connection is gone; the
                        // stream's end breaks the loop on the next turn.
                        let _ = self.session.pong(&bytes).await;
                    }
                    Message::Pong(_) => last_heartbeat = Instant::now(),
                    Message::Close(reason) => break reason,
                    // Binary and continuation frames are not part of this chat.
                    _ => {}
                },

                // The client's stream failed.
                Either::Left((Either::Left((Some(Err(err)), _)), _)) => {
                    log::warn!("user {user_id}: WebSocket error: {err}");
                    break None;
                }

                // The client's stream ended.
                Either::Left((Either::Left((None, _)), _)) => break None,

                // A chat message from the server for this user.
                Either::Left((Either::Right((Some(msg), _)), _)) => {
                    self.handle_server_message(Some(msg)).await;
                }

                // The server dropped this user's sender (another session took
                // the uid). The actix example calls `unreachable!` here; ending
                // the session is what a user would expect.
                Either::Left((Either::Right((None, _)), _)) => break None,

                // The heartbeat tick: drop a silent client, else ping it.
                Either::Right((_instant, _)) => {
                    if Instant::now().duration_since(last_heartbeat) > CLIENT_TIMEOUT {
                        log::info!("user {user_id}: no heartbeat for {CLIENT_TIMEOUT:?}, dropping");
                        break None;
                    }
                    let _ = self.session.ping(b"").await;
                }
            }
        };
        // The connection may already be gone (the stream ended); nothing to report then.
        let _ = self.session.close(reason).await;
    }
    // ANCHOR_END: session-run
}

// ANCHOR: uid-header
#[expect(
    clippy::map_flatten,
    clippy::let_and_return,
    reason = "the blog's form; idiomatic: `.and_then(|v| v.to_str().ok())` \
              and returning the chain directly"
)]
pub fn get_uid_from_header(req: HttpRequest) -> Option<i32> {
    let uid = req
        .headers()
        .get("uid")
        .map(|v| v.to_str().ok())
        .flatten()
        .map(|s| s.to_string())
        .map(|s| s.parse::<i32>().ok())
        .flatten();
    uid
}
// ANCHOR_END: uid-header

// ANCHOR: chat-ws
async fn chat_ws(
    req: HttpRequest,
    stream: web::Payload,
    session_factory: web::Data<UserSessionFactory>,
) -> Result<HttpResponse, Error> {
    let (res, session, msg_stream) = actix_ws::handle(&req, stream)?;
    let Some(uid) = get_uid_from_header(req) else {
        session
            .close(Some(CloseReason {
                code: actix_ws::CloseCode::Error,
                description: Some("uid is missing".to_string()),
            }))
            .await
            .unwrap();
        return Ok(res);
    };
    let session = session_factory.create_session(uid, session);
    spawn_local(session.run(msg_stream));

    Ok(res)
}
// ANCHOR_END: chat-ws

// ANCHOR: healthcheck
async fn healthcheck() -> impl Responder {
    "rust-websocket-tutorial is live"
}
// ANCHOR_END: healthcheck

// ANCHOR: main
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::init_from_env(env_logger::Env::new().default_filter_or("info"));

    // ANCHOR: spawn-server
    let (websocket_server, session_factory) = WebSocketServer::new();

    let websocket_server = spawn(websocket_server.run());
    // ANCHOR_END: spawn-server
    // Departure from the blog (which binds 0.0.0.0:5000): HOST and PORT may be
    // set so that tests can start several servers on free loopback ports.
    let host = std::env::var("HOST").unwrap_or_else(|_| "0.0.0.0".to_string());
    let port: u16 = std::env::var("PORT").map_or(5000, |port| {
        port.parse().expect("PORT must be a number from 1 to 65535")
    });

    log::info!("Server will be live on http://{host}:{port}");
    let http_server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(session_factory.clone()))
            .service(web::resource("/healthcheck").route(web::get().to(healthcheck)))
            .service(web::resource("/ws").route(web::get().to(chat_ws)))
    })
    .workers(2)
    .bind((host.as_str(), port))?
    .run();

    // ANCHOR: try-join
    try_join!(http_server, async move { websocket_server.await.unwrap() })?;
    // ANCHOR_END: try-join
    Ok(())
}
// ANCHOR_END: main
