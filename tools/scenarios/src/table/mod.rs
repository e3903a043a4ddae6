//! The table: for every scenario and checkpoint, the verdict and the facts the
//! test must observe. Each part's scenario tests assert it against the real
//! binary; the book's matrix and transcripts are rendered from it.

use crate::catalogue::Scenario;
use crate::checkpoint::Checkpoint;
use crate::facts::{Fact, Panic, Seen};
use crate::params::*;

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

mod admission;
mod cluster;
mod delivery;
mod departures;
mod fairness;
mod faults;
mod identity;
mod input;
mod shutdown;
mod texts;

use texts::NO_WS_ROUTE;

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

impl Verdict {
    /// The verdict as the matrix and `workshop-check --json` print it.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Works => "works",
            Verdict::Defect => "defect",
            Verdict::NotApplicable => "n/a",
        }
    }

    /// The verdict as a transcript's first line says it.
    pub fn phrase(self) -> &'static str {
        match self {
            Verdict::Works => "works",
            Verdict::Defect => "known defect",
            Verdict::NotApplicable => "not applicable",
        }
    }
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

/// One scenario's expectations, a cell per checkpoint (field `partN` for
/// `Checkpoint::PartN`). Rows are built by [`ws`], [`every`] and
/// [`nodes`], which give the cells that most rows share: a new checkpoint
/// is one field here, one arm in [`Row::expect`], and a default in each.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub part1: Cell,
    pub part2: Cell,
    pub part3: Cell,
    pub part4: Cell,
    pub part5: Cell,
    pub part6: Cell,
}

/// What one checkpoint must show: its own expectation, or the same as an
/// earlier checkpoint's (part 5 run alone must be part 4 exactly).
#[derive(Debug, Clone, Copy)]
pub enum Cell {
    /// Its own expectation.
    Own(Expect),
    /// The cell of that checkpoint, asserted against this one's binary.
    Like(Checkpoint),
}

impl Row {
    /// The expectation for one checkpoint.
    pub fn expect(&self, checkpoint: Checkpoint) -> Expect {
        let cell = match checkpoint {
            Checkpoint::Part1 => self.part1,
            Checkpoint::Part2 => self.part2,
            Checkpoint::Part3 => self.part3,
            Checkpoint::Part4 => self.part4,
            Checkpoint::Part5 => self.part5,
            Checkpoint::Part6 => self.part6,
        };
        match cell {
            Cell::Own(expect) => expect,
            Cell::Like(other) => self.expect(other),
        }
    }
}

/// A scenario of one server over `/ws`, which part 1 lacks; part 5, run
/// alone, is held to part 4's cell, and part 6, whose clients carry tokens,
/// to part 5's.
const fn ws(part2: Expect, part3: Expect, part4: Expect) -> Row {
    Row {
        part1: Cell::Own(NO_WS_ROUTE),
        part2: Cell::Own(part2),
        part3: Cell::Own(part3),
        part4: Cell::Own(part4),
        part5: Cell::Like(Checkpoint::Part4),
        part6: Cell::Like(Checkpoint::Part5),
    }
}

/// A scenario of one server that part 1 can run too.
const fn every(part1: Expect, part2: Expect, part3: Expect, part4: Expect) -> Row {
    Row {
        part1: Cell::Own(part1),
        ..ws(part2, part3, part4)
    }
}

/// What `checkpoint` must show in `scenario`.
pub fn expect(checkpoint: Checkpoint, scenario: Scenario) -> Expect {
    row(scenario).expect(checkpoint)
}

/// The row of `scenario`. An exhaustive `match`: a scenario without a row
/// does not compile. Each theme's rows live in a module of their own, as
/// their runners do in `testkit`.
pub fn row(scenario: Scenario) -> Row {
    match scenario {
        Scenario::Healthcheck => admission::healthcheck(),
        Scenario::BadPort => admission::bad_port(),
        Scenario::Broadcast => admission::broadcast(),
        Scenario::MissingUid => admission::missing_uid(),
        Scenario::NonNumericUid => admission::non_numeric_uid(),
        Scenario::UserLeaves => departures::user_leaves(),
        Scenario::CloseHandshake => departures::close_handshake(),
        Scenario::ClientVanishes => departures::client_vanishes(),
        Scenario::VanishNeighbours => departures::vanish_neighbours(),
        Scenario::EmptyCloseFrame => departures::empty_close_frame(),
        Scenario::SameUidTwice => departures::same_uid_twice(),
        Scenario::Burst => delivery::burst(),
        Scenario::HalfOpenClient => departures::half_open_client(),
        Scenario::StalledReader => faults::stalled_reader(),
        Scenario::ChattyClient => faults::chatty_client(),
        Scenario::SlowReader => delivery::slow_reader(),
        Scenario::SlowReaderLarge => delivery::slow_reader_large(),
        Scenario::OversizedFrame => input::oversized_frame(),
        Scenario::BinaryFrame => input::binary_frame(),
        Scenario::InvalidFrames => input::invalid_frames(),
        Scenario::QueryStringUid => admission::query_string_uid(),
        Scenario::FloodVsReader => fairness::flood_vs_reader(),
        Scenario::FloodVsChat => fairness::flood_vs_chat(),
        Scenario::ReconnectFlood => fairness::reconnect_flood(),
        Scenario::AddressLimits => admission::address_limits(),
        Scenario::JoinStorm => delivery::join_storm(),
        Scenario::ForeignOrigin => admission::foreign_origin(),
        Scenario::ReboundOrigin => admission::rebound_origin(),
        Scenario::Shutdown => shutdown::shutdown(),
        Scenario::ShutdownBacklog => shutdown::shutdown_backlog(),
        Scenario::PausedServer => faults::paused_server(),
        Scenario::Crowd => delivery::crowd(),
        Scenario::LeaveWhileTalking => delivery::leave_while_talking(),
        Scenario::ClusterBroadcast => cluster::cluster_broadcast(),
        Scenario::ClusterPresence => cluster::cluster_presence(),
        Scenario::ClusterSameUid => cluster::cluster_same_uid(),
        Scenario::ClusterNodeKilled => cluster::cluster_node_killed(),
        Scenario::ClusterRollingRestart => cluster::cluster_rolling_restart(),
        Scenario::ClusterRedisRestart => cluster::cluster_redis_restart(),
        Scenario::ClusterOutageSameUid => cluster::cluster_outage_same_uid(),
        Scenario::ClusterMissedClaim => cluster::cluster_missed_claim(),
        Scenario::ClusterDeafSubscription => cluster::cluster_deaf_subscription(),
        Scenario::ClusterRedisStall => cluster::cluster_redis_stall(),
        Scenario::ClusterPublishRefused => cluster::cluster_publish_refused(),
        Scenario::ClusterNodePaused => cluster::cluster_node_paused(),
        Scenario::ClusterSlowLink => cluster::cluster_slow_link(),
        Scenario::ClusterRedisUnreachable => cluster::cluster_redis_unreachable(),
        Scenario::Impersonation => identity::impersonation(),
        Scenario::NoToken => identity::no_token(),
        Scenario::TamperedToken => identity::tampered_token(),
        Scenario::ExpiredToken => identity::expired_token(),
        Scenario::Login => identity::login(),
        Scenario::LoginLimit => identity::login_limit(),
        Scenario::ClusterOneToken => identity::cluster_one_token(),
    }
}

/// The row of a scenario with several nodes, which only parts 5 and 6 can
/// form (part 6 held to part 5's cell).
const fn nodes(part5: Expect) -> Row {
    const ONE_PROCESS: Expect =
        Expect::NotApplicable("one process holds the whole chat until part 5");
    Row {
        part1: Cell::Own(ONE_PROCESS),
        part2: Cell::Own(ONE_PROCESS),
        part3: Cell::Own(ONE_PROCESS),
        part4: Cell::Own(ONE_PROCESS),
        part5: Cell::Own(part5),
        part6: Cell::Like(Checkpoint::Part5),
    }
}

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
