//! The results table (markdown), one row per server.

use std::fmt::Write;

/// Everything measured for one server.
#[derive(Debug, Default)]
pub struct Row {
    pub name: String,
    pub answers_per_sec: f64,
    pub cpu_us_per_answer: f64,
    pub user_us_per_answer: f64,
    /// Share of one core the server used during the saturation phase.
    pub busy_percent: f64,
    /// Share of its core the load generator got during the saturation phase: well below
    /// 100 means something else took the core and the throughput is not trustworthy.
    pub generator_percent: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub rss_idle_mb: f64,
    pub rss_loaded_mb: f64,
    /// Anything that qualifies the numbers: losses, kiss-o'-death, unsynchronised answers.
    pub notes: Vec<String>,
}

/// The value at `percent` of the sorted samples (nearest rank), in microseconds.
pub fn percentile_us(sorted_ns: &[u64], percent: usize) -> f64 {
    if sorted_ns.is_empty() {
        return f64::NAN;
    }
    let rank = (sorted_ns.len() * percent).div_ceil(100).max(1) - 1;
    sorted_ns[rank.min(sorted_ns.len() - 1)] as f64 / 1000.0
}

/// A markdown table of `rows`, then rows that failed, then the notes.
pub fn render(rows: &[Row], failures: &[(String, String)], preamble: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{preamble}");
    let _ = writeln!(
        out,
        "| server | answers/s | CPU us/answer | user us/answer | p50 us @1k/s | p99 us @1k/s \
         | RSS idle MB | RSS loaded MB | server CPU % | generator CPU % |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.3} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.0} |",
            row.name,
            row.answers_per_sec,
            row.cpu_us_per_answer,
            row.user_us_per_answer,
            row.p50_us,
            row.p99_us,
            row.rss_idle_mb,
            row.rss_loaded_mb,
            row.busy_percent,
            row.generator_percent
        );
    }
    for (name, _) in failures {
        let _ = writeln!(
            out,
            "| {name} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |"
        );
    }
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|row| {
            row.notes
                .iter()
                .map(move |note| format!("{}: {note}", row.name))
        })
        .chain(
            failures
                .iter()
                .map(|(name, why)| format!("{name}: not measured: {why}")),
        )
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out);
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}
