//! What the tests that drive chat-client's library share: a writer that
//! hands its output to the test as it is written, and a wait for a line of it.

use std::io::{self, Write};
use std::time::Duration;
use tokio::sync::mpsc;

/// Bounds every wait; each is for something that comes in milliseconds (a
/// login takes an Argon2 hash), so this only catches a hang.
pub const WAIT: Duration = Duration::from_secs(20);

/// chat-client's output, handed over as it is written, so that the test
/// can wait for a line while the client runs.
pub struct Printed(pub mpsc::UnboundedSender<Vec<u8>>);

impl Write for Printed {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // The test may have stopped listening; the client need not know.
        let _ = self.0.send(bytes.to_vec());
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Waits until the client has printed `line` and returns all it printed.
pub async fn printed_line(output: &mut mpsc::UnboundedReceiver<Vec<u8>>, line: &str) -> String {
    let mut shown = String::new();
    let waited = tokio::time::timeout(WAIT, async {
        while let Some(bytes) = output.recv().await {
            shown.push_str(&String::from_utf8_lossy(&bytes));
            if shown.lines().any(|printed| printed == line) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        waited == Ok(true),
        "the client did not print {line:?}; it printed:\n{shown}"
    );
    shown
}
