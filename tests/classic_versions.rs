//! Version strings keep classic 4.2.6p5's first words (help-ntpd.txt, help-ntpq.txt,
//! local.txt), so tools that sniff the release (LibreNMS, nmap's ntp-info) still see
//! 4.2.6p5, and then name this project instead of classic's build date.

#[path = "control_fixture.rs"]
mod fixture;

use std::process::Command;

/// The stdout of `### command: COMMAND` in a help-*.txt capture.
fn help_capture(file: &str, command: &str) -> String {
    let text = fixture::reference(file);
    let at = text
        .find(&format!("### command: {command}\n"))
        .expect("command in reference");
    let body = &text[at..];
    let start = body.find("### ---- stdout ----\n").unwrap() + "### ---- stdout ----\n".len();
    let end = body.find("### ---- stderr ----").unwrap();
    body[start..end].to_string()
}

fn stdout_of(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect("run");
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Ours equals classic's first line exactly, and classic's second line up to the release;
/// the rest names the project.
fn assert_classic_prefix(ours: &str, classic: &str) {
    let (ours_first, ours_rest) = ours.split_once('\n').unwrap();
    let (classic_first, classic_rest) = classic.split_once('\n').unwrap();
    assert_eq!(ours_first, classic_first);
    let release = classic_rest
        .split(' ')
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(release, classic_first, "capture: {classic:?}");
    let second = ours_rest.lines().next().unwrap();
    assert!(
        second.starts_with(&format!("{release}@1.2349-o ntpd-rs6 ")),
        "{second:?}"
    );
}

#[test]
fn ntpd_version_keeps_classic_first_words() {
    let ours = stdout_of(env!("CARGO_BIN_EXE_ntpd"), &["--version"]);
    assert_classic_prefix(&ours, &help_capture("help-ntpd.txt", "ntpd --version"));
}

#[test]
fn ntpq_version_keeps_classic_first_words() {
    let ours = stdout_of(env!("CARGO_BIN_EXE_ntpq"), &["--version"]);
    assert_classic_prefix(&ours, &help_capture("help-ntpq.txt", "ntpq --version"));
    // `-c version` prints classic's one line (local.txt: `ntpq 4.2.6p5 <date> (3)`).
    let line = stdout_of(env!("CARGO_BIN_EXE_ntpq"), &["-c", "version", "127.0.0.1"]);
    assert_eq!(line, format!("{}\n", ours.lines().nth(1).unwrap()));
    assert!(
        line.starts_with("ntpq 4.2.6p5@1.2349-o ntpd-rs6 "),
        "{line}"
    );
}
