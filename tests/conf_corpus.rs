//! The 62 real ntp.conf files of ../shared/reference/conf-corpus/ (issue 13): `ntpd --check`
//! on each gives classic 4.2.6p5's verdict as RESULTS.md records it there.
//!
//! The verdicts are read from RESULTS.md's per-file table, not copied here:
//! - the lines classic rejects (its parser's syntax errors, and the class "a" lines it
//!   drops after parsing) are exactly our error lines, and we exit 1 exactly when there
//!   are some; a class "b" line (classic accepts it) is never an error;
//! - an includefile classic could not open gets our "Couldn't open includefile" warning;
//! - each reference clock line names its type in a "not supported" warning exactly when
//!   the daemon does not run that type (all but 1, 20, 22 and 28);
//! - lines classic acts on that we once passed over in silence (`pidfile`, `logconfig`,
//!   `enable bclient`) are accepted.
//!
//! Issue 14's bullet (nothing reported as "not supported" that classic acts on, except
//! `crypto` and refclock types other than 1, 20, 22, 28) is the second test; its broadcast,
//! multicast and manycast rows (003, 014, 016, 020, 035, 036, 037, 039, 040, 041, 042)
//! pass once the broadcast/manycast work (h-bcast) takes those directives off the daemon's
//! NOT_ACTED_ON list, and 040's bare `multicastclient` is an error once its parser needs
//! an address as 4.2.6p5's grammar does.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Reference clock types the daemon runs (LOCAL, NMEA, PPS, SHM).
const RUN: [u8; 4] = [1, 20, 22, 28];

/// One row of RESULTS.md's per-file table.
struct Row {
    file: String,
    /// Lines classic rejects: syntax errors and class "a" complaints.
    rejected: BTreeSet<u32>,
    /// Lines classic accepts that we once rejected (class "b").
    accepted: BTreeSet<u32>,
    /// Include files classic could not open.
    missing_includes: Vec<String>,
    /// `(line, type)` of the reference clock lines.
    refclocks: Vec<(u32, u8)>,
    /// Lines classic acts on that we once passed over in silence, with the keyword.
    silent: Vec<(u32, String)>,
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// The number before the first ':' of an entry such as `20: unknown directive`.
fn line_no(entry: &str) -> Option<u32> {
    entry.split(':').next()?.trim().parse().ok()
}

/// `syntax error in F line 20, column 1` -> 20.
fn syntax_error_line(verdict: &str) -> Option<u32> {
    let rest = verdict.split(" line ").nth(1)?;
    rest.split(',').next()?.trim().parse().ok()
}

fn parse_row(line: &str) -> Option<Row> {
    let c = cells(line);
    let [file, _exit, complaints, classes, classic, silent] = c.as_slice() else {
        return None;
    };
    let mut row = Row {
        file: file.clone(),
        rejected: syntax_error_line(classic).into_iter().collect(),
        accepted: BTreeSet::new(),
        missing_includes: Vec::new(),
        refclocks: Vec::new(),
        silent: Vec::new(),
    };
    if let Some(name) = classic.strip_prefix("getconfig: Couldn't open <") {
        row.missing_includes
            .push(name.trim_end_matches('>').to_string());
    }
    for (complaint, class) in complaints.split("<br>").zip(classes.split("<br>")) {
        let Some(n) = line_no(complaint) else {
            continue;
        };
        match class.trim() {
            "a" => row.rejected.insert(n),
            "b" => row.accepted.insert(n),
            _ => false,
        };
    }
    for entry in silent.split("<br>").filter(|e| *e != "—") {
        let Some(n) = line_no(entry) else { continue };
        let what = entry.split_once(':').map_or("", |(_, w)| w.trim());
        match what.strip_prefix("refclock type ") {
            Some(t) => {
                let t = t.split_whitespace().next()?.parse().ok()?;
                row.refclocks.push((n, t));
            }
            None => row.silent.push((n, what.split(" (").next()?.to_string())),
        }
    }
    Some(row)
}

/// The corpus folder and the rows of its RESULTS.md (None: absent, said by reference_dir).
fn corpus() -> Option<(PathBuf, Vec<Row>)> {
    let dir = common::reference_dir("conf-corpus")?;
    let results = std::fs::read_to_string(dir.join("RESULTS.md")).expect("RESULTS.md");
    let rows: Vec<Row> = results
        .lines()
        .filter(|l| l.starts_with("| 0"))
        .map(|l| parse_row(l).unwrap_or_else(|| panic!("unreadable RESULTS.md row: {l}")))
        .collect();
    assert_eq!(rows.len(), 62, "RESULTS.md rows");
    Some((dir, rows))
}

/// The diagnostics of `lines` at line `n` of `file`.
fn at<'a>(lines: &'a [String], file: &str, n: u32) -> Vec<&'a str> {
    let prefix = format!("{file}:{n}: ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect()
}

/// The lines of `file` (in `dir`) our check reports as errors (the line is dropped), read
/// from the library's severities: `--check` prints errors and warnings alike.
fn error_lines(dir: &Path, file: &str) -> BTreeSet<u32> {
    let diags = ntp6::config::check_file(&dir.join(file), &ntp6::daemon::settings::SUPPORT);
    diags
        .iter()
        .filter(|d| d.is_error() && d.location.file.ends_with(file))
        .map(|d| d.location.line)
        .collect()
}

/// Everything that differs from classic's verdict on one file.
fn differences(dir: &Path, row: &Row, checked: &common::Checked) -> Vec<String> {
    let mut out = Vec::new();
    let lines = &checked.lines;
    let errors = error_lines(dir, &row.file);
    if errors != row.rejected {
        out.push(format!(
            "error lines {errors:?}, classic rejects {:?}",
            row.rejected
        ));
    }
    let want_status = i32::from(!row.rejected.is_empty());
    if checked.status != Some(want_status) {
        out.push(format!(
            "exit {:?}, classic's verdict {want_status}",
            checked.status
        ));
    }
    for n in row.accepted.iter().filter(|n| errors.contains(n)) {
        out.push(format!("line {n}: classic accepts it, ours rejects it"));
    }
    for name in &row.missing_includes {
        let absent = !Path::new(name).exists();
        let said = lines
            .iter()
            .any(|l| l.contains(&format!("Couldn't open includefile <{name}>")));
        if absent && !said {
            out.push(format!("no warning for the missing includefile {name}"));
        }
    }
    for &(n, t) in &row.refclocks {
        let said = at(lines, &row.file, n)
            .iter()
            .any(|m| m.starts_with(&format!("refclock type {t} (")) && m.contains("not supported"));
        if said == RUN.contains(&t) {
            let how = if said { "named" } else { "not named" };
            out.push(format!(
                "line {n}: refclock type {t} {how} as not supported"
            ));
        }
    }
    for (n, keyword) in &row.silent {
        if errors.contains(n) {
            out.push(format!("line {n}: '{keyword}' rejected"));
        }
    }
    out
}

#[test]
fn check_gives_classic_verdict_on_every_corpus_file() {
    let Some((dir, rows)) = corpus() else { return };
    let mut failed = Vec::new();
    eprintln!("{:<40} {:<28} ours", "file", "classic");
    for row in &rows {
        let checked = common::ntpd_check(&dir, Path::new(&row.file));
        let diffs = differences(&dir, row, &checked);
        let classic = if row.rejected.is_empty() {
            "accepts".to_string()
        } else {
            format!("rejects lines {:?}", row.rejected)
        };
        let ours = if diffs.is_empty() { "same" } else { "DIFFERS" };
        eprintln!("{:<40} {classic:<28} {ours}", row.file);
        for d in diffs {
            failed.push(format!("{}: {d}", row.file));
        }
    }
    eprintln!(
        "{} of {} files as classic",
        rows.len()
            - failed
                .iter()
                .map(|f| f.split(':').next())
                .collect::<BTreeSet<_>>()
                .len(),
        rows.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// A "not supported" that issue 14 allows: Autokey `crypto`, reference clock types the
/// daemon does not run, and MS-SNTP (`mssntp`, which classic built without ntp_signd
/// ignores too).
fn allowed_not_supported(message: &str) -> bool {
    let refclock_not_run = message
        .strip_prefix("refclock type ")
        .and_then(|r| r.split_whitespace().next()?.parse::<u8>().ok())
        .is_some_and(|t| !RUN.contains(&t));
    refclock_not_run
        || message.starts_with("'crypto' not supported")
        || message.starts_with("restrict flag 'mssntp' is not supported")
}

#[test]
fn check_reports_nothing_classic_acts_on_as_not_supported() {
    let Some((dir, rows)) = corpus() else { return };
    let mut found = Vec::new();
    for row in &rows {
        let checked = common::ntpd_check(&dir, Path::new(&row.file));
        let unsupported = checked.lines.iter().filter(|l| {
            let message = l.splitn(3, ':').nth(2).unwrap_or("").trim();
            message.contains("not supported") && !allowed_not_supported(message)
        });
        found.extend(unsupported.cloned());
    }
    eprintln!(
        "{} lines reported as not supported that classic acts on",
        found.len()
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}
