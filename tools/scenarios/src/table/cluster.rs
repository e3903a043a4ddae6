//! Several servers, one chat: the cluster scenarios, which only part 5 can form.

use super::texts::*;
use super::*;

pub(super) fn cluster_broadcast() -> Row {
    nodes(Expect::Works(list![Fact::delivered(
        "every user on every node",
        2 * CLUSTER_EACH
    )]))
}

pub(super) fn cluster_presence() -> Row {
    nodes(Expect::Works(list![
        Fact::saw("user 1 on node 1", Seen::text("[server]: user 2 joined")),
        Fact::saw("user 1 on node 1", Seen::text("[server]: user 2 left")),
    ]))
}

pub(super) fn cluster_same_uid() -> Row {
    nodes(Expect::Works(list![
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
    ]))
}

pub(super) fn cluster_node_killed() -> Row {
    nodes(Expect::Works(list![
        Fact::saw("user 1 on node 1", Seen::text("[server]: user 2 left")),
        Fact::saw("user 3 on node 3", Seen::text("[server]: user 2 left")),
        Fact::delivered("users 1 and 3, each from the other's node", 2),
    ]))
}

pub(super) fn cluster_rolling_restart() -> Row {
    nodes(Expect::Works(list![
        Fact::saw("user 2 on node 2", Seen::close(1001, SHUTTING_DOWN)),
        Fact::saw("user 3 on node 3", Seen::text("[UID: 2]: back, on node 1")),
        Fact::saw("user 3, listening for news of user 2", Seen::Nothing),
    ]))
}

pub(super) fn cluster_redis_restart() -> Row {
    nodes(Expect::Works(list![
        Fact::saw("user 1 on node 1", Seen::text(LINK_LOST)),
        Fact::saw(
            "user 3 on node 1",
            Seen::text("[UID: 1]: during the outage")
        ),
        Fact::saw("user 2 on node 2", Seen::text(LINK_LOST)),
        Fact::saw("user 2 on node 2", Seen::text(LINK_BACK)),
        Fact::saw("user 2 on node 2", Seen::text("[UID: 1]: after the outage")),
    ]))
}

pub(super) fn cluster_outage_same_uid() -> Row {
    nodes(Expect::Works(list![
        Fact::saw(
            "the older connection of uid 7, on node 1",
            Seen::close(1008, REPLACED)
        ),
        Fact::saw(
            "user 2 on node 1",
            Seen::text("[UID: 7]: the newer connection")
        ),
    ]))
}

/// Settled by node 2's heartbeats, the claim itself lost: the same facts.
pub(super) fn cluster_missed_claim() -> Row {
    cluster_outage_same_uid()
}

pub(super) fn cluster_deaf_subscription() -> Row {
    nodes(Expect::Works(list![
        Fact::saw("user 1 on node 1", Seen::text(LINK_LOST)),
        Fact::saw("user 1 on node 1", Seen::text(LINK_BACK)),
        Fact::saw("user 2, listening for news of user 1", Seen::Nothing),
        Fact::saw("user 1 on node 1", Seen::text("[UID: 2]: heard again")),
    ]))
}

pub(super) fn cluster_redis_stall() -> Row {
    nodes(Expect::Works(list![
        Fact::delivered("user 2 on node 2", STALL_LINES),
        Fact::saw("users 1 and 2, listening for notices", Seen::Nothing),
    ]))
}

pub(super) fn cluster_publish_refused() -> Row {
    nodes(Expect::Works(list![
        Fact::saw("user 1 on node 1", Seen::text(LINK_LOST)),
        Fact::saw("user 1 on node 1", Seen::text(LINK_BACK)),
        Fact::saw("user 2 on node 2", Seen::text("[UID: 1]: publishing again")),
    ]))
}

pub(super) fn cluster_node_paused() -> Row {
    nodes(Expect::Works(list![
        Fact::saw("user 1, listening for news of user 2", Seen::Nothing),
        Fact::saw("user 1 on node 1", Seen::text("[UID: 2]: after the pause")),
    ]))
}

pub(super) fn cluster_slow_link() -> Row {
    nodes(Expect::Works(list![
        Fact::delivered("user 2 on node 2", SLOW_LINK_LINES),
        Fact::ArrivedWithin {
            secs: SLOW_LINK_SECS,
        },
    ]))
}

pub(super) fn cluster_redis_unreachable() -> Row {
    nodes(Expect::Works(list![
        Fact::Exited {
            secs: REPLY_SECS,
            status: 1,
        },
        Fact::Logged {
            text: std::borrow::Cow::Borrowed(REDIS_UNREACHABLE),
        },
    ]))
}
