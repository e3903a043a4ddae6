//! What a client may send: size limits, message types, valid frames.

use super::texts::*;
use super::*;

pub(super) fn oversized_frame() -> Row {
    ws(
        Expect::Defect {
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
        Expect::Defect {
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
        Expect::Works(list![
            Fact::saw("the sender of one frame", Seen::close(1009, TOO_BIG)),
            Fact::saw("the sender of fragments", Seen::close(1009, TOO_BIG)),
            Fact::OthersChat { users: 1 },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn binary_frame() -> Row {
    ws(
        BINARY_IGNORED,
        BINARY_IGNORED,
        Expect::Works(list![
            Fact::saw("user 1", Seen::close(1003, TEXT_ONLY)),
            Fact::OthersChat { users: 1 },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn invalid_frames() -> Row {
    ws(
        Expect::Defect {
            label: "silent, spins",
            why: "`let Ok(msg) = msg else { return None }` drops the error; a reserved opcode's \
                  error comes again at once, for ever (actix-http leaves the frame in its \
                  buffer): the session spins and starves its worker",
            shows: list![
                Fact::saw("the sender of bytes that are not UTF-8", Seen::Nothing),
                Fact::saw("the sender of a reserved opcode", Seen::Nothing),
                Fact::OthersUnserved,
            ],
        },
        Expect::Defect {
            label: "no code, crashes",
            why: "a stream error ends the loop with an empty close frame, not 1007 or 1002, and \
                  leaves a stale sender that crashes the next broadcast",
            shows: list![
                Fact::saw("the sender of bytes that are not UTF-8", Seen::EmptyClose),
                Fact::saw("the sender of a reserved opcode", Seen::EmptyClose),
                PART3_STALE_SENDER,
            ],
        },
        Expect::Works(list![
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
    )
}
