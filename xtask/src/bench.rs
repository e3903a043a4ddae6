//! `cargo xtask bench`: the figures of "What each loop costs".
//!
//! It builds release binaries, then runs `loadgen` (a separate program: xtask
//! itself has no async runtime) over a fixed matrix, alternating the servers
//! run by run (A B C A B C ...), at least three times. It writes medians with
//! min and max, and ratios to part 2 taken within each run, as markdown tables
//! and SVG charts. Every page says the machine and the date: the seconds are
//! figures of one run on one machine; the ratios are what to compare.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The servers compared, in table order; the first is the reference.
pub const SERVERS: &[(&str, &str)] = &[
    ("part2", "part2"),
    ("part3-select-comparison", "part3"),
    ("part4-hardening", "part4"),
    ("baseline-chat", "baseline"),
];

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
    fn loadgen_args(&self) -> [String; 10] {
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
        if self.nodelay { "nodelay" } else { "nagle" }
    }

    /// The client kind in words.
    pub fn clients(&self) -> &'static str {
        if self.nodelay {
            "clients with TCP_NODELAY, as browsers set it"
        } else {
            "clients with Nagle's algorithm on, as most clients that are not browsers leave it"
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
    fn load(&self) -> String {
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
}

/// Part 4's latency target is set at this run: 100 clients, one sender at
/// 500 lines a second.
const TARGET: ChatRun = ChatRun {
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
const TARGET_NAGLE: ChatRun = ChatRun {
    nodelay: false,
    ..TARGET
};

/// The target: part 4's p50 and p99 at most this many times part 2's.
const TARGET_LATENCY_RATIO: f64 = 1.2;

/// The matrix: full, or small enough for CI to prove the tool in a minute.
pub struct Matrix {
    /// The chat runs.
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
    /// Whether to rebuild part 4 at older commits for the chapter's
    /// before-and-after ([`NODELAY`]); the quick matrix skips it.
    pub before_after: bool,
}

impl Matrix {
    /// The matrix the chapter shows.
    pub fn full() -> Self {
        Matrix {
            chats: vec![
                ChatRun {
                    name: "moderate",
                    clients: 100,
                    senders: 1,
                    rate: 500,
                    secs: 5.0,
                    nodelay: true,
                },
                ChatRun {
                    name: "large-room",
                    clients: 1000,
                    senders: 1,
                    rate: 50,
                    secs: 5.0,
                    nodelay: true,
                },
                ChatRun {
                    name: "saturation",
                    clients: 100,
                    senders: 1,
                    rate: 0,
                    secs: 5.0,
                    nodelay: true,
                },
                ChatRun {
                    name: "flood",
                    clients: 20,
                    senders: 50,
                    rate: 0,
                    secs: 5.0,
                    nodelay: true,
                },
            ],
            idle_clients: 1000,
            storm_clients: 5000,
            runs: 3,
            profile: Some(ChatRun {
                name: "profile",
                clients: 100,
                senders: 1,
                rate: 0,
                secs: 5.0,
                nodelay: true,
            }),
            targets: vec![TARGET, TARGET_NAGLE],
            target_runs: 7,
            before_after: true,
        }
    }

    /// A small matrix that proves the tool works (about a minute).
    pub fn quick() -> Self {
        let small = |run: ChatRun| ChatRun {
            clients: run.clients.min(20),
            secs: 0.5,
            ..run
        };
        Matrix {
            chats: Matrix::full().chats.into_iter().map(small).collect(),
            idle_clients: 50,
            storm_clients: 200,
            runs: 3,
            profile: None,
            targets: vec![small(TARGET), small(TARGET_NAGLE)],
            target_runs: 3,
            before_after: false,
        }
    }
}

/// The cluster comparison: part 5 alone against part 5 on several nodes
/// over a private `redis-server`, on the same chat runs.
pub struct ClusterMatrix {
    /// The chat runs.
    pub chats: Vec<ChatRun>,
    /// The node counts compared; the first is the reference.
    pub nodes: Vec<usize>,
    /// Repetitions of the whole alternation.
    pub runs: usize,
}

/// The checkpoint that runs as several nodes.
const CLUSTER_PACKAGE: &str = "part5-scale-out";

impl ClusterMatrix {
    /// The comparison the part 5 chapter shows, or a small one that proves
    /// the tool works.
    pub fn new(quick: bool) -> Self {
        let chats = vec![
            ChatRun {
                name: "cluster-moderate",
                clients: 100,
                senders: 1,
                rate: 500,
                secs: 5.0,
                nodelay: true,
            },
            ChatRun {
                name: "cluster-saturation",
                clients: 100,
                senders: 1,
                rate: 0,
                secs: 5.0,
                nodelay: true,
            },
        ];
        let chats = if quick {
            let small = |run: ChatRun| ChatRun {
                clients: 20,
                secs: 0.5,
                ..run
            };
            chats.into_iter().map(small).collect()
        } else {
            chats
        };
        ClusterMatrix {
            chats,
            nodes: vec![1, 2],
            runs: 3,
        }
    }
}

/// Builds the release binaries and runs only the target run, writing
/// `target.md` into `out`: the page to redo after a change to part 4's
/// latency, without the rest of the matrix.
pub fn bench_target(root: &Path, matrix: &Matrix, out: &Path) -> Result<Vec<PathBuf>> {
    let (loadgen, bins) = build_servers(root)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let header = machine_and_date(&loadgen)?;
    Ok(vec![write_target(&loadgen, &bins, matrix, &header, out)?])
}

/// Builds part 5 and loadgen, then runs each chat run with each node count,
/// alternated run by run, and writes `cluster.md` into `out`.
pub fn bench_cluster(root: &Path, matrix: &ClusterMatrix, out: &Path) -> Result<Vec<PathBuf>> {
    let (loadgen, bin) = build_cluster(root, "the cluster comparison")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let header = machine_and_date(&loadgen)?;
    let mut page = format!(
        "<!-- Generated by `cargo xtask bench --cluster`. Figures of one bench run; no test compares them. -->\n\n\
         `part5-scale-out` alone and as {} nodes of one chat over one `redis-server`, all on this \
         machine; release builds, {} runs with the node counts alternated; {header}. Readers and \
         senders are shared out among the nodes. CPU is the nodes' together, with Redis's \
         apart; memory is the nodes' together. Medians, with min and max across the runs; ratios \
         to one node are taken within each run.\n",
        matrix
            .nodes
            .iter()
            .skip(1)
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(" or "),
        matrix.runs
    );
    for chat in &matrix.chats {
        let mut figures = vec![Vec::new(); matrix.nodes.len()];
        for run in 1..=matrix.runs {
            for (index, nodes) in matrix.nodes.iter().enumerate() {
                eprintln!("bench: {} run {run}: {nodes} node(s)", chat.name);
                let mut args = chat_args(&bin, chat);
                args.extend(["--nodes".to_string(), nodes.to_string()]);
                figures[index].push(loadgen_json(&loadgen, &args)?);
            }
        }
        page.push_str(&cluster_table(chat, &matrix.nodes, &figures));
    }
    let path = out.join("cluster.md");
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    Ok(vec![path])
}

/// Checks that `redis-server` is installed (`bench` is what needs it, for
/// the message) and builds loadgen and part 5 in release mode; returns
/// their paths.
fn build_cluster(root: &Path, bench: &str) -> Result<(PathBuf, PathBuf)> {
    let probe = Command::new("redis-server").arg("--version").output();
    if !probe.is_ok_and(|output| output.status.success()) {
        bail!(
            "redis-server is not installed (Debian: `apt-get install redis-server`); {bench} \
             starts its own"
        );
    }
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "loadgen", "-p"])
        .arg(CLUSTER_PACKAGE)
        .status()
        .context("running cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    let release = scenarios::target_dir().join("release");
    Ok((
        release.join(exe("loadgen")),
        release.join(exe(CLUSTER_PACKAGE)),
    ))
}

/// One chat run's table: a row per node count.
fn cluster_table(chat: &ChatRun, nodes: &[usize], figures: &[Vec<Value>]) -> String {
    let mut out = format!(
        "\n**{}**\n\n\
         | nodes | deliveries/s | ratio to 1 node | lines sent/s | latency p50 ms | p99 ms | nodes' CPU µs per delivery | Redis CPU µs per delivery | nodes' memory MiB | missing |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        chat.title()
    );
    for (index, count) in nodes.iter().enumerate() {
        let f = &figures[index];
        let cell = |key: &str, scale: f64, digits: usize| {
            let (m, lo, hi) = spread(&field(f, key));
            format!(
                "{:.digits$} ({:.digits$}–{:.digits$})",
                m / scale,
                lo / scale,
                hi / scale
            )
        };
        let (ratio, _, _) = spread(&ratios(figures, index, "deliveries_per_sec"));
        let (missing, _, missing_hi) = spread(&field(f, "missing"));
        let _ = writeln!(
            out,
            "| {count} | {} | {ratio:.2} | {} | {} | {} | {} | {} | {} | {missing:.0} (max {missing_hi:.0}) |",
            cell("deliveries_per_sec", 1.0, 0),
            cell("sent_per_sec", 1.0, 0),
            cell("p50_us", 1000.0, 1),
            cell("p99_us", 1000.0, 1),
            cell("cpu_us_per_delivery", 1.0, 2),
            cell("redis_cpu_us_per_delivery", 1.0, 2),
            cell("rss_kib", 1024.0, 1),
        );
    }
    out
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

/// Builds part 5 and loadgen, then runs `loadgen presence` at each size,
/// alternated run by run, and writes `presence.md` into `out`.
pub fn bench_presence(root: &Path, matrix: &PresenceMatrix, out: &Path) -> Result<Vec<PathBuf>> {
    let (loadgen, bin) = build_cluster(root, "the presence bench")?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let header = machine_and_date(&loadgen)?;
    let mut figures = vec![Vec::new(); matrix.sizes.len()];
    for run in 1..=matrix.runs {
        for (index, &(nodes, users)) in matrix.sizes.iter().enumerate() {
            eprintln!("bench: presence run {run}: {}", size_label(nodes, users));
            let args = [
                "presence".to_string(),
                "--bin".into(),
                bin.display().to_string(),
                "--nodes".into(),
                nodes.to_string(),
                "--users".into(),
                users.to_string(),
                "--seconds".into(),
                matrix.secs.to_string(),
                "--warmup".into(),
                matrix.warmup.to_string(),
                "--readers".into(),
                matrix.readers.to_string(),
                "--rate".into(),
                matrix.rate.to_string(),
            ];
            let result = loadgen_json(&loadgen, &args)?;
            // A loadgen that ignored an option would put one size's figures
            // in another's row.
            if result["nodes"].as_u64() != Some(nodes as u64)
                || result["users"].as_u64() != Some(users as u64)
            {
                bail!(
                    "loadgen ran {} nodes of {} users where {nodes} of {users} were asked for",
                    result["nodes"],
                    result["users"]
                );
            }
            figures[index].push(result);
        }
    }
    let path = out.join("presence.md");
    std::fs::write(&path, presence_page(matrix, &header, &figures))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(vec![path])
}

/// `20 × 10,000`: nodes, and users on each node that loadgen plays.
fn size_label(nodes: usize, users: usize) -> String {
    format!("{nodes} × {}", thousands(users as u64))
}

/// `10000` as `10,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The presence page: a row per size, then what the largest size costs
/// against the smallest, in words, from the same ratios.
fn presence_page(matrix: &PresenceMatrix, header: &str, figures: &[Vec<Value>]) -> String {
    let label = |index: usize| {
        let (nodes, users) = matrix.sizes[index];
        size_label(nodes, users)
    };
    let first = label(0);
    let mut out = format!(
        "<!-- Generated by `cargo xtask bench --presence`. Figures of one bench run; no test compares them. -->\n\n\
         One real `part5-scale-out` node among nodes that `loadgen presence` plays: each of those \
         publishes to the node's `redis-server`, every second, a heartbeat that lists its users, \
         as a node does. On the real node, {} readers and one sender at {} lines a second; echo \
         latency is from the sender's line to the readers, over {} s measured after a warm-up \
         in which the node heard every other node's users. CPU is the real node's, as a share of \
         one core. Release builds, {} with the sizes alternated; {header}. Medians, with min \
         and max across the runs; ratios to {first} are taken within each run.\n\n\
         | nodes × users per node | users on other nodes | node CPU % of a core | CPU ratio to {first} | echo p50 ms | echo p99 ms | p99 ratio to {first} | Redis CPU % | missing | nodes buried |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        matrix.readers,
        matrix.rate,
        matrix.secs,
        match matrix.runs {
            1 => "one run".to_string(),
            n => format!("{n} runs"),
        }
    );
    let show = |(m, lo, hi): (f64, f64, f64), scale: f64| {
        format!("{:.2} ({:.2}–{:.2})", m * scale, lo * scale, hi * scale)
    };
    let mut unheard = Vec::new();
    for (index, &(nodes, users)) in matrix.sizes.iter().enumerate() {
        let f = &figures[index];
        let elsewhere = thousands((nodes.saturating_sub(1) * users) as u64);
        let buried: Vec<f64> = field(f, "buried")
            .into_iter()
            .filter(|n| n.is_finite())
            .collect();
        let burying_runs = buried.iter().filter(|&&n| n > 0.0).count();
        let buried = match burying_runs {
            0 => "none".to_string(),
            runs => format!(
                "{} in {runs} of {} runs",
                buried.iter().sum::<f64>(),
                f.len()
            ),
        };
        let short = f
            .iter()
            .filter(|run| run["heard_all"].as_bool() == Some(false))
            .count();
        if short > 0 {
            unheard.push(format!("{} ({short} of {} runs)", label(index), f.len()));
        }
        let (missing, _, missing_hi) = spread(&field(f, "missing"));
        let _ = writeln!(
            out,
            "| {} | {elsewhere} | {} | {} | {} | {} | {} | {} | {missing:.0} (max {missing_hi:.0}) | {buried} |",
            label(index),
            show(spread(&field(f, "cpu_share")), 100.0),
            show(spread(&ratios(figures, index, "cpu_share")), 1.0),
            show(spread(&field(f, "p50_us")), 1e-3),
            show(spread(&field(f, "p99_us")), 1e-3),
            show(spread(&ratios(figures, index, "p99_us")), 1.0),
            show(spread(&field(f, "redis_cpu_share")), 100.0),
        );
    }
    if !unheard.is_empty() {
        let _ = write!(
            out,
            "\nThe node had not announced every other node's users by the end of the warm-up at \
             {}; those runs were measured all the same.\n",
            unheard.join(", ")
        );
    }
    let last = matrix.sizes.len() - 1;
    if last > 0 {
        // Judged as printed, to two decimals, so that the words match the table.
        let printed = |value: f64| format!("{value:.2}").parse().unwrap_or(value);
        let cpu = printed(spread(&ratios(figures, last, "cpu_share")).0);
        let p99 = printed(spread(&ratios(figures, last, "p99_us")).0);
        let within = |ratio: f64| {
            if ratio <= PRESENCE_RATIO {
                "within"
            } else {
                "**not** within"
            }
        };
        let _ = write!(
            out,
            "\nAt {} the node's CPU is {cpu:.2} times and its echo p99 {p99:.2} times what they \
             are at {first} (medians of the ratios): CPU {} {PRESENCE_RATIO} times, p99 {} \
             {PRESENCE_RATIO} times.\n",
            label(last),
            within(cpu),
            within(p99),
        );
    }
    out
}

/// Builds loadgen in release mode and returns its path.
fn build_loadgen(root: &Path) -> Result<PathBuf> {
    let status = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "loadgen"])
        .status()
        .context("running cargo build --release -p loadgen")?;
    if !status.success() {
        bail!("cargo build --release -p loadgen failed");
    }
    Ok(scenarios::target_dir().join("release").join(exe("loadgen")))
}

/// The arguments of `loadgen chat` for `chat` against `bin`.
fn chat_args(bin: &Path, chat: &ChatRun) -> Vec<String> {
    let mut args = vec!["chat".into(), "--bin".into(), bin.display().to_string()];
    args.extend(chat.loadgen_args());
    args
}

/// Builds loadgen and [`SERVERS`] in release mode; returns loadgen's path
/// and the servers', in [`SERVERS`] order.
fn build_servers(root: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(root)
        .args(["build", "--release", "--quiet", "-p", "loadgen"]);
    for (package, _) in SERVERS {
        build.args(["-p", package]);
    }
    let status = build.status().context("running cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    let release = scenarios::target_dir().join("release");
    let bins = SERVERS.iter().map(|(p, _)| release.join(exe(p))).collect();
    Ok((release.join(exe("loadgen")), bins))
}

/// Builds the release binaries and runs the matrix, writing its pages into
/// `out`. Returns the files written.
pub fn bench(root: &Path, matrix: &Matrix, out: &Path) -> Result<Vec<PathBuf>> {
    let (loadgen, bins) = build_servers(root)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let header = machine_and_date(&loadgen)?;
    let mut written = Vec::new();
    for chat in &matrix.chats {
        let mut figures = vec![Vec::new(); SERVERS.len()];
        for run in 1..=matrix.runs {
            for (index, bin) in bins.iter().enumerate() {
                eprintln!("bench: {} run {run}: {}", chat.name, SERVERS[index].1);
                let args = chat_args(bin, chat);
                figures[index].push(loadgen_json(&loadgen, &args)?);
            }
        }
        let page = out.join(format!("{}.md", chat.name));
        std::fs::write(&page, chat_page(chat, matrix.runs, &header, &figures))
            .with_context(|| format!("writing {}", page.display()))?;
        written.push(page);
        let chart = out.join(format!("{}.svg", chat.name));
        std::fs::write(&chart, latency_chart(chat, &figures))
            .with_context(|| format!("writing {}", chart.display()))?;
        written.push(chart);
    }

    let mut idle = vec![Vec::new(); SERVERS.len()];
    let mut storm = vec![Vec::new(); SERVERS.len()];
    for run in 1..=matrix.runs {
        for (index, bin) in bins.iter().enumerate() {
            eprintln!("bench: connections run {run}: {}", SERVERS[index].1);
            let bin = bin.display().to_string();
            let clients = matrix.idle_clients.to_string();
            idle[index].push(loadgen_json(
                &loadgen,
                &["idle", "--bin", &bin, "--clients", &clients],
            )?);
            let clients = matrix.storm_clients.to_string();
            let args = [
                "join-storm",
                "--bin",
                &bin,
                "--clients",
                &clients,
                "--runs",
                "1",
            ];
            storm[index].push(loadgen_json(&loadgen, &args)?);
        }
    }
    let page = out.join("connections.md");
    std::fs::write(&page, connections_page(matrix, &header, &idle, &storm))
        .with_context(|| format!("writing {}", page.display()))?;
    written.push(page);

    written.push(write_target(&loadgen, &bins, matrix, &header, out)?);

    if matrix.before_after {
        for compare in [&NODELAY, &TWO_SOURCES] {
            written.extend(before_after(root, &loadgen, &bins, compare, out)?);
        }
    }

    if let Some(chat) = matrix.profile {
        let page = out.join("profile.md");
        std::fs::write(&page, profile_page(&loadgen, &bins, &chat, &header)?)
            .with_context(|| format!("writing {}", page.display()))?;
        written.push(page);
    }
    Ok(written)
}

/// A before-and-after that the chapter shows: one checkpoint built at two
/// commits and compared by `loadgen compare` in one run.
pub struct BeforeAfter {
    /// The page written, in the output folder.
    pub page: &'static str,
    /// The package built at both commits.
    pub package: &'static str,
    /// The commit and table label before the change.
    pub before: (&'static str, &'static str),
    /// The commit and table label after it.
    pub after: (&'static str, &'static str),
    /// The chat run they are compared on.
    pub chat: ChatRun,
    /// How many times the servers are alternated.
    pub runs: usize,
    /// A server of [`SERVERS`] (its label), built from today's code, to run
    /// first in every round, so that both ratios are to it.
    pub reference: Option<&'static str>,
}

/// Part 4 just before and just after it set `TCP_NODELAY` (see "The
/// heartbeat and Nagle's algorithm" in the chapter).
pub const NODELAY: BeforeAfter = BeforeAfter {
    page: "part4-nodelay.md",
    package: "part4-hardening",
    before: ("207b96f", "part4 before (207b96f)"),
    after: ("81bffa2", "part4 with TCP_NODELAY (81bffa2)"),
    chat: ChatRun {
        name: "part4-nodelay",
        ..TARGET
    },
    runs: 3,
    reference: None,
};

/// Part 4's session loop with four sources and with two, the heartbeat and
/// the kick moved out of it (see "Why two sources and not four"), at
/// saturation, beside part 2.
pub const TWO_SOURCES: BeforeAfter = BeforeAfter {
    page: "part4-two-sources.md",
    package: "part4-hardening",
    before: ("b5b5b64", "part4, four sources (b5b5b64)"),
    after: ("bcbb400", "part4, two sources (bcbb400)"),
    chat: ChatRun {
        name: "part4-two-sources",
        rate: 0,
        ..TARGET
    },
    runs: 5,
    reference: Some("part2"),
};

/// Builds `compare.package` at both commits and writes the comparison page.
/// Without the commits (a copy with no git history, such as the offline
/// bundle) it says so and leaves the page as it is.
fn before_after(
    root: &Path,
    loadgen: &Path,
    today: &[PathBuf],
    compare: &BeforeAfter,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let mut bins = Vec::new();
    if let Some(reference) = compare.reference {
        let index = SERVERS
            .iter()
            .position(|(_, label)| *label == reference)
            .with_context(|| format!("{reference} is not one of the bench's servers"))?;
        bins.push(format!("{reference}={}", today[index].display()));
    }
    for (commit, label) in [compare.before, compare.after] {
        let has_commit = Command::new("git")
            .current_dir(root)
            .args(["cat-file", "-e", &format!("{commit}^{{commit}}")])
            .output()
            .is_ok_and(|output| output.status.success());
        if !has_commit {
            eprintln!(
                "bench: commit {commit} is not in this copy's history; {} left as it is",
                compare.page
            );
            return Ok(Vec::new());
        }
        let bin = build_at(root, commit, compare.package)?;
        bins.push(format!("{label}={}", bin.display()));
    }
    let chat = &compare.chat;
    let page = out.join(compare.page);
    let mut args = vec!["compare".to_string()];
    args.extend(chat.loadgen_args());
    args.extend(["--runs".into(), compare.runs.to_string()]);
    args.extend(["--out".into(), page.display().to_string()]);
    for bin in bins {
        args.extend(["--bin".to_string(), bin]);
    }
    eprintln!("bench: {}", compare.page);
    let status = Command::new(loadgen)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {}", loadgen.display()))?;
    if !status.success() {
        bail!("loadgen compare failed ({status})");
    }
    Ok(vec![page])
}

/// Builds `package` in release mode as it was at `commit`, from a copy of
/// that commit's files under `target/bench-before/`, and returns the binary.
fn build_at(root: &Path, commit: &str, package: &str) -> Result<PathBuf> {
    let before = scenarios::target_dir().join("bench-before");
    let tree = before.join(commit);
    if !tree.join("Cargo.toml").exists() {
        std::fs::create_dir_all(&tree).with_context(|| format!("creating {}", tree.display()))?;
        let archive = before.join(format!("{commit}.tar"));
        let status = Command::new("git")
            .current_dir(root)
            .args(["archive", "--format=tar", "-o"])
            .arg(&archive)
            .arg(commit)
            .status()
            .context("running git archive")?;
        if !status.success() {
            bail!("git archive {commit} failed");
        }
        let status = Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&tree)
            .status()
            .context("running tar")?;
        if !status.success() {
            bail!("unpacking {} failed", archive.display());
        }
    }
    // A target folder per commit. Sharing ours would overwrite today's
    // binary; sharing one between commits would not even rebuild, because
    // `git archive` dates every file at its commit, older than the last build.
    let target = tree.join("target");
    eprintln!("bench: building {package} at {commit}");
    let status = Command::new(env!("CARGO"))
        .current_dir(&tree)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            package,
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .context("running cargo build --release")?;
    if !status.success() {
        bail!("cargo build --release -p {package} failed at {commit}");
    }
    let built = target.join("release").join(exe(package));
    let kept = before.join(exe(&format!("{package}-{commit}")));
    std::fs::copy(&built, &kept)
        .with_context(|| format!("copying {} to {}", built.display(), kept.display()))?;
    Ok(kept)
}

/// The servers of the target run, in run order: part 2, part 4, and part 2
/// again (the same binary, started anew) as the control.
const TARGET_SERVERS: [(usize, &str); 3] = [(0, "part2"), (2, "part4"), (0, "part2 again")];

/// Runs the target run and writes `target.md` into `out`; returns its path.
fn write_target(
    loadgen: &Path,
    bins: &[PathBuf],
    matrix: &Matrix,
    header: &str,
    out: &Path,
) -> Result<PathBuf> {
    let figures = run_target(loadgen, bins, matrix)?;
    let targets: Vec<(ChatRun, Vec<Vec<Value>>)> =
        matrix.targets.iter().copied().zip(figures).collect();
    let page = out.join("target.md");
    std::fs::write(&page, target_page(header, &targets))
        .with_context(|| format!("writing {}", page.display()))?;
    Ok(page)
}

/// Runs each of `matrix.targets` `matrix.target_runs` times, alternating
/// [`TARGET_SERVERS`] within each client kind and the kinds within each
/// round. The figures come back per target, then per server in that order.
fn run_target(loadgen: &Path, bins: &[PathBuf], matrix: &Matrix) -> Result<Vec<Vec<Vec<Value>>>> {
    let mut figures = vec![vec![Vec::new(); TARGET_SERVERS.len()]; matrix.targets.len()];
    for run in 1..=matrix.target_runs {
        for (target, kind) in matrix.targets.iter().zip(&mut figures) {
            for (slot, (index, label)) in TARGET_SERVERS.iter().enumerate() {
                eprintln!("bench: target run {run}, {}: {label}", target.client_kind());
                let args = chat_args(&bins[*index], target);
                let result = loadgen_json(loadgen, &args)?;
                // A loadgen that ignored the option would fill the other
                // kind's table with this kind's figures.
                if result["client"].as_str() != Some(target.client_kind()) {
                    bail!(
                        "loadgen ran {} clients where {} were asked for",
                        result["client"],
                        target.client_kind()
                    );
                }
                kind[slot].push(result);
            }
        }
    }
    Ok(figures)
}

/// Part 4 against its target, for each kind of client, with part 2 against
/// itself beside it: the ratios that two runs of one server reach are the
/// noise of this machine. `targets` share one load and differ in the
/// client kind; each comes with its figures as [`run_target`] returns them.
fn target_page(header: &str, targets: &[(ChatRun, Vec<Vec<Value>>)]) -> String {
    let Some((first, figures)) = targets.first() else {
        return String::new();
    };
    let runs = figures[0].len();
    let kinds = if targets.len() > 1 {
        ", with each kind of client in turn"
    } else {
        ""
    };
    let mut out = format!(
        "<!-- Generated by `cargo xtask bench` (or `--target`). Figures of one bench run; no test compares them. -->\n\n\
         Part 4 against its target: **{}**, release builds, {runs} runs of part 2, part 4 and \
         part 2 again, alternated{kinds}; {header}. Part 2 runs twice in every round, so the \
         second row of a table shows how far two runs of the same server differ on this machine: \
         the noise that every ratio carries. Ratios to the first part 2 are taken within each \
         run; medians, with min and max.\n",
        first.load()
    );
    for (chat, figures) in targets {
        out.push_str(&target_section(chat, figures));
    }
    out
}

/// One client kind's table and verdict on the target page.
fn target_section(chat: &ChatRun, figures: &[Vec<Value>]) -> String {
    let ms = |key: &str| {
        let (m, lo, hi) = spread(&field(&figures[0], key));
        format!(
            "{:.1} ms ({:.1}–{:.1})",
            m / 1000.0,
            lo / 1000.0,
            hi / 1000.0
        )
    };
    let mut clients = chat.clients().to_string();
    if let Some(first) = clients.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    // A ping to the sender is what Nagle's algorithm makes costly: count them.
    let pings: Vec<f64> = field(&figures[1], "sender_pings")
        .into_iter()
        .filter(|n| n.is_finite())
        .collect();
    let pings = if pings.is_empty() {
        String::new()
    } else {
        format!(
            " Pings the sender received from part 4, in all runs together: {}.",
            pings.iter().sum::<f64>()
        )
    };
    let mut out = format!(
        "\n**{clients}.** Part 2's own latency with them: p50 {}, p99 {}.{pings}\n\n\
         | ratio to part 2 | latency p50 | p99 | server CPU per delivery |\n\
         | --- | --- | --- | --- |\n",
        ms("p50_us"),
        ms("p99_us"),
    );
    let cell = |slot: usize, key: &str| spread(&ratios(figures, slot, key));
    for (slot, (_, label)) in TARGET_SERVERS.iter().enumerate().skip(1) {
        let show = |(m, lo, hi): (f64, f64, f64)| format!("{m:.2} ({lo:.2}–{hi:.2})");
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} |",
            show(cell(slot, "p50_us")),
            show(cell(slot, "p99_us")),
            show(cell(slot, "cpu_us_per_delivery")),
        );
    }
    // Judged as printed, to two decimals, so that the words match the
    // figures: read back from the text, since `round` and `format!` may
    // round a half (1.125) different ways.
    let printed = |value: f64| format!("{value:.2}").parse().unwrap_or(value);
    let p50 = printed(cell(1, "p50_us").0);
    let p99 = printed(cell(1, "p99_us").0);
    let cpu = printed(cell(1, "cpu_us_per_delivery").0);
    let noise = printed(cell(2, "cpu_us_per_delivery").2);
    let latency = if p50 <= TARGET_LATENCY_RATIO && p99 <= TARGET_LATENCY_RATIO {
        "**met**"
    } else {
        "**not met**"
    };
    let cpu_verdict = if cpu <= 1.0 {
        format!("**met**: the median ratio is {cpu:.2}")
    } else if cpu <= noise {
        format!(
            "**met within the noise**: the median ratio is {cpu:.2}, and part 2 against itself \
             reached {noise:.2}"
        )
    } else {
        format!(
            "**not met**: the median ratio is {cpu:.2}, above what part 2 reached against \
             itself ({noise:.2})"
        )
    };
    let _ = write!(
        out,
        "\nThe target with these clients: part 4's p50 and p99 at most {TARGET_LATENCY_RATIO} \
         times part 2's, {latency} (medians {p50:.2} and {p99:.2}); part 4's CPU per delivery no \
         worse than part 2's, {cpu_verdict}.\n"
    );
    out
}

/// The servers profiled: part 2, part 4 and the baseline.
const PROFILED: &[usize] = &[0, 2, 3];

/// Where each server's CPU time goes during `chat`, by `perf` samples
/// grouped by the code they fell in; a note instead where `perf` cannot run.
fn profile_page(loadgen: &Path, bins: &[PathBuf], chat: &ChatRun, header: &str) -> Result<String> {
    let mut out = format!(
        "<!-- Generated by `cargo xtask bench`. Figures of one bench run; no test compares them. -->\n\n\
         Where the server's CPU time goes: `perf record` (CPU-clock samples at 999 Hz) on the \
         server during one run of **{}**; {header}. Shares of the samples, grouped by the code \
         they fell in.\n\n",
        chat.title()
    );
    let mut columns = Vec::new();
    for &index in PROFILED {
        let data = std::env::temp_dir().join(format!("xtask-bench-{}.perf", SERVERS[index].1));
        let mut args = chat_args(&bins[index], chat);
        args.extend(["--perf".into(), data.display().to_string()]);
        eprintln!("bench: profile: {}", SERVERS[index].1);
        if let Err(err) = loadgen_json(loadgen, &args) {
            out.push_str(&format!(
                "No profile was recorded on this machine: {err:#}. With linux-perf installed, \
                 `cargo xtask bench` records one.\n"
            ));
            return Ok(out);
        }
        let report = Command::new("perf")
            .args([
                "report",
                "--stdio",
                "--no-children",
                "--sort",
                "symbol",
                "-i",
            ])
            .arg(&data)
            .output()
            .context("running perf report")?;
        let _ = std::fs::remove_file(&data);
        columns.push(group_samples(&String::from_utf8_lossy(&report.stdout)));
    }
    out.push_str("| code |");
    for &index in PROFILED {
        let _ = write!(out, " {} |", SERVERS[index].1);
    }
    out.push_str("\n| --- |");
    for _ in PROFILED {
        out.push_str(" --- |");
    }
    out.push('\n');
    for (group, _) in GROUPS {
        let _ = write!(out, "| {group} |");
        for column in &columns {
            let share = column.get(*group).copied().unwrap_or(0.0);
            let _ = write!(out, " {share:.0} % |");
        }
        out.push('\n');
    }
    Ok(out)
}

/// Groups of code, each with the fragments of a symbol that put it there;
/// the first match wins, and the last group takes the rest.
const GROUPS: &[(&str, &[&str])] = &[
    ("the kernel (sockets, scheduling)", &["[k]"]),
    ("actix-ws", &["actix_ws"]),
    (
        "actix-web and actix-http",
        &[
            "actix_http",
            "actix_web",
            "actix_server",
            "actix_rt",
            "actix_codec",
            "actix_service",
        ],
    ),
    ("tungstenite", &["tungstenite"]),
    ("tokio", &["tokio"]),
    (
        "the chat's own code",
        &[
            "part2::",
            "part4_hardening::",
            "baseline_chat::",
            "merge_streams",
        ],
    ),
    (
        "allocation and copying",
        &["malloc", "free", "memmove", "memcpy", "alloc::", "_int_"],
    ),
    ("everything else", &[""]),
];

/// Sums the shares of `perf report --sort symbol` lines by [`GROUPS`].
pub fn group_samples(report: &str) -> std::collections::HashMap<&'static str, f64> {
    let mut shares = std::collections::HashMap::new();
    for line in report.lines() {
        let line = line.trim();
        let Some((share, symbol)) = line.split_once('%') else {
            continue;
        };
        let Ok(share) = share.trim().parse::<f64>() else {
            continue;
        };
        let group = GROUPS
            .iter()
            .find(|(_, fragments)| fragments.iter().any(|f| symbol.contains(f)))
            .map_or("everything else", |(name, _)| *name);
        *shares.entry(group).or_insert(0.0) += share;
    }
    shares
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Runs loadgen and parses the last JSON line it prints.
fn loadgen_json<S: AsRef<std::ffi::OsStr>>(loadgen: &Path, args: &[S]) -> Result<Value> {
    let output = Command::new(loadgen)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", loadgen.display()))?;
    if !output.status.success() {
        bail!("loadgen failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .context("loadgen printed no JSON line")?;
    serde_json::from_str(line).context("parsing loadgen's JSON line")
}

/// Where and when: loadgen's description of the machine (date, CPU
/// model, cores, system), so that it is written in one place.
fn machine_and_date(loadgen: &Path) -> Result<String> {
    let described = loadgen_json(loadgen, &["machine"])?;
    described["machine"]
        .as_str()
        .map(str::to_string)
        .context("loadgen described no machine")
}

/// Median, min and max.
pub fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    (
        median,
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
    )
}

fn field(figures: &[Value], key: &str) -> Vec<f64> {
    figures
        .iter()
        .map(|f| f[key].as_f64().unwrap_or(f64::NAN))
        .collect()
}

/// Per run, `key` of each server divided by the reference server's.
fn ratios(figures: &[Vec<Value>], index: usize, key: &str) -> Vec<f64> {
    figures[index]
        .iter()
        .zip(&figures[0])
        .map(|(this, reference)| {
            this[key].as_f64().unwrap_or(f64::NAN) / reference[key].as_f64().unwrap_or(f64::NAN)
        })
        .collect()
}

fn chat_page(chat: &ChatRun, runs: usize, header: &str, figures: &[Vec<Value>]) -> String {
    let mut out = format!(
        "<!-- Generated by `cargo xtask bench`. Figures of one bench run; no test compares them. -->\n\n\
         **{}**, release builds, {runs} runs with the servers alternated; {header}. Medians, with \
         min and max across the runs; ratios to part 2 are taken within each run.\n\n\
         | server | latency p50 ms | p99 ms | lines sent/s | deliveries/s | server CPU µs per delivery | server memory MiB | missing | p50, p99, CPU ratio to part2 |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        chat.title()
    );
    for (index, (_, short)) in SERVERS.iter().enumerate() {
        let ms = |key: &str| {
            let (m, lo, hi) = spread(&field(&figures[index], key));
            format!("{:.1} ({:.1}–{:.1})", m / 1000.0, lo / 1000.0, hi / 1000.0)
        };
        let (sent, sent_lo, sent_hi) = spread(&field(&figures[index], "sent_per_sec"));
        let (rate, lo, hi) = spread(&field(&figures[index], "deliveries_per_sec"));
        let (cpu, cpu_lo, cpu_hi) = spread(&field(&figures[index], "cpu_us_per_delivery"));
        let (missing, _, missing_hi) = spread(&field(&figures[index], "missing"));
        let (rss, rss_lo, rss_hi) = spread(&field(&figures[index], "rss_kib"));
        let mib = |kib: f64| kib / 1024.0;
        let (r50, _, _) = spread(&ratios(figures, index, "p50_us"));
        let (r99, _, _) = spread(&ratios(figures, index, "p99_us"));
        let (rcpu, _, _) = spread(&ratios(figures, index, "cpu_us_per_delivery"));
        let _ = writeln!(
            out,
            "| {short} | {} | {} | {sent:.0} ({sent_lo:.0}–{sent_hi:.0}) | {rate:.0} ({lo:.0}–{hi:.0}) | {cpu:.2} ({cpu_lo:.2}–{cpu_hi:.2}) | {:.1} ({:.1}–{:.1}) | {missing:.0} (max {missing_hi:.0}) | {r50:.2}, {r99:.2}, {rcpu:.2} |",
            ms("p50_us"),
            ms("p99_us"),
            mib(rss),
            mib(rss_lo),
            mib(rss_hi),
        );
    }
    let _ = write!(
        out,
        "\n![{}](generated/bench/{}.svg)\n",
        chat.title(),
        chat.name
    );
    out
}

fn connections_page(
    matrix: &Matrix,
    header: &str,
    idle: &[Vec<Value>],
    storm: &[Vec<Value>],
) -> String {
    let mut out = format!(
        "<!-- Generated by `cargo xtask bench`. Figures of one bench run; no test compares them. -->\n\n\
         Connections, release builds, {} runs with the servers alternated; {header}. Memory per \
         idle connection with {} clients; a join storm of {} clients connecting at once, timed \
         until a line sent after the last connection reached all of them.\n\n\
         | server | KiB per idle connection | join storm s | join storm ratio to part2 |\n\
         | --- | --- | --- | --- |\n",
        matrix.runs, matrix.idle_clients, matrix.storm_clients
    );
    for (index, (_, short)) in SERVERS.iter().enumerate() {
        let (kib, kib_lo, kib_hi) = spread(&field(&idle[index], "kib_per_connection"));
        let (secs, lo, hi) = spread(&field(&storm[index], "secs"));
        let (ratio, _, _) = spread(&ratios(storm, index, "secs"));
        let _ = writeln!(
            out,
            "| {short} | {kib:.1} ({kib_lo:.1}–{kib_hi:.1}) | {secs:.2} ({lo:.2}–{hi:.2}) | {ratio:.2} |"
        );
    }
    out
}

/// A bar chart of median p50 and p99 latency per server, as plain SVG.
fn latency_chart(chat: &ChatRun, figures: &[Vec<Value>]) -> String {
    let medians: Vec<(f64, f64)> = figures
        .iter()
        .map(|f| {
            (
                spread(&field(f, "p50_us")).0 / 1000.0,
                spread(&field(f, "p99_us")).0 / 1000.0,
            )
        })
        .collect();
    let top = medians.iter().map(|(_, p99)| *p99).fold(1.0_f64, f64::max);
    let (width, height, left, bottom) = (640.0, 260.0, 110.0, 40.0);
    let plot = width - left - 20.0;
    let row = (height - bottom - 20.0) / SERVERS.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n\
         <title>Median delivery latency: {}</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        chat.title()
    );
    for (index, ((_, short), &(p50, p99))) in SERVERS.iter().zip(&medians).enumerate() {
        let y = 20.0 + row * index as f64;
        let bar = |value: f64| value / top * plot;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{short}</text>\n\
             <rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#9ecae1\"/>\n\
             <rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#3182bd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\">p99 {p99:.1} ms</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"white\">p50 {p50:.1}</text>\n",
            left - 8.0,
            y + row * 0.55,
            y + 4.0,
            bar(p99),
            row * 0.4,
            y + row * 0.45,
            bar(p50),
            row * 0.4,
            left + bar(p99) + 4.0,
            y + row * 0.35,
            left + 4.0,
            y + row * 0.75,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"{:.1}\">median latency, ms (dark: p50, light: p99)</text>\n</svg>\n",
        height - 12.0
    );
    svg
}

/// Times what a workshop room waits for: a cold debug build of the
/// workspace (in a fresh target folder; crates already downloaded), a
/// rebuild of part 2 after an edit, and `mdbook build`. Returns the page.
pub fn build_times(root: &Path) -> Result<String> {
    let scratch = std::env::temp_dir().join(format!("xtask-build-times-{}", std::process::id()));
    let timed = |what: &str, command: &mut Command| -> Result<f64> {
        eprintln!("bench: {what}");
        let started = std::time::Instant::now();
        let status = command
            .current_dir(root)
            .status()
            .with_context(|| format!("running {what}"))?;
        if !status.success() {
            bail!("{what} failed ({status})");
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let cargo = || {
        let mut command = Command::new(env!("CARGO"));
        command.env("CARGO_TARGET_DIR", scratch.join("target"));
        command
    };
    let cold = timed(
        "a cold build of the workspace",
        cargo().args(["build", "--quiet", "--workspace"]),
    )?;
    // An edit to part 2, as an attendee makes one: touching the file is enough.
    let main = root.join("part2/src/main.rs");
    let text = std::fs::read(&main).context("reading part2/src/main.rs")?;
    std::fs::write(&main, &text).context("touching part2/src/main.rs")?;
    let rebuild = timed(
        "a rebuild of part2 after an edit",
        cargo().args(["build", "--quiet", "-p", "part2"]),
    )?;
    let book = timed(
        "mdbook build",
        Command::new("mdbook")
            .args(["build", "book", "--dest-dir"])
            .arg(scratch.join("book")),
    )
    .map_or_else(
        |err| format!("not measured ({err:#})"),
        |s| format!("{s:.1} s"),
    );
    let _ = std::fs::remove_dir_all(&scratch);
    let loadgen = build_loadgen(root)?;
    Ok(format!(
        "<!-- Generated by `cargo xtask bench --build-times`. Figures of one run; no test compares them. -->\n\n\
         Measured on {}. The cold build starts from an empty target folder with every crate already \
         downloaded (on a fresh machine, add the download).\n\n\
         | what | time |\n| --- | --- |\n\
         | `cargo build --workspace`, cold | {cold:.0} s |\n\
         | `cargo build -p part2` after an edit to `part2/src/main.rs` | {rebuild:.1} s |\n\
         | `mdbook build book` | {book} |\n",
        machine_and_date(&loadgen)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_lines_are_grouped() {
        let report = "# comment\n    12.50%  [k] finish_task_switch\n     2.50%  [.] tokio::sync::mpsc::list::Tx<T>::push\n     1.00%  [.] part4_hardening::UserSession::run\n     1.00%  [.] _int_malloc\n     0.50%  [.] core::fmt::write\n";
        let shares = group_samples(report);
        assert_eq!(shares["the kernel (sockets, scheduling)"], 12.5);
        assert_eq!(shares["tokio"], 2.5);
        assert_eq!(shares["the chat's own code"], 1.0);
        assert_eq!(shares["allocation and copying"], 1.0);
        assert_eq!(shares["everything else"], 0.5);
    }

    #[test]
    fn spread_ignores_missing_values() {
        assert_eq!(spread(&[3.0, f64::NAN, 1.0, 2.0]), (2.0, 1.0, 3.0));
    }

    #[test]
    fn pages_and_charts_render_from_figures() {
        let run = Matrix::quick().chats[0];
        let one = serde_json::json!({
            "p50_us": 1000.0, "p99_us": 4000.0, "deliveries_per_sec": 100.0, "sent_per_sec": 5.0,
            "cpu_us_per_delivery": 2.0, "missing": 0.0, "rss_kib": 2048.0
        });
        let figures = vec![vec![one.clone(), one.clone(), one]; SERVERS.len()];
        let page = chat_page(&run, 3, "a machine", &figures);
        assert!(
            page.contains("| part4 | 1.0 (1.0–1.0) | 4.0 (4.0–4.0) |"),
            "{page}"
        );
        assert!(page.contains("| 1.00, 1.00, 1.00 |"), "{page}");
        let svg = latency_chart(&run, &figures);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect x=").count(), 2 * SERVERS.len());
    }

    #[test]
    fn the_target_page_judges_part4_against_the_noise_of_part2() {
        let run = |p50: f64, cpu: f64| serde_json::json!({"p50_us": p50, "p99_us": 4.0 * p50, "cpu_us_per_delivery": cpu});
        let page = |part4_cpu: f64, again_cpu: f64, part4_p50: f64| {
            let figures = vec![
                vec![run(1000.0, 4.0), run(1000.0, 4.0)],
                vec![run(part4_p50, part4_cpu), run(part4_p50, part4_cpu)],
                vec![run(1000.0, again_cpu), run(1000.0, 4.0)],
            ];
            target_page("a machine", &[(TARGET, figures)])
        };
        let met = page(3.8, 4.0, 1100.0);
        assert!(
            met.contains("| part4 | 1.10 (1.10–1.10) | 1.10 (1.10–1.10) | 0.95 (0.95–0.95) |"),
            "{met}"
        );
        assert!(met.contains("| part2 again | 1.00 (1.00–1.00) |"), "{met}");
        assert!(met.contains("at most 1.2 times part 2's, **met**"), "{met}");
        assert!(met.contains("**met**: the median ratio is 0.95"), "{met}");
        let noise = page(4.08, 4.2, 1000.0);
        assert!(noise.contains("**met within the noise**: the median ratio is 1.02, and part 2 against itself reached 1.05"), "{noise}");
        let worse = page(4.4, 4.1, 1300.0);
        assert!(
            worse.contains("times part 2's, **not met** (medians 1.30 and 1.30)"),
            "{worse}"
        );
        assert!(worse.contains("**not met**: the median ratio is 1.10, above what part 2 reached against itself (1.02)"), "{worse}");
    }

    #[test]
    fn the_target_page_has_a_table_and_a_verdict_per_client_kind() {
        let run = |p50: f64, p99: f64, cpu: f64| serde_json::json!({"p50_us": p50, "p99_us": p99, "cpu_us_per_delivery": cpu});
        // Browser-like clients: part 4 on par. Nagle clients: part 4's p99
        // three times part 2's, as if every ping cost a line a delayed ACK.
        let nodelay = vec![
            vec![run(1000.0, 2000.0, 4.0); 3],
            vec![run(1000.0, 2200.0, 3.8); 3],
            vec![run(1000.0, 2000.0, 4.0); 3],
        ];
        let mut pinged = run(1100.0, 6000.0, 4.0);
        pinged["sender_pings"] = serde_json::json!(2);
        let nagle = vec![
            vec![run(1000.0, 2000.0, 4.0); 3],
            vec![pinged.clone(), pinged.clone(), pinged],
            vec![run(1000.0, 2000.0, 4.0); 3],
        ];
        let page = target_page("a machine", &[(TARGET, nodelay), (TARGET_NAGLE, nagle)]);
        assert!(page.contains("3 runs of part 2, part 4 and part 2 again, alternated, with each kind of client in turn; a machine"), "{page}");
        assert_eq!(page.matches("| ratio to part 2 |").count(), 2, "{page}");
        let (browsers, nagle) = page
            .split_once("**Clients with Nagle's algorithm on")
            .expect("a section for Nagle clients");
        assert!(browsers.contains("**Clients with TCP_NODELAY, as browsers set it.** Part 2's own latency with them: p50 1.0 ms (1.0–1.0), p99 2.0 ms (2.0–2.0)."), "{page}");
        assert!(
            browsers.contains("| part4 | 1.00 (1.00–1.00) | 1.10 (1.10–1.10) | 0.95 (0.95–0.95) |"),
            "{page}"
        );
        assert!(
            browsers.contains("times part 2's, **met** (medians 1.00 and 1.10)"),
            "{page}"
        );
        assert!(
            nagle.contains("| part4 | 1.10 (1.10–1.10) | 3.00 (3.00–3.00) | 1.00 (1.00–1.00) |"),
            "{page}"
        );
        assert!(
            nagle.contains("| part2 again | 1.00 (1.00–1.00) |"),
            "{page}"
        );
        assert!(
            nagle.contains("times part 2's, **not met** (medians 1.10 and 3.00)"),
            "{page}"
        );
        assert!(
            nagle.contains("Pings the sender received from part 4, in all runs together: 6."),
            "{page}"
        );
        assert!(!browsers.contains("Pings the sender"), "{page}");
        // Judged as printed: 1.204 shows as 1.20, which is within 1.2.
        let edge = vec![
            vec![run(1000.0, 1000.0, 4.0)],
            vec![run(1204.0, 1000.0, 4.0)],
            vec![run(1000.0, 1000.0, 4.0)],
        ];
        let edge = target_page("a machine", &[(TARGET_NAGLE, edge)]);
        assert!(edge.contains("**met** (medians 1.20 and 1.00)"), "{edge}");
        // A half: the verdict quotes the ratio as the table prints it.
        let half = vec![
            vec![run(1000.0, 1000.0, 16.0)],
            vec![run(1000.0, 1000.0, 18.0)],
            vec![run(1000.0, 1000.0, 16.0)],
        ];
        let half = target_page("a machine", &[(TARGET, half)]);
        let table = format!("{:.2}", 18.0 / 16.0);
        assert!(
            half.contains(&format!("| 1.00 (1.00–1.00) | {table} ({table}–{table}) |")),
            "{half}"
        );
        assert!(
            half.contains(&format!("the median ratio is {table},")),
            "{half}"
        );
    }

    #[test]
    fn the_quick_matrix_runs_the_target_with_both_client_kinds() {
        let kinds: Vec<bool> = Matrix::quick().targets.iter().map(|t| t.nodelay).collect();
        assert_eq!(kinds, [true, false]);
        let args = chat_args(Path::new("part4"), &Matrix::quick().targets[1]);
        assert!(
            args.windows(2).any(|w| w == ["--client-nodelay", "false"]),
            "{args:?}"
        );
    }

    #[test]
    fn the_cluster_table_has_a_row_per_node_count_with_ratios() {
        let matrix = ClusterMatrix::new(true);
        let run = |rate: f64| {
            serde_json::json!({
                "p50_us": 1500.0, "p99_us": 3000.0, "deliveries_per_sec": rate,
                "sent_per_sec": 5.0, "cpu_us_per_delivery": 2.0,
                "redis_cpu_us_per_delivery": 0.5, "missing": 0.0, "rss_kib": 4096.0
            })
        };
        let figures = vec![vec![run(100.0); 3], vec![run(150.0); 3]];
        let table = cluster_table(&matrix.chats[0], &matrix.nodes, &figures);
        assert!(
            table.contains("| 1 | 100 (100–100) | 1.00 | 5 (5–5) | 1.5 (1.5–1.5) |"),
            "{table}"
        );
        assert!(table.contains("| 2 | 150 (150–150) | 1.50 |"), "{table}");
        assert!(
            table.contains("| 0.50 (0.50–0.50) | 4.0 (4.0–4.0) |"),
            "{table}"
        );
    }

    #[test]
    fn the_presence_page_has_a_row_per_size_and_judges_the_largest() {
        let matrix = PresenceMatrix::new(false);
        let run = |cpu: f64, p99: f64| {
            serde_json::json!({
                "cpu_share": cpu, "p50_us": 1200.0, "p99_us": p99, "redis_cpu_share": 0.01,
                "missing": 0.0, "buried": 0.0, "heard_all": true
            })
        };
        let mut figures: Vec<Vec<Value>> = [(0.05, 2000.0), (0.06, 2100.0), (0.08, 2500.0)]
            .iter()
            .map(|&(cpu, p99)| vec![run(cpu, p99); 3])
            .collect();
        // The largest size: CPU 1.6 times the smallest's, p99 3 times in
        // two runs of three, and one run that buried a node.
        let mut buried = run(0.08, 6000.0);
        buried["buried"] = serde_json::json!(2.0);
        buried["heard_all"] = serde_json::json!(false);
        figures.push(vec![run(0.08, 6000.0), run(0.08, 3000.0), buried]);
        let page = presence_page(&matrix, "a machine", &figures);
        assert!(
            page.contains("5 runs with the sizes alternated; a machine."),
            "{page}"
        );
        assert!(page.contains("| CPU ratio to 2 × 1,000 |"), "{page}");
        assert!(
            page.contains("| 2 × 1,000 | 1,000 | 5.00 (5.00–5.00) | 1.00 (1.00–1.00) | 1.20 (1.20–1.20) | 2.00 (2.00–2.00) | 1.00 (1.00–1.00) | 1.00 (1.00–1.00) | 0 (max 0) | none |"),
            "{page}"
        );
        assert!(
            page.contains("| 10 × 10,000 | 90,000 | 8.00 (8.00–8.00) | 1.60 (1.60–1.60) |"),
            "{page}"
        );
        assert!(
            page.contains("| 20 × 10,000 | 190,000 | 8.00 (8.00–8.00) | 1.60 (1.60–1.60) | 1.20 (1.20–1.20) | 6.00 (3.00–6.00) | 3.00 (1.50–3.00) |"),
            "{page}"
        );
        assert!(page.contains("| 2 in 1 of 3 runs |"), "{page}");
        assert!(
            page.contains("by the end of the warm-up at 20 × 10,000 (1 of 3 runs)"),
            "{page}"
        );
        assert!(
            page.contains("At 20 × 10,000 the node's CPU is 1.60 times and its echo p99 3.00 times what they are at 2 × 1,000 (medians of the ratios): CPU within 2 times, p99 **not** within 2 times."),
            "{page}"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
