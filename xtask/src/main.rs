//! `cargo xtask`: chores that keep the book in step with the code.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use xtask::{copy_evidence, pages, stale, stale_transcripts, workspace_root, write_changed};

/// Keep the book's generated pages and transcripts in step with the code.
#[derive(Parser)]
#[command(about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the pages rendered from the sources and the scenario table: the
    /// checkpoint diffs, the diagrams, the matrix, the close-code table, the
    /// workshop's exercises and the README's summary. Only files whose
    /// content changed are written.
    Pages,
    /// Copy the transcripts that the last scenario test run left under
    /// target/evidence/ into book/src/generated/evidence/, where their facts
    /// changed or the book has none. Run `cargo test --workspace` first.
    Evidence {
        /// Also refresh transcripts whose facts did not change, to update
        /// their figures (CPU, memory, timings) from this run.
        #[arg(long)]
        figures: bool,
    },
    /// Check, writing nothing, that every generated page is fresh and every
    /// transcript in the book shows exactly the facts of its table cell.
    Check,
    /// Build release binaries and run the benchmark matrix with loadgen,
    /// alternating the servers run by run, three times; write the tables and
    /// charts of "What each loop costs" (and part 4's join storm) to
    /// book/src/generated/bench/.
    Bench {
        /// A small matrix (about a minute) that proves the tool works; its
        /// pages go to target/bench-quick/, never into the book.
        #[arg(long)]
        quick: bool,
        /// Instead, time a cold build, a rebuild after an edit and the book
        /// build, for the workshop appendix (book/src/generated/bench/build-times.md).
        #[arg(long, conflicts_with = "quick")]
        build_times: bool,
        /// Instead, compare part 5 alone with part 5 on two nodes over a
        /// private redis-server (book/src/generated/bench/cluster.md; with
        /// --quick, a small run into target/bench-quick/). Needs redis-server.
        #[arg(long, conflicts_with = "build_times")]
        cluster: bool,
        /// Instead, run only part 4's target run (part 2, part 4, part 2
        /// again, with each kind of client) and rewrite
        /// book/src/generated/bench/target.md (with --quick, a small run
        /// into target/bench-quick/).
        #[arg(long, conflicts_with_all = ["build_times", "cluster"])]
        target: bool,
        /// Instead, measure what presence costs one part 5 node among 2 to
        /// 20 nodes of 1,000 to 10,000 users that loadgen plays, over a
        /// private redis-server (book/src/generated/bench/presence.md; with
        /// --quick, a tiny run into target/bench-quick/). Needs redis-server.
        #[arg(long, conflicts_with_all = ["build_times", "cluster", "target"])]
        presence: bool,
        /// Instead, measure what part 6's checks cost against part 5: the time
        /// to a connection's upgrade, the server's CPU per connection, and a
        /// login (book/src/generated/bench/identity.md; with --quick, a small
        /// run into target/bench-quick/).
        #[arg(long, conflicts_with_all = ["build_times", "cluster", "target", "presence"])]
        identity: bool,
        /// Instead, run one before-and-after of the full bench alone and
        /// rewrite its page: part4-nodelay, part4-two-sources or
        /// join-storm.
        #[arg(long, value_name = "PAGE", conflicts_with_all = ["quick", "build_times", "cluster", "target", "presence", "identity"])]
        before_after: Option<String>,
    },
    /// The workshop's chores: reset the attendee's crate, jump to a
    /// solution, or prove every solution with the scenarios.
    Workshop {
        #[command(subcommand)]
        action: WorkshopAction,
    },
    /// Part 4 in steps: write the code as of step 4.N (part 3 with steps 1
    /// to N applied) into target/steps/4.N/ and say how to run and check
    /// it, or print that step's diff.
    Step {
        /// Which step: 4.N, or N.
        step: String,
        /// Print the step's patch instead.
        #[arg(long)]
        diff: bool,
    },
    /// Part 4's steps: check them all, or change them as a git history.
    Steps {
        #[command(subcommand)]
        action: StepsAction,
    },
    /// Write one archive for a room without a network: the repository,
    /// every dependency's source with the configuration that uses it, and
    /// the built book (needs git, tar and mdbook).
    Bundle {
        /// Where to write the archive.
        #[arg(long, default_value = "target/workshop-bundle.tar.gz")]
        out: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum WorkshopAction {
    /// Put part2's code back into workshop/. Edits there are first copied
    /// to target/workshop-backup/, so nothing is lost.
    Reset,
    /// Reset workshop/ (backing up edits as `reset` does), then apply
    /// solutions 1 to N from workshop/solutions/.
    Solve {
        /// The last exercise to apply the solution of.
        upto: usize,
    },
    /// Put back the edits that the last `reset`, `solve` or `restore` saved
    /// under target/workshop-backup/ (what is in workshop/ now is saved
    /// first), or those of the backup folder given.
    Restore {
        /// A folder under target/workshop-backup/; the latest if none.
        backup: Option<std::path::PathBuf>,
    },
    /// For each laptop, the day before: build everything the room runs
    /// (cargo build), then check one scenario against the workshop crate,
    /// so that nothing is left to download or compile on the day.
    Preflight,
    /// Apply the solutions one by one to a scratch copy and check that each
    /// turns exactly its exercise's scenarios from defect to works and
    /// breaks nothing (several minutes; CI runs it).
    Verify,
}

#[derive(Subcommand)]
enum StepsAction {
    /// Build every stage from part 3 to part 4 and check that each step
    /// turns exactly the scenarios it names from defect to works and breaks
    /// nothing (several minutes; CI runs it).
    Verify,
    /// Write part 3 and the steps as a git history in a new folder, one
    /// commit per step, to change a step there.
    Unpack { dir: std::path::PathBuf },
    /// Write the patches and part 4's files back from that history.
    Pack { dir: std::path::PathBuf },
}

fn workshop(root: &std::path::Path, action: WorkshopAction) -> Result<()> {
    use xtask::workshop::{back_up_edits, reset, solve, verify};
    match action {
        WorkshopAction::Reset => {
            back_up_edits(root)?;
            reset(root)?;
            println!(
                "workshop/ is part2's code again; check it with `cargo run -p workshop-check`"
            );
        }
        WorkshopAction::Solve { upto } => {
            back_up_edits(root)?;
            solve(root, upto)?;
            let applied = match upto {
                0 => "part2's code again, no solution applied".to_string(),
                1 => "part2 with the solution of exercise 1 applied".to_string(),
                _ => format!("part2 with solutions 1 to {upto} applied"),
            };
            println!("workshop/ is {applied}; check it with `cargo run -p workshop-check`");
        }
        WorkshopAction::Restore { backup } => {
            let backup = match backup {
                Some(backup) => backup,
                None => xtask::workshop::latest_backup()?.context(
                    "there is no backup under target/workshop-backup/: reset and solve make one",
                )?,
            };
            let restored = xtask::workshop::restore(root, &backup)?;
            let names: Vec<String> = restored.iter().map(|p| p.display().to_string()).collect();
            println!(
                "restored {} from {}; check it with `cargo run -p workshop-check`",
                names.join(" and "),
                backup.display()
            );
        }
        WorkshopAction::Preflight => xtask::workshop::preflight(root)?,
        WorkshopAction::Verify => verify(root)?,
    }
    Ok(())
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
    if !xtask::RENDERS_DIAGRAMS && matches!(cli.command, Command::Pages | Command::Check) {
        eprintln!(
            "xtask: the diagrams (book/diagrams/*.pikchr) are neither rendered nor checked \
             here: xtask renders them on Linux only"
        );
    }
    if let Command::Bench { quick: true, .. } = cli.command {
        xtask::bench::servers::use_debug_builds();
    }
    let written = match cli.command {
        Command::Pages => write_changed(&root, &pages(&root)?)?,
        Command::Evidence { figures } => {
            // Where the scenario tests left them: testkit's `evidence_dir`.
            let from = scenarios::target_dir().join("evidence");
            if !from.exists() {
                bail!(
                    "{} does not exist: run `cargo test --workspace` first",
                    from.display()
                );
            }
            copy_evidence(&root, &from, figures)?
        }
        Command::Bench {
            build_times: true, ..
        } => {
            let path = root.join("book/src/generated/bench/build-times.md");
            let page = xtask::bench::build_times(&root)?;
            std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
            vec![path]
        }
        Command::Bench {
            cluster: true,
            quick,
            ..
        } => {
            let out = bench_out(&root, quick);
            xtask::bench::bench_cluster(&root, &xtask::bench::ClusterMatrix::new(quick), &out)?
        }
        Command::Bench {
            before_after: Some(name),
            ..
        } => xtask::bench::bench_before_after(&root, &name, &bench_out(&root, false))?,
        Command::Bench {
            presence: true,
            quick,
            ..
        } => {
            let out = bench_out(&root, quick);
            xtask::bench::bench_presence(&root, &xtask::bench::PresenceMatrix::new(quick), &out)?
        }
        Command::Bench {
            identity: true,
            quick,
            ..
        } => {
            let out = bench_out(&root, quick);
            xtask::bench::bench_identity(&root, &xtask::bench::IdentityMatrix::new(quick), &out)?
        }
        Command::Bench { quick, target, .. } => {
            let matrix = if quick {
                xtask::bench::Matrix::quick()
            } else {
                xtask::bench::Matrix::full()
            };
            let out = bench_out(&root, quick);
            if target {
                xtask::bench::bench_target(&root, &matrix, &out)?
            } else {
                xtask::bench::bench(&root, &matrix, &out)?
            }
        }
        Command::Step { step, diff } => {
            let number = xtask::steps::parse_step(&step)?;
            if diff {
                let patch = &xtask::steps::patches(&root)[number - 1];
                let text = std::fs::read_to_string(patch)
                    .with_context(|| format!("reading {}", patch.display()))?;
                print!("{text}");
            } else {
                print!("{}", xtask::steps::write_stage(&root, number)?);
            }
            return Ok(());
        }
        Command::Steps { action } => {
            match action {
                StepsAction::Verify => xtask::steps::verify(&root)?,
                StepsAction::Unpack { dir } => print!("{}", xtask::steps::unpack(&root, &dir)?),
                StepsAction::Pack { dir } => print!("{}", xtask::steps::pack(&root, &dir)?),
            }
            return Ok(());
        }
        Command::Workshop { action } => {
            workshop(&root, action)?;
            return Ok(());
        }
        Command::Bundle { out } => {
            let out = if out.is_absolute() {
                out
            } else {
                root.join(out)
            };
            xtask::workshop::bundle(&root, &out)?;
            println!("wrote {}", out.display());
            return Ok(());
        }
        Command::Check => {
            let mut problems = stale(&root, &pages(&root)?)?;
            problems.extend(stale_transcripts(&root)?);
            if !problems.is_empty() {
                bail!("{} stale:\n{}", problems.len(), problems.join("\n"));
            }
            println!("every generated page and transcript is fresh");
            return Ok(());
        }
    };
    if written.is_empty() {
        println!("nothing changed");
    }
    for path in &written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Where a bench writes its pages: the book's, or for a `--quick` run (whose
/// figures mean nothing) a folder of its own under `target/`.
fn bench_out(root: &std::path::Path, quick: bool) -> std::path::PathBuf {
    if quick {
        root.join("target/bench-quick")
    } else {
        root.join("book/src/generated/bench")
    }
}
