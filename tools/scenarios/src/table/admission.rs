//! Getting in: the healthcheck, the first chat, who may connect and how often.

use super::texts::*;
use super::*;

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

pub(super) fn healthcheck() -> Row {
    every(HEALTHY, HEALTHY, HEALTHY, HEALTHY)
}

pub(super) fn bad_port() -> Row {
    every(
        bad_port_panic!("part1/src/main.rs"),
        bad_port_panic!("part2/src/main.rs"),
        bad_port_panic!("part3-select-comparison/src/main.rs"),
        Expect::Works(list![
            Fact::Exited {
                secs: REPLY_SECS,
                status: 2,
            },
            Fact::Stderr {
                text: std::borrow::Cow::Borrowed(BAD_PORT_LINE),
            },
        ]),
    )
}

pub(super) fn broadcast() -> Row {
    ws(BOTH_RECEIVED, BOTH_RECEIVED, BOTH_RECEIVED)
}

/// Part 6 reads no uid from the client: its token says who.
const LOGIN_NOT_UID: Cell = Cell::Own(Expect::NotApplicable(
    "part 6 reads no uid: a token says who (see no-token)",
));

pub(super) fn missing_uid() -> Row {
    Row {
        part6: LOGIN_NOT_UID,
        ..ws(MISSING_1011, MISSING_1011, UID_REQUIRED_1008)
    }
}

pub(super) fn non_numeric_uid() -> Row {
    Row {
        part6: LOGIN_NOT_UID,
        ..ws(NON_NUMERIC_1011, NON_NUMERIC_1011, UID_REQUIRED_1008)
    }
}

pub(super) fn query_string_uid() -> Row {
    Row {
        part6: LOGIN_NOT_UID,
        ..query_string_uid_before_logins()
    }
}

fn query_string_uid_before_logins() -> Row {
    ws(
        HEADER_ONLY,
        HEADER_ONLY,
        Expect::Works(list![Fact::saw(
            "the browser-style client",
            Seen::text("[UID: 7]: from a browser"),
        )]),
    )
}

pub(super) fn address_limits() -> Row {
    ws(
        Expect::Defect {
            label: "no limit",
            why: "nothing limits the WebSockets one address opens at once or holds",
            shows: list![Fact::saw(
                "the connections opened at once, past the first 20",
                Seen::Accepted
            )],
        },
        Expect::Defect {
            label: "no limit",
            why: "nothing limits the WebSockets one address opens at once or holds",
            shows: list![Fact::saw(
                "the connections opened at once, past the first 20",
                Seen::Accepted
            )],
        },
        Expect::Works(list![
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
    )
}

pub(super) fn foreign_origin() -> Row {
    ws(
        ANY_ORIGIN,
        ANY_ORIGIN,
        Expect::Works(list![
            Fact::saw(
                "a page from another site",
                Seen::refused(403, FOREIGN_ORIGIN_BODY)
            ),
            Fact::saw(
                "a page from the server itself",
                Seen::text("[UID: 8]: from the server's own page")
            ),
        ]),
    )
}

pub(super) fn rebound_origin() -> Row {
    ws(
        Expect::Defect {
            label: "any site",
            why: "the upgrade never looks at `Origin`, so a page on any name pointed at the \
                  server can join the chat from a visitor's browser",
            shows: list![Fact::saw(
                "a page at rebound.example",
                Seen::text("[UID: 9]: from a rebound name")
            )],
        },
        Expect::Defect {
            label: "any site",
            why: "the upgrade never looks at `Origin`, so a page on any name pointed at the \
                  server can join the chat from a visitor's browser",
            shows: list![Fact::saw(
                "a page at rebound.example",
                Seen::text("[UID: 9]: from a rebound name")
            )],
        },
        Expect::Works(list![Fact::saw(
            "a page at rebound.example",
            Seen::refused(403, FOREIGN_ORIGIN_BODY)
        )]),
    )
}
