//! Who is speaking: impersonation, which every checkpoint with `/ws` is
//! asked about, and part 6's login and tokens, which come with it.

use super::texts::*;
use super::*;

/// The impostor's line, shown as the uid it named.
const AS_UID_1: &str = "[UID: 1]: it is me, user 1";

/// Parts 2 to 5 take the `uid` header at its word: user 2 sees the
/// impostor's line as user 1's; then what user 1 saw, and the rest.
macro_rules! believed {
    ($why:expr, $($then:expr),+) => {
        Expect::Defect {
            label: "impersonated",
            why: $why,
            shows: list![Fact::saw("user 2", Seen::text(AS_UID_1)), $($then),+],
        }
    };
}

pub(super) fn impersonation() -> Row {
    const WHY: &str = "the uid is whatever the client names: anyone can speak as anyone";
    const LISTENING: &str = "user 1, listening for a close";
    Row {
        part6: Cell::Own(Expect::Works(list![
            Fact::saw("user 2", Seen::text("[UID: 9]: it is me, user 1")),
            Fact::saw(LISTENING, Seen::Nothing),
            Fact::saw("user 2", Seen::text("[UID: 1]: still me")),
        ])),
        ..ws(
            believed!(
                WHY,
                Fact::saw(LISTENING, Seen::Nothing),
                Fact::saw("user 2", Seen::text("[UID: 1]: still me"))
            ),
            // The impostor's registration drops user 1's sender, and its
            // session ends with an empty close frame.
            believed!(
                "the uid is whatever the client names: anyone can speak as anyone, and closes \
                 the real user",
                Fact::saw(LISTENING, Seen::EmptyClose)
            ),
            believed!(
                "the uid is whatever the client names: anyone can speak as anyone, and the \
                 newer connection rule closes the real user",
                Fact::saw(LISTENING, Seen::close(1008, REPLACED))
            ),
        )
    }
}

/// Parts 2 to 5 have no `POST /login` to ask.
const NO_LOGIN: Expect = Expect::NotApplicable("no login until part 6: a uid is all it asks for");

/// A row only part 6 can run: the others have no login.
const fn logins(part6: Expect) -> Row {
    Row {
        part1: Cell::Own(NO_WS_ROUTE),
        part2: Cell::Own(NO_LOGIN),
        part3: Cell::Own(NO_LOGIN),
        part4: Cell::Own(NO_LOGIN),
        part5: Cell::Own(NO_LOGIN),
        part6: Cell::Own(part6),
    }
}

pub(super) fn no_token() -> Row {
    logins(Expect::Works(list![Fact::saw(
        "a client with `uid: 1` and no token",
        Seen::refused(401, NO_TOKEN)
    )]))
}

pub(super) fn tampered_token() -> Row {
    logins(Expect::Works(list![
        Fact::saw(
            "a token for uid 1 changed to say uid 2",
            Seen::refused(401, BAD_TOKEN)
        ),
        Fact::saw(
            "a token signed with another key",
            Seen::refused(401, BAD_TOKEN)
        ),
    ]))
}

pub(super) fn expired_token() -> Row {
    logins(Expect::Works(list![Fact::saw(
        "a token that expired a second ago",
        Seen::refused(401, EXPIRED_TOKEN)
    )]))
}

pub(super) fn login() -> Row {
    logins(Expect::Works(list![
        Fact::logged_in("as alice with her password", 200, "<token>"),
        Fact::Cookie {
            set: std::borrow::Cow::Borrowed(TOKEN_COOKIE)
        },
        Fact::saw(
            "alice, with her token",
            Seen::text("[UID: 1]: hello, I logged in")
        ),
        Fact::saw(
            "alice, with the cookie alone",
            Seen::text("[UID: 1]: hello, with my cookie")
        ),
        Fact::logged_in("as alice with a wrong password", 401, WRONG_PASSWORD),
        Fact::logged_in("as nobody, a name without an account", 401, WRONG_PASSWORD),
    ]))
}

pub(super) fn login_limit() -> Row {
    logins(Expect::Works(list![
        Fact::logged_in("5 times with a wrong password", 401, WRONG_PASSWORD),
        Fact::logged_in("once more, with the right password", 429, LOGIN_LIMITED),
    ]))
}

pub(super) fn cluster_one_token() -> Row {
    Row {
        part6: Cell::Own(Expect::Works(list![
            Fact::logged_in("as alice at node 1", 200, "<token>"),
            Fact::saw(
                "user 2 on node 1",
                Seen::text("[UID: 1]: node 2, with node 1's token")
            ),
        ])),
        ..nodes(NO_LOGIN)
    }
}
