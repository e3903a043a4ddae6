//! Everything the harness does that depends on the operating system, in one
//! place: keeping a child server from outliving the tests, signalling it
//! (stop, pause, resume), and reading its CPU time, its memory and its
//! sockets' queues.
//!
//! Memory comes from `sysinfo` everywhere. Spinning is judged per thread on
//! Linux, from the time each thread spent running or waiting to run, which
//! no load on the machine can hide; elsewhere only the whole process's CPU
//! time can be read, and the evidence says so (see [`busiest_thread`]).

use anyhow::{Context, Result};
use std::time::Duration;
use tokio::process::Command;

/// Makes the child die with the test process even when that process is
/// killed without unwinding (a CI timeout, say): a spinning server left
/// behind would skew every later measurement on the machine.
pub fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: the closure runs in the child between fork and exec and
        // only makes one async-signal-safe system call.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    // Elsewhere `kill_on_drop` (set by the caller) covers every exit that unwinds.
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// Sends SIGTERM to `pid`, as a service manager does to stop a service.
pub fn terminate(pid: u32) -> Result<()> {
    signal(pid, Signal::Terminate)
}

/// Sends SIGSTOP to `pid`: the process stops running, its sockets stay
/// open, as when a machine or a VM is suspended or a debugger stops it.
pub fn pause(pid: u32) -> Result<()> {
    signal(pid, Signal::Stop)
}

/// Sends SIGCONT to `pid`, which resumes a process stopped by [`pause`].
pub fn resume(pid: u32) -> Result<()> {
    signal(pid, Signal::Continue)
}

/// The signals the harness sends.
#[derive(Clone, Copy, Debug)]
enum Signal {
    Terminate,
    Stop,
    Continue,
}

#[cfg(unix)]
fn signal(pid: u32, signal: Signal) -> Result<()> {
    let pid = libc::pid_t::try_from(pid).context("the pid does not fit a pid_t")?;
    let number = match signal {
        Signal::Terminate => libc::SIGTERM,
        Signal::Stop => libc::SIGSTOP,
        Signal::Continue => libc::SIGCONT,
    };
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's.
    if unsafe { libc::kill(pid, number) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("sending {signal:?}"));
    }
    Ok(())
}

/// Windows has no such signals to send: the scenarios that need them are
/// ignored there (`Setup::signals`), and any other caller gets this error.
#[cfg(not(unix))]
fn signal(_pid: u32, signal: Signal) -> Result<()> {
    anyhow::bail!("{signal:?} is a Unix signal; it cannot be sent here")
}

/// Bytes that one end of a TCP connection holds unsent or unacknowledged,
/// by the kernel's own count (`tx_queue` in `/proc/net/tcp`), or `None`
/// once the connection is gone. `local` is that end's address, `remote` the
/// other's. It tells a scenario when a server's socket to a client that
/// stopped reading is full, which nothing else shows from outside.
#[cfg(target_os = "linux")]
pub fn tcp_unsent(
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
) -> Result<Option<u64>> {
    let (table, want_local, want_remote) = match (local, remote) {
        (std::net::SocketAddr::V4(l), std::net::SocketAddr::V4(r)) => {
            ("/proc/net/tcp", proc_v4(l), proc_v4(r))
        }
        _ => anyhow::bail!("only IPv4 connections are looked up"),
    };
    let text = std::fs::read_to_string(table).with_context(|| format!("reading {table}"))?;
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, from, to, state, queues, ..] = fields[..] else {
            continue;
        };
        // 01 is ESTABLISHED; a socket closing (FIN_WAIT and so on) is not
        // the connection any more.
        if from == want_local && to == want_remote && state == "01" {
            let tx = queues.split(':').next().unwrap_or_default();
            return u64::from_str_radix(tx, 16)
                .map(Some)
                .with_context(|| format!("reading the tx_queue of {line:?}"));
        }
    }
    Ok(None)
}

/// `/proc/net/tcp`'s form of an address: the IPv4 address as the kernel's
/// 32-bit word in hex, the port in hex.
#[cfg(target_os = "linux")]
fn proc_v4(addr: std::net::SocketAddrV4) -> String {
    format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(addr.ip().octets()),
        addr.port()
    )
}

/// Elsewhere the kernel's queues cannot be read: callers fall back to
/// sending a fixed amount, and say so.
#[cfg(not(target_os = "linux"))]
pub fn tcp_unsent(
    _local: std::net::SocketAddr,
    _remote: std::net::SocketAddr,
) -> Result<Option<u64>> {
    anyhow::bail!("a socket's queue is read on Linux only")
}

/// Lifts the soft limit on open files to the hard limit, for this process
/// and the servers it starts: the crowd scenario holds a thousand sockets on
/// each side, and some machines default to a soft limit of 1024.
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                // If this fails the scenario reports too many open files itself.
                let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
}

/// The busiest thread of a process over a window of wall time.
#[derive(Debug, Clone, PartialEq)]
pub struct Busiest {
    /// The thread's name, as the process set it.
    pub name: String,
    /// The share of the window it spent running or waiting to run, 0 to 1.
    pub share: f64,
}

/// Watches every thread of `pid` for `window` and returns the one that was
/// running or runnable (waiting for a core) for the largest share of it.
///
/// Counting the time spent waiting for a core makes the figure independent
/// of how busy the machine is: a spinning thread on a loaded two-core
/// machine gets only part of a core, but it is runnable all the time, while
/// an idle thread is neither. A measurement over wall time, so it sleeps.
#[cfg(target_os = "linux")]
pub async fn busiest_thread(pid: u32, window: Duration) -> Result<Busiest> {
    let before = thread_busy_ns(pid)?;
    let started = std::time::Instant::now();
    tokio::time::sleep(window).await;
    let after = thread_busy_ns(pid)?;
    let wall = started.elapsed().as_nanos() as f64;
    let busiest = after
        .into_iter()
        .map(|(tid, (name, busy))| {
            let earlier = before.get(&tid).map_or(0, |(_, ns)| *ns);
            let share = busy.saturating_sub(earlier) as f64 / wall;
            Busiest { name, share }
        })
        .max_by(|a, b| a.share.total_cmp(&b.share))
        .context("the process has no threads")?;
    Ok(busiest)
}

/// Outside Linux no per-thread run time can be read, so the whole process's
/// CPU time over the window stands in, named as such. A spinning thread
/// still shows as most of a core on a machine that is not saturated; on a
/// saturated one it shows less, so this can miss a spin there, never
/// invent one.
#[cfg(not(target_os = "linux"))]
pub async fn busiest_thread(pid: u32, window: Duration) -> Result<Busiest> {
    let before = process_cpu(pid)?;
    let started = std::time::Instant::now();
    tokio::time::sleep(window).await;
    let used = process_cpu(pid)?.saturating_sub(before);
    Ok(Busiest {
        name: "the whole process: per-thread run time is measured on Linux only".to_string(),
        share: used.as_secs_f64() / started.elapsed().as_secs_f64(),
    })
}

/// CPU time (user and system) the process has used so far.
pub fn process_cpu(pid: u32) -> Result<Duration> {
    let what = sysinfo::ProcessRefreshKind::nothing().with_cpu();
    reading(pid, what, |p| {
        Duration::from_millis(p.accumulated_cpu_time())
    })
}

/// One fresh reading of one process.
fn reading<T>(
    pid: u32,
    what: sysinfo::ProcessRefreshKind,
    read: impl FnOnce(&sysinfo::Process) -> T,
) -> Result<T> {
    let pid = sysinfo::Pid::from_u32(pid);
    let mut system = sysinfo::System::new();
    system.refresh_processes_specifics(sysinfo::ProcessesToUpdate::Some(&[pid]), true, what);
    system
        .process(pid)
        .map(read)
        .with_context(|| format!("process {pid} is gone"))
}

/// Per thread: its name and nanoseconds spent on a core or in the run queue
/// (the first two fields of `/proc/<pid>/task/<tid>/schedstat`).
#[cfg(target_os = "linux")]
fn thread_busy_ns(pid: u32) -> Result<std::collections::HashMap<u64, (String, u64)>> {
    let dir = format!("/proc/{pid}/task");
    let mut threads = std::collections::HashMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let entry = entry.with_context(|| format!("listing {dir}"))?;
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread may end between the listing and the read: skip it.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        threads.insert(tid, (name.trim().to_string(), busy_from_schedstat(&stat)?));
    }
    Ok(threads)
}

#[cfg(target_os = "linux")]
fn busy_from_schedstat(stat: &str) -> Result<u64> {
    let mut fields = stat.split_whitespace().map(str::parse::<u64>);
    let mut next = || -> Result<u64> {
        fields
            .next()
            .context("schedstat has too few fields")?
            .context("a schedstat field is not a number")
    };
    Ok(next()? + next()?)
}

/// The process's resident memory in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let what = sysinfo::ProcessRefreshKind::nothing().with_memory();
    reading(pid, what, sysinfo::Process::memory)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn adds_running_and_waiting_time() {
        assert_eq!(busy_from_schedstat("1000 234 5\n").expect("parses"), 1234);
        assert!(busy_from_schedstat("12").is_err());
    }

    #[test]
    fn sees_a_busy_thread_of_this_process() {
        crate::block_on(async {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let spinning = std::sync::Arc::clone(&stop);
            let spinner = std::thread::Builder::new()
                .name("spinner".into())
                .spawn(move || {
                    while !spinning.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
                .expect("spawning");
            let busiest = busiest_thread(std::process::id(), Duration::from_millis(300))
                .await
                .expect("measures");
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            spinner.join().expect("joins");
            assert_eq!(busiest.name, "spinner");
            assert!(busiest.share > 0.6, "{busiest:?}");
        });
    }
}

#[cfg(test)]
mod portable_tests {
    use super::*;

    #[test]
    fn reads_the_memory_of_this_process() {
        let rss = rss_bytes(std::process::id()).expect("measures");
        // A test binary holds at least a megabyte and far less than a terabyte.
        assert!((1 << 20..1 << 40).contains(&rss), "{rss}");
        assert!(rss_bytes(u32::MAX - 1).is_err());
    }
}
