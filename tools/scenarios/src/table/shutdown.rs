//! Stopping: what clients hear when the server is told to stop.

use super::texts::*;
use super::*;

pub(super) fn shutdown() -> Row {
    ws(
        NO_GOODBYE,
        NO_GOODBYE,
        Expect::Works(list![
            Fact::saw("client 1", Seen::close(1001, SHUTTING_DOWN)),
            Fact::saw("client 2", Seen::close(1001, SHUTTING_DOWN)),
            Fact::saw("client 3", Seen::close(1001, SHUTTING_DOWN)),
            Fact::Exited {
                secs: SHUTDOWN_LIMIT_SECS,
                status: 0,
            },
        ]),
    )
}

pub(super) fn shutdown_backlog() -> Row {
    ws(
        Expect::Defect {
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
        Expect::Defect {
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
        Expect::Works(list![
            Fact::delivered("user 1, who had fallen behind,", BACKLOG_LINES),
            Fact::saw("user 1", Seen::close(1001, SHUTTING_DOWN)),
            Fact::Exited {
                secs: SHUTDOWN_LIMIT_SECS,
                status: 0,
            },
        ]),
    )
}
