//! Checkpoint 2: the end of the blog's part 2.
//!
//! Every user gets a `UserSession` task that merges two sources, the server's
//! channel and the client's WebSocket stream, into one stream. The server task
//! owns the map of users and broadcasts every message to all of them.
//!
//! This is the blog's code and it keeps the blog's defects on purpose: the
//! scenario table in `tools/scenarios` lists them and later parts fix them.

use actix_web::{App, Error, HttpRequest, HttpResponse, HttpServer, Responder, web};
use actix_ws::{CloseReason, Message, MessageStream, ProtocolError};
use futures_util::{FutureExt, StreamExt, try_join};
use merge_streams::MergeStreams;
use std::collections::HashMap;
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

// ANCHOR: session-message-enum
enum UserSessionMessage {
    SessionMessage(Option<Result<Message, ProtocolError>>),
    ServerMessage(Option<String>),
}
// ANCHOR_END: session-message-enum

impl UserSession {
    // ANCHOR: handle-server-message
    async fn handle_server_message(&mut self, msg: Option<String>) {
        let Some(msg) = msg else {
            return;
        };
        self.session.text(msg).await.unwrap();
    }
    // ANCHOR_END: handle-server-message

    // ANCHOR: handle-session-message
    #[expect(
        clippy::needless_return,
        clippy::question_mark,
        reason = "the blog's form; idiomatic: `let Ok(msg) = msg? else { return None };` \
                  and each arm's value without `return`"
    )]
    async fn handle_session_message(
        &self,
        msg: Option<Result<Message, ProtocolError>>,
    ) -> Option<CloseReason> {
        use Message::*;
        use WebSocketCommands::*;
        // ANCHOR: session-message-none
        let Some(msg) = msg else {
            return None;
        };
        // ANCHOR_END: session-message-none
        let Ok(msg) = msg else {
            return None;
        };
        match msg {
            Text(text) => {
                self.ws_server_sender
                    .send(UserMessage {
                        user_id: self.user_id,
                        user_message: text.to_string(),
                    })
                    .unwrap();
                return None;
            }
            Close(reason) => return reason,
            _ => return None,
        };
    }
    // ANCHOR_END: handle-session-message

    // ANCHOR: session-run
    async fn run(mut self, mut msg_stream: MessageStream) {
        use UserSessionMessage::*;
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

        let reason = loop {
            // ANCHOR: merge
            let server_stream = session_receiver.recv().into_stream().map(ServerMessage);
            let session_stream = msg_stream.recv().into_stream().map(SessionMessage);
            let mut stream = (server_stream, session_stream).merge();
            let Some(msg) = stream.next().await else {
                continue;
            };
            // ANCHOR_END: merge
            match msg {
                // ANCHOR: session-message-arm
                SessionMessage(msg) => {
                    if let Some(reason) = self.handle_session_message(msg).await {
                        break reason;
                    };
                }
                // ANCHOR_END: session-message-arm
                ServerMessage(msg) => self.handle_server_message(msg).await,
            };
        };
        self.session.close(Some(reason)).await.unwrap();
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
    // ANCHOR: missing-uid-close
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
    // ANCHOR_END: missing-uid-close
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
