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
    /// The rate of the second latency phase (half of ours' maximum) and its latencies.
    pub half_rate: u32,
    pub p50_half_us: f64,
    pub p99_half_us: f64,
    pub rss_idle_mb: f64,
    /// Memory no other process shares (private pages), idle and after the load.
    pub private_idle_mb: f64,
    pub rss_loaded_mb: f64,
    pub private_loaded_mb: f64,
    /// Anything that qualifies the numbers: losses, kiss-o'-death, unsynchronised answers.
    pub notes: Vec<String>,
}

/// One server's memory as ever more distinct clients have asked it the time.
#[derive(Debug, Default)]
pub struct MemoryRow {
    pub name: String,
    /// (RSS, private) in MB, idle and after each step.
    pub idle: (f64, f64),
    pub steps: Vec<(f64, f64)>,
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
        "| server | answers/s | ratio to reflector | CPU us/answer | user us/answer \
         | p50 us @1k/s | p99 us @1k/s | p50 us @half | p99 us @half | RSS idle MB \
         | private idle MB | RSS loaded MB | private loaded MB | server CPU % | generator CPU % |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let reflector = rows
        .iter()
        .find(|row| row.name == "reflector")
        .map(|row| row.answers_per_sec);
    for row in rows {
        let ratio = reflector.map_or("n/a".to_string(), |r| {
            format!("{:.2}", row.answers_per_sec / r)
        });
        let _ = writeln!(
            out,
            "| {} | {:.0} | {ratio} | {:.2} | {:.3} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} \
             | {:.2} | {:.2} | {:.0} | {:.0} |",
            row.name,
            row.answers_per_sec,
            row.cpu_us_per_answer,
            row.user_us_per_answer,
            row.p50_us,
            row.p99_us,
            row.p50_half_us,
            row.p99_half_us,
            row.rss_idle_mb,
            row.private_idle_mb,
            row.rss_loaded_mb,
            row.private_loaded_mb,
            row.busy_percent,
            row.generator_percent
        );
    }
    for (name, _) in failures {
        let _ = writeln!(out, "| {name} |{}", " n/a |".repeat(14));
    }
    let failed = failures
        .iter()
        .map(|(name, why)| format!("{name}: not measured: {why}"));
    let notes = rows.iter().map(|row| (&row.name, &row.notes));
    write_notes(&mut out, notes, failed);
    out
}

/// "- NAME: NOTE" lines for every note of every row, then `more`, after an empty line.
fn write_notes<'a>(
    out: &mut String,
    rows: impl Iterator<Item = (&'a String, &'a Vec<String>)>,
    more: impl Iterator<Item = String>,
) {
    let notes: Vec<String> = rows
        .flat_map(|(name, notes)| notes.iter().map(move |note| format!("{name}: {note}")))
        .chain(more)
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out);
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
}

/// The memory table: RSS / private MB idle and after each step of distinct clients.
pub fn render_memory(rows: &[MemoryRow], steps: &[u64]) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n### Memory with many clients\n\nEach server started afresh (ours with its MRU \
         monitor on, as by default) and asked once from each of ever more distinct addresses; \
         RSS / private (unique) memory in MB.\n"
    );
    let mut header = "| server | idle |".to_string();
    for clients in steps {
        let _ = write!(header, " after {} clients |", count(*clients));
    }
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "|---|{}", "---:|".repeat(steps.len() + 1));
    for row in rows {
        let mut line = format!("| {} | {:.2} / {:.2} |", row.name, row.idle.0, row.idle.1);
        for (rss, private) in &row.steps {
            let _ = write!(line, " {rss:.2} / {private:.2} |");
        }
        let _ = writeln!(out, "{line}");
    }
    let notes = rows.iter().map(|row| (&row.name, &row.notes));
    write_notes(&mut out, notes, std::iter::empty());
    out
}

/// 10000 as 10k, 1000000 as 1M.
fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1000 && n % 1000 == 0 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}
