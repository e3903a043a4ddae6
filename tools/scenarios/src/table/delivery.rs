//! Delivery: every message to everyone, in order, with many clients and slow readers.

use super::texts::*;
use super::*;

pub(super) fn burst() -> Row {
    ws(BURST_DELIVERED, BURST_DELIVERED, BURST_DELIVERED)
}

pub(super) fn slow_reader() -> Row {
    ws(
        UNBOUNDED,
        UNBOUNDED,
        Expect::Works(list![
            Fact::MemoryBelow {
                mib: SLOW_LIMIT_MIB,
            },
            Fact::delivered("user 2", SLOW_MESSAGES),
            Fact::saw("user 1", Seen::close(1008, TOO_SLOW)),
            Fact::OthersChat { users: 1 },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn slow_reader_large() -> Row {
    ws(
        UNBOUNDED_LARGE,
        UNBOUNDED_LARGE,
        Expect::Works(list![
            Fact::MemoryBelow {
                mib: LARGE_LIMIT_MIB,
            },
            Fact::delivered("user 2", LARGE_MESSAGES),
            Fact::saw("user 1", Seen::close(1008, TOO_SLOW)),
            Fact::OthersChat { users: 1 },
            Fact::Healthy,
        ]),
    )
}

pub(super) fn join_storm() -> Row {
    ws(STORM_QUIET, STORM_QUIET, STORM_QUIET)
}

pub(super) fn crowd() -> Row {
    ws(CROWD_DELIVERED, CROWD_DELIVERED, CROWD_DELIVERED)
}

pub(super) fn leave_while_talking() -> Row {
    ws(
        Expect::Defect {
            label: "crashes",
            why: STALE_SENDER_WHY,
            shows: list![PART2_STALE_SENDER],
        },
        Expect::Defect {
            label: "crashes",
            why: STALE_SENDER_WHY,
            shows: list![PART3_STALE_SENDER],
        },
        Expect::Works(list![Fact::delivered("users 2 and 3", 2 * TALK_EACH)]),
    )
}
