//! Uid spaces: each scenario run against a shared server (`run_at`) speaks
//! with uids of its own, so that scenarios running at once never replace
//! each other's users or share a uid's rate limit.
//!
//! The runners are written with small uids ("1", "2", ...), and the table's
//! facts quote them. Rather than thread a mapping through every runner, the
//! clients do it: while a scenario runs inside [`within`], a client that
//! sends uid `n` sends `base + n`, and maps `base + n` back to `n` in the
//! chat lines and notices it reads. A server the harness starts for one
//! scenario has base 0, and nothing is mapped.

use std::future::Future;

tokio::task_local! {
    static BASE: u32;
}

/// The uids of one space: `base + 1` to `base + SPAN - 1`.
pub const SPAN: u32 = 1000;

/// The base of `scenario`'s uid space: distinct for every scenario of the
/// catalogue, and far above the small uids the runners name.
pub fn space_of(scenario: scenarios::Scenario) -> u32 {
    let index = scenarios::Scenario::ALL
        .iter()
        .position(|&s| s == scenario)
        .unwrap_or(0);
    // Index + 1 keeps base 0 for "no space"; the cast is safe for any
    // catalogue of fewer than four million scenarios.
    (index as u32 + 1) * SPAN
}

/// Runs `future` with uids moved into the space at `base`.
pub async fn within<F: Future>(base: u32, future: F) -> F::Output {
    BASE.scope(base, future).await
}

/// The base of the space the current task speaks in; 0 outside any.
pub(crate) fn current() -> u32 {
    BASE.try_with(|base| *base).unwrap_or(0)
}

/// The uid to send for the runner's `uid`: moved into the space when it is
/// a small number, unchanged otherwise (a bad uid stays bad).
pub(crate) fn outward(base: u32, uid: &str) -> String {
    match uid.parse::<u32>() {
        Ok(n) if base > 0 && n < SPAN => (base + n).to_string(),
        _ => uid.to_string(),
    }
}

/// A text as the runner expects to read it: the uids of the space in a
/// chat line's `[UID: n]` and in a `[server]: ...` notice mapped back to
/// the runner's own. Other numbers, and other texts, stay as they are.
pub(crate) fn inward(base: u32, text: &str) -> String {
    if base == 0 {
        return text.to_string();
    }
    if let Some(rest) = text.strip_prefix("[UID: ")
        && let Some((uid, line)) = rest.split_once("]: ")
    {
        return format!("[UID: {}]: {line}", map_back(base, uid));
    }
    if text.starts_with("[server]: ") {
        // Every whole number of the notice ("users 1001, 1002 and 1003
        // joined"); counts ("40 users") lie outside the space.
        let mut out = String::with_capacity(text.len());
        let mut digits = String::new();
        for ch in text.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
                continue;
            }
            out.push_str(&map_back(base, &std::mem::take(&mut digits)));
            out.push(ch);
        }
        out.push_str(&map_back(base, &digits));
        return out;
    }
    text.to_string()
}

fn map_back(base: u32, number: &str) -> String {
    match number.parse::<u32>() {
        Ok(n) if n > base && n < base + SPAN => (n - base).to_string(),
        _ => number.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenarios::Scenario;

    #[test]
    fn every_scenario_has_a_space_of_its_own() {
        let mut bases: Vec<u32> = Scenario::ALL.iter().map(|&s| space_of(s)).collect();
        bases.sort_unstable();
        bases.dedup();
        assert_eq!(bases.len(), Scenario::ALL.len());
        assert!(bases.iter().all(|&base| base >= SPAN));
    }

    #[test]
    fn uids_go_out_moved_and_come_back_as_they_were() {
        assert_eq!(outward(3000, "2"), "3002");
        assert_eq!(outward(3000, "abc"), "abc");
        assert_eq!(outward(0, "2"), "2");
        assert_eq!(inward(3000, "[UID: 3002]: 2 joined"), "[UID: 2]: 2 joined");
        assert_eq!(
            inward(3000, "[server]: users 3001, 3002 and 3003 joined"),
            "[server]: users 1, 2 and 3 joined"
        );
        assert_eq!(
            inward(3000, "[server]: 40 users left"),
            "[server]: 40 users left"
        );
        // Another space's users are left as they are: not this scenario's.
        assert_eq!(
            inward(3000, "[server]: user 5001 left"),
            "[server]: user 5001 left"
        );
        assert_eq!(inward(0, "[UID: 3002]: hi"), "[UID: 3002]: hi");
    }

    #[test]
    fn the_space_holds_inside_within_only() {
        let inside = crate::block_on(within(7000, async { current() }));
        assert_eq!(inside, 7000);
        assert_eq!(crate::block_on(async { current() }), 0);
    }
}
