//! The texts the checkpoints send and the cells several rows share, as the
//! tests must see them.

use super::*;

// Texts the checkpoints send, as the tests must see them.
pub(super) const HEALTHCHECK_TEXT: &str = "rust-websocket-tutorial is live";
pub(super) const UID_MISSING: &str = "uid is missing";
pub(super) const UID_REQUIRED: &str =
    "a numeric uid is required: send a uid header or a ?uid= query parameter";
pub(super) const REPLACED: &str = "replaced by a newer connection with the same uid";
pub(super) const TOO_SLOW: &str = "too slow: more than 256 messages or 512 KiB were waiting";
pub(super) const TOO_BIG: &str = "messages are limited to 65536 bytes";
pub(super) const TEXT_ONLY: &str = "only text messages are supported";
pub(super) const NO_ANSWER: &str = "no answer to 2 pings";
pub(super) const NOT_UTF8: &str = "text messages must be valid UTF-8";
pub(super) const BAD_FRAME: &str = "that frame breaks the WebSocket protocol";
pub(super) const FOREIGN_ORIGIN_BODY: &str = "this chat accepts WebSockets from its own pages only";
pub(super) const TOO_MANY_NEW: &str =
    "too many new connections from your address: at most 10 a second";
pub(super) const TOO_MANY_OPEN: &str = "too many connections from your address: at most 64 at once";
pub(super) const NOT_READING: &str =
    "user 1: not reading: a frame waited 10 s to be taken; cutting the connection";
pub(super) const BAD_PORT_LINE: &str = "error: PORT must be a number from 1 to 65535, not \"abc\"";
pub(super) const BAD_PORT_PANIC: &str =
    "PORT must be a number from 1 to 65535: ParseIntError { kind: InvalidDigit }";
pub(super) const SHUTTING_DOWN: &str = "server is shutting down";
pub(super) const TOO_FAST: &str = "kept sending too fast after a warning";
pub(super) const USER_1_LEFT: &str = "[server]: user 1 left";
pub(super) const LINK_LOST: &str = "[server]: lost contact with the other nodes: messages may not reach \
                                    them, or theirs you, until contact is back";
pub(super) const LINK_BACK: &str =
    "[server]: in contact with the other nodes again; messages sent meanwhile may have been lost";
pub(super) const REDIS_UNREACHABLE: &str = "REDIS_URL is set, but no Redis answers there: start \
                                            redis-server, or unset REDIS_URL to run this node alone";

// Part 6's refusals (its `identity.rs`).
pub(super) const NO_TOKEN: &str = "log in first: send `Authorization: Bearer <token>` (POST /login gives \
                                   one) or log in on the page";
pub(super) const BAD_TOKEN: &str =
    "this token was not issued by this chat, or was changed: log in again";
pub(super) const EXPIRED_TOKEN: &str = "this token has expired: log in again";
pub(super) const WRONG_PASSWORD: &str = "wrong name or password";
pub(super) const LOGIN_LIMITED: &str =
    "too many login attempts from your address: try again in 12 s";
pub(super) const TOKEN_COOKIE: &str =
    "chat_token=<token>; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200";

pub(super) const SEND_ERROR: &str = "called `Result::unwrap()` on an `Err` value: SendError { .. }";
/// `main`'s `unwrap` of the server task's `JoinError`, task id written as `..`.
pub(super) const JOIN_ERROR: &str = "called `Result::unwrap()` on an `Err` value: JoinError::Panic(Id(..), \
                                     \"called `Result::unwrap()` on an `Err` value: SendError { .. }\", ...)";

pub(super) const PART2_STALE_SENDER: Fact = stale_sender_crash!("part2/src/main.rs");
pub(super) const PART3_STALE_SENDER: Fact =
    stale_sender_crash!("part3-select-comparison/src/main.rs");

/// Who the half-open scenario watches.
pub(super) const SILENT_CLIENT: &str = "the silent client";
/// Who the chatty-client scenario watches.
pub(super) const CHATTY: &str = "user 1, who sent a line every 500 ms";

/// Who the stalled-reader scenario watches.
pub(super) const STALLED: &str = "user 1, who stopped reading but kept pinging";

pub(super) const NO_WS_ROUTE: Expect = Expect::NotApplicable("no /ws route until part 2");
pub(super) const HEALTHY: Expect = Expect::Works(list![Fact::Answered {
    path: std::borrow::Cow::Borrowed("/healthcheck"),
    status: 200,
    body: std::borrow::Cow::Borrowed(HEALTHCHECK_TEXT),
}]);
pub(super) const BOTH_RECEIVED: Expect = Expect::Works(list![
    Fact::saw("user 1", Seen::text("[UID: 1]: hello")),
    Fact::saw("user 2", Seen::text("[UID: 1]: hello")),
]);
pub(super) const UID_REQUIRED_1008: Expect = Expect::Works(list![
    Fact::saw("the client", Seen::close(1008, UID_REQUIRED)),
    Fact::Healthy,
]);
pub(super) const UNBOUNDED: Expect = Expect::Defect {
    label: "grows",
    why: "every user's queue is unbounded: what a reader does not take piles up in server memory",
    shows: list![Fact::MemoryAbove {
        mib: SLOW_LIMIT_MIB,
    }],
};
pub(super) const UNBOUNDED_LARGE: Expect = Expect::Defect {
    label: "grows",
    why: "every user's queue is unbounded, in messages and in bytes",
    shows: list![Fact::MemoryAbove {
        mib: LARGE_LIMIT_MIB,
    }],
};
pub(super) const HEADER_ONLY: Expect = Expect::Defect {
    label: "header only",
    why: "the uid is read from the header only, which a browser's WebSocket cannot send",
    shows: list![Fact::saw(
        "the browser-style client",
        Seen::close(1011, UID_MISSING),
    )],
};
pub(super) const NO_GOODBYE: Expect = Expect::Defect {
    label: "no goodbye",
    why: "actix-web waits up to 30 s for open connections on SIGTERM and nobody tells the clients",
    shows: list![
        Fact::saw("client 1", Seen::Nothing),
        Fact::saw("client 2", Seen::Nothing),
        Fact::saw("client 3", Seen::Nothing),
        Fact::StillRunning {
            secs: SHUTDOWN_LIMIT_SECS,
        },
    ],
};
pub(super) const STALE_SENDER_WHY: &str = "the departed user's sender stays in the map; the next broadcast's \
                                           `send(..).unwrap()` panics the server task and `main` exits";
pub(super) const MISSING_1011: Expect = Expect::Defect {
    label: "1011",
    why: "closed with 1011, which says the server failed; RFC 6455 names 1008 for a request \
          that breaks the server's rules",
    shows: list![
        Fact::saw("the client", Seen::close(1011, UID_MISSING)),
        Fact::Healthy,
    ],
};
pub(super) const NON_NUMERIC_1011: Expect = Expect::Defect {
    label: "1011, wrong reason",
    why: "the reason says the uid is missing when it is there but not a number, and 1011 says \
          the server failed",
    shows: list![
        Fact::saw("the client", Seen::close(1011, UID_MISSING)),
        Fact::Healthy,
    ],
};

pub(super) const BURST_DELIVERED: Expect =
    Expect::Works(list![Fact::delivered("every client", BURST_MESSAGES)]);
pub(super) const CROWD_DELIVERED: Expect = Expect::Works(list![Fact::delivered(
    "every client",
    CROWD_SENDERS * CROWD_EACH
)]);
pub(super) const FLOOD_UNLIMITED: Expect = Expect::Defect {
    label: "unlimited",
    why: "nothing limits what one user sends: every message of a flood goes to every user's \
          queue, ahead of everyone else's chat",
    shows: list![Fact::saw("the flooder", Seen::Nothing)],
};
pub(super) const STORM_QUIET: Expect = Expect::Works(list![
    Fact::OthersChat { users: 1 },
    Fact::PresenceTrue {
        at_most: STORM_NOTICES,
    },
]);
pub(super) const LINGERS: Expect = Expect::Defect {
    label: "lingers",
    why: "actix-http keeps reading a WebSocket's request after the close frame, until the \
          client closes TCP or `client_disconnect_timeout` (1 s) runs out, while the client \
          waits for the server to close first",
    shows: list![
        Fact::saw("user 1", Seen::close(1000, "bye")),
        Fact::TcpLingered { ms: TCP_CLOSE_MS },
    ],
};
pub(super) const ANY_ORIGIN: Expect = Expect::Defect {
    label: "any site",
    why: "the upgrade never looks at `Origin`, so a page on any site a visitor opens can join \
          the chat from their browser, under a uid of its choosing",
    shows: list![Fact::saw(
        "a page from another site",
        Seen::text("[UID: 9]: from another site")
    )],
};
pub(super) const BINARY_IGNORED: Expect = Expect::Defect {
    label: "ignored",
    why: "a binary message is dropped without a word; RFC 6455 names 1003 for data an endpoint \
          cannot accept",
    shows: list![
        Fact::saw("user 1", Seen::text("[UID: 1]: after binary")),
        Fact::OthersChat { users: 1 },
        Fact::Healthy,
    ],
};
