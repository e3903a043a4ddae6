//! What the bench runs: the chat runs, and the matrices of the full, quick,
//! cluster and presence benches.

/// One configuration of `loadgen chat`.
#[derive(Debug, Clone, Copy)]
pub struct ChatRun {
    /// The file name of its page and chart.
    pub name: &'static str,
    /// Reading clients.
    pub clients: usize,
    /// Sending clients.
    pub senders: usize,
    /// Lines a second across the senders (0: flat out).
    pub rate: u64,
    /// Seconds of sending.
    pub secs: f64,
    /// Whether the clients set TCP_NODELAY, as browsers do, or leave
    /// Nagle's algorithm on, as most other clients do.
    pub nodelay: bool,
}

impl ChatRun {
    /// Its clients, senders, rate, seconds and client kind as `loadgen`
    /// options, which `chat` and `compare` share.
    pub fn loadgen_args(&self) -> [String; 10] {
        [
            "--clients".into(),
            self.clients.to_string(),
            "--senders".into(),
            self.senders.to_string(),
            "--rate".into(),
            self.rate.to_string(),
            "--secs".into(),
            self.secs.to_string(),
            "--client-nodelay".into(),
            self.nodelay.to_string(),
        ]
    }

    /// The client kind as `loadgen`'s JSON line names it.
    pub fn client_kind(&self) -> &'static str {
        scenarios::figures::client_kind(self.nodelay)
    }

    /// The client kind in words.
    pub fn clients(&self) -> &'static str {
        if self.nodelay {
            "clients with TCP_NODELAY, as browsers set it"
        } else {
            "clients with Nagle's algorithm on, as a default tokio-tungstenite connection leaves it"
        }
    }

    /// What it measures, in words, from its numbers; the client kind only
    /// when it is not the usual one (TCP_NODELAY).
    pub fn title(&self) -> String {
        if self.nodelay {
            self.load()
        } else {
            format!("{}, {}", self.load(), self.clients())
        }
    }

    /// The load in words: clients, senders, rate and seconds.
    pub fn load(&self) -> String {
        let senders = match self.senders {
            1 => "one sender".to_string(),
            n => format!("{n} senders"),
        };
        let rate = match self.rate {
            0 => "flat out".to_string(),
            r => format!("at {r} lines a second"),
        };
        format!(
            "{} clients, {senders} {rate} for {} s",
            self.clients, self.secs
        )
    }

    /// The same run made small enough to prove the tool in a moment.
    fn small(self, clients: usize) -> ChatRun {
        ChatRun {
            clients: self.clients.min(clients),
            secs: 0.5,
            ..self
        }
    }
}

/// Part 4's latency target is set at this run: 100 clients, one sender at
/// 500 lines a second.
pub const TARGET: ChatRun = ChatRun {
    name: "target",
    clients: 100,
    senders: 1,
    rate: 500,
    secs: 5.0,
    nodelay: true,
};

/// The target condition with clients that leave Nagle's algorithm on. A
/// ping to such a client while it sends makes it write its pong and then
/// its next line, which waits for the pong's (delayed) ACK; part 4 pings
/// only clients that sent no text since the last heartbeat, and this run
/// shows whether that is enough.
pub const TARGET_NAGLE: ChatRun = ChatRun {
    nodelay: false,
    ..TARGET
};

/// The target: part 4's p50 and p99 at most this many times part 2's.
pub const TARGET_LATENCY_RATIO: f64 = 1.2;

/// The matrix: full, or small enough for CI to prove the tool in a minute.
pub struct Matrix {
    pub chats: Vec<ChatRun>,
    /// Idle clients for the memory per connection.
    pub idle_clients: usize,
    /// Clients in the join storm.
    pub storm_clients: usize,
    /// Repetitions of the whole alternation.
    pub runs: usize,
    /// The chat run to profile with `perf`, if any.
    pub profile: Option<ChatRun>,
    /// Part 4's target condition, once per kind of client (the same load
    /// each time), run on its own with more repetitions and part 2 twice, so
    /// that its ratios come with the noise they carry.
    pub targets: Vec<ChatRun>,
    /// Repetitions of the target run.
    pub target_runs: usize,
    /// Whether to rebuild part 4 at older commits for the chapters'
    /// before-and-afters (`BEFORE_AFTERS`); the quick matrix skips them.
    pub before_after: bool,
}

impl Matrix {
    /// The matrix the chapter shows.
    pub fn full() -> Self {
        let run = |name, clients, senders, rate| ChatRun {
            name,
            clients,
            senders,
            rate,
            secs: 5.0,
            nodelay: true,
        };
        Matrix {
            chats: vec![
                run("moderate", 100, 1, 500),
                run("large-room", 1000, 1, 50),
                run("saturation", 100, 1, 0),
                run("flood", 20, 50, 0),
            ],
            idle_clients: 1000,
            storm_clients: 5000,
            runs: 3,
            profile: Some(run("profile", 100, 1, 0)),
            targets: vec![TARGET, TARGET_NAGLE],
            target_runs: 7,
            before_after: true,
        }
    }

    /// A small matrix that proves the tool works (about a minute).
    pub fn quick() -> Self {
        Matrix {
            chats: Matrix::full()
                .chats
                .into_iter()
                .map(|run| run.small(20))
                .collect(),
            idle_clients: 50,
            storm_clients: 200,
            runs: 3,
            profile: None,
            targets: vec![TARGET.small(20), TARGET_NAGLE.small(20)],
            target_runs: 3,
            before_after: false,
        }
    }
}

/// The cluster comparison: part 5 alone against part 5 on several nodes
/// over a private `redis-server`, on the same chat runs.
pub struct ClusterMatrix {
    pub chats: Vec<ChatRun>,
    /// The node counts compared; the first is the reference.
    pub nodes: Vec<usize>,
    /// Repetitions of the whole alternation.
    pub runs: usize,
}

impl ClusterMatrix {
    /// The comparison the part 5 chapter shows, or a small one that proves
    /// the tool works.
    pub fn new(quick: bool) -> Self {
        let run = |name, rate| ChatRun {
            name,
            clients: 100,
            senders: 1,
            rate,
            secs: 5.0,
            nodelay: true,
        };
        let chats = [run("cluster-moderate", 500), run("cluster-saturation", 0)];
        ClusterMatrix {
            chats: chats
                .into_iter()
                .map(|run| if quick { run.small(20) } else { run })
                .collect(),
            nodes: vec![1, 2],
            runs: 3,
        }
    }
}

/// What presence costs a node as the cluster grows: one real part 5 node
/// among nodes that `loadgen presence` plays, each publishing a heartbeat
/// with all its users every second, at several sizes.
pub struct PresenceMatrix {
    /// Nodes (the real one included) and users on each other node, in
    /// table order; the first is the reference of the ratios.
    pub sizes: Vec<(usize, usize)>,
    /// Repetitions of the whole alternation.
    pub runs: usize,
    /// Seconds of measurement in each run.
    pub secs: f64,
    /// The least seconds of heartbeats before measuring.
    pub warmup: f64,
    /// Clients that read on the real node.
    pub readers: usize,
    /// Lines a second from the one sender on the real node.
    pub rate: u64,
}

/// The most that the largest size's CPU and p99 may be, as multiples of the
/// smallest size's, for presence work to count as proportional to what
/// changed rather than to the cluster's size.
pub const PRESENCE_RATIO: f64 = 2.0;

impl PresenceMatrix {
    /// The sizes the part 5 chapter shows, from 2 nodes of 1,000 users to
    /// 20 of 10,000; or a tiny run that proves the tool works.
    pub fn new(quick: bool) -> Self {
        if quick {
            return PresenceMatrix {
                sizes: vec![(2, 100), (3, 300)],
                runs: 1,
                secs: 2.0,
                warmup: 1.0,
                readers: 20,
                rate: 50,
            };
        }
        PresenceMatrix {
            sizes: vec![(2, 1000), (10, 1000), (10, 10_000), (20, 10_000)],
            // Five, not three: p99 rests on a few slow lines of a run, so
            // its ratios vary more from run to run than the CPU's.
            runs: 5,
            secs: 10.0,
            warmup: 3.0,
            readers: 50,
            rate: 50,
        }
    }
}
