//! The chart of a chat run's page: median p50 and p99 latency per server.

use super::config::ChatRun;
use super::servers::Server;
use super::stats::{field, spread};
use scenarios::figures::{P50_US, P99_US};
use serde_json::Value;
use std::fmt::Write as _;

/// A bar chart of median p50 and p99 latency per server, as plain SVG.
pub fn latency_chart(chat: &ChatRun, figures: &[(Server, Vec<Value>)]) -> String {
    let medians: Vec<(&str, f64, f64)> = figures
        .iter()
        .map(|(server, runs)| {
            (
                server.label,
                spread(&field(runs, P50_US)).0 / 1000.0,
                spread(&field(runs, P99_US)).0 / 1000.0,
            )
        })
        .collect();
    let top = medians
        .iter()
        .map(|(_, _, p99)| *p99)
        .fold(1.0_f64, f64::max);
    let (width, height, left, bottom) = (640.0, 260.0, 110.0, 40.0);
    let plot = width - left - 20.0;
    let row = (height - bottom - 20.0) / medians.len().max(1) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" \
         font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n\
         <title>Median delivery latency: {}</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        chat.title()
    );
    for (index, &(short, p50, p99)) in medians.iter().enumerate() {
        let y = 20.0 + row * index as f64;
        let bar = |value: f64| value / top * plot;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{short}</text>\n\
             <rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#9ecae1\"/>\n\
             <rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#3182bd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\">p99 {p99:.1} ms</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"white\">p50 {p50:.1}</text>\n",
            left - 8.0,
            y + row * 0.55,
            y + 4.0,
            bar(p99),
            row * 0.4,
            y + row * 0.45,
            bar(p50),
            row * 0.4,
            left + bar(p99) + 4.0,
            y + row * 0.35,
            left + 4.0,
            y + row * 0.75,
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"{:.1}\">median latency, ms (dark: p50, light: p99)</text>\n</svg>\n",
        height - 12.0
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::super::config::Matrix;
    use super::super::servers::servers;
    use super::*;

    #[test]
    fn the_chart_has_two_bars_a_server() {
        let one = serde_json::json!({ P50_US: 1000.0, P99_US: 4000.0 });
        let figures: Vec<(Server, Vec<Value>)> = servers()
            .into_iter()
            .map(|server| (server, vec![one.clone(); 3]))
            .collect();
        let svg = latency_chart(&Matrix::quick().chats[0], &figures);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect x=").count(), 2 * figures.len());
        assert!(svg.contains(">part4</text>"), "{svg}");
    }
}
