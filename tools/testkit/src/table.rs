//! The scenario table: for every checkpoint and scenario, what the tests must
//! observe. It is the single source of truth: each part's tests assert it and
//! the book's matrix is rendered from it.

use crate::scenarios::Scenario;

/// Declares [`Checkpoint`], its [`Checkpoint::ALL`] and its package names
/// from one list, so that a new checkpoint cannot be left out of any of them.
macro_rules! checkpoints {
    ($($(#[doc = $doc:literal])* $variant:ident => $package:literal,)*) => {
        /// A checkpoint crate of the tutorial.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Checkpoint {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Checkpoint {
            /// Every checkpoint, in the order of the tutorial.
            pub const ALL: &'static [Checkpoint] = &[$(Checkpoint::$variant),*];

            /// The Cargo package name, which is also the crate's folder name.
            pub fn package(self) -> &'static str {
                match self {
                    $(Checkpoint::$variant => $package,)*
                }
            }
        }
    };
}

checkpoints! {
    /// `part1`: the healthcheck and the server struct.
    Part1 => "part1",
    /// `part2`: the blog's sessions with the merged-streams run loop.
    Part2 => "part2",
    /// `part3-select-comparison`: part2 with the actix example's nested `select` loop.
    Part3 => "part3-select-comparison",
    /// `part4-hardening`: every defect fixed, a `tokio::select!` loop and a browser client.
    Part4 => "part4-hardening",
}

/// What a checkpoint is expected to do in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The scenario passes.
    Works,
    /// The scenario passes and its evidence is exactly this text.
    WorksAs(&'static str),
    /// A known defect, with a one-line reason. The scenario must fail: a defect
    /// that disappears fails the test too, so the table gets updated.
    Defect(&'static str),
    /// The checkpoint does not have the feature yet, with a one-line reason.
    NotApplicable(&'static str),
}

impl Expect {
    /// The verdict a test must observe for this expectation.
    pub fn verdict(self) -> Verdict {
        match self {
            Expect::Works | Expect::WorksAs(_) => Verdict::Works,
            Expect::Defect(_) => Verdict::Defect,
            Expect::NotApplicable(_) => Verdict::NotApplicable,
        }
    }
}

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

/// One scenario and its expected outcome on each checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// The scenario this row is about.
    pub scenario: Scenario,
    /// Expected outcome on `part1`.
    pub part1: Expect,
    /// Expected outcome on `part2`.
    pub part2: Expect,
    /// Expected outcome on `part3-select-comparison`.
    pub part3: Expect,
    /// Expected outcome on `part4-hardening`.
    pub part4: Expect,
}

impl Row {
    /// The expectation for one checkpoint.
    pub fn expect(&self, checkpoint: Checkpoint) -> Expect {
        match checkpoint {
            Checkpoint::Part1 => self.part1,
            Checkpoint::Part2 => self.part2,
            Checkpoint::Part3 => self.part3,
            Checkpoint::Part4 => self.part4,
        }
    }
}

const NO_WS_ROUTE: Expect = Expect::NotApplicable("no /ws route until part 2");
const HEALTHY: Expect = Expect::WorksAs("answered 200 \"rust-websocket-tutorial is live\"");
const BOTH_RECEIVED: Expect = Expect::WorksAs("both users received \"[UID: 1]: hello\"");
const UID_MISSING: Expect = Expect::WorksAs("closed with 1011 \"uid is missing\"; server still up");
const UID_REQUIRED: Expect = Expect::WorksAs(
    "closed with 1008 \"a numeric uid is required: send a uid header or a ?uid= query \
     parameter\"; server still up",
);
const UNBOUNDED: Expect = Expect::Defect(
    "every user's queue is unbounded: what a reader does not take piles up in server memory",
);
const HEADER_ONLY: Expect =
    Expect::Defect("the uid is read from the header only, which a browser's WebSocket cannot send");
const NO_GOODBYE: Expect = Expect::Defect(
    "actix-web waits up to 30 s for open connections on SIGTERM and nobody tells the clients",
);
const STALE_SENDER_PANICS: Expect = Expect::Defect(
    "the departed user's sender stays in the map; the next broadcast's `send(..).unwrap()` \
     panics the server task and `main` exits",
);

/// The table, one row per scenario, in the order the book presents them.
pub const TABLE: &[Row] = &[
    Row {
        scenario: Scenario::Healthcheck,
        part1: HEALTHY,
        part2: HEALTHY,
        part3: HEALTHY,
        part4: HEALTHY,
    },
    Row {
        scenario: Scenario::Broadcast,
        part1: NO_WS_ROUTE,
        part2: BOTH_RECEIVED,
        part3: BOTH_RECEIVED,
        part4: BOTH_RECEIVED,
    },
    Row {
        scenario: Scenario::MissingUid,
        part1: NO_WS_ROUTE,
        part2: UID_MISSING,
        part3: UID_MISSING,
        part4: UID_REQUIRED,
    },
    Row {
        scenario: Scenario::NonNumericUid,
        part1: NO_WS_ROUTE,
        part2: UID_MISSING,
        part3: UID_MISSING,
        part4: UID_REQUIRED,
    },
    Row {
        scenario: Scenario::UserLeaves,
        part1: NO_WS_ROUTE,
        part2: STALE_SENDER_PANICS,
        part3: STALE_SENDER_PANICS,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::ClientVanishes,
        part1: NO_WS_ROUTE,
        part2: Expect::Defect(
            "`msg_stream.recv()` yields `None` forever and the loop never breaks: it spins a \
             core and, never yielding, starves everything else on its worker thread",
        ),
        part3: Expect::Works,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::VanishNeighbours,
        part1: NO_WS_ROUTE,
        part2: Expect::Defect(
            "the vanished user's session spins, starving its worker thread's users, until its \
             next write panics (`session.text(..).unwrap()`); the next broadcast then panics the \
             server task",
        ),
        part3: Expect::Defect(
            "the loop ends, but the vanished user's sender stays in the map and the first \
             broadcast panics the server task",
        ),
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::EmptyCloseFrame,
        part1: NO_WS_ROUTE,
        part2: Expect::Defect(
            "`Close(None)` has no reason to break with, so the close is never answered; when the \
             client hangs up the loop spins as for a vanished client",
        ),
        part3: Expect::Works,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::SameUidTwice,
        part1: NO_WS_ROUTE,
        part2: Expect::Defect(
            "the newer sender replaces the older in the map; the older session's channel yields \
             `None` forever and it spins",
        ),
        part3: Expect::Works,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::Burst,
        part1: NO_WS_ROUTE,
        part2: Expect::Works,
        part3: Expect::Works,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::HalfOpenClient,
        part1: NO_WS_ROUTE,
        part2: Expect::Defect("no heartbeat: a peer that is gone without a word is never noticed"),
        part3: Expect::Works,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::SlowReader,
        part1: NO_WS_ROUTE,
        part2: UNBOUNDED,
        part3: UNBOUNDED,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::OversizedFrame,
        part1: NO_WS_ROUTE,
        part2: Expect::Defect(
            "a frame over 64 KiB is an `Err(Overflow)` that `let Ok(msg) = msg else { return None }` \
             swallows, and fragments fall into `_`: the client never hears why its message vanished",
        ),
        part3: Expect::Defect(
            "a frame over 64 KiB ends the loop as a stream error with an empty close frame, not \
             1009; fragments fall into `_ => {}` and are never answered",
        ),
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::BinaryFrame,
        part1: NO_WS_ROUTE,
        part2: Expect::Works,
        part3: Expect::Works,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::QueryStringUid,
        part1: NO_WS_ROUTE,
        part2: HEADER_ONLY,
        part3: HEADER_ONLY,
        part4: Expect::WorksAs("chatted as uid 7"),
    },
    Row {
        scenario: Scenario::Shutdown,
        part1: NO_WS_ROUTE,
        part2: NO_GOODBYE,
        part3: NO_GOODBYE,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::Crowd,
        part1: NO_WS_ROUTE,
        part2: Expect::Works,
        part3: Expect::Works,
        part4: Expect::Works,
    },
    Row {
        scenario: Scenario::LeaveWhileTalking,
        part1: NO_WS_ROUTE,
        part2: STALE_SENDER_PANICS,
        part3: STALE_SENDER_PANICS,
        part4: Expect::Works,
    },
];

/// The row of a scenario.
pub fn row(scenario: Scenario) -> &'static Row {
    TABLE
        .iter()
        .find(|row| row.scenario == scenario)
        .unwrap_or_else(|| panic!("scenario {} has no row in the table", scenario.id()))
}

/// What `checkpoint` is expected to do in `scenario`.
pub fn expected(checkpoint: Checkpoint, scenario: Scenario) -> Expect {
    row(scenario).expect(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_has_exactly_one_row() {
        for scenario in Scenario::ALL {
            let rows = TABLE.iter().filter(|row| row.scenario == *scenario).count();
            assert_eq!(rows, 1, "scenario {} has {rows} rows", scenario.id());
        }
        assert_eq!(TABLE.len(), Scenario::ALL.len());
    }

    #[test]
    fn reasons_are_one_line() {
        for row in TABLE {
            for checkpoint in Checkpoint::ALL {
                if let Expect::Defect(text) | Expect::NotApplicable(text) | Expect::WorksAs(text) =
                    row.expect(*checkpoint)
                {
                    assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
                }
            }
        }
    }
}
