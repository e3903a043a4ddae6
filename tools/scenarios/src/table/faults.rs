//! Faults a deployment meets: a reader that stops, a chatty client with Nagle on, a paused server.

use super::texts::*;
use super::*;

pub(super) fn stalled_reader() -> Row {
    ws(
        Expect::Defect {
            label: "kept",
            why: "the session waits in a write to a socket the client does not read, for as \
                  long as the client keeps the connection open: nothing bounds the wait",
            shows: list![Fact::NotDropped {
                who: std::borrow::Cow::Borrowed(STALLED),
                secs: STALL_LIMIT_SECS,
            }],
        },
        Expect::Defect {
            label: "kept",
            why: "the loop waits in a write to a socket the client does not read, so its \
                  heartbeat never runs; and the client's pings would count as life anyway",
            shows: list![Fact::NotDropped {
                who: std::borrow::Cow::Borrowed(STALLED),
                secs: STALL_LIMIT_SECS,
            }],
        },
        Expect::Works(list![
            Fact::DroppedWithin {
                who: std::borrow::Cow::Borrowed(STALLED),
                secs: STALL_LIMIT_SECS,
                event: Seen::Ended,
            },
            Fact::saw("user 3", Seen::text(USER_1_LEFT)),
            Fact::Logged {
                text: std::borrow::Cow::Borrowed(NOT_READING),
            },
            Fact::OthersChat { users: 2 },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn chatty_client() -> Row {
    ws(
        Expect::Works(list![
            Fact::NotPinged {
                who: std::borrow::Cow::Borrowed(CHATTY),
            },
            Fact::delivered("user 2", CHATTY_LINES),
        ]),
        Expect::Defect {
            label: "pings chatters",
            why: "the heartbeat pings every client every 5 s, chatting or not; a client with \
                  Nagle's algorithm on answers, then holds its next line for a delayed ACK",
            shows: list![
                Fact::Pinged {
                    who: std::borrow::Cow::Borrowed(CHATTY),
                },
                Fact::delivered("user 2", CHATTY_LINES),
            ],
        },
        Expect::Works(list![
            Fact::NotPinged {
                who: std::borrow::Cow::Borrowed(CHATTY),
            },
            Fact::delivered("user 2", CHATTY_LINES),
        ]),
    )
}

pub(super) fn paused_server() -> Row {
    ws(
        Expect::Works(list![
            Fact::Stayed {
                users: PAUSE_CLIENTS,
                secs: PAUSE_WATCH_SECS,
            },
            Fact::delivered("user 2, of user 1's lines,", PAUSE_LINES),
        ]),
        Expect::Defect {
            label: "drops everyone",
            why: "the heartbeat judges by the clock: after the pause every client's last \
                  pong looks older than `CLIENT_TIMEOUT`, every session is closed, and their \
                  senders stay in the map for the next broadcast to panic on",
            shows: list![Fact::saw("user 1", Seen::EmptyClose), PART3_STALE_SENDER],
        },
        Expect::Works(list![
            Fact::Stayed {
                users: PAUSE_CLIENTS,
                secs: PAUSE_WATCH_SECS,
            },
            Fact::delivered("user 2, of user 1's lines,", PAUSE_LINES),
        ]),
    )
}
