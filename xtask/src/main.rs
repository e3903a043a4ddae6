//! `cargo xtask`: chores that keep the book in step with the code.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use xtask::{diff_pages, matrix_pages, workspace_root, write_all};

/// Regenerate the book's generated pages from the code.
#[derive(Parser)]
#[command(about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write book/src/diffs/<from>--<to>.diff for each pair of consecutive checkpoints.
    Diffs,
    /// Write book/src/generated/matrix.md and the README's summary from testkit's scenario table.
    Matrix,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let root = workspace_root();
    let pages = match cli.command {
        Command::Diffs => diff_pages(&root)?,
        Command::Matrix => matrix_pages(&root)?,
    };
    write_all(&root, &pages)?;
    for page in &pages {
        println!("wrote {}", page.path.display());
    }
    Ok(())
}
