//! The chat room: the users, each with a bounded queue, and the broadcast.

use crate::{REPLACED, TOO_SLOW};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What the room keeps for one connected user.
pub(crate) struct Outbox {
    /// Which connection this is, so that a departing connection removes its
    /// own entry and never a newer one's with the same uid.
    pub(crate) conn_id: u64,
    /// The user's queue, bounded: a user who stops reading costs at most
    /// `OUTBOX_CAPACITY` messages, then is dropped.
    pub(crate) queue: mpsc::Sender<Utf8Bytes>,
    /// Tells the connection's writer to close with this frame; unlike the
    /// queue above, it can never be full.
    pub(crate) kick: oneshot::Sender<CloseFrame>,
}

/// The users, shared by every connection.
///
/// A map behind a `std::sync::Mutex` rather than a server task that owns it
/// (the checkpoints' design): a broadcast never waits (it is a loop of
/// `try_send`s), so the lock is held for microseconds and never across an
/// `.await`, and the reader that received a message delivers it itself. A
/// server task would add a channel hop and a task wake-up to every message
/// and would serialise all broadcasts on one task anyway.
#[derive(Default)]
pub(crate) struct Room {
    users: Mutex<HashMap<i32, Outbox>>,
    next_conn_id: AtomicU64,
}

impl Room {
    fn users(&self) -> MutexGuard<'_, HashMap<i32, Outbox>> {
        // Nothing panics while holding the lock, and every update leaves the
        // map whole anyway, so a poisoned lock is still a good map.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn new_conn_id(&self) -> u64 {
        // Relaxed is enough: the ids only need to be distinct.
        self.next_conn_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a user; an older connection with the same uid is closed.
    pub(crate) fn join(&self, uid: i32, outbox: Outbox) {
        let older = self.users().insert(uid, outbox);
        if let Some(older) = older {
            log::debug!("user {uid}: {REPLACED}");
            let _ = older.kick.send(close_frame(CloseCode::Policy, REPLACED));
        }
    }

    /// Removes a user's entry if it is still this connection's.
    pub(crate) fn leave(&self, uid: i32, conn_id: u64) {
        let mut users = self.users();
        if users.get(&uid).is_some_and(|user| user.conn_id == conn_id) {
            let gone = users.remove(&uid);
            // Unlocked first: dropping the entry wakes the writer.
            drop(users);
            drop(gone);
        }
    }

    /// Sends `[UID: uid]: text` to every user, the sender included.
    pub(crate) fn broadcast(&self, uid: i32, text: &str) {
        // One allocation for the line, shared by every recipient: cloning
        // `Utf8Bytes` bumps a reference count. It plays the part of an
        // `Arc<str>`, and unlike one it becomes a `Message::Text` without a
        // copy per recipient (tungstenite's messages carry `Utf8Bytes`).
        let prefix = format!("[UID: {uid}]: ");
        let mut line = String::with_capacity(prefix.len() + text.len());
        line.push_str(&prefix);
        line.push_str(text);
        let line = Utf8Bytes::from(line);

        // Users whose queue is full (`true`) or already closed (`false`).
        let mut dropped = Vec::new();
        let removed: Vec<(i32, bool, Outbox)> = {
            let mut users = self.users();
            for (&id, user) in users.iter() {
                match user.queue.try_send(line.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => dropped.push((id, true)),
                    Err(TrySendError::Closed(_)) => dropped.push((id, false)),
                }
            }
            dropped
                .into_iter()
                .filter_map(|(id, too_slow)| Some((id, too_slow, users.remove(&id)?)))
                .collect()
        };
        // Unlocked. The kick goes in while the rest of the entry (its queue)
        // is still alive, so the writer sees the reason before the end.
        for (id, too_slow, user) in removed {
            if too_slow {
                log::info!("user {id}: {TOO_SLOW}; dropping");
                let _ = user.kick.send(close_frame(CloseCode::Policy, TOO_SLOW));
            }
        }
    }
}

pub(crate) fn close_frame(code: CloseCode, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }
}
