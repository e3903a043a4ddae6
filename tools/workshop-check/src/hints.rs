//! `workshop-check hint N`: the hints of exercise N one at a time, in the
//! terminal, remembering how far each exercise's ladder has been read (a
//! small file under `target/`, so that `cargo clean` forgets it too).

use anyhow::{Context, Result, bail};
use scenarios::exercises::EXERCISES;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file that remembers, for each exercise, how many hints were shown.
pub fn state_file() -> PathBuf {
    scenarios::target_dir().join("workshop-hints.txt")
}

/// How many hints of each exercise were shown: lines `exercise N: K`.
/// A file that cannot be read counts as none shown.
fn read_state(path: &Path) -> BTreeMap<usize, usize> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (number, shown) = line.strip_prefix("exercise ")?.split_once(": ")?;
            Some((number.parse().ok()?, shown.parse().ok()?))
        })
        .collect()
}

fn write_state(path: &Path, state: &BTreeMap<usize, usize>) -> Result<()> {
    let text: String = state
        .iter()
        .map(|(number, shown)| format!("exercise {number}: {shown}\n"))
        .collect();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Shows the next hint of exercise `number` (or, with `again`, the ones
/// already shown), and remembers it in `path`. Returns what to print.
pub fn next_hint(path: &Path, number: usize, again: bool) -> Result<String> {
    let Some(exercise) = number.checked_sub(1).and_then(|index| EXERCISES.get(index)) else {
        bail!(
            "there is no exercise {number}: they are numbered 1 to {}",
            EXERCISES.len()
        );
    };
    let mut state = read_state(path);
    let shown = state.get(&number).copied().unwrap_or(0);
    let total = exercise.hints.len();
    let header = format!("exercise {number}, {}", exercise.title);
    if again {
        if shown == 0 {
            return Ok(format!(
                "{header}: no hint shown yet; `workshop-check hint {number}` shows the first"
            ));
        }
        let mut out = format!("{header}:\n");
        for (rung, hint) in exercise.hints.iter().enumerate().take(shown) {
            out.push_str(&format!("\nhint {} of {total}: {hint}\n", rung + 1));
        }
        return Ok(out);
    }
    if shown >= total {
        return Ok(format!(
            "{header}: all {total} hints are shown (`workshop-check hint {number} --again` shows \
             them again). The solution is on The exercises page of the book, and \
             `cargo xtask workshop solve {number}` applies it (your edits are saved first)."
        ));
    }
    let hint = exercise.hints[shown];
    state.insert(number, shown + 1);
    write_state(path, &state)?;
    let more = if shown + 1 < total {
        format!("run it again for hint {} of {total}", shown + 2)
    } else {
        "that was the last; the solution comes next, on The exercises page".to_string()
    };
    Ok(format!(
        "{header}\n\nhint {} of {total}: {hint}\n\n({more})",
        shown + 1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_come_one_at_a_time_and_are_remembered() {
        let dir = scenarios::target_dir().join(format!("hint-test-{}", std::process::id()));
        let path = dir.join("hints.txt");
        let ladder = EXERCISES[0].hints;
        let first = next_hint(&path, 1, false).expect("first");
        assert!(first.contains(ladder[0]), "{first}");
        assert!(!first.contains(ladder[1]), "{first}");
        let second = next_hint(&path, 1, false).expect("second");
        assert!(
            second.contains(&format!("hint 2 of {}", ladder.len())),
            "{second}"
        );
        assert!(
            second.contains(ladder[1]) && !second.contains(ladder[0]),
            "{second}"
        );
        // Another exercise has a ladder of its own.
        let other = next_hint(&path, 2, false).expect("other");
        assert!(other.contains(EXERCISES[1].hints[0]), "{other}");
        let again = next_hint(&path, 1, true).expect("again");
        assert!(
            again.contains(ladder[0]) && again.contains(ladder[1]),
            "{again}"
        );
        for _ in 2..ladder.len() {
            next_hint(&path, 1, false).expect("more");
        }
        let done = next_hint(&path, 1, false).expect("past the last");
        assert!(done.contains("all") && done.contains("solve 1"), "{done}");
        let err = next_hint(&path, 0, false).expect_err("no exercise 0");
        assert!(err.to_string().contains("no exercise 0"), "{err}");
        std::fs::remove_dir_all(&dir).expect("removing the test's folder");
    }
}
