//! `part6-identity add-user NAME`, the real binary: it appends an account
//! with an Argon2id hash (never the password) to `USERS_FILE`, with the uid
//! after the highest or the one given, and refuses what would spoil the file,
//! with one line and status 2. The server then logs the new account in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use testkit::Server;

const BINARY: &str = env!("CARGO_BIN_EXE_part6-identity");

/// A users file of the test's own, removed when dropped.
struct UsersFile(PathBuf);

impl UsersFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("part6-{name}-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&path);
        UsersFile(path)
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for UsersFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn add_user(file: &Path, password: &str, args: &[&str]) -> Output {
    Command::new(BINARY)
        .arg("add-user")
        .args(args)
        .env("USERS_FILE", file)
        .env("CHAT_PASSWORD", password)
        .output()
        .expect("run add-user")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn accounts_are_added_with_a_hash_and_the_next_uid() {
    let file = UsersFile::new("add");
    let carol = add_user(&file.0, "carol's secret", &["carol"]);
    assert!(carol.status.success(), "{}", stderr(&carol));
    let dave = add_user(&file.0, "dave's secret", &["dave", "--uid", "7"]);
    assert!(dave.status.success(), "{}", stderr(&dave));
    let erin = add_user(&file.0, "erin's secret", &["erin"]);
    assert!(erin.status.success(), "{}", stderr(&erin));
    let text = file.text();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    let accounts: Vec<(&str, &str)> = lines.iter().map(|fields| (fields[0], fields[1])).collect();
    assert_eq!(accounts, [("carol", "1"), ("dave", "7"), ("erin", "8")]);
    assert!(
        lines
            .iter()
            .all(|fields| fields[2].starts_with("$argon2id$")),
        "{text}"
    );
    assert!(!text.contains("secret"), "no password in the file: {text}");
    let said = String::from_utf8_lossy(&carol.stdout);
    assert!(said.contains("added carol (uid 1)"), "{said}");
}

#[test]
fn what_would_spoil_the_file_is_refused_with_status_2() {
    let file = UsersFile::new("refuse");
    assert!(add_user(&file.0, "pw", &["carol"]).status.success());
    let before = file.text();
    let cases: [(&[&str], &str, &str); 7] = [
        (&["carol"], "pw", "carol already has an account"),
        (&["dave", "--uid", "1"], "pw", "uid 1 is taken"),
        (&["two words"], "pw", "cannot be a name"),
        (&["-dave"], "pw", "cannot be a name"),
        (&["dave", "--uid", "seven"], "pw", "\"seven\" is not a uid"),
        (
            &["dave", "--id", "7"],
            "pw",
            "usage: part6-identity add-user NAME",
        ),
        (&["dave"], "", "an empty password is not a password"),
    ];
    for (args, password, problem) in cases {
        let refused = add_user(&file.0, password, args);
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&refused)
        );
        assert!(
            stderr(&refused).contains(problem),
            "{args:?}: {}",
            stderr(&refused)
        );
    }
    assert_eq!(file.text(), before, "nothing was written");
    // A users file that cannot be read is not taken for an empty one.
    let folder = std::env::temp_dir();
    let unreadable = add_user(&folder, "pw", &["dave"]);
    assert_eq!(unreadable.status.code(), Some(2));
    assert!(
        stderr(&unreadable).contains("cannot read"),
        "{}",
        stderr(&unreadable)
    );
    let usage = add_user(&file.0, "pw", &[]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(stderr(&usage).contains("usage: part6-identity add-user NAME"));
}

#[test]
fn the_server_logs_an_added_account_in() {
    let file = UsersFile::new("login");
    assert!(
        add_user(&file.0, "carol's secret", &["carol", "--uid", "5"])
            .status
            .success()
    );
    testkit::block_on(async {
        let path = file.0.to_str().expect("a UTF-8 path");
        let server = Server::start_with(BINARY, &[("USERS_FILE", path)])
            .await
            .expect("part6 starts with the file");
        let right = [("name", "carol"), ("password", "carol's secret")];
        let answer = server.post_form("/login", &right).await.expect("a login");
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(
            answer.body.starts_with("5."),
            "a token for uid 5: {}",
            answer.body
        );
        let wrong = [("name", "carol"), ("password", "not hers")];
        let answer = server.post_form("/login", &wrong).await.expect("a login");
        assert_eq!(answer.status, 401);
        // Neither password reaches the log.
        let log = server.stderr_text();
        assert!(
            !log.contains("secret") && !log.contains("not hers"),
            "{log}"
        );
    });
}
