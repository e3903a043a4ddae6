//! The few statistics the pages show: medians with min and max, and ratios
//! taken within each run.

use serde_json::Value;

/// Median, min and max of the finite values (a missing figure is NaN).
pub fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    (
        median,
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
    )
}

/// `key` of every run, NaN where a run lacks it.
pub fn field(runs: &[Value], key: &str) -> Vec<f64> {
    runs.iter()
        .map(|run| run[key].as_f64().unwrap_or(f64::NAN))
        .collect()
}

/// Per run, `key` of `runs` divided by `reference`'s in the same run.
pub fn ratios(runs: &[Value], reference: &[Value], key: &str) -> Vec<f64> {
    field(runs, key)
        .iter()
        .zip(field(reference, key))
        .map(|(this, reference)| this / reference)
        .collect()
}

/// A value as a page prints it, to two decimals, read back: verdicts judge
/// this, so that the words match the figures (`round` and `format!` may
/// round a half, such as 1.125, different ways).
pub fn printed(value: f64) -> f64 {
    format!("{value:.2}").parse().unwrap_or(value)
}

/// `10000` as `10,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `m (lo–hi)` of a spread, each divided by `scale`, to `digits` decimals.
pub fn median_range((m, lo, hi): (f64, f64, f64), scale: f64, digits: usize) -> String {
    format!(
        "{:.digits$} ({:.digits$}–{:.digits$})",
        m / scale,
        lo / scale,
        hi / scale
    )
}

/// A table cell: the median of `key` across `runs`, with its min and max,
/// each divided by `scale`, to `digits` decimals.
pub fn cell(runs: &[Value], key: &str, scale: f64, digits: usize) -> String {
    median_range(spread(&field(runs, key)), scale, digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_ignores_missing_values() {
        assert_eq!(spread(&[3.0, f64::NAN, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
