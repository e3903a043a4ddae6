//! Unit tests of checkpoint 5: part4's, and the cluster's. What the
//! scenarios cannot reach from outside, or would need minutes of real time
//! to show. Time is passed in (`..._at(now)`), so nothing here sleeps.

use super::*;
use cluster::{
    Backoff, CHAT_BACKLOG, Kind, LINES_LOST, LINK_BACK, LINK_LOST, NodeId, Outbox, OutboxReceiver,
};
use guards::{AddressLimit, AddressLimits};
use std::net::{IpAddr, Ipv4Addr};

#[test]
fn reasons_agree_with_limits() {
    assert_eq!(
        TOO_SLOW,
        format!(
            "too slow: more than {OUTBOX_CAPACITY} messages or {} KiB were waiting",
            OUTBOX_BYTES / 1024
        )
    );
    assert_eq!(
        TOO_BIG,
        format!("messages are limited to {MAX_MESSAGE_BYTES} bytes")
    );
    assert_eq!(NO_ANSWER, format!("no answer to {MISSED_PINGS} pings"));
    assert!(NOT_READING.contains(&format!("waited {} s", WRITE_TIMEOUT.as_secs())));
}

#[test]
fn reasons_fit_a_close_frame() {
    for reason in [
        TOO_FAST,
        REPLACED,
        TOO_SLOW,
        TOO_BIG,
        TEXT_ONLY,
        NOT_UTF8,
        BAD_FRAME,
        NO_ANSWER,
        SHUTTING_DOWN,
    ] {
        assert!(reason.len() <= 123, "{reason:?} is too long");
    }
}

/// A user's handle for the server, and the session's end of its queue.
fn user(conn_id: ConnId) -> (UserHandle, mpsc::Receiver<Outgoing>) {
    let (user_sender, queue) = mpsc::channel(OUTBOX_CAPACITY);
    let (kick, _kicked) = oneshot::channel();
    let handle = UserHandle {
        conn_id,
        user_sender,
        waiting_bytes: Arc::new(AtomicUsize::new(0)),
        kick,
    };
    (handle, queue)
}

#[test]
fn a_heartbeat_reaches_every_queue_with_room_and_drops_nobody() {
    let (mut server, _factory) = WebSocketServer::new(None, None);
    let (idle, mut idle_queue) = user(1);
    let (behind, mut behind_queue) = user(2);
    for _ in 0..OUTBOX_CAPACITY {
        let line = Outgoing::Text(ByteString::from_static("x"));
        behind
            .user_sender
            .try_send(line)
            .expect("room in the queue");
    }
    server.session_store.insert(1, idle);
    server.session_store.insert(2, behind);
    server.heartbeat();
    assert!(matches!(idle_queue.try_recv(), Ok(Outgoing::Heartbeat)));
    assert!(idle_queue.try_recv().is_err(), "one heartbeat, no more");
    assert_eq!(server.session_store.len(), 2, "a full queue is not dropped");
    let mut behind_items = 0;
    while let Ok(outgoing) = behind_queue.try_recv() {
        assert!(
            matches!(outgoing, Outgoing::Text(_)),
            "no room, no heartbeat"
        );
        behind_items += 1;
    }
    assert_eq!(behind_items, OUTBOX_CAPACITY);
    assert_eq!(Outgoing::Heartbeat.len(), 0, "costs no bytes");
}

#[test]
fn a_kick_says_why_and_a_server_gone_says_1001() {
    let (kick, receiver) = oneshot::channel();
    let mut kicked = Kicked(Some(receiver));
    kick.send((CloseCode::Policy, REPLACED).into())
        .expect("the receiver is there");
    assert_eq!(kicked.reason(), (CloseCode::Policy, REPLACED).into());

    let (kick, receiver) = oneshot::channel::<CloseReason>();
    let mut kicked = Kicked(Some(receiver));
    drop(kick);
    assert_eq!(kicked.reason(), (CloseCode::Away, SHUTTING_DOWN).into());
}

#[test]
fn each_protocol_error_gets_its_close_code() {
    use std::io::{Error as IoError, ErrorKind};
    let code = |err: ProtocolError| refusal(&err).map(|reason| reason.code);
    assert_eq!(code(ProtocolError::Overflow), Some(CloseCode::Size));
    let too_long = IoError::other("Exceeded maximum continuation size");
    assert_eq!(code(ProtocolError::Io(too_long)), Some(CloseCode::Size));
    let not_utf8 = IoError::new(ErrorKind::InvalidData, "invalid utf-8");
    assert_eq!(code(ProtocolError::Io(not_utf8)), Some(CloseCode::Invalid));
    assert_eq!(
        code(ProtocolError::UnmaskedFrame),
        Some(CloseCode::Protocol)
    );
    // A connection that fails is nobody to send a close frame to.
    let hung_up = IoError::other("payload reached EOF before completing");
    assert_eq!(code(ProtocolError::Io(hung_up)), None);
}

/// A limiter for uid 1 with these limits, on a fresh table, and the clock it starts at.
fn user_limiter(per_sec: u32, burst: u32) -> (Limiter, UserLimits, Arc<Stalls>, Instant) {
    let start = Instant::now();
    let stalls = Arc::new(Stalls::new(start));
    let limits = UserLimits::new(RateLimit { per_sec, burst }, Arc::clone(&stalls));
    (limits.limiter(1), limits, stalls, start)
}

/// The server's presence ticks from `from` to `to`, on time.
fn beat_until(stalls: &Stalls, from: Instant, to: Instant) {
    let mut beat = from;
    while beat < to {
        beat = (beat + PRESENCE_INTERVAL).min(to);
        stalls.beat(beat);
    }
}

#[test]
fn the_limiter_sends_a_burst_then_warns_once_then_closes() {
    let (mut limiter, _, _, now) = user_limiter(1, 3);
    for _ in 0..3 {
        assert!(matches!(limiter.admit_at(10, now), Admit::Send));
    }
    assert!(matches!(
        limiter.admit_at(10, now),
        Admit::Refuse { warn: true }
    ));
    assert!(matches!(
        limiter.admit_at(10, now),
        Admit::Refuse { warn: false }
    ));
    assert!(matches!(
        limiter.admit_at(10, now),
        Admit::Refuse { warn: false }
    ));
    assert!(matches!(limiter.admit_at(10, now), Admit::Close));
}

#[test]
fn bytes_are_limited_too_at_4_kib_a_message() {
    // 10 messages a second and 20 at once: 40 KiB a second, 80 KiB at once.
    let (mut limiter, _, _, now) = user_limiter(10, 20);
    let big = 40 * 1024;
    assert!(matches!(limiter.admit_at(big, now), Admit::Send));
    assert!(matches!(limiter.admit_at(big, now), Admit::Send));
    assert!(
        matches!(limiter.admit_at(big, now), Admit::Refuse { warn: true }),
        "80 KiB spent, though 18 messages are left"
    );
    // A second later, 40 KiB more may go, and no more.
    let later = now + Duration::from_secs(1);
    assert!(matches!(limiter.admit_at(big, later), Admit::Send));
    assert!(matches!(
        limiter.admit_at(1024, later),
        Admit::Refuse { .. }
    ));
    // The largest message always fits the burst, even when the burst is small.
    let (mut small, _, _, now) = user_limiter(1, 1);
    assert!(matches!(
        small.admit_at(MAX_MESSAGE_BYTES, now),
        Admit::Send
    ));
}

#[test]
fn a_bucket_refills_at_its_rate_up_to_its_burst() {
    let (mut limiter, _, stalls, now) = user_limiter(10, 2);
    assert!(matches!(limiter.admit_at(1, now), Admit::Send));
    assert!(matches!(limiter.admit_at(1, now), Admit::Send));
    assert!(matches!(limiter.admit_at(1, now), Admit::Refuse { .. }));
    // 150 ms at 10 a second earn 1.5 messages: one goes, the next does not.
    let later = now + Duration::from_millis(150);
    assert!(matches!(limiter.admit_at(1, later), Admit::Send));
    assert!(matches!(limiter.admit_at(1, later), Admit::Refuse { .. }));
    // Ten idle seconds (the server ticking all along) fill the bucket to its
    // burst, and no further.
    let much_later = later + Duration::from_secs(10);
    beat_until(&stalls, later, much_later);
    assert!(matches!(limiter.admit_at(1, much_later), Admit::Send));
    assert!(matches!(limiter.admit_at(1, much_later), Admit::Send));
    assert!(matches!(
        limiter.admit_at(1, much_later),
        Admit::Refuse { .. }
    ));
}

#[test]
fn reconnecting_does_not_refill_a_users_buckets() {
    let (mut first, limits, _, now) = user_limiter(10, 20);
    for _ in 0..20 {
        assert!(matches!(first.admit_at(1, now), Admit::Send));
    }
    // The same uid on a new connection finds the buckets empty.
    let mut again = limits.limiter(1);
    assert!(matches!(
        again.admit_at(1, now),
        Admit::Refuse { warn: true }
    ));
    // Another uid has buckets of its own.
    let mut other = limits.limiter(2);
    assert!(matches!(other.admit_at(1, now), Admit::Send));
}

#[test]
fn lines_that_piled_up_while_the_server_stalled_are_not_a_burst() {
    // An honest user sends 10 lines a second, the most it may.
    let (mut limiter, _, stalls, start) = user_limiter(10, 20);
    let mut now = start;
    for _ in 0..20 {
        assert!(matches!(limiter.admit_at(1, now), Admit::Send));
        now += Duration::from_millis(100);
    }
    // The server is paused for 10 s; the 100 lines sent meanwhile are read
    // at once when it resumes, before its heartbeat has caught up.
    now += Duration::from_secs(10);
    for line in 0..100 {
        assert!(
            matches!(limiter.admit_at(1, now), Admit::Send),
            "line {line} of the backlog was refused"
        );
    }
    // A flood right after is still refused: the credit was the stall's only.
    stalls.beat(now);
    let refused = (0..60)
        .filter(|_| !matches!(limiter.admit_at(1, now), Admit::Send))
        .count();
    assert!(refused > 0, "a burst past the stall's credit went through");
}

#[test]
fn a_late_tick_counts_as_a_stall_and_a_punctual_one_does_not() {
    let start = Instant::now();
    let stalls = Stalls::new(start);
    let on_time = start + PRESENCE_INTERVAL + Duration::from_millis(20);
    stalls.beat(on_time);
    assert_eq!(stalls.total(on_time), Duration::ZERO);
    // Before the next tick, a stall is already counted: for as long as the
    // tick is late.
    let paused = on_time + PRESENCE_INTERVAL + Duration::from_secs(10);
    assert_eq!(stalls.total(paused), Duration::from_secs(10));
    stalls.beat(paused);
    assert_eq!(stalls.total(paused), Duration::from_secs(10));
    let after = paused + PRESENCE_INTERVAL;
    stalls.beat(after);
    assert_eq!(stalls.total(after), Duration::from_secs(10));
}

#[test]
fn an_address_may_hold_and_open_only_so_many_connections() {
    let ip = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let limits = AddressLimits::new(AddressLimit {
        max_open: 3,
        connects_per_sec: 100,
    });
    let now = Instant::now();
    let slots: Vec<_> = (0..3)
        .map(|_| limits.admit_at(ip, now).expect("room for three"))
        .collect();
    assert_eq!(
        limits.admit_at(ip, now).err().as_deref(),
        Some("too many connections from your address: at most 3 at once")
    );
    let other = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    assert!(limits.admit_at(other, now).is_ok(), "another address");
    drop(slots);
    assert!(limits.admit_at(ip, now).is_ok(), "closed ones free places");

    let limits = AddressLimits::new(AddressLimit {
        max_open: 0,
        connects_per_sec: 2,
    });
    let opened = (0..10)
        .filter_map(|_| limits.admit_at(ip, now).ok())
        .collect::<Vec<_>>();
    assert_eq!(opened.len(), 4, "twice the rate at once");
    assert_eq!(
        limits.admit_at(ip, now).err().as_deref(),
        Some("too many new connections from your address: at most 2 a second")
    );
    assert!(limits.admit_at(ip, now + Duration::from_secs(1)).is_ok());

    let unlimited = AddressLimits::new(AddressLimit {
        max_open: 0,
        connects_per_sec: 0,
    });
    assert!((0..1000).all(|_| unlimited.admit_at(ip, now).is_ok()));
}

#[test]
fn every_setting_is_checked_and_explained_in_one_line() {
    let with = |name: &'static str, value: &'static str| {
        move |var: &str| Ok((var == name).then(|| value.to_string()))
    };
    let refused = |name, value| match Settings::read(with(name, value)) {
        Ok(_) => panic!("{name}={value} was accepted"),
        Err(line) => line,
    };
    for (name, value, line) in [
        (
            "PORT",
            "abc",
            "PORT must be a number from 1 to 65535, not \"abc\"",
        ),
        (
            "PORT",
            "70000",
            "PORT must be a number from 1 to 65535, not \"70000\"",
        ),
        (
            "PORT",
            "0",
            "PORT must be a number from 1 to 65535, not \"0\"",
        ),
        (
            "RATE_LIMIT_PER_SEC",
            "fast",
            "RATE_LIMIT_PER_SEC must be a whole number (0 turns the limit off), not \"fast\"",
        ),
        (
            "RATE_LIMIT_BURST",
            "0",
            "RATE_LIMIT_BURST must be a whole number from 1, not \"0\"",
        ),
        (
            "ADDRESS_MAX_CONNECTIONS",
            "-1",
            "ADDRESS_MAX_CONNECTIONS must be a whole number (0: no limit), not \"-1\"",
        ),
        (
            "ADDRESS_CONNECTS_PER_SEC",
            "lots",
            "ADDRESS_CONNECTS_PER_SEC must be a whole number (0: no limit), not \"lots\"",
        ),
        (
            "ALLOWED_ORIGINS",
            "chat.example",
            "ALLOWED_ORIGINS must list origins such as https://chat.example, separated by \
             commas; \"chat.example\" is not one",
        ),
    ] {
        let said = refused(name, value);
        assert_eq!(said, line);
        assert!(!said.contains('\n'));
    }
    let defaults = Settings::read(|_| Ok(None)).expect("the defaults are fine");
    assert_eq!((defaults.host.as_str(), defaults.port), ("127.0.0.1", 5000));
    assert!(defaults.rate_limit.is_some());
    let unlimited = Settings::read(with("RATE_LIMIT_PER_SEC", "0")).expect("0 is fine");
    assert!(unlimited.rate_limit.is_none());
    let not_unicode = Settings::read(|name: &str| {
        if name == "PORT" {
            Err("PORT is not valid UTF-8".to_string())
        } else {
            Ok(None)
        }
    });
    assert_eq!(
        not_unicode.err().as_deref(),
        Some("PORT is not valid UTF-8")
    );
}

#[test]
fn origins_own_listed_absent_foreign_and_rebound() {
    use actix_web::test::TestRequest;
    let settings = Settings::read(|name: &str| {
        Ok((name == "ALLOWED_ORIGINS").then(|| " https://chat.example/ , ".to_string()))
    })
    .expect("a listed origin");
    let allowed = settings.allowed_origins;
    let from = |host: &str, origin: Option<&str>| {
        let mut req = TestRequest::default().insert_header(("host", host));
        if let Some(origin) = origin {
            req = req.insert_header(("origin", origin));
        }
        allowed.allow(&req.to_http_request())
    };
    assert!(
        from("127.0.0.1:5000", None),
        "a terminal client sends no Origin"
    );
    assert!(from("127.0.0.1:5000", Some("http://127.0.0.1:5000")));
    assert!(from("localhost:5000", Some("http://localhost:5000")));
    assert!(from("chat.example", Some("https://chat.example")));
    assert!(!from("127.0.0.1:5000", Some("https://elsewhere.example")));
    assert!(
        !from("127.0.0.1:5000", Some("http://127.0.0.1:5001")),
        "another port is another site"
    );
    assert!(
        !from("rebound.example:5000", Some("http://rebound.example:5000")),
        "a name pointed at this machine is not its own"
    );
}

#[test]
fn presence_names_a_few_counts_many_and_cancels_round_trips() {
    let mut presence = Presence::default();
    assert!(presence.quiet());
    assert!(presence.take_notices().is_empty());
    assert!(presence.quiet(), "nothing was announced");
    presence.joined(7);
    assert_eq!(presence.take_notices(), ["[server]: user 7 joined"]);
    assert!(!presence.quiet(), "just announced");
    for user in [9, 3, 7] {
        presence.joined(user);
    }
    presence.left(4);
    assert_eq!(
        presence.take_notices(),
        ["[server]: users 3, 7 and 9 joined", "[server]: user 4 left"]
    );
    for user in 1..=120 {
        presence.joined(user);
    }
    presence.left(120);
    assert_eq!(presence.take_notices(), ["[server]: 119 users joined"]);
    // Left and back, or joined and gone, within one interval: no notice.
    presence.left(5);
    presence.joined(5);
    presence.joined(6);
    presence.left(6);
    assert!(presence.take_notices().is_empty());
}

#[test]
fn envelopes_survive_the_channel_and_garbage_is_refused() {
    let kinds = [
        Kind::Message {
            user_id: -3,
            text: "two  spaces, and a tail ".to_string(),
        },
        Kind::Message {
            user_id: 4,
            text: String::new(),
        },
        Kind::Claim {
            user_id: 7,
            since: 1_765_000_000_123,
        },
        Kind::Left { user_id: 7 },
        Kind::Heartbeat {
            seq: 12,
            lost: 3,
            version: 9,
            users: "1@10,2@20,30@5".to_string(),
        },
        Kind::Heartbeat {
            seq: 1,
            lost: 0,
            version: 0,
            users: String::new(),
        },
    ];
    for kind in kinds {
        let envelope = Envelope {
            node: 0xfeed_beef,
            kind,
        };
        assert_eq!(Envelope::decode(&envelope.encode()), Some(envelope));
    }
    for garbage in [
        "",
        "zz message 1 hi",
        "1f claim 3",
        "1f left x",
        "1f heartbeat 1",
        "1f heartbeat 1 0",
        "1f heartbeat 1 0 x 2@3",
        "1f shout 1",
    ] {
        assert_eq!(Envelope::decode(garbage), None, "{garbage:?}");
    }
    // The list is read when it is needed, and refused then if it is garbage.
    assert_eq!(Envelope::users("1@10,2@20"), Some(vec![(1, 10), (2, 20)]));
    assert_eq!(Envelope::users(""), Some(Vec::new()));
    assert_eq!(Envelope::users("1@10,2"), None);
}

/// A heartbeat of another node: version `version` of its list `users`.
fn beat(version: u64, users: &[(i32, u64)]) -> Kind {
    let users: Vec<String> = users.iter().map(|(u, s)| format!("{u}@{s}")).collect();
    Kind::Heartbeat {
        seq: 1,
        lost: 0,
        version,
        users: users.join(","),
    }
}

/// A node with a cluster, and what it publishes.
fn node() -> (WebSocketServer, UserSessionFactory, OutboxReceiver) {
    let (outbox, published) = Outbox::new();
    let (server, factory) = WebSocketServer::new(None, Some(Cluster::new(outbox)));
    (server, factory, published)
}

/// A local user: its handle, its queue and its kick signal.
fn local_user(
    conn_id: ConnId,
) -> (
    UserHandle,
    mpsc::Receiver<Outgoing>,
    oneshot::Receiver<CloseReason>,
) {
    let (user_sender, queue) = mpsc::channel(OUTBOX_CAPACITY);
    let (kick, kicked) = oneshot::channel();
    let handle = UserHandle {
        conn_id,
        user_sender,
        waiting_bytes: Arc::new(AtomicUsize::new(0)),
        kick,
    };
    (handle, queue, kicked)
}

fn from(node: NodeId, kind: Kind) -> Envelope {
    Envelope { node, kind }
}

/// What a user's queue holds, as text.
fn lines(queue: &mut mpsc::Receiver<Outgoing>) -> Vec<String> {
    let mut heard = Vec::new();
    while let Ok(outgoing) = queue.try_recv() {
        if let Outgoing::Text(line) = outgoing {
            heard.push(line.to_string());
        }
    }
    heard
}

/// This node's own heartbeat, as it comes back through Redis.
fn own_heartbeat(server: &mut WebSocketServer) {
    let own = server.cluster.as_ref().expect("a cluster").node;
    server.remote(from(own, beat(0, &[])));
}

#[test]
fn of_two_connections_of_one_uid_the_newer_wins_whatever_the_order() {
    let (mut server, _factory, mut published) = node();
    let (handle, _queue, mut kicked) = local_user(5);
    server.user_connect(1, handle);
    let Ok(Envelope {
        kind: Kind::Claim { since: ours, .. },
        ..
    }) = published.receiver.try_recv()
    else {
        panic!("a claim was published");
    };
    // A claim from node b that is older than ours, however late it comes,
    // leaves our connection alone; node b closes its own when it hears ours.
    let older = Kind::Claim {
        user_id: 1,
        since: ours - 1,
    };
    server.remote(from(0xb, older));
    assert!(kicked.try_recv().is_err(), "our newer connection stays");
    assert!(server.session_store.contains_key(&1));
    // A newer one, here in a heartbeat (claims are repeated in every one,
    // so a claim lost on the way is settled a beat later), wins.
    server.remote(from(0xb, beat(2, &[(1, ours + 1)])));
    let reason = kicked.try_recv().expect("the older connection is closed");
    assert_eq!(reason.description.as_deref(), Some(REPLACED));
    assert!(!server.session_store.contains_key(&1));
    assert!(
        server.present(1),
        "the user is still in the chat, on node b"
    );
}

#[test]
fn a_node_is_buried_after_three_of_our_rounds_without_a_word() {
    let (mut server, _factory, _published) = node();
    let (handle, mut queue, _kicked) = local_user(1);
    server.user_connect(1, handle);
    server.remote(from(0xb, beat(1, &[(2, 7)])));
    server.announce_presence(true);
    // However long it takes by the clock, rounds are what count: two rounds
    // of silence, then a word from node b, and the count starts again.
    own_heartbeat(&mut server);
    own_heartbeat(&mut server);
    own_heartbeat(&mut server);
    server.remote(from(0xb, beat(1, &[(2, 7)])));
    own_heartbeat(&mut server);
    own_heartbeat(&mut server);
    assert!(server.present(2));
    // While the link is down no round passes; back, node b starts afresh.
    server.link_changed(false);
    server.link_changed(true);
    own_heartbeat(&mut server);
    own_heartbeat(&mut server);
    assert!(
        server.present(2),
        "two silent rounds since the link came back"
    );
    own_heartbeat(&mut server);
    assert!(
        !server.present(2),
        "three: node b is gone, and user 2 with it"
    );
    server.announce_presence(true);
    assert_eq!(
        lines(&mut queue),
        [
            "[server]: user 1 joined",
            "[server]: user 2 joined",
            LINK_LOST,
            LINK_BACK,
            "[server]: user 2 left",
        ]
    );
}

#[test]
fn a_heartbeat_that_repeats_what_is_known_announces_nothing() {
    let (mut server, _factory, _published) = node();
    let (handle, mut queue, _kicked) = local_user(1);
    server.user_connect(1, handle);
    let users: Vec<(i32, u64)> = (100..1100).map(|user| (user, 1)).collect();
    server.remote(from(0xb, beat(1, &users)));
    server.announce_presence(true);
    assert_eq!(
        lines(&mut queue),
        ["[server]: user 1 joined", "[server]: 1000 users joined"]
    );
    // The same version is not read again: even a list that disagreed with
    // it would change nothing, which shows that it was not read.
    server.remote(from(0xb, beat(1, &[])));
    server.announce_presence(true);
    assert!(lines(&mut queue).is_empty(), "nothing changed");
    assert!(server.present(100));
    // A new version is read: one user gone, one come, and user 1 also on
    // node b for a moment; the news is the two users, not user 1, who is here.
    let mut changed = users[1..].to_vec();
    changed.push((5000, 1));
    changed.push((1, 0));
    server.remote(from(0xb, beat(2, &changed)));
    server.announce_presence(true);
    assert_eq!(
        lines(&mut queue),
        ["[server]: user 5000 joined", "[server]: user 100 left"]
    );
}

#[test]
fn chat_lines_wait_up_to_the_backlog_and_the_rest_always_goes() {
    let (outbox, receiver) = Outbox::new();
    let mut cluster = Cluster::new(outbox);
    let node = cluster.node;
    let line = |n: usize| Envelope {
        node,
        kind: Kind::Message {
            user_id: 1,
            text: n.to_string(),
        },
    };
    for n in 0..CHAT_BACKLOG {
        assert!(cluster.outbox_send(line(n)), "line {n} has room");
    }
    assert!(
        !cluster.outbox_send(line(CHAT_BACKLOG)),
        "the backlog is full"
    );
    assert!(cluster.outbox_send(Envelope {
        node,
        kind: Kind::Left { user_id: 1 },
    }));
    let beat = || Envelope {
        node,
        kind: beat(0, &[]),
    };
    assert!(cluster.outbox_send(beat()));
    assert!(
        !cluster.outbox_send(beat()),
        "one heartbeat waits at a time"
    );
    assert_eq!(receiver.receiver.len(), CHAT_BACKLOG + 2);
    assert_eq!(receiver.lost(), 1, "the dropped line counts as lost");
}

#[test]
fn lines_lost_on_another_node_are_told_here() {
    let (mut server, _factory, _published) = node();
    let (handle, mut queue, _kicked) = local_user(1);
    server.user_connect(1, handle);
    let heartbeat = |lost| {
        from(
            0xb,
            Kind::Heartbeat {
                seq: 1,
                lost,
                version: 0,
                users: String::new(),
            },
        )
    };
    server.remote(heartbeat(0));
    server.remote(heartbeat(2));
    server.remote(heartbeat(2));
    let heard = lines(&mut queue);
    assert_eq!(heard.iter().filter(|line| *line == LINES_LOST).count(), 1);
}

#[test]
fn reconnecting_waits_longer_each_time_until_a_link_stays_up() {
    let mut backoff = Backoff::default();
    let ms = |wait: Duration| wait.as_millis();
    let mut waits = Vec::new();
    for _ in 0..8 {
        // Each link failed a second after it came up, as when Redis refuses
        // every PUBLISH: no wait starts over.
        backoff.lost_after(Duration::from_secs(1));
        waits.push(ms(backoff.next_wait()));
    }
    assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    // A link that stayed up for ten seconds earns the short wait again.
    backoff.lost_after(Duration::from_secs(10));
    assert_eq!(ms(backoff.next_wait()), 100);
    // Attempts that fail to connect keep doubling it.
    assert_eq!(ms(backoff.next_wait()), 200);
}

// Identity: tokens, accounts and login limits, with the time passed in.

use identity::{
    Accounts, BAD_TOKEN, EXPIRED_TOKEN, LOGIN_BURST, LOGIN_REFILL, LOGIN_TABLE_PRUNE_AT,
    LoginLimits, MIN_KEY_BYTES, TokenKey, hash_password,
};

const KEY: &[u8] = b"a key of thirty-two bytes or more, for tests";

#[test]
fn a_token_says_its_uid_until_it_expires() {
    let key = TokenKey::new(KEY).expect("a long enough key");
    let token = key.issue(7, 1_000);
    assert_eq!(key.verify(&token, 999), Ok(7));
    assert_eq!(key.verify(&token, 1_000), Err(EXPIRED_TOKEN));
}

#[test]
fn a_changed_or_foreign_token_is_refused() {
    let key = TokenKey::new(KEY).expect("a long enough key");
    let token = key.issue(7, 1_000);
    let (claim, signature) = token.rsplit_once('.').expect("three fields");
    let other_uid = format!("8{}", &token[1..]);
    let later = format!("{}.{signature}", claim.replace("1000", "9000"));
    let other_key = TokenKey::new(&[b'x'; MIN_KEY_BYTES]).expect("a long enough key");
    for bad in [
        other_uid,
        later,
        other_key.issue(7, 1_000),
        format!("{claim}."),
        "7.1000".to_string(),
        "not a token".to_string(),
        format!("{claim}.zz{}", &signature[2..]),
    ] {
        assert_eq!(key.verify(&bad, 999), Err(BAD_TOKEN), "{bad:?}");
    }
}

#[test]
fn a_short_key_is_refused() {
    let problem = TokenKey::new(b"short").err().expect("refused");
    assert!(problem.contains("at least 32 characters"), "{problem}");
}

#[test]
fn accounts_check_the_password_against_its_hash() {
    let hash = hash_password("open sesame").expect("hashed");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("open sesame"));
    let accounts = Accounts::parse(&format!("# a comment\n\nali 4 {hash}\n")).expect("parsed");
    assert_eq!(accounts.check("ali", "open sesame"), Some(4));
    assert_eq!(accounts.check("ali", "open sesame!"), None);
    assert_eq!(accounts.check("nobody", "open sesame"), None);
}

#[test]
fn a_users_file_that_cannot_be_used_says_which_line() {
    let cases = [
        ("ali 4", "line 1: expected `name uid hash`"),
        (
            "ali four $argon2id$x",
            "line 1: the uid \"four\" is not a number",
        ),
        (
            "ali 4 plain-text",
            "line 1: the password is not an Argon2 hash",
        ),
        (
            "ali 4 $argon2id$a\nali 5 $argon2id$b",
            "line 2: ali is there twice",
        ),
    ];
    for (text, problem) in cases {
        assert_eq!(Accounts::parse(text).err().as_deref(), Some(problem));
    }
}

#[test]
fn logins_from_one_address_are_limited_and_earned_back() {
    let limits = LoginLimits::default();
    let ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let start = Instant::now();
    for _ in 0..LOGIN_BURST {
        assert_eq!(limits.admit_at(ip, start), Ok(()));
    }
    assert_eq!(limits.admit_at(ip, start), Err(LOGIN_REFILL));
    let other = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    assert_eq!(limits.admit_at(other, start), Ok(()), "another address");
    assert_eq!(limits.admit_at(ip, start + LOGIN_REFILL), Ok(()));
    assert!(limits.admit_at(ip, start + LOGIN_REFILL).is_err());
    assert_eq!(limits.admit_at(None, start), Ok(()), "no address, no limit");
}

#[test]
fn a_refused_upgrade_asks_for_a_bearer_token() {
    let refusal = identity::unauthorized(identity::NO_TOKEN);
    assert_eq!(refusal.status(), actix_web::http::StatusCode::UNAUTHORIZED);
    let asks = refusal
        .headers()
        .get(actix_web::http::header::WWW_AUTHENTICATE);
    assert_eq!(asks.and_then(|value| value.to_str().ok()), Some("Bearer"));
}

#[test]
fn a_key_made_at_start_signs_what_it_checks_and_no_other_key_does() {
    let (key, other) = (TokenKey::random(), TokenKey::random());
    let (key, other) = (key.expect("a random key"), other.expect("a random key"));
    let token = key.issue(3, 1_000);
    assert_eq!(key.verify(&token, 999), Ok(3));
    assert_eq!(
        other.verify(&token, 999),
        Err(BAD_TOKEN),
        "two starts, two keys"
    );
}

#[test]
fn the_wait_for_a_login_is_what_the_bucket_lacks() {
    let limits = LoginLimits::default();
    let ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let start = Instant::now();
    for _ in 0..LOGIN_BURST {
        assert_eq!(limits.admit_at(ip, start), Ok(()));
    }
    // Half a refill later half an attempt is earned: half the wait is left.
    let half = start + LOGIN_REFILL / 2;
    assert_eq!(limits.admit_at(ip, half), Err(LOGIN_REFILL / 2));
}

#[test]
fn addresses_whose_bucket_is_full_again_are_forgotten() {
    let limits = LoginLimits::default();
    let address = |n: u32| Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)));
    let start = Instant::now();
    let count = u32::try_from(LOGIN_TABLE_PRUNE_AT).expect("a small table");
    for n in 0..count {
        assert_eq!(limits.admit_at(address(n), start), Ok(()));
    }
    // Half a refill later no bucket is full: the table, over its size now,
    // forgets none of them.
    let half = start + LOGIN_REFILL / 2;
    assert_eq!(limits.admit_at(address(count), half), Ok(()));
    assert_eq!(limits.admit_at(address(count + 1), half), Ok(()));
    assert_eq!(limits.tracked(), LOGIN_TABLE_PRUNE_AT + 2);
    // A refill after the first ones, their buckets are full and they go;
    // the two used half a refill ago stay.
    let later = start + LOGIN_REFILL;
    assert_eq!(limits.admit_at(address(count + 2), later), Ok(()));
    assert_eq!(limits.tracked(), 3);

    // A table of exactly its size is not over it: full buckets stay until
    // one more address comes.
    let limits = LoginLimits::default();
    for n in 0..count {
        assert_eq!(limits.admit_at(address(n), start), Ok(()));
    }
    assert_eq!(limits.admit_at(address(count), later), Ok(()));
    assert_eq!(limits.tracked(), LOGIN_TABLE_PRUNE_AT + 1);
}
