//! Identity's settings are checked before the server starts, like part 4's:
//! a key too short to sign with, or a users file that cannot be read, is one
//! line on stderr and exit status 2, not a panic or a server that half works.

use std::time::Duration;
use testkit::Server;

const BINARY: &str = env!("CARGO_BIN_EXE_part6-identity");
/// The server reads its settings first thing; this only catches a hang.
const WAIT: Duration = Duration::from_secs(20);

/// Starts part 6 with `env` and returns its exit status and its stderr.
async fn refused_start(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut server = Server::spawn_with(BINARY, env).expect("part6 spawns");
    let status = server.wait_exit(WAIT).await.expect("waiting for the exit");
    (
        status.and_then(|status| status.code()),
        server.stderr_text(),
    )
}

#[test]
fn a_short_token_key_is_one_line_and_status_2() {
    testkit::block_on(async {
        let (status, stderr) = refused_start(&[("TOKEN_KEY", "short")]).await;
        assert_eq!(status, Some(2), "{stderr}");
        assert!(
            stderr.contains("error: TOKEN_KEY must be at least 32 characters long, not 5"),
            "{stderr}"
        );
    });
}

#[test]
fn a_missing_users_file_is_one_line_and_status_2() {
    testkit::block_on(async {
        let missing = std::env::temp_dir().join("part6-no-such-users-file.txt");
        let missing = missing.to_str().expect("a UTF-8 path");
        let (status, stderr) = refused_start(&[("USERS_FILE", missing)]).await;
        assert_eq!(status, Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("error: cannot read the users file {missing}")),
            "{stderr}"
        );
    });
}

#[test]
fn an_empty_setting_is_no_setting() {
    testkit::block_on(async {
        // Empty TLS_CERT and TLS_KEY, as a shell `TLS_CERT= TLS_KEY=` leaves
        // them: plain HTTP, not a certificate file named "".
        let empty = [("TLS_CERT", ""), ("TLS_KEY", "")];
        let server = Server::start_with(BINARY, &empty).await;
        server.expect("part6 starts, over plain HTTP");
    });
}
