//! The workshop's exercises: one for each defect of `part2`, in the order a
//! room should take them (the crash first). Each names the scenarios that
//! prove it done; `workshop-check` prints their hints, `cargo xtask pages`
//! renders the book's exercise list, and `cargo xtask workshop verify` checks
//! that each solution patch turns exactly these scenarios from defect to works.

use crate::Scenario::{self, *};

/// One exercise of the workshop.
#[derive(Debug, Clone, Copy)]
pub struct Exercise {
    /// A short kebab-case name; the solution is `NN-<slug>.patch`.
    pub slug: &'static str,
    /// What to do, in a few words.
    pub title: &'static str,
    /// What "done" means for a user of the chat, in a sentence or two.
    pub goal: &'static str,
    /// From vague to concrete: read one, try, and only then read the next.
    pub hints: &'static [&'static str],
    /// Minutes a pair usually needs, hints included.
    pub minutes: u32,
    /// The scenarios that turn from defect to works when it is done.
    pub scenarios: &'static [Scenario],
    /// Where the book explains the defect: a page and an anchor.
    pub read: &'static str,
}

impl Exercise {
    /// The solution's file name in `workshop/solutions/`, for the exercise
    /// numbered `number` (from 1).
    pub fn patch_name(&self, number: usize) -> String {
        format!("{number:02}-{}.patch", self.slug)
    }
}

/// The exercise whose scenarios include `scenario`, with its number (from 1).
pub fn exercise_for(scenario: Scenario) -> Option<(usize, &'static Exercise)> {
    EXERCISES
        .iter()
        .enumerate()
        .find(|(_, exercise)| exercise.scenarios.contains(&scenario))
        .map(|(index, exercise)| (index + 1, exercise))
}

/// The scenarios the workshop checks: every one that applies to part2 (the
/// cluster scenarios need part 5), except those no exercise can fix.
pub fn workshop_scenarios() -> impl Iterator<Item = Scenario> {
    Scenario::ALL.iter().copied().filter(|&scenario| {
        crate::expect(crate::Checkpoint::Part2, scenario).verdict() != crate::Verdict::NotApplicable
            && !NOT_EXERCISES.iter().any(|(s, _)| *s == scenario)
    })
}

/// The scenarios the workshop leaves out, and why: a defect of part2 that
/// no exercise fixes, or a fault a deployment meets, which part 4's
/// chapter on faults takes on after the workshop's ground is covered.
pub const NOT_EXERCISES: &[(Scenario, &str)] = &[
    (
        CloseHandshake,
        "actix-http keeps the connection open after the close handshake; part 4 cannot fix it either",
    ),
    (
        BadPort,
        "PORT is read by the tutorial's own departure from the blog, for the tests",
    ),
    (StalledReader, DEPLOYMENT),
    (ChattyClient, DEPLOYMENT),
    (InvalidFrames, DEPLOYMENT),
    (ReconnectFlood, DEPLOYMENT),
    (AddressLimits, DEPLOYMENT),
    (ReboundOrigin, DEPLOYMENT),
    (ShutdownBacklog, DEPLOYMENT),
    (PausedServer, DEPLOYMENT),
    (
        Impersonation,
        "part 2 has nothing but the uid a client names; who is speaking takes accounts and \
         tokens, which part 6 adds",
    ),
];

/// Why the faults of a deployment are not exercises.
const DEPLOYMENT: &str = "a fault of deployment, past the blog's ground: part 4's \"Faults a \
                          deployment meets\" takes it on";

/// The exercises, in order. Each builds on the ones before it.
pub const EXERCISES: &[Exercise] = &[
    Exercise {
        slug: "user-leaves",
        title: "Forget a user who leaves",
        goal: "When a user closes the chat, the others keep chatting: the server forgets the \
               user, and no send to a user who has gone can bring the server down.",
        hints: &[
            "The server never hears that a session has ended. Who knows it first, and how could \
             they tell the server?",
            "Add a `UserDisconnect { user_id }` command. The session sends it after its loop \
             ends, and the server removes the user from `session_store`.",
            "A broadcast can still reach a user between the end of the session and the server \
             reading `UserDisconnect`. Do not `unwrap()` that send: a user whose channel is \
             closed has simply gone.",
        ],
        minutes: 25,
        scenarios: &[UserLeaves, LeaveWhileTalking],
        read: "what-breaks.md#user-leaves",
    },
    Exercise {
        slug: "client-vanishes",
        title: "End the loop when the connection is gone",
        goal: "A client that disappears without a close frame costs nothing: its session ends, \
               its worker thread goes on serving the others.",
        hints: &[
            "What does `msg_stream.recv()` yield once the connection is gone, and what does the \
             loop do with it?",
            "`handle_session_message` returns `Option<CloseReason>`, which cannot say \"stop \
             now\". Give it a return type that can, and break the loop on the end of the stream.",
            "The loop now ends with a close reason or with none (the stream ended): pass that \
             `Option<CloseReason>` to `session.close(..)` as it is, rather than wrapping it in \
             `Some`.",
        ],
        minutes: 20,
        scenarios: &[ClientVanishes, VanishNeighbours],
        read: "what-breaks.md#client-vanishes",
    },
    Exercise {
        slug: "empty-close-frame",
        title: "Answer every close frame",
        goal: "A close frame without a code is answered with a close frame, and the session ends.",
        hints: &[
            "Follow `Close(None)` through `handle_session_message`: what does the loop do with it?",
            "Any close frame ends the loop, whatever its reason; the reason (perhaps none) is \
             what the session sends back.",
        ],
        minutes: 10,
        scenarios: &[EmptyCloseFrame],
        read: "what-breaks.md#empty-close-frame",
    },
    Exercise {
        slug: "same-uid-twice",
        title: "Let the newer connection win",
        goal: "A second connection with the same uid takes over: the older one is closed with a \
               reason, and the newer one is never removed by the older one's departure.",
        hints: &[
            "When the server inserts the newer connection's sender, the older one's is dropped. \
             What does the older session's `session_receiver.recv()` yield from then on?",
            "End the session on `ServerMessage(None)`, with a close reason that tells the user \
             why.",
            "Now the older session's `UserDisconnect` removes the *newer* connection's entry. \
             Give every connection an id, and remove an entry only for the connection that \
             made it.",
        ],
        minutes: 20,
        scenarios: &[SameUidTwice],
        read: "what-breaks.md#same-uid-twice",
    },
    Exercise {
        slug: "half-open-client",
        title: "Drop clients that fall silent",
        goal: "A client whose network vanished without a word is noticed and dropped within \
               seconds, and the others hear that it left.",
        hints: &[
            "TCP alone may never tell you that the peer is gone. What could the server send \
             that a live client must answer?",
            "Ping the client on a timer and remember when you last heard from it (any frame \
             counts); drop it after a few silent intervals. A timer can be a third stream in the \
             merge: `(a, b, c).merge()` works.",
            "`tokio::time::interval` needs tokio's `time` feature in `Cargo.toml`; turn \
             `interval.tick()` into a stream the way the loop turns `recv()` into one.",
        ],
        minutes: 30,
        scenarios: &[HalfOpenClient],
        read: "what-breaks.md#half-open-client",
    },
    Exercise {
        slug: "slow-reader",
        title: "Bound each user's queue",
        goal: "A client that stops reading costs a bounded amount of the server's memory: it is \
               disconnected with a reason once too much waits for it, and the others go on.",
        hints: &[
            "Where do the messages for a client that does not read pile up? Nothing ever says \
             \"enough\".",
            "Use a bounded channel (`mpsc::channel(capacity)`) and `try_send` in the server: a \
             full queue means the user is too slow. Mark it so (a flag the session shares), and \
             have the session close the user with a reason. Count bytes too: 256 large \
             messages are 16 MiB.",
            "A session stuck writing to a client that does not read never looks at its queue \
             again. Put a time limit on each write (`tokio::time::timeout`) and end the session \
             with a reason when it runs out.",
        ],
        minutes: 35,
        scenarios: &[SlowReader, SlowReaderLarge],
        read: "what-breaks-limits.md#slow-reader",
    },
    Exercise {
        slug: "bad-uid",
        title: "Refuse a bad uid with 1008 and a reason",
        goal: "A connection with no uid, or one that is not a number, is closed with 1008 \
               (policy violation) and a reason that says what to send.",
        hints: &[
            "Which close code says \"the server failed\", and which says \"your request broke \
             the rules\"? RFC 6455 section 7.4.1 lists them.",
            "`CloseCode::Policy`, and one reason for both cases: the uid must be there and be a \
             number.",
        ],
        minutes: 10,
        scenarios: &[MissingUid, NonNumericUid],
        read: "what-breaks-limits.md#missing-uid",
    },
    Exercise {
        slug: "query-string-uid",
        title: "Let browsers send the uid",
        goal: "A client that cannot set headers (every browser) can join with `/ws?uid=7`.",
        hints: &[
            "A browser's `new WebSocket(url)` cannot add headers. What part of the request can \
             it choose?",
            "Read the `uid` header first; without one, parse the query string \
             (`web::Query::<HashMap<String, String>>::from_query(req.query_string())`).",
        ],
        minutes: 10,
        scenarios: &[QueryStringUid],
        read: "what-breaks-limits.md#query-string-uid",
    },
    Exercise {
        slug: "binary-frame",
        title: "Refuse binary messages with 1003",
        goal: "A binary message is refused with 1003 (unsupported data) and a reason, instead of \
               vanishing.",
        hints: &[
            "Which arm of the match does `Binary` fall into today?",
            "Close with `CloseCode::Unsupported` and a reason such as \"only text messages are \
             supported\".",
        ],
        minutes: 10,
        scenarios: &[BinaryFrame],
        read: "what-breaks-limits.md#binary-frame",
    },
    Exercise {
        slug: "oversized-frame",
        title: "Refuse messages that are too large with 1009",
        goal: "A message over 64 KiB, in one frame or in fragments, is refused with 1009 \
               (message too big) and a reason; the server stays up for the others.",
        hints: &[
            "What does the stream yield today for a frame over actix-ws's limit, and what does \
             the loop do with an `Err`?",
            "Set the limit yourself with `msg_stream.max_frame_size(..)`, and let \
             `.aggregate_continuations().max_continuation_size(..)` join fragments, so one limit \
             covers both.",
            "An oversized frame is `ProtocolError::Overflow`; too many fragments come as an \
             `Io` error. Close both with `CloseCode::Size` and a reason that gives the limit.",
        ],
        minutes: 25,
        scenarios: &[OversizedFrame],
        read: "what-breaks-limits.md#oversized-frame",
    },
    Exercise {
        slug: "flood",
        title: "Limit how fast one user may send",
        goal: "One user who sends flat out cannot drown the room: they are warned, then closed \
               with 1008, and the others' lines arrive promptly meanwhile.",
        hints: &[
            "Every line a user sends goes to every user. What stops one user from sending \
             thousands a second?",
            "A token bucket per session: it holds a burst of tokens and refills at a fixed rate; \
             a message costs one token, and a message with no token left is refused.",
            "Warn once when a user starts being refused, and close with `CloseCode::Policy` if \
             they keep going for another whole burst. Load tests lift the limit with \
             `RATE_LIMIT_PER_SEC=0`, so read the rate from the environment.",
        ],
        minutes: 30,
        scenarios: &[FloodVsReader, FloodVsChat],
        read: "what-breaks-limits.md#flood-vs-reader",
    },
    Exercise {
        slug: "foreign-origin",
        title: "Only the chat's own pages may connect",
        goal: "A page on another site cannot open the chat in its visitors' browsers: the \
               upgrade is refused with 403, and the server's own pages still connect.",
        hints: &[
            "What does a browser send with every WebSocket request that tells you which page \
             opened it?",
            "Compare the `Origin` header with the server's own `Host` (and a list of allowed \
             origins); refuse others with `HttpResponse::Forbidden()` before `actix_ws::handle`.",
        ],
        minutes: 15,
        scenarios: &[ForeignOrigin],
        read: "what-breaks-limits.md#foreign-origin",
    },
    Exercise {
        slug: "shutdown",
        title: "Say goodbye on shutdown",
        goal: "On SIGTERM (or Ctrl-C) every client is closed with 1001 (going away) and a reason, \
               and the process exits within seconds with status 0.",
        hints: &[
            "What does actix-web do with open WebSockets when it is told to stop, and who tells \
             the clients?",
            "Add a `Shutdown` command: the server closes every session's queue, or tells each \
             session why, and then stops its loop. Sessions close their clients with \
             `CloseCode::Away`.",
            "Listen for the signal yourself (`tokio::signal`, tokio's `signal` feature), send \
             `Shutdown`, then stop the HTTP server with `ServerHandle::stop(true)`; turn off \
             actix-web's own signal handling with `.disable_signals()` and bound its wait with \
             `.shutdown_timeout(..)`.",
        ],
        minutes: 30,
        scenarios: &[Shutdown],
        read: "what-breaks-limits.md#shutdown",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Checkpoint, Verdict, expect};

    #[test]
    fn every_defect_of_part2_is_one_exercise_or_explained() {
        for &scenario in Scenario::ALL {
            let defect = expect(Checkpoint::Part2, scenario).verdict() == Verdict::Defect;
            let exercises = EXERCISES
                .iter()
                .filter(|exercise| exercise.scenarios.contains(&scenario))
                .count();
            let explained = NOT_EXERCISES.iter().any(|(s, _)| *s == scenario);
            match (defect, exercises, explained) {
                (true, 1, false) | (_, 0, true) | (false, 0, false) => {}
                _ => panic!(
                    "{}: part2 defect {defect}, in {exercises} exercises, explained {explained}",
                    scenario.id()
                ),
            }
        }
    }

    #[test]
    fn every_exercise_has_a_hint_ladder() {
        for exercise in EXERCISES {
            assert!(
                (2..=3).contains(&exercise.hints.len()),
                "{} has {} hints",
                exercise.slug,
                exercise.hints.len()
            );
            assert!(!exercise.scenarios.is_empty(), "{}", exercise.slug);
        }
    }
}
