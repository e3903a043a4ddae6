//! A terminal chat client for the tutorial's WebSocket servers: the logic is
//! in the library (`src/lib.rs`), so that tests can drive it; this is stdin,
//! stdout and the exit status.

use anyhow::Context;
use chat_client::Args;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match main_with(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chat-client: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn main_with(args: Args) -> anyhow::Result<()> {
    // Asked before stdin is read: on a terminal the reader thread would race
    // the prompt for the typed password.
    let password = chat_client::password_for(&args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let lines = chat_client::stdin_lines();
    runtime.block_on(chat_client::run(&args, password, lines, std::io::stdout()))
}
