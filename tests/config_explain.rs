//! `ntpd --check --explain -c FILE`: every directive of the seed's RHEL6 files explained
//! in plain words next to the line as written, exit 0; lint findings for the classic
//! traps among the check's warnings.
mod common;

use common::TempDir;
use std::process::Command;

const CONFIGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/configs/");

/// `ntpd --check --explain -c path`: exit code and stdout.
fn explain(path: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ntpd"))
        .args(["--check", "--explain", "-c", path])
        .output()
        .expect("run ntpd");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Every directive line of `path` (not blank, not only a comment) is shown as written
/// and followed by its meaning.
fn every_line_explained(path: &str) -> String {
    let (code, out) = explain(path);
    assert_eq!(code, Some(0), "{out}");
    let text = std::fs::read_to_string(path).unwrap();
    let shown: Vec<&str> = out.lines().collect();
    for (n, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap().trim();
        if code.is_empty() {
            continue;
        }
        let head = format!("{path}:{}: {code}", n + 1);
        let at = shown.iter().position(|l| *l == head);
        let meaning = at.and_then(|i| shown.get(i + 1));
        assert!(
            meaning.is_some_and(|m| m.starts_with("    ") && m.len() > 20),
            "line {} not explained: {head}\n{out}",
            n + 1
        );
    }
    out
}

#[test]
fn the_rhel6_lan_server_file_in_words() {
    let path = format!("{CONFIGS}rhel6-lan-server.ntp.conf");
    let out = every_line_explained(&path);
    assert!(
        out.contains(
            ": restrict 172.25.0.0 mask 255.255.255.0 nomodify\n    \
             hosts in 172.25.0.0/24 may get time and query, may not modify\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(": restrict default kod nomodify notrap nopeer noquery\n    every other host (IPv4 and IPv6) may get time, may not query, modify, set traps or become a peer"),
        "{out}"
    );
    // Its own address as a server, beside LOCAL(0): both traps are named.
    assert!(
        out.contains(":11: lint: LOCAL(0) beside real servers"),
        "{out}"
    );
    assert!(out.contains("write 'tos orphan 10'"), "{out}");
    assert!(out.contains(":10: lint: one server"), "{out}");
}

#[test]
fn the_shipped_config_in_words() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/ntp.conf");
    let out = every_line_explained(path);
    assert!(out.contains("LOCAL(0) claims stratum 10, so this host serves stratum 11"));
    assert!(
        !out.contains("lint:"),
        "the RHEL6 default file has no trap:\n{out}"
    );
}

#[test]
fn a_trap_is_named_with_its_remedy_and_check_still_passes() {
    let tmp = TempDir::new();
    let path = tmp.write(
        "ntp.conf",
        "restrict default ignore\nserver 10.0.0.1 iburst\nserver 10.0.0.2 iburst\n\
         server 10.0.0.3 iburst\n",
    );
    let (code, out) = explain(&path);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(":1: lint: this line's 'ignore' also covers 127.0.0.1: ntpq on this host gets no answer and times out; add 'restrict 127.0.0.1' after it"),
        "{out}"
    );
    // Plain --check names the trap too.
    let check = Command::new(env!("CARGO_BIN_EXE_ntpd"))
        .args(["--check", "-c", &path])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains(":1: lint: this line's 'ignore'"), "{text}");
    assert!(
        !text.contains("    "),
        "no explanations without --explain: {text}"
    );
}
