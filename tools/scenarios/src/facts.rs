//! The evidence vocabulary: what a scenario can observe, in a form that is
//! compared field by field (never as rendered text) and rendered for the book.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

/// Text that is `'static` in the table and owned when observed.
pub type Text = Cow<'static, str>;

/// What a client saw on its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A text message.
    Text(Text),
    /// A close frame with a status code and a reason (possibly empty).
    Close {
        /// The close code, RFC 6455 section 7.4.
        code: u16,
        /// The reason text.
        reason: Text,
    },
    /// A close frame with no code and no reason.
    EmptyClose,
    /// The connection ended without a close frame.
    Ended,
    /// Nothing arrived in the time allowed.
    Nothing,
    /// The upgrade was refused with this HTTP status and body.
    Refused {
        /// The HTTP status, such as 403.
        status: u16,
        /// The body, which says why.
        body: Text,
    },
    /// The upgrade was accepted.
    Accepted,
}

/// A source location: in the table, named by an anchor and the call on its
/// line, so that it survives edits; observed, as `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The one line inside `ANCHOR: anchor` of `file` that calls `.call(`;
    /// the column is that of `call`, as Rust reports it for a panic.
    Anchor {
        /// Path from the workspace root.
        file: &'static str,
        /// The mdBook anchor the line is inside.
        anchor: &'static str,
        /// The method called on that line, such as `unwrap`.
        call: &'static str,
    },
    /// `file:line:column`.
    At(Text),
}

/// One panic the server reported on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panic {
    /// Where it panicked.
    pub at: Place,
    /// The first line of the panic message, with task ids written as `..`.
    pub message: Text,
}

/// One observation of a scenario. Each cell of the table lists the facts its
/// test must observe, in order; the test compares them exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// `GET path` answered with this status and body.
    Answered { path: Text, status: u16, body: Text },
    /// A `POST /login` (`who`: as whom, with what password) answered with
    /// this status and body; a token in the body is written `<token>`.
    LoggedIn { who: Text, status: u16, body: Text },
    /// The cookie a login set, its token written `<token>`.
    Cookie { set: Text },
    /// A named user (or client) saw this.
    Saw {
        /// Who, such as `user 1` or `the older connection`.
        who: Text,
        event: Seen,
    },
    /// Every client named received every message, each sender's in order.
    Delivered {
        /// Who, such as `all 200 clients`.
        who: Text,
        /// How many messages each received.
        messages: usize,
    },
    /// Some of the clients named missed messages or got them out of order.
    Undelivered {
        /// Who, such as `the 200 clients`.
        who: Text,
    },
    /// Every message reached everyone named within this many seconds.
    ArrivedWithin { secs: u64 },
    /// Some message took this many seconds or longer to reach someone.
    ArrivedLate { secs: u64 },
    /// Every presence notice a user received was true, and there were at
    /// most this many.
    PresenceTrue {
        /// The most notices allowed.
        at_most: usize,
    },
    /// A user received more presence notices than that, or an untrue one.
    PresenceNoisy {
        /// The most notices allowed.
        at_most: usize,
    },
    /// After the close handshake the server closed TCP within this many ms.
    TcpClosedWithin { ms: u64 },
    /// After the close handshake the connection was still open this many ms later.
    TcpLingered { ms: u64 },
    /// The server process exited after panicking.
    Crashed {
        /// The exit status, 101 for a panic that reached `main`.
        status: i32,
        /// Every panic it reported, in order.
        panics: Cow<'static, [Panic]>,
    },
    /// A server thread was running or waiting to run for most of the window.
    Spinning,
    /// No server thread was busy for long in the window.
    Idle,
    /// `/healthcheck` answered 200.
    Healthy,
    /// `/healthcheck` went unanswered at least once.
    Unresponsive,
    /// Each of the users still connected got the echo of a message it sent.
    OthersChat {
        /// How many users that was.
        users: usize,
    },
    /// At least one of the users still connected got no echo in time.
    OthersUnserved,
    /// A client that the server should drop was still connected after this
    /// many seconds.
    NotDropped {
        /// Who, such as `the silent client`.
        who: Text,
        secs: u64,
    },
    /// A client was dropped within this many seconds, seeing `event`.
    DroppedWithin {
        /// Who, such as `the silent client`.
        who: Text,
        /// The limit it was dropped within.
        secs: u64,
        /// What it saw last: a close frame, or the end of the connection.
        event: Seen,
    },
    /// At most this many of a sender's messages reached the one named.
    DeliveredAtMost {
        /// Who received them, and from whom.
        who: Text,
        /// The most allowed.
        messages: usize,
    },
    /// More than that reached them.
    DeliveredMore {
        /// Who received them, and from whom.
        who: Text,
        /// The most allowed.
        messages: usize,
    },
    /// Every user stayed connected until this many seconds after the event.
    Stayed {
        /// How many users.
        users: usize,
        secs: u64,
    },
    /// The server sent no ping to the one named.
    NotPinged { who: Text },
    /// The server pinged the one named.
    Pinged { who: Text },
    /// The process wrote exactly this to stderr.
    Stderr {
        /// Everything it wrote.
        text: Text,
    },
    /// The server's resident memory grew by less than this many MiB.
    MemoryBelow { mib: u64 },
    /// The server's resident memory grew by this many MiB or more.
    MemoryAbove { mib: u64 },
    /// The process exited on its own within this many seconds.
    Exited {
        secs: u64,
        /// Its exit status (-1 when a signal ended it).
        status: i32,
    },
    /// The process was still running after this many seconds.
    StillRunning { secs: u64 },
    /// The process wrote a line holding this text to its log (stderr).
    Logged {
        /// The text.
        text: Text,
    },
}

impl Seen {
    /// A close frame with a code and reason, in a table.
    pub const fn close(code: u16, reason: &'static str) -> Seen {
        Seen::Close {
            code,
            reason: Cow::Borrowed(reason),
        }
    }

    /// A text message, in a table.
    pub const fn text(text: &'static str) -> Seen {
        Seen::Text(Cow::Borrowed(text))
    }

    /// An upgrade refused with `status` and `body`, in a table.
    pub const fn refused(status: u16, body: &'static str) -> Seen {
        Seen::Refused {
            status,
            body: Cow::Borrowed(body),
        }
    }
}

impl Fact {
    /// `who` saw `event`, in a table.
    /// A `POST /login` answered `status` with `body`.
    pub const fn logged_in(who: &'static str, status: u16, body: &'static str) -> Fact {
        Fact::LoggedIn {
            who: Cow::Borrowed(who),
            status,
            body: Cow::Borrowed(body),
        }
    }

    pub const fn saw(who: &'static str, event: Seen) -> Fact {
        Fact::Saw {
            who: Cow::Borrowed(who),
            event,
        }
    }

    /// Every client named got every message, in a table.
    pub const fn delivered(who: &'static str, messages: usize) -> Fact {
        Fact::Delivered {
            who: Cow::Borrowed(who),
            messages,
        }
    }

    /// A crash with exit status 101 and these panics, in a table.
    pub const fn crashed(panics: &'static [Panic]) -> Fact {
        Fact::Crashed {
            status: 101,
            panics: Cow::Borrowed(panics),
        }
    }

    /// Whether the fact says something went wrong by itself, whatever the
    /// scenario: a crash, a spin, an unanswered probe.
    pub fn is_bad(&self) -> bool {
        matches!(
            self,
            Fact::Crashed { .. }
                | Fact::Spinning
                | Fact::Unresponsive
                | Fact::OthersUnserved
                | Fact::Undelivered { .. }
                | Fact::ArrivedLate { .. }
                | Fact::PresenceNoisy { .. }
                | Fact::TcpLingered { .. }
                | Fact::NotDropped { .. }
                | Fact::DeliveredMore { .. }
                | Fact::Pinged { .. }
                | Fact::MemoryAbove { .. }
                | Fact::StillRunning { .. }
        )
    }

    /// The same fact with every [`Place::Anchor`] turned into `file:line:col`,
    /// read from the sources under `root`.
    pub fn resolved(&self, root: &Path) -> Result<Fact, String> {
        let Fact::Crashed { status, panics } = self else {
            return Ok(self.clone());
        };
        let panics = panics
            .iter()
            .map(|panic| {
                Ok(Panic {
                    at: Place::At(panic.at.resolve(root)?.into()),
                    message: panic.message.clone(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Fact::Crashed {
            status: *status,
            panics: Cow::Owned(panics),
        })
    }
}

impl Panic {
    /// A panic at the `.call(` inside `anchor` of `file`, in a table.
    pub const fn at(
        file: &'static str,
        anchor: &'static str,
        call: &'static str,
        message: &'static str,
    ) -> Panic {
        Panic {
            at: Place::Anchor { file, anchor, call },
            message: Cow::Borrowed(message),
        }
    }
}

impl Place {
    /// `file:line:column`, reading the file under `root` for an anchor.
    pub fn resolve(&self, root: &Path) -> Result<String, String> {
        let (file, anchor, call) = match self {
            Place::At(at) => return Ok(at.to_string()),
            Place::Anchor { file, anchor, call } => (*file, *anchor, *call),
        };
        let text = std::fs::read_to_string(root.join(file))
            .map_err(|err| format!("reading {file}: {err}"))?;
        let is_marker = |line: &str, marker: &str| {
            line.split_once(marker)
                .is_some_and(|(_, rest)| rest.split_whitespace().next() == Some(anchor))
        };
        let lines: Vec<&str> = text.lines().collect();
        let start = lines
            .iter()
            .position(|line| is_marker(line, "ANCHOR:"))
            .ok_or_else(|| format!("{file} has no `ANCHOR: {anchor}`"))?;
        let end = start
            + lines[start..]
                .iter()
                .position(|line| is_marker(line, "ANCHOR_END:"))
                .ok_or_else(|| format!("{file} has no `ANCHOR_END: {anchor}`"))?;
        let needle = format!(".{call}(");
        let hits: Vec<usize> = (start..end)
            .filter(|&index| lines[index].contains(&needle))
            .collect();
        let [index] = hits[..] else {
            return Err(format!(
                "anchor {anchor} of {file} has {} lines calling `{needle}`, not one",
                hits.len()
            ));
        };
        let line = lines[index];
        let column = line.find(&needle).unwrap_or(0) + 2;
        Ok(format!("{file}:{}:{column}", index + 1))
    }
}

/// The close codes of RFC 6455 section 7.4.1 that the scenarios meet.
pub mod close {
    /// The peer is done.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The frame broke the protocol.
    pub const PROTOCOL: u16 = 1002;
    /// A type of data the endpoint cannot accept.
    pub const UNSUPPORTED: u16 = 1003;
    /// Data that does not fit its type, such as text that is not UTF-8.
    pub const INVALID: u16 = 1007;
    /// The message broke the endpoint's rules: the generic refusal.
    pub const POLICY: u16 = 1008;
    /// The message is too big.
    pub const TOO_BIG: u16 = 1009;
    /// An extension the client needs was not negotiated.
    pub const EXTENSION: u16 = 1010;
    /// The server failed.
    pub const SERVER_ERROR: u16 = 1011;
}

/// The name RFC 6455 section 7.4.1 gives a close code, for the book.
pub fn close_code_name(code: u16) -> &'static str {
    match code {
        close::NORMAL => "normal closure",
        close::GOING_AWAY => "going away",
        close::PROTOCOL => "protocol error",
        close::UNSUPPORTED => "unsupported data",
        close::INVALID => "invalid payload data",
        close::POLICY => "policy violation",
        close::TOO_BIG => "message too big",
        close::EXTENSION => "mandatory extension",
        close::SERVER_ERROR => "internal server error",
        _ => "other",
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Text(text) => write!(f, "text {text:?}"),
            Seen::Close { code, reason } => write!(
                f,
                "a close frame with {code} ({}) and reason {reason:?}",
                close_code_name(*code)
            ),
            Seen::EmptyClose => write!(f, "an empty close frame (no code, no reason)"),
            Seen::Ended => write!(f, "the connection end without a close frame"),
            Seen::Nothing => write!(f, "nothing"),
            Seen::Refused { status, body } => {
                write!(f, "the upgrade refused with HTTP {status} and {body:?}")
            }
            Seen::Accepted => write!(f, "the upgrade accepted"),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::At(at) => write!(f, "{at}"),
            Place::Anchor { file, anchor, call } => {
                write!(f, "{file}, the `.{call}(` in anchor `{anchor}`")
            }
        }
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Answered { path, status, body } => {
                write!(f, "GET {path} answered {status} {body:?}")
            }
            Fact::LoggedIn { who, status, body } => {
                write!(f, "POST /login {who} answered {status} {body:?}")
            }
            Fact::Cookie { set } => write!(f, "the login set the cookie {set:?}"),
            Fact::Saw { who, event } => write!(f, "{who} saw {event}"),
            Fact::Delivered { who, messages } => write!(
                f,
                "{who} received all {messages} messages, each sender's in order"
            ),
            Fact::Undelivered { who } => {
                write!(f, "some of {who} missed messages or got them out of order")
            }
            Fact::ArrivedWithin { secs } => {
                write!(
                    f,
                    "every line reached every user within {secs} s of being sent"
                )
            }
            Fact::ArrivedLate { secs } => {
                write!(f, "some line took {secs} s or longer to reach a user")
            }
            Fact::PresenceTrue { at_most } => write!(
                f,
                "every presence notice user 1 received was true, and there were at most {at_most}"
            ),
            Fact::PresenceNoisy { at_most } => write!(
                f,
                "user 1 received more than {at_most} presence notices, or one that was not true"
            ),
            Fact::TcpClosedWithin { ms } => write!(
                f,
                "the server closed the TCP connection within {ms} ms of its close frame"
            ),
            Fact::TcpLingered { ms } => write!(
                f,
                "the TCP connection was still open {ms} ms after the server's close frame"
            ),
            Fact::Crashed { status, panics } => {
                write!(f, "the server process exited with status {status}")?;
                for (index, panic) in panics.iter().enumerate() {
                    let joint = if index == 0 {
                        " after a panic"
                    } else {
                        ", then"
                    };
                    write!(f, "{joint} at {}: {}", panic.at, panic.message)?;
                }
                Ok(())
            }
            Fact::Spinning => write!(
                f,
                "a server thread was running or waiting to run for most of the window: it spins"
            ),
            Fact::Idle => write!(f, "no server thread was busy for most of the window"),
            Fact::Healthy => write!(f, "/healthcheck still answered"),
            Fact::Unresponsive => write!(f, "/healthcheck went unanswered"),
            Fact::OthersChat { users } => {
                let who = if *users == 1 {
                    "the user still connected".to_string()
                } else {
                    format!("each of the {users} users still connected")
                };
                write!(f, "{who} got the echo of a message")
            }
            Fact::OthersUnserved => {
                write!(
                    f,
                    "some of the users still connected got no echo of their message"
                )
            }
            Fact::NotDropped { who, secs } => write!(f, "{who} was still connected after {secs} s"),
            Fact::DroppedWithin { who, secs, event } => {
                write!(f, "{who} was dropped within {secs} s, and saw {event}")
            }
            Fact::DeliveredAtMost { who, messages } => {
                write!(f, "{who} received at most {messages} of its messages")
            }
            Fact::DeliveredMore { who, messages } => {
                write!(f, "{who} received more than {messages} of its messages")
            }
            Fact::Stayed { users, secs } => write!(
                f,
                "all {users} users were still connected {secs} s later, none closed"
            ),
            Fact::NotPinged { who } => write!(f, "the server did not ping {who}"),
            Fact::Pinged { who } => write!(f, "the server pinged {who}"),
            Fact::Stderr { text } => write!(f, "the process wrote exactly {text:?} to stderr"),
            Fact::MemoryBelow { mib } => {
                write!(f, "the server's memory grew by less than {mib} MiB")
            }
            Fact::MemoryAbove { mib } => write!(f, "the server's memory grew by {mib} MiB or more"),
            Fact::Exited { secs, status } => {
                write!(
                    f,
                    "the process exited within {secs} s, with status {status}"
                )
            }
            Fact::StillRunning { secs } => {
                write!(f, "the process was still running after {secs} s")
            }
            Fact::Logged { text } => write!(f, "the process logged {text:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anchor_resolves_to_the_column_of_the_call() {
        let dir = std::env::temp_dir().join(format!("scenarios-place-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("m.rs"),
            "fn a() {}\n// ANCHOR: send\n    tx.send(x)\n        .unwrap();\n// ANCHOR_END: send\n",
        )
        .expect("write");
        let place = Place::Anchor {
            file: "m.rs",
            anchor: "send",
            call: "unwrap",
        };
        assert_eq!(place.resolve(&dir).as_deref(), Ok("m.rs:4:10"));
        let missing = Place::Anchor {
            file: "m.rs",
            anchor: "send",
            call: "expect",
        };
        assert!(missing.resolve(&dir).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
