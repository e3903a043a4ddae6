//! Part 4 in steps: stacked patches in `part4-hardening/steps/`, one per
//! idea, in the order the book teaches them. Applied in order to a copy of
//! `part3-select-comparison`'s crate, they give `part4-hardening`'s files
//! exactly. Each names the scenarios it turns from defect to works, so that
//! `cargo xtask steps verify` can check that every stage builds, that its
//! step fixed exactly those, and that nothing that worked broke.

use crate::Scenario;

/// One step from part 3 towards part 4.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// A short kebab-case name; the patch is `NN-<slug>.patch`.
    pub slug: &'static str,
    /// What the step does, in a few words.
    pub title: &'static str,
    /// The book page that teaches it and includes its patch.
    pub page: &'static str,
    /// The scenarios that turn from defect to works with it.
    pub fixes: &'static [Scenario],
}

impl Step {
    /// The patch's file name in `part4-hardening/steps/`, for the step
    /// numbered `number` (from 1).
    pub fn patch_name(&self, number: usize) -> String {
        format!("{number:02}-{}.patch", self.slug)
    }
}

/// Where the patches live, relative to the workspace root.
pub const STEPS_DIR: &str = "part4-hardening/steps";

/// The steps, in order.
pub const STEPS: &[Step] = &[
    Step {
        slug: "tokio-select-loop",
        title: "a tokio::select! loop over the client and the queue; one heartbeat timer in the server",
        page: "part4-select.md",
        fixes: &[],
    },
    Step {
        slug: "sessions-report-their-end",
        title: "every end of a session is reported, and removes only its own entry",
        page: "part4-leaving.md",
        fixes: &[
            Scenario::UserLeaves,
            Scenario::LeaveWhileTalking,
            Scenario::ClientVanishes,
            Scenario::VanishNeighbours,
            Scenario::EmptyCloseFrame,
            Scenario::HalfOpenClient,
        ],
    },
    Step {
        slug: "newer-connection-wins",
        title: "the newer connection with a uid wins, and the older is told why",
        page: "part4-leaving.md",
        fixes: &[],
    },
    Step {
        slug: "bounded-queues",
        title: "bounded queues, a kick, and writes with a deadline",
        page: "part4-queues.md",
        fixes: &[Scenario::SlowReader, Scenario::SlowReaderLarge],
    },
    Step {
        slug: "bytes-and-commands",
        title: "a bound in bytes too, and a bounded command channel",
        page: "part4-queues.md",
        fixes: &[],
    },
    Step {
        slug: "presence",
        title: "who joins and who leaves, announced in summaries",
        page: "part4-queues.md",
        fixes: &[],
    },
    Step {
        slug: "query-string-uid",
        title: "the uid from the query string too",
        page: "part4-input.md",
        fixes: &[Scenario::QueryStringUid],
    },
    Step {
        slug: "browser-page",
        title: "a browser page at /",
        page: "part4-input.md",
        fixes: &[],
    },
    Step {
        slug: "bad-input",
        title: "bad input refused with a close code and a reason",
        page: "part4-input.md",
        fixes: &[
            Scenario::MissingUid,
            Scenario::NonNumericUid,
            Scenario::OversizedFrame,
            Scenario::BinaryFrame,
            Scenario::InvalidFrames,
        ],
    },
    Step {
        slug: "rate-limit",
        title: "a rate limit on what each user sends",
        page: "part4-input.md",
        fixes: &[Scenario::FloodVsReader, Scenario::FloodVsChat],
    },
    Step {
        slug: "origin-check",
        title: "only the chat's own pages may open it",
        page: "part4-input.md",
        fixes: &[Scenario::ForeignOrigin, Scenario::ReboundOrigin],
    },
    Step {
        slug: "shutdown",
        title: "a clean shutdown: every client hears 1001 after its backlog",
        page: "part4-shutdown.md",
        fixes: &[Scenario::Shutdown, Scenario::ShutdownBacklog],
    },
    Step {
        slug: "cut-stalled-readers",
        title: "a client that stops reading loses its connection",
        page: "part4-faults.md",
        fixes: &[Scenario::StalledReader],
    },
    Step {
        slug: "paused-server",
        title: "a paused server keeps its clients: pings counted, stalls credited",
        page: "part4-faults.md",
        fixes: &[Scenario::PausedServer],
    },
    Step {
        slug: "chatty-clients",
        title: "no ping to a client that chats, and no Nagle delay",
        page: "part4-faults.md",
        fixes: &[Scenario::ChattyClient],
    },
    Step {
        slug: "limits-per-uid-and-address",
        title: "limits that survive reconnecting: per uid, and per address",
        page: "part4-faults.md",
        fixes: &[Scenario::ReconnectFlood, Scenario::AddressLimits],
    },
    Step {
        slug: "settings",
        title: "every setting checked before the server starts",
        page: "part4-faults.md",
        fixes: &[Scenario::BadPort],
    },
];
