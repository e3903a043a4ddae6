//! Fairness: one user who floods, or reconnects to flood again, must not cost the others their chat.

use super::texts::*;
use super::*;

pub(super) fn flood_vs_reader() -> Row {
    ws(
        FLOOD_UNLIMITED,
        FLOOD_UNLIMITED,
        Expect::Works(list![
            Fact::saw("the flooder", Seen::close(1008, TOO_FAST)),
            Fact::delivered("user 2 (who paused twice)", CHAT_LINES),
        ]),
    )
}

pub(super) fn flood_vs_chat() -> Row {
    ws(
        FLOOD_UNLIMITED,
        FLOOD_UNLIMITED,
        Expect::Works(list![
            Fact::saw("the flooder", Seen::close(1008, TOO_FAST)),
            Fact::delivered("every chatter", CHAT_LINES * CHATTERS),
            Fact::ArrivedWithin { secs: PROMPT_SECS },
        ]),
    )
}

pub(super) fn reconnect_flood() -> Row {
    ws(
        Expect::Defect {
            label: "unlimited",
            why: "nothing limits what a user sends, per connection or otherwise",
            shows: list![Fact::DeliveredMore {
                who: std::borrow::Cow::Borrowed("user 2, of uid 1's lines,"),
                messages: RECONNECT_MOST,
            }],
        },
        Expect::Defect {
            label: "crashes",
            why: "a connection that is gone leaves its sender in the map, and the next \
                  broadcast's `send(..).unwrap()` panics the server task",
            shows: list![PART3_STALE_SENDER],
        },
        Expect::Works(list![
            Fact::DeliveredAtMost {
                who: std::borrow::Cow::Borrowed("user 2, of uid 1's lines,"),
                messages: RECONNECT_MOST,
            },
            Fact::saw("the reconnecting client", Seen::refused(429, TOO_MANY_NEW)),
        ]),
    )
}
