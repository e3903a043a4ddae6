//! `cargo xtask bench`: the figures of "What each loop costs", and of the
//! part 5 chapter's cluster and presence.
//!
//! It builds release binaries, then runs `loadgen` (a separate program: xtask
//! itself has no async runtime) over a fixed matrix, alternating the servers
//! run by run (A B C A B C ...), at least three times. loadgen prints JSON
//! lines; every table and chart is rendered here, with medians, min and max,
//! and ratios to part 2 taken within each run. Every page says the machine
//! and the date: the seconds are figures of one run on one machine; the
//! ratios are what to compare.
//!
//! - [`config`]: what runs (the chat runs and the matrices);
//! - [`servers`]: which servers, and building them (today's, or at a commit);
//! - [`loadgen`]: running loadgen and reading its lines;
//! - [`stats`]: medians and ratios;
//! - [`run`] with [`pages`] and [`chart`]: the matrix; [`target`]: part 4's
//!   target run; [`before_after`]; [`profile`]; [`cluster`]; [`presence`];
//!   [`identity`]; [`build_times`].

pub mod before_after;
pub mod build_times;
pub mod chart;
pub mod cluster;
pub mod config;
pub mod identity;
pub mod loadgen;
pub mod pages;
pub mod presence;
pub mod profile;
pub mod run;
pub mod servers;
pub mod stats;
pub mod target;

pub use build_times::build_times;
pub use cluster::bench_cluster;
pub use config::{ChatRun, ClusterMatrix, Matrix, PresenceMatrix};
pub use identity::{IdentityMatrix, bench_identity};
pub use presence::bench_presence;
pub use run::{bench, bench_before_after, bench_target};
pub use servers::{Server, servers};
