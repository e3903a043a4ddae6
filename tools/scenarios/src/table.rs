//! The table: for every scenario and checkpoint, the verdict and the facts the
//! test must observe. Each part's scenario tests assert it against the real
//! binary; the book's matrix and transcripts are rendered from it.

use crate::catalogue::{Scenario, params::*};
use crate::checkpoint::Checkpoint;
use crate::facts::{Fact, Panic, Seen};

/// What a scenario observed, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The behaviour a user would expect.
    Works,
    /// Something a user would call a bug.
    Defect,
    /// The checkpoint has no route for this scenario.
    NotApplicable,
}

/// What a checkpoint must show in a scenario: the verdict and its evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The scenario passes, showing exactly these facts.
    Works(&'static [Fact]),
    /// A known defect: `label` names it in the matrix (`crashes`, `spins`),
    /// `why` explains it in a line, and the test must observe exactly `shows`,
    /// the cause included. A defect that disappears fails the test too.
    Defect {
        /// One or two words for the matrix.
        label: &'static str,
        /// The cause, in one line.
        why: &'static str,
        /// The facts the test observes, the cause among them.
        shows: &'static [Fact],
    },
    /// The checkpoint does not have the feature yet, with a one-line reason.
    NotApplicable(&'static str),
}

impl Expect {
    /// The verdict a test must observe for this expectation.
    pub fn verdict(self) -> Verdict {
        match self {
            Expect::Works(_) => Verdict::Works,
            Expect::Defect { .. } => Verdict::Defect,
            Expect::NotApplicable(_) => Verdict::NotApplicable,
        }
    }

    /// The facts the test must observe (none for a scenario that does not apply).
    pub fn facts(self) -> &'static [Fact] {
        match self {
            Expect::Works(facts) | Expect::Defect { shows: facts, .. } => facts,
            Expect::NotApplicable(_) => &[],
        }
    }
}

/// One scenario's expectations on each checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Expected on `part1`.
    pub part1: Expect,
    /// Expected on `part2`.
    pub part2: Expect,
    /// Expected on `part3-select-comparison`.
    pub part3: Expect,
    /// Expected on `part4-hardening`.
    pub part4: Expect,
    /// Expected on `part5-scale-out`.
    pub part5: Part5Cell,
}

/// Part 5's cell. Run alone (no `REDIS_URL`) part 5 must be part 4 exactly,
/// so a scenario of one server holds it to part 4's cell; a cluster
/// scenario has its own.
#[derive(Debug, Clone, Copy)]
pub enum Part5Cell {
    /// Part 4's cell, asserted against part 5 run alone.
    LikePart4,
    /// A cell of its own.
    Own(Expect),
}

/// A one-server scenario's part 5 cell.
const LIKE_PART4: Part5Cell = Part5Cell::LikePart4;

impl Row {
    /// The expectation for one checkpoint.
    pub fn expect(&self, checkpoint: Checkpoint) -> Expect {
        match checkpoint {
            Checkpoint::Part1 => self.part1,
            Checkpoint::Part2 => self.part2,
            Checkpoint::Part3 => self.part3,
            Checkpoint::Part4 => self.part4,
            Checkpoint::Part5 => match self.part5 {
                Part5Cell::LikePart4 => self.part4,
                Part5Cell::Own(expect) => expect,
            },
        }
    }
}

/// What `checkpoint` must show in `scenario`.
pub fn expect(checkpoint: Checkpoint, scenario: Scenario) -> Expect {
    row(scenario).expect(checkpoint)
}

// Texts the checkpoints send, as the tests must see them.
const HEALTHCHECK_TEXT: &str = "rust-websocket-tutorial is live";
const UID_MISSING: &str = "uid is missing";
const UID_REQUIRED: &str =
    "a numeric uid is required: send a uid header or a ?uid= query parameter";
const REPLACED: &str = "replaced by a newer connection with the same uid";
const TOO_SLOW: &str = "too slow: more than 256 messages or 512 KiB were waiting";
const TOO_BIG: &str = "messages are limited to 65536 bytes";
const TEXT_ONLY: &str = "only text messages are supported";
const NO_ANSWER: &str = "no answer to 2 pings";
const NOT_UTF8: &str = "text messages must be valid UTF-8";
const BAD_FRAME: &str = "that frame breaks the WebSocket protocol";
const FOREIGN_ORIGIN_BODY: &str = "this chat accepts WebSockets from its own pages only";
const TOO_MANY_NEW: &str = "too many new connections from your address: at most 10 a second";
const TOO_MANY_OPEN: &str = "too many connections from your address: at most 64 at once";
const NOT_READING: &str =
    "user 1: not reading: a frame waited 10 s to be taken; cutting the connection";
const BAD_PORT_LINE: &str = "error: PORT must be a number from 1 to 65535, not \"abc\"";
const BAD_PORT_PANIC: &str =
    "PORT must be a number from 1 to 65535: ParseIntError { kind: InvalidDigit }";
const SHUTTING_DOWN: &str = "server is shutting down";
const TOO_FAST: &str = "kept sending too fast after a warning";
const USER_1_LEFT: &str = "[server]: user 1 left";
const LINK_LOST: &str = "[server]: lost contact with the other nodes: messages may not reach \
                         them, or theirs you, until contact is back";
const LINK_BACK: &str =
    "[server]: in contact with the other nodes again; messages sent meanwhile may have been lost";
const REDIS_UNREACHABLE: &str = "REDIS_URL is set, but no Redis answers there: start \
                                 redis-server, or unset REDIS_URL to run this node alone";

const SEND_ERROR: &str = "called `Result::unwrap()` on an `Err` value: SendError { .. }";
/// `main`'s `unwrap` of the server task's `JoinError`, task id written as `..`.
const JOIN_ERROR: &str = "called `Result::unwrap()` on an `Err` value: JoinError::Panic(Id(..), \
                          \"called `Result::unwrap()` on an `Err` value: SendError { .. }\", ...)";

/// A `'static` slice of table values, which need a `const` block to be
/// promoted because their types have destructors.
macro_rules! list {
    ($($item:expr),* $(,)?) => {
        const { &[$($item),*] }
    };
}

/// The crash of `user-leaves`: the server task's send to the departed user's
/// channel, then `main`'s `unwrap` of the task's result.
macro_rules! stale_sender_crash {
    ($file:literal) => {
        Fact::crashed(list![
            Panic::at($file, "user-sends-message", "unwrap", SEND_ERROR),
            Panic::at($file, "try-join", "unwrap", JOIN_ERROR),
        ])
    };
}

/// A PORT that is not a number: the checkpoint's `expect` panics in `main`.
macro_rules! bad_port_panic {
    ($file:literal) => {
        Expect::Defect {
            label: "panics",
            why: "the departure that reads PORT (for the tests) `expect`s a number, so a typo is \
                  a panic and a backtrace hint, not a sentence",
            shows: list![Fact::crashed(list![Panic::at(
                $file,
                "main",
                "expect",
                BAD_PORT_PANIC
            )])],
        }
    };
}

const PART2_STALE_SENDER: Fact = stale_sender_crash!("part2/src/main.rs");
const PART3_STALE_SENDER: Fact = stale_sender_crash!("part3-select-comparison/src/main.rs");

/// Who the half-open scenario watches.
const SILENT_CLIENT: &str = "the silent client";
/// Who the chatty-client scenario watches.
const CHATTY: &str = "user 1, who sent a line every 500 ms";

/// Who the stalled-reader scenario watches.
const STALLED: &str = "user 1, who stopped reading but kept pinging";

const NO_WS_ROUTE: Expect = Expect::NotApplicable("no /ws route until part 2");
const HEALTHY: Expect = Expect::Works(list![Fact::Answered {
    path: std::borrow::Cow::Borrowed("/healthcheck"),
    status: 200,
    body: std::borrow::Cow::Borrowed(HEALTHCHECK_TEXT),
}]);
const BOTH_RECEIVED: Expect = Expect::Works(list![
    Fact::saw("user 1", Seen::text("[UID: 1]: hello")),
    Fact::saw("user 2", Seen::text("[UID: 1]: hello")),
]);
const UID_REQUIRED_1008: Expect = Expect::Works(list![
    Fact::saw("the client", Seen::close(1008, UID_REQUIRED)),
    Fact::Healthy,
]);
const UNBOUNDED: Expect = Expect::Defect {
    label: "grows",
    why: "every user's queue is unbounded: what a reader does not take piles up in server memory",
    shows: list![Fact::MemoryAbove {
        mib: SLOW_LIMIT_MIB,
    }],
};
const UNBOUNDED_LARGE: Expect = Expect::Defect {
    label: "grows",
    why: "every user's queue is unbounded, in messages and in bytes",
    shows: list![Fact::MemoryAbove {
        mib: LARGE_LIMIT_MIB,
    }],
};
const HEADER_ONLY: Expect = Expect::Defect {
    label: "header only",
    why: "the uid is read from the header only, which a browser's WebSocket cannot send",
    shows: list![Fact::saw(
        "the browser-style client",
        Seen::close(1011, UID_MISSING),
    )],
};
const NO_GOODBYE: Expect = Expect::Defect {
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
const STALE_SENDER_WHY: &str = "the departed user's sender stays in the map; the next broadcast's \
                                `send(..).unwrap()` panics the server task and `main` exits";
const MISSING_1011: Expect = Expect::Defect {
    label: "1011",
    why: "closed with 1011, which says the server failed; RFC 6455 names 1008 for a request \
          that breaks the server's rules",
    shows: list![
        Fact::saw("the client", Seen::close(1011, UID_MISSING)),
        Fact::Healthy,
    ],
};
const NON_NUMERIC_1011: Expect = Expect::Defect {
    label: "1011, wrong reason",
    why: "the reason says the uid is missing when it is there but not a number, and 1011 says \
          the server failed",
    shows: list![
        Fact::saw("the client", Seen::close(1011, UID_MISSING)),
        Fact::Healthy,
    ],
};

/// The row of `scenario`. An exhaustive `match`: a scenario without a row
/// does not compile.
pub fn row(scenario: Scenario) -> Row {
    match scenario {
        Scenario::Healthcheck => Row {
            part1: HEALTHY,
            part2: HEALTHY,
            part3: HEALTHY,
            part4: HEALTHY,
            part5: LIKE_PART4,
        },
        Scenario::BadPort => Row {
            part1: bad_port_panic!("part1/src/main.rs"),
            part2: bad_port_panic!("part2/src/main.rs"),
            part3: bad_port_panic!("part3-select-comparison/src/main.rs"),
            part4: Expect::Works(list![
                Fact::Exited {
                    secs: REPLY_SECS,
                    status: 2,
                },
                Fact::Stderr {
                    text: std::borrow::Cow::Borrowed(BAD_PORT_LINE),
                },
            ]),
            part5: LIKE_PART4,
        },
        Scenario::Broadcast => Row {
            part1: NO_WS_ROUTE,
            part2: BOTH_RECEIVED,
            part3: BOTH_RECEIVED,
            part4: BOTH_RECEIVED,
            part5: LIKE_PART4,
        },
        Scenario::MissingUid => Row {
            part1: NO_WS_ROUTE,
            part2: MISSING_1011,
            part3: MISSING_1011,
            part4: UID_REQUIRED_1008,
            part5: LIKE_PART4,
        },
        Scenario::NonNumericUid => Row {
            part1: NO_WS_ROUTE,
            part2: NON_NUMERIC_1011,
            part3: NON_NUMERIC_1011,
            part4: UID_REQUIRED_1008,
            part5: LIKE_PART4,
        },
        Scenario::UserLeaves => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "crashes",
                why: STALE_SENDER_WHY,
                shows: list![
                    Fact::saw("user 1", Seen::close(1000, "bye")),
                    PART2_STALE_SENDER,
                ],
            },
            part3: Expect::Defect {
                label: "crashes",
                why: STALE_SENDER_WHY,
                shows: list![
                    Fact::saw("user 1", Seen::close(1000, "bye")),
                    PART3_STALE_SENDER,
                ],
            },
            part4: Expect::Works(list![
                Fact::saw("user 1", Seen::close(1000, "bye")),
                Fact::saw("user 2", Seen::text(USER_1_LEFT)),
                Fact::OthersChat { users: 1 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::CloseHandshake => Row {
            part1: NO_WS_ROUTE,
            part2: LINGERS,
            part3: LINGERS,
            part4: Expect::Defect {
                label: "lingers (actix-http)",
                why: "the same linger; the only setting that ends it, a zero \
                      `client_disconnect_timeout`, also lets a reset destroy the close frames the \
                      server sends first, so part 4 keeps it",
                shows: list![
                    Fact::saw("user 1", Seen::close(1000, "bye")),
                    Fact::TcpLingered { ms: TCP_CLOSE_MS },
                ],
            },
            part5: LIKE_PART4,
        },
        Scenario::ClientVanishes => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "spins",
                why: "`msg_stream.recv()` yields `None` forever and the loop never breaks: it \
                      spins a core and, never yielding, starves its worker thread",
                shows: list![Fact::Spinning],
            },
            part3: Expect::Defect {
                label: "crashes",
                why: "the loop ends, but the vanished user's sender stays in the map and the \
                      next broadcast panics the server task",
                shows: list![Fact::Idle, PART3_STALE_SENDER],
            },
            part4: Expect::Works(list![
                Fact::Idle,
                Fact::saw("user 2", Seen::text(USER_1_LEFT)),
                Fact::OthersChat { users: 1 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::VanishNeighbours => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "starves",
                why: "the vanished user's session spins and never yields, so the users who share \
                      its worker thread are not served",
                shows: list![Fact::Spinning, Fact::OthersUnserved],
            },
            part3: Expect::Defect {
                label: "crashes",
                why: "the loop ends, but the vanished user's sender stays in the map and the \
                      first broadcast panics the server task",
                shows: list![Fact::Idle, PART3_STALE_SENDER],
            },
            part4: Expect::Works(list![
                Fact::Idle,
                Fact::OthersChat { users: NEIGHBOURS },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::EmptyCloseFrame => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "unanswered, spins",
                why: "`Close(None)` has no reason to break with, so the close is never answered; \
                      when the client hangs up the loop spins as for a vanished client",
                shows: list![Fact::saw("user 1", Seen::Nothing), Fact::Spinning],
            },
            part3: Expect::Defect {
                label: "crashes",
                why: "the close is answered and the loop ends, but the user's sender stays in \
                      the map and the next broadcast panics the server task",
                shows: list![
                    Fact::saw("user 1", Seen::EmptyClose),
                    Fact::Idle,
                    PART3_STALE_SENDER,
                ],
            },
            part4: Expect::Works(list![
                Fact::saw("user 1", Seen::EmptyClose),
                Fact::Idle,
                Fact::saw("user 2", Seen::text(USER_1_LEFT)),
                Fact::OthersChat { users: 1 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::SameUidTwice => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
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
            part3: Expect::Works(list![
                Fact::saw(
                    "the newer connection",
                    Seen::text("[UID: 1]: second connection")
                ),
                Fact::Idle,
                Fact::saw("the older connection", Seen::EmptyClose),
                Fact::OthersChat { users: 2 },
                Fact::Healthy,
            ]),
            part4: Expect::Works(list![
                Fact::saw(
                    "the newer connection",
                    Seen::text("[UID: 1]: second connection")
                ),
                Fact::Idle,
                Fact::saw("the older connection", Seen::close(1008, REPLACED)),
                Fact::OthersChat { users: 2 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::Burst => Row {
            part1: NO_WS_ROUTE,
            part2: BURST_DELIVERED,
            part3: BURST_DELIVERED,
            part4: BURST_DELIVERED,
            part5: LIKE_PART4,
        },
        Scenario::HalfOpenClient => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "kept",
                why: "no heartbeat: a peer that is gone without a word is never noticed",
                shows: list![Fact::NotDropped {
                    who: std::borrow::Cow::Borrowed(SILENT_CLIENT),
                    secs: HALF_OPEN_WATCH_SECS,
                }],
            },
            part3: Expect::Defect {
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
            part4: Expect::Works(list![
                Fact::DroppedWithin {
                    who: std::borrow::Cow::Borrowed(SILENT_CLIENT),
                    secs: HALF_OPEN_LIMIT_SECS,
                    event: Seen::close(1008, NO_ANSWER),
                },
                Fact::saw("user 2", Seen::text(USER_1_LEFT)),
                Fact::OthersChat { users: 1 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::StalledReader => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "kept",
                why: "the session waits in a write to a socket the client does not read, for as \
                      long as the client keeps the connection open: nothing bounds the wait",
                shows: list![Fact::NotDropped {
                    who: std::borrow::Cow::Borrowed(STALLED),
                    secs: STALL_LIMIT_SECS,
                }],
            },
            part3: Expect::Defect {
                label: "kept",
                why: "the loop waits in a write to a socket the client does not read, so its \
                      heartbeat never runs; and the client's pings would count as life anyway",
                shows: list![Fact::NotDropped {
                    who: std::borrow::Cow::Borrowed(STALLED),
                    secs: STALL_LIMIT_SECS,
                }],
            },
            part4: Expect::Works(list![
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
            part5: LIKE_PART4,
        },
        Scenario::ChattyClient => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Works(list![
                Fact::NotPinged {
                    who: std::borrow::Cow::Borrowed(CHATTY),
                },
                Fact::delivered("user 2", CHATTY_LINES),
            ]),
            part3: Expect::Defect {
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
            part4: Expect::Works(list![
                Fact::NotPinged {
                    who: std::borrow::Cow::Borrowed(CHATTY),
                },
                Fact::delivered("user 2", CHATTY_LINES),
            ]),
            part5: LIKE_PART4,
        },
        Scenario::SlowReader => Row {
            part1: NO_WS_ROUTE,
            part2: UNBOUNDED,
            part3: UNBOUNDED,
            part4: Expect::Works(list![
                Fact::MemoryBelow {
                    mib: SLOW_LIMIT_MIB,
                },
                Fact::delivered("user 2", SLOW_MESSAGES),
                Fact::saw("user 1", Seen::close(1008, TOO_SLOW)),
                Fact::OthersChat { users: 1 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::SlowReaderLarge => Row {
            part1: NO_WS_ROUTE,
            part2: UNBOUNDED_LARGE,
            part3: UNBOUNDED_LARGE,
            part4: Expect::Works(list![
                Fact::MemoryBelow {
                    mib: LARGE_LIMIT_MIB,
                },
                Fact::delivered("user 2", LARGE_MESSAGES),
                Fact::saw("user 1", Seen::close(1008, TOO_SLOW)),
                Fact::OthersChat { users: 1 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::OversizedFrame => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "silent",
                why: "a frame over 64 KiB is an `Err(Overflow)` that `let Ok(msg) = msg else { \
                      return None }` swallows, and fragments fall into `_`: the client never \
                      hears why its message vanished",
                shows: list![
                    Fact::saw("the sender of one frame", Seen::Nothing),
                    Fact::saw("the sender of fragments", Seen::Nothing),
                    Fact::OthersChat { users: 1 },
                    Fact::Healthy,
                ],
            },
            part3: Expect::Defect {
                label: "no 1009",
                why: "a frame over 64 KiB ends the loop as a stream error with an empty close \
                      frame, not 1009, and leaves a stale sender that crashes the next \
                      broadcast; fragments fall into `_ => {}` and are never answered",
                shows: list![
                    Fact::saw("the sender of one frame", Seen::EmptyClose),
                    Fact::saw("the sender of fragments", Seen::Nothing),
                    PART3_STALE_SENDER,
                ],
            },
            part4: Expect::Works(list![
                Fact::saw("the sender of one frame", Seen::close(1009, TOO_BIG)),
                Fact::saw("the sender of fragments", Seen::close(1009, TOO_BIG)),
                Fact::OthersChat { users: 1 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::BinaryFrame => Row {
            part1: NO_WS_ROUTE,
            part2: BINARY_IGNORED,
            part3: BINARY_IGNORED,
            part4: Expect::Works(list![
                Fact::saw("user 1", Seen::close(1003, TEXT_ONLY)),
                Fact::OthersChat { users: 1 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::InvalidFrames => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "silent, spins",
                why: "`let Ok(msg) = msg else { return None }` drops the error, and the stream \
                      yields it again at once, for ever: the session spins and starves its worker",
                shows: list![
                    Fact::saw("the sender of bytes that are not UTF-8", Seen::Nothing),
                    Fact::saw("the sender of a reserved opcode", Seen::Nothing),
                    Fact::OthersUnserved,
                ],
            },
            part3: Expect::Defect {
                label: "no code, crashes",
                why: "a stream error ends the loop with an empty close frame, not 1007 or 1002, and \
                      leaves a stale sender that crashes the next broadcast",
                shows: list![
                    Fact::saw("the sender of bytes that are not UTF-8", Seen::EmptyClose),
                    Fact::saw("the sender of a reserved opcode", Seen::EmptyClose),
                    PART3_STALE_SENDER,
                ],
            },
            part4: Expect::Works(list![
                Fact::saw(
                    "the sender of bytes that are not UTF-8",
                    Seen::close(1007, NOT_UTF8)
                ),
                Fact::saw(
                    "the sender of a reserved opcode",
                    Seen::close(1002, BAD_FRAME)
                ),
                Fact::OthersChat { users: 1 },
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::QueryStringUid => Row {
            part1: NO_WS_ROUTE,
            part2: HEADER_ONLY,
            part3: HEADER_ONLY,
            part4: Expect::Works(list![Fact::saw(
                "the browser-style client",
                Seen::text("[UID: 7]: from a browser"),
            )]),
            part5: LIKE_PART4,
        },
        Scenario::FloodVsReader => Row {
            part1: NO_WS_ROUTE,
            part2: FLOOD_UNLIMITED,
            part3: FLOOD_UNLIMITED,
            part4: Expect::Works(list![
                Fact::saw("the flooder", Seen::close(1008, TOO_FAST)),
                Fact::delivered("user 2 (who paused twice)", CHAT_LINES),
            ]),
            part5: LIKE_PART4,
        },
        Scenario::FloodVsChat => Row {
            part1: NO_WS_ROUTE,
            part2: FLOOD_UNLIMITED,
            part3: FLOOD_UNLIMITED,
            part4: Expect::Works(list![
                Fact::saw("the flooder", Seen::close(1008, TOO_FAST)),
                Fact::delivered("every chatter", CHAT_LINES * CHATTERS),
                Fact::Prompt { secs: PROMPT_SECS },
            ]),
            part5: LIKE_PART4,
        },
        Scenario::ReconnectFlood => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "unlimited",
                why: "nothing limits what a user sends, per connection or otherwise",
                shows: list![Fact::DeliveredMore {
                    who: std::borrow::Cow::Borrowed("user 2, of uid 1's lines,"),
                    messages: RECONNECT_MOST,
                }],
            },
            part3: Expect::Defect {
                label: "crashes",
                why: "a connection that is gone leaves its sender in the map, and the next \
                      broadcast's `send(..).unwrap()` panics the server task",
                shows: list![PART3_STALE_SENDER],
            },
            part4: Expect::Works(list![
                Fact::DeliveredAtMost {
                    who: std::borrow::Cow::Borrowed("user 2, of uid 1's lines,"),
                    messages: RECONNECT_MOST,
                },
                Fact::saw("the reconnecting client", Seen::refused(429, TOO_MANY_NEW)),
            ]),
            part5: LIKE_PART4,
        },
        Scenario::AddressLimits => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "no limit",
                why: "nothing limits the WebSockets one address opens at once or holds",
                shows: list![Fact::saw(
                    "the connections opened at once, past the first 20",
                    Seen::Accepted
                )],
            },
            part3: Expect::Defect {
                label: "no limit",
                why: "nothing limits the WebSockets one address opens at once or holds",
                shows: list![Fact::saw(
                    "the connections opened at once, past the first 20",
                    Seen::Accepted
                )],
            },
            part4: Expect::Works(list![
                Fact::saw(
                    "the connections opened at once, past the first 20",
                    Seen::refused(429, TOO_MANY_NEW)
                ),
                Fact::saw(
                    "a connection while 64 are open",
                    Seen::refused(429, TOO_MANY_OPEN)
                ),
                Fact::Healthy,
            ]),
            part5: LIKE_PART4,
        },
        Scenario::JoinStorm => Row {
            part1: NO_WS_ROUTE,
            part2: STORM_QUIET,
            part3: STORM_QUIET,
            part4: STORM_QUIET,
            part5: LIKE_PART4,
        },
        Scenario::ForeignOrigin => Row {
            part1: NO_WS_ROUTE,
            part2: ANY_ORIGIN,
            part3: ANY_ORIGIN,
            part4: Expect::Works(list![
                Fact::saw(
                    "a page from another site",
                    Seen::refused(403, FOREIGN_ORIGIN_BODY)
                ),
                Fact::saw(
                    "a page from the server itself",
                    Seen::text("[UID: 8]: from the server's own page")
                ),
            ]),
            part5: LIKE_PART4,
        },
        Scenario::ReboundOrigin => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "any site",
                why: "the upgrade never looks at `Origin`, so a page on any name pointed at the \
                      server can join the chat from a visitor's browser",
                shows: list![Fact::saw(
                    "a page at rebound.example",
                    Seen::text("[UID: 9]: from a rebound name")
                )],
            },
            part3: Expect::Defect {
                label: "any site",
                why: "the upgrade never looks at `Origin`, so a page on any name pointed at the \
                      server can join the chat from a visitor's browser",
                shows: list![Fact::saw(
                    "a page at rebound.example",
                    Seen::text("[UID: 9]: from a rebound name")
                )],
            },
            part4: Expect::Works(list![Fact::saw(
                "a page at rebound.example",
                Seen::refused(403, FOREIGN_ORIGIN_BODY)
            )]),
            part5: LIKE_PART4,
        },
        Scenario::Shutdown => Row {
            part1: NO_WS_ROUTE,
            part2: NO_GOODBYE,
            part3: NO_GOODBYE,
            part4: Expect::Works(list![
                Fact::saw("client 1", Seen::close(1001, SHUTTING_DOWN)),
                Fact::saw("client 2", Seen::close(1001, SHUTTING_DOWN)),
                Fact::saw("client 3", Seen::close(1001, SHUTTING_DOWN)),
                Fact::Exited {
                    secs: SHUTDOWN_LIMIT_SECS,
                    status: 0,
                },
            ]),
            part5: LIKE_PART4,
        },
        Scenario::ShutdownBacklog => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "no goodbye",
                why: "the lines are delivered, but actix-web waits up to 30 s on SIGTERM and nobody \
                      tells the client",
                shows: list![
                    Fact::delivered("user 1, who had fallen behind,", BACKLOG_LINES),
                    Fact::saw("user 1", Seen::Nothing),
                    Fact::StillRunning {
                        secs: SHUTDOWN_LIMIT_SECS,
                    },
                ],
            },
            part3: Expect::Defect {
                label: "no goodbye",
                why: "the lines are delivered, but actix-web waits up to 30 s on SIGTERM; the \
                      client gets an empty close frame when actix ends its stream",
                shows: list![
                    Fact::delivered("user 1, who had fallen behind,", BACKLOG_LINES),
                    Fact::saw("user 1", Seen::EmptyClose),
                    Fact::StillRunning {
                        secs: SHUTDOWN_LIMIT_SECS,
                    },
                ],
            },
            part4: Expect::Works(list![
                Fact::delivered("user 1, who had fallen behind,", BACKLOG_LINES),
                Fact::saw("user 1", Seen::close(1001, SHUTTING_DOWN)),
                Fact::Exited {
                    secs: SHUTDOWN_LIMIT_SECS,
                    status: 0,
                },
            ]),
            part5: LIKE_PART4,
        },
        Scenario::PausedServer => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Works(list![
                Fact::Stayed {
                    users: PAUSE_CLIENTS,
                    secs: PAUSE_WATCH_SECS,
                },
                Fact::delivered("user 2, of user 1's lines,", PAUSE_LINES),
            ]),
            part3: Expect::Defect {
                label: "drops everyone",
                why: "the heartbeat judges by the clock: after the pause every client's last \
                      pong looks older than `CLIENT_TIMEOUT`, every session is closed, and their \
                      senders stay in the map for the next broadcast to panic on",
                shows: list![Fact::saw("user 1", Seen::EmptyClose), PART3_STALE_SENDER],
            },
            part4: Expect::Works(list![
                Fact::Stayed {
                    users: PAUSE_CLIENTS,
                    secs: PAUSE_WATCH_SECS,
                },
                Fact::delivered("user 2, of user 1's lines,", PAUSE_LINES),
            ]),
            part5: LIKE_PART4,
        },
        Scenario::Crowd => Row {
            part1: NO_WS_ROUTE,
            part2: CROWD_DELIVERED,
            part3: CROWD_DELIVERED,
            part4: CROWD_DELIVERED,
            part5: LIKE_PART4,
        },
        Scenario::LeaveWhileTalking => Row {
            part1: NO_WS_ROUTE,
            part2: Expect::Defect {
                label: "crashes",
                why: STALE_SENDER_WHY,
                shows: list![PART2_STALE_SENDER],
            },
            part3: Expect::Defect {
                label: "crashes",
                why: STALE_SENDER_WHY,
                shows: list![PART3_STALE_SENDER],
            },
            part4: Expect::Works(list![Fact::delivered("users 2 and 3", 2 * TALK_EACH)]),
            part5: LIKE_PART4,
        },
        Scenario::ClusterBroadcast => cluster(Expect::Works(list![Fact::delivered(
            "every user on every node",
            2 * CLUSTER_EACH
        )])),
        Scenario::ClusterPresence => cluster(Expect::Works(list![
            Fact::saw("user 1 on node 1", Seen::text("[server]: user 2 joined")),
            Fact::saw("user 1 on node 1", Seen::text("[server]: user 2 left")),
        ])),
        Scenario::ClusterSameUid => cluster(Expect::Works(list![
            Fact::saw(
                "the newer connection, on node 2",
                Seen::text("[UID: 1]: second connection")
            ),
            Fact::saw(
                "the older connection, on node 1",
                Seen::close(1008, REPLACED)
            ),
            Fact::saw(
                "user 2 on node 1",
                Seen::text("[UID: 1]: second connection")
            ),
            Fact::saw("user 2, listening for news of user 1", Seen::Nothing),
        ])),
        Scenario::ClusterNodeKilled => cluster(Expect::Works(list![
            Fact::saw("user 1 on node 1", Seen::text("[server]: user 2 left")),
            Fact::saw("user 3 on node 3", Seen::text("[server]: user 2 left")),
            Fact::delivered("users 1 and 3, each from the other's node", 2),
        ])),
        Scenario::ClusterRollingRestart => cluster(Expect::Works(list![
            Fact::saw("user 2 on node 2", Seen::close(1001, SHUTTING_DOWN)),
            Fact::saw("user 3 on node 3", Seen::text("[UID: 2]: back, on node 1")),
            Fact::saw("user 3, listening for news of user 2", Seen::Nothing),
        ])),
        Scenario::ClusterRedisRestart => cluster(Expect::Works(list![
            Fact::saw("user 1 on node 1", Seen::text(LINK_LOST)),
            Fact::saw(
                "user 3 on node 1",
                Seen::text("[UID: 1]: during the outage")
            ),
            Fact::saw("user 2 on node 2", Seen::text(LINK_LOST)),
            Fact::saw("user 2 on node 2", Seen::text(LINK_BACK)),
            Fact::saw("user 2 on node 2", Seen::text("[UID: 1]: after the outage")),
        ])),
        Scenario::ClusterOutageSameUid => cluster(Expect::Works(list![
            Fact::saw(
                "the older connection of uid 7, on node 1",
                Seen::close(1008, REPLACED)
            ),
            Fact::saw(
                "user 2 on node 1",
                Seen::text("[UID: 7]: the newer connection")
            ),
        ])),
        Scenario::ClusterDeafSubscription => cluster(Expect::Works(list![
            Fact::saw("user 1 on node 1", Seen::text(LINK_LOST)),
            Fact::saw("user 1 on node 1", Seen::text(LINK_BACK)),
            Fact::saw("user 2, listening for news of user 1", Seen::Nothing),
            Fact::saw("user 1 on node 1", Seen::text("[UID: 2]: heard again")),
        ])),
        Scenario::ClusterRedisStall => cluster(Expect::Works(list![
            Fact::delivered("user 2 on node 2", STALL_LINES),
            Fact::saw("users 1 and 2, listening for notices", Seen::Nothing),
        ])),
        Scenario::ClusterPublishRefused => cluster(Expect::Works(list![
            Fact::saw("user 1 on node 1", Seen::text(LINK_LOST)),
            Fact::saw("user 1 on node 1", Seen::text(LINK_BACK)),
            Fact::saw("user 2 on node 2", Seen::text("[UID: 1]: publishing again")),
        ])),
        Scenario::ClusterNodePaused => cluster(Expect::Works(list![
            Fact::saw("user 1, listening for news of user 2", Seen::Nothing),
            Fact::saw("user 1 on node 1", Seen::text("[UID: 2]: after the pause")),
        ])),
        Scenario::ClusterSlowLink => cluster(Expect::Works(list![
            Fact::delivered("user 2 on node 2", SLOW_LINK_LINES),
            Fact::Prompt {
                secs: SLOW_LINK_SECS,
            },
        ])),
        Scenario::ClusterRedisUnreachable => cluster(Expect::Works(list![
            Fact::Exited {
                secs: REPLY_SECS,
                status: 1,
            },
            Fact::Logged {
                text: std::borrow::Cow::Borrowed(REDIS_UNREACHABLE),
            },
        ])),
    }
}

/// The row of a scenario with several nodes, which only part 5 can form.
const fn cluster(part5: Expect) -> Row {
    const ONE_PROCESS: Expect =
        Expect::NotApplicable("one process holds the whole chat until part 5");
    Row {
        part1: ONE_PROCESS,
        part2: ONE_PROCESS,
        part3: ONE_PROCESS,
        part4: ONE_PROCESS,
        part5: Part5Cell::Own(part5),
    }
}

const BURST_DELIVERED: Expect =
    Expect::Works(list![Fact::delivered("every client", BURST_MESSAGES)]);
const CROWD_DELIVERED: Expect = Expect::Works(list![Fact::delivered(
    "every client",
    CROWD_SENDERS * CROWD_EACH
)]);
const FLOOD_UNLIMITED: Expect = Expect::Defect {
    label: "unlimited",
    why: "nothing limits what one user sends: every message of a flood goes to every user's \
          queue, ahead of everyone else's chat",
    shows: list![Fact::saw("the flooder", Seen::Nothing)],
};
const STORM_QUIET: Expect = Expect::Works(list![
    Fact::OthersChat { users: 1 },
    Fact::PresenceTrue {
        at_most: STORM_NOTICES,
    },
]);
const LINGERS: Expect = Expect::Defect {
    label: "lingers",
    why: "actix-http keeps reading a WebSocket's request after the close frame, until the \
          client closes TCP or `client_disconnect_timeout` (1 s) runs out, while the client \
          waits for the server to close first",
    shows: list![
        Fact::saw("user 1", Seen::close(1000, "bye")),
        Fact::TcpLingered { ms: TCP_CLOSE_MS },
    ],
};
const ANY_ORIGIN: Expect = Expect::Defect {
    label: "any site",
    why: "the upgrade never looks at `Origin`, so a page on any site a visitor opens can join \
          the chat from their browser, under a uid of its choosing",
    shows: list![Fact::saw(
        "a page from another site",
        Seen::text("[UID: 9]: from another site")
    )],
};
const BINARY_IGNORED: Expect = Expect::Defect {
    label: "ignored",
    why: "a binary message is dropped without a word; RFC 6455 names 1003 for data an endpoint \
          cannot accept",
    shows: list![
        Fact::saw("user 1", Seen::text("[UID: 1]: after binary")),
        Fact::OthersChat { users: 1 },
        Fact::Healthy,
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_labels_are_one_line() {
        for scenario in Scenario::ALL {
            for checkpoint in Checkpoint::ALL {
                let texts: Vec<&str> = match expect(*checkpoint, *scenario) {
                    Expect::Works(_) => vec![],
                    Expect::Defect { label, why, .. } => vec![label, why],
                    Expect::NotApplicable(why) => vec![why],
                };
                for text in texts {
                    assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
                    assert!(!text.contains("  "), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn every_place_in_the_table_resolves() {
        let root = crate::workspace_root();
        for scenario in Scenario::ALL {
            for checkpoint in Checkpoint::ALL {
                for fact in expect(*checkpoint, *scenario).facts() {
                    if let Err(err) = fact.resolved(&root) {
                        panic!("{} / {}: {err}", checkpoint.package(), scenario.id());
                    }
                }
            }
        }
    }

    #[test]
    fn cells_show_facts_and_works_cells_show_nothing_bad() {
        // Every cell that applies must be visible in its facts; a works cell
        // must not show a fact that is bad by itself.
        for scenario in Scenario::ALL {
            for checkpoint in Checkpoint::ALL {
                let cell = expect(*checkpoint, *scenario);
                let name = format!("{} / {}", checkpoint.package(), scenario.id());
                if !matches!(cell, Expect::NotApplicable(_)) {
                    assert!(!cell.facts().is_empty(), "{name} shows no fact");
                }
                if let Expect::Works(facts) = cell {
                    assert!(
                        facts.iter().all(|f| !f.is_bad()),
                        "{name} works yet shows a bad fact"
                    );
                }
            }
        }
    }
}
