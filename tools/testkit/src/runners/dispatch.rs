//! The one `match` that hands each scenario of the catalogue to its runner:
//! exhaustive, so a scenario without a runner does not compile.

use super::{
    Outcome, Run, admission, cluster, delivery, departures, fairness, faults, identity, input,
    shutdown,
};
use crate::client::ServerClosed;
use anyhow::{Context, Result};
use scenarios::{Scenario, Shape, Verdict};

/// Hands `scenario` to its runner, with `run` (and the rest of its cluster,
/// `nodes`), and returns what it observed.
pub(super) async fn dispatch(
    scenario: Scenario,
    mut run: Run,
    mut nodes: Option<cluster::Nodes>,
) -> Result<Outcome> {
    let one_server = scenario.setup().shape == Shape::Server;
    if scenario != Scenario::Healthcheck && one_server && !run.server.serves_ws().await? {
        return Ok(Outcome {
            verdict: Verdict::NotApplicable,
            facts: Vec::new(),
            figures: vec!["GET /ws answered 404".to_string()],
        });
    }
    // Exhaustive: a scenario without a runner does not compile.
    let acted = match scenario {
        Scenario::Healthcheck => boxed(|| admission::healthcheck(&mut run)).await,
        Scenario::Broadcast => boxed(|| admission::broadcast(&mut run)).await,
        Scenario::MissingUid => boxed(|| admission::refused(&mut run, None)).await,
        Scenario::NonNumericUid => boxed(|| admission::refused(&mut run, Some("abc"))).await,
        Scenario::QueryStringUid => boxed(|| admission::query_string_uid(&mut run)).await,
        Scenario::ForeignOrigin => boxed(|| admission::foreign_origin(&mut run)).await,
        Scenario::FloodVsReader => boxed(|| fairness::flood_vs_reader(&mut run)).await,
        Scenario::FloodVsChat => boxed(|| fairness::flood_vs_chat(&mut run)).await,
        Scenario::UserLeaves => boxed(|| departures::user_leaves(&mut run)).await,
        Scenario::CloseHandshake => boxed(|| departures::close_handshake(&mut run)).await,
        Scenario::ClientVanishes => boxed(|| departures::client_vanishes(&mut run)).await,
        Scenario::VanishNeighbours => boxed(|| departures::vanish_neighbours(&mut run)).await,
        Scenario::EmptyCloseFrame => boxed(|| departures::empty_close_frame(&mut run)).await,
        Scenario::SameUidTwice => boxed(|| departures::same_uid_twice(&mut run)).await,
        Scenario::HalfOpenClient => boxed(|| departures::half_open_client(&mut run)).await,
        Scenario::Burst => boxed(|| delivery::burst(&mut run)).await,
        Scenario::Crowd => boxed(|| delivery::crowd(&mut run)).await,
        Scenario::JoinStorm => boxed(|| delivery::join_storm(&mut run)).await,
        Scenario::LeaveWhileTalking => boxed(|| delivery::leave_while_talking(&mut run)).await,
        Scenario::SlowReader => boxed(|| delivery::slow_reader(&mut run)).await,
        Scenario::SlowReaderLarge => boxed(|| delivery::slow_reader_large(&mut run)).await,
        Scenario::OversizedFrame => boxed(|| input::oversized_frame(&mut run)).await,
        Scenario::BinaryFrame => boxed(|| input::binary_frame(&mut run)).await,
        Scenario::Shutdown => boxed(|| shutdown::shutdown(&mut run)).await,
        Scenario::ShutdownBacklog => boxed(|| shutdown::shutdown_backlog(&mut run)).await,
        Scenario::BadPort => boxed(|| admission::bad_port(&mut run)).await,
        Scenario::ReboundOrigin => boxed(|| admission::rebound_origin(&mut run)).await,
        Scenario::AddressLimits => boxed(|| admission::address_limits(&mut run)).await,
        Scenario::ReconnectFlood => boxed(|| fairness::reconnect_flood(&mut run)).await,
        Scenario::InvalidFrames => boxed(|| input::invalid_frames(&mut run)).await,
        Scenario::StalledReader => boxed(|| faults::stalled_reader(&mut run)).await,
        Scenario::ChattyClient => boxed(|| faults::chatty_client(&mut run)).await,
        Scenario::PausedServer => boxed(|| faults::paused_server(&mut run)).await,
        Scenario::ClusterRedisUnreachable => boxed(|| cluster::redis_unreachable(&mut run)).await,
        Scenario::ClusterBroadcast => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::broadcast(&mut run, nodes)).await
        }
        Scenario::ClusterPresence => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::presence(&mut run, nodes)).await
        }
        Scenario::ClusterSameUid => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::same_uid(&mut run, nodes)).await
        }
        Scenario::ClusterNodeKilled => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::node_killed(&mut run, nodes)).await
        }
        Scenario::ClusterRollingRestart => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::rolling_restart(&mut run, nodes)).await
        }
        Scenario::ClusterRedisRestart => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::redis_restart(&mut run, nodes)).await
        }
        Scenario::ClusterOutageSameUid => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::outage_same_uid(&mut run, nodes)).await
        }
        Scenario::ClusterMissedClaim => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::missed_claim(&mut run, nodes)).await
        }
        Scenario::ClusterDeafSubscription => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::deaf_subscription(&mut run, nodes)).await
        }
        Scenario::ClusterRedisStall => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::redis_stall(&mut run, nodes)).await
        }
        Scenario::ClusterPublishRefused => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::publish_refused(&mut run, nodes)).await
        }
        Scenario::ClusterNodePaused => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::node_paused(&mut run, nodes)).await
        }
        Scenario::ClusterSlowLink => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::slow_link(&mut run, nodes)).await
        }
        Scenario::Impersonation => boxed(|| identity::impersonation(&mut run)).await,
        Scenario::NoToken => boxed(|| identity::no_token(&mut run)).await,
        Scenario::TamperedToken => boxed(|| identity::tampered_token(&mut run)).await,
        Scenario::ExpiredToken => boxed(|| identity::expired_token(&mut run)).await,
        Scenario::Login => boxed(|| identity::login_scenario(&mut run)).await,
        Scenario::LoginLimit => boxed(|| identity::login_limit(&mut run)).await,
        Scenario::ClusterOneToken => {
            let nodes = cluster_of(&mut nodes)?;
            boxed(|| cluster::one_token(&mut run, nodes)).await
        }
    }
    .with_context(|| format!("scenario {}", scenario.id()));
    if let Err(err) = acted {
        // A user the server had closed cannot go on: that is what the
        // scenario observed, a defect with the close it saw, not a failure
        // to run it.
        let closed = err
            .chain()
            .find_map(|cause| cause.downcast_ref::<ServerClosed>())
            .cloned();
        let Some(closed) = closed else {
            return Err(err);
        };
        run.figure(format!("{closed}"));
        run.saw(closed.who, closed.seen.seen(), false);
    }
    if let Some(nodes) = &nodes
        && !run.all_ok
    {
        cluster::add_logs(&mut run, nodes);
    }
    Ok(run.finish())
}

/// The rest of the cluster, which every cluster scenario's setup starts.
fn cluster_of(nodes: &mut Option<cluster::Nodes>) -> Result<&mut cluster::Nodes> {
    nodes
        .as_mut()
        .context("a cluster scenario ran without its cluster: its setup starts no nodes")
}

/// Makes the future of one scenario's runner in a frame of its own and polls
/// it from the heap. Unoptimised, every arm of `dispatch`'s `match` keeps a
/// stack slot of its own for the future it makes, so the frame that polls
/// the `match` grows with the sum of all runners' futures: with part 6's
/// scenarios it outgrew a test thread's 2 MiB stack. Made here, each costs
/// the `match` one pointer.
fn boxed<'a, F, Fut>(
    start: F,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + 'a>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>> + 'a,
{
    Box::pin(start())
}
