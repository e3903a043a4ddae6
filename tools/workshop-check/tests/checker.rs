//! The checker run as attendees run it, against real servers: a running
//! part 4 at a URL, nothing at all, a server that hangs, one that exits at
//! start, and a --bin that is no program.

use scenarios::{Checkpoint, Scenario};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use testkit::AtUrl;

fn checker(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_workshop-check"))
        .args(args)
        .output()
        .expect("running workshop-check")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Part 4's debug binary, built if it is not yet.
fn part4() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .current_dir(scenarios::workspace_root())
        .args(["build", "--quiet", "-p", "part4-hardening"])
        .status()
        .expect("running cargo build -p part4-hardening");
    assert!(status.success(), "part 4 does not build");
    scenarios::target_dir()
        .join("debug")
        .join(format!("part4-hardening{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn a_running_part4_at_a_url_gets_every_scenario_right() {
    let binary = part4();
    testkit::block_on(async {
        // Part 4 with its default limits, as someone would start it.
        let server = testkit::Server::start(&binary)
            .await
            .expect("starting part 4");
        let url = server.ws_url();
        let output = tokio_free_checker(&["--url", &url, "--json"]);
        let stdout = text(&output.stdout);
        let verdicts: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|err| panic!("{err}: {stdout}\n{}", text(&output.stderr)));
        let verdicts = verdicts.as_object().expect("an object of verdicts");
        let mut judged = 0;
        for (id, got) in verdicts {
            let scenario = Scenario::ALL
                .iter()
                .copied()
                .find(|s| s.id() == id)
                .unwrap_or_else(|| panic!("{id} is no scenario"));
            let wanted = match testkit::at_url(scenario) {
                AtUrl::NotComparable(_) => "not comparable",
                AtUrl::Shared | AtUrl::Alone(_) => {
                    judged += 1;
                    scenarios::expect(Checkpoint::Part4, scenario)
                        .verdict()
                        .word()
                }
            };
            assert_eq!(
                got.as_str(),
                Some(wanted),
                "{id} at a URL; the checker said:\n{}",
                text(&output.stderr)
            );
        }
        // The flood and departure scenarios that clashed when they shared uids.
        assert!(judged >= 10, "only {judged} scenarios judged: {verdicts:?}");
        for id in ["user-leaves", "half-open-client", "flood-vs-reader"] {
            assert_eq!(verdicts[id], "works", "{id}");
        }
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        drop(server);
    });
}

/// Runs the checker from a thread of its own, so that the runtime serving
/// the test's server keeps running meanwhile.
fn tokio_free_checker(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        checker(&args)
    })
    .join()
    .expect("the checker's thread")
}

#[test]
fn nothing_at_the_url_is_one_message_and_status_2() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let output = checker(&["--url", &format!("ws://127.0.0.1:{port}/ws")]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nothing answers at 127.0.0.1:"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
}

#[test]
fn a_server_that_never_answers_is_given_up_on_once() {
    // It accepts connections (the kernel does, from its backlog) and never
    // answers a byte.
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let addr = listener.local_addr().expect("its address");
    let started = Instant::now();
    let output = checker(&["--url", &format!("ws://{addr}/ws")]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("did not answer GET /healthcheck"),
        "{stderr}"
    );
    assert!(stderr.lines().count() <= 2, "{stderr}");
    // One wait, not one per scenario.
    assert!(started.elapsed() < Duration::from_secs(30), "{stderr}");
    drop(listener);
}

#[cfg(unix)]
#[test]
fn a_binary_that_exits_at_start_is_one_message_with_its_status_and_stderr() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scenarios::target_dir().join(format!("checker-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder for the script");
    let script = dir.join("crashes");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'thread main panicked: boom' >&2\nexit 3\n",
    )
    .expect("writing the script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("making it executable");
    let output = checker(&["--bin", &script.to_string_lossy()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("did not start as a chat server"),
        "{stderr}"
    );
    assert!(stderr.contains("exit status: 3"), "{stderr}");
    assert_eq!(stderr.matches("boom").count(), 1, "{stderr}");
    assert!(stderr.lines().count() < 6, "{stderr}");
    std::fs::remove_dir_all(&dir).expect("removing the test's folder");
}

#[test]
fn a_bin_that_is_no_program_says_so() {
    let readme = scenarios::workspace_root().join("README.md");
    let output = checker(&["--bin", &readme.to_string_lossy()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    if cfg!(unix) {
        assert!(stderr.contains("is a file but not a program"), "{stderr}");
    }
    assert!(!stderr.contains("No such file"), "{stderr}");
}
