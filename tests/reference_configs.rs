//! Every RHEL6-style ntp.conf in tests/fixtures/configs/ passes `ntpd --check` and
//! runs: ntpd starts on it as it is (only the drift file is moved to a scratch directory),
//! answers time requests, and serves stratum 11 where the file enables LOCAL(0).

mod common;

use common::{wait_for_ntp, Netns, TempDir};
use ntp6::wire::ntp::Leap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn reference_configs() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/configs"
    ));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".ntp.conf"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no reference configs in {}",
        dir.display()
    );
    files
}

#[test]
fn check_reports_no_errors_on_reference_configs() {
    for conf in reference_configs() {
        let checked = common::ntpd_check(Path::new("."), &conf);
        let text = checked.lines.join("\n");
        assert_eq!(
            checked.status,
            Some(0),
            "{}: --check failed:\n{text}",
            conf.display()
        );
        assert!(!text.contains("error"), "{}:\n{text}", conf.display());
    }
}

#[test]
fn check_names_every_broken_line() {
    let tmp = TempDir::new();
    let conf = tmp.write(
        "broken.conf",
        "driftfile /tmp/x/drift\nrestrict default nomodifiy\nserver\nserver 127.127.1.0 minpoll\nfoobar 1\nserver 127.127.1.0\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ntpd"))
        .args(["--check", "-c", &conf])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for (line, token) in [
        (2, "nomodifiy"),
        (3, "server"),
        (4, "minpoll"),
        (5, "foobar"),
    ] {
        let want = format!("broken.conf:{line}:");
        let hit = text.lines().find(|l| l.contains(&want));
        assert!(
            hit.is_some_and(|l| l.contains(token)),
            "line {line} ('{token}') not reported:\n{text}"
        );
    }
}

#[test]
fn ntpd_runs_on_each_reference_config() {
    let Some(_lock) = common::setup() else { return };
    for conf in reference_configs() {
        let text = std::fs::read_to_string(&conf).unwrap();
        let tmp = TempDir::new();
        let drift = tmp.path().join("drift");
        let moved = text.replace("/var/lib/ntp/drift", drift.to_str().unwrap());
        let path = tmp.write("ntp.conf", &moved);
        let ns = Netns::new();
        let mut proc = ns.spawn(&tmp, &[env!("CARGO_BIN_EXE_ntpd"), "-n", "-c", &path]);
        let addr = "127.0.0.1:123".parse().unwrap();
        let local_clock = text
            .lines()
            .any(|l| l.trim_start().starts_with("server") && l.contains("127.127.1.0"));
        let mut reply = wait_for_ntp(&ns, addr, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", conf.display(), proc.describe()));
        if local_clock {
            for _ in 0..50 {
                if reply.header.leap != Leap::Unsync {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
                reply = wait_for_ntp(&ns, addr, Duration::from_secs(5)).unwrap();
            }
            assert_eq!(
                (reply.header.stratum, reply.header.leap),
                (11, Leap::NoWarning),
                "{}",
                conf.display()
            );
        } else {
            // Network servers only (not reachable here): honestly unsynchronised, sent as
            // stratum 0 as classic's wire captures show (STRATUM_TO_PKT).
            assert_eq!(
                (reply.header.stratum, reply.header.leap),
                (0, Leap::Unsync),
                "{}",
                conf.display()
            );
        }
        assert!(
            proc.is_alive(),
            "{}: ntpd died\n{}",
            conf.display(),
            proc.describe()
        );
        proc.stop();
        assert!(
            drift.exists(),
            "{}: no drift file written at stop\n{}",
            conf.display(),
            proc.describe()
        );
    }
}
