//! Checkpoint 1: the end of the blog's part 1.
//!
//! A `/healthcheck` route and the `WebSocketServer` that will own every user's
//! sender. Nothing spawns the server yet: part 2 does.

use actix_web::{App, HttpServer, Responder, web};
use std::collections::HashMap;
use tokio::sync::mpsc;

// ANCHOR: commands
type SessionStore = HashMap<i32, mpsc::UnboundedSender<String>>;

#[expect(dead_code, reason = "sessions start sending commands in part 2")]
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
#[expect(dead_code, reason = "part 2 creates and spawns the server in main")]
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
// Departure from the blog: its part 1 returns a `UserSessionFactory` from
// `new()` but only defines that type in part 2, so the code as printed does not
// compile. This is the smallest type that does: the factory holds just the
// sender. Part 2 derives `Clone` and adds `create_session`.
#[expect(dead_code, reason = "part 2 hands the factory to the /ws handler")]
struct UserSessionFactory {
    ws_server_sender: mpsc::UnboundedSender<WebSocketCommands>,
}
// ANCHOR_END: factory

// ANCHOR: healthcheck
async fn healthcheck() -> impl Responder {
    "rust-websocket-tutorial is live"
}
// ANCHOR_END: healthcheck

// ANCHOR: main
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::init_from_env(env_logger::Env::new().default_filter_or("info"));
    // Departure from the blog (which binds 0.0.0.0:5000): HOST and PORT may be
    // set so that tests can start several servers on free loopback ports.
    let host = std::env::var("HOST").unwrap_or_else(|_| "0.0.0.0".to_string());
    let port: u16 = std::env::var("PORT").map_or(5000, |port| {
        port.parse().expect("PORT must be a number from 1 to 65535")
    });

    log::info!("rust-websocket-tutorial will be running on http://{host}:{port}");
    let http_server = HttpServer::new(move || {
        App::new().service(web::resource("/healthcheck").route(web::get().to(healthcheck)))
    })
    .workers(2)
    .bind((host.as_str(), port))?
    .run();

    http_server.await?;

    Ok(())
}
// ANCHOR_END: main
