//! Leaving: every way a user can go, and what the others see.

use super::texts::*;
use super::*;

pub(super) fn user_leaves() -> Row {
    ws(
        Expect::Defect {
            label: "crashes",
            why: STALE_SENDER_WHY,
            shows: list![
                Fact::saw("user 1", Seen::close(1000, "bye")),
                PART2_STALE_SENDER,
            ],
        },
        Expect::Defect {
            label: "crashes",
            why: STALE_SENDER_WHY,
            shows: list![
                Fact::saw("user 1", Seen::close(1000, "bye")),
                PART3_STALE_SENDER,
            ],
        },
        Expect::Works(list![
            Fact::saw("user 1", Seen::close(1000, "bye")),
            Fact::saw("user 2", Seen::text(USER_1_LEFT)),
            Fact::OthersChat { users: 1 },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn close_handshake() -> Row {
    ws(
        LINGERS,
        LINGERS,
        Expect::Defect {
            label: "lingers (actix-http)",
            why: "the same linger; the only setting that ends it, a zero \
                  `client_disconnect_timeout`, also lets a reset destroy the close frames the \
                  server sends first, so part 4 keeps it",
            shows: list![
                Fact::saw("user 1", Seen::close(1000, "bye")),
                Fact::TcpLingered { ms: TCP_CLOSE_MS },
            ],
        },
    )
}

pub(super) fn client_vanishes() -> Row {
    ws(
        Expect::Defect {
            label: "spins",
            why: "`msg_stream.recv()` yields `None` forever and the loop never breaks: it \
                  spins a core and, never yielding, starves its worker thread",
            shows: list![Fact::Spinning],
        },
        Expect::Defect {
            label: "crashes",
            why: "the loop ends, but the vanished user's sender stays in the map and the \
                  next broadcast panics the server task",
            shows: list![Fact::Idle, PART3_STALE_SENDER],
        },
        Expect::Works(list![
            Fact::Idle,
            Fact::saw("user 2", Seen::text(USER_1_LEFT)),
            Fact::OthersChat { users: 1 },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn vanish_neighbours() -> Row {
    ws(
        Expect::Defect {
            label: "starves",
            why: "the vanished user's session spins and never yields, so the users who share \
                  its worker thread are not served",
            shows: list![Fact::Spinning, Fact::OthersUnserved],
        },
        Expect::Defect {
            label: "crashes",
            why: "the loop ends, but the vanished user's sender stays in the map and the \
                  first broadcast panics the server task",
            shows: list![Fact::Idle, PART3_STALE_SENDER],
        },
        Expect::Works(list![
            Fact::Idle,
            Fact::OthersChat { users: NEIGHBOURS },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn empty_close_frame() -> Row {
    ws(
        Expect::Defect {
            label: "unanswered, spins",
            why: "`Close(None)` has no reason to break with, so the close is never answered; \
                  when the client hangs up the loop spins as for a vanished client",
            shows: list![Fact::saw("user 1", Seen::Nothing), Fact::Spinning],
        },
        Expect::Defect {
            label: "crashes",
            why: "the close is answered and the loop ends, but the user's sender stays in \
                  the map and the next broadcast panics the server task",
            shows: list![
                Fact::saw("user 1", Seen::EmptyClose),
                Fact::Idle,
                PART3_STALE_SENDER,
            ],
        },
        Expect::Works(list![
            Fact::saw("user 1", Seen::EmptyClose),
            Fact::Idle,
            Fact::saw("user 2", Seen::text(USER_1_LEFT)),
            Fact::OthersChat { users: 1 },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn same_uid_twice() -> Row {
    ws(
        Expect::Defect {
            label: "spins",
            why: "the newer sender replaces the older in the map; the older session's \
                  channel yields `None` forever and it spins",
            shows: list![
                Fact::saw(
                    "the newer connection",
                    Seen::text("[UID: 1]: second connection")
                ),
                Fact::Spinning,
            ],
        },
        Expect::Works(list![
            Fact::saw(
                "the newer connection",
                Seen::text("[UID: 1]: second connection")
            ),
            Fact::Idle,
            Fact::saw("the older connection", Seen::EmptyClose),
            Fact::OthersChat { users: 2 },
            Fact::Healthy,
        ]),
        Expect::Works(list![
            Fact::saw(
                "the newer connection",
                Seen::text("[UID: 1]: second connection")
            ),
            Fact::Idle,
            Fact::saw("the older connection", Seen::close(1008, REPLACED)),
            Fact::OthersChat { users: 2 },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn half_open_client() -> Row {
    ws(
        Expect::Defect {
            label: "kept",
            why: "no heartbeat: a peer that is gone without a word is never noticed",
            shows: list![Fact::NotDropped {
                who: std::borrow::Cow::Borrowed(SILENT_CLIENT),
                secs: HALF_OPEN_WATCH_SECS,
            }],
        },
        Expect::Defect {
            label: "crashes",
            why: "the heartbeat drops the silent client, but its sender stays in the map \
                  and the next broadcast panics the server task",
            shows: list![
                Fact::DroppedWithin {
                    who: std::borrow::Cow::Borrowed(SILENT_CLIENT),
                    secs: HALF_OPEN_LIMIT_SECS,
                    event: Seen::EmptyClose,
                },
                PART3_STALE_SENDER,
            ],
        },
        Expect::Works(list![
            Fact::DroppedWithin {
                who: std::borrow::Cow::Borrowed(SILENT_CLIENT),
                secs: HALF_OPEN_LIMIT_SECS,
                event: Seen::close(1008, NO_ANSWER),
            },
            Fact::saw("user 2", Seen::text(USER_1_LEFT)),
            Fact::OthersChat { users: 1 },
            Fact::Healthy,
        ]),
    )
}
