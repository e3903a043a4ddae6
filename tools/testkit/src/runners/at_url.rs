//! Which scenarios can be judged against a server someone else started, at a
//! URL ([`super::run_at`]), and which need a process the harness starts.

use scenarios::{Scenario, Shape};

/// How a scenario fares against a server someone else started ([`super::run_at`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtUrl {
    /// It can run there beside other scenarios: it uses uids of its own and
    /// judges only what its own users see.
    Shared,
    /// It can run there, but alone: it counts what every client of the
    /// server causes. Why, in a few words.
    Alone(&'static str),
    /// Its verdict there would mean nothing, and why: it needs the server's
    /// process, or settings that only a server the harness starts has.
    NotComparable(String),
}

/// Whether `scenario` can be judged against a running server at a URL.
pub fn at_url(scenario: Scenario) -> AtUrl {
    let setup = scenario.setup();
    match (scenario, setup.shape) {
        (_, Shape::Cluster { .. }) => {
            AtUrl::NotComparable("it starts its own nodes and Redis".into())
        }
        (_, Shape::Unstarted) => {
            AtUrl::NotComparable("it starts the server itself, with settings it must refuse".into())
        }
        _ if setup.signals => AtUrl::NotComparable("it signals the server's process".into()),
        (
            Scenario::ClientVanishes
            | Scenario::VanishNeighbours
            | Scenario::EmptyCloseFrame
            | Scenario::SameUidTwice,
            _,
        ) => AtUrl::NotComparable("it watches the server's threads for a spin".into()),
        (Scenario::SlowReader | Scenario::SlowReaderLarge, _) => {
            AtUrl::NotComparable("it measures the server's memory".into())
        }
        _ if setup.lifted().is_some() => AtUrl::NotComparable(format!(
            "it lifts the server's {}, which only a server the checker starts can have",
            setup.lifted().unwrap_or_default()
        )),
        (Scenario::AddressLimits | Scenario::ReconnectFlood, _) => {
            AtUrl::Alone("it counts every connection from this address")
        }
        (Scenario::LoginLimit, _) => AtUrl::Alone("it counts every login from this address"),
        _ => AtUrl::Shared,
    }
}
