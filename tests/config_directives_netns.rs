//! ntp.conf directives classic acts on whose effect shows outside the daemon (issue 13):
//! `pidfile` writes the PID file as `-p` does (the command line wins), and `logconfig`
//! leaves classic's NLOG classes out of the log.

mod common;

use common::{wait_for_ntp, Netns, Proc, TempDir, LOCAL_CONF};
use ntp6::wire::ntp::Leap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Our ntpd in a fresh namespace on `conf`, on a virtual clock, logging to stderr.
fn start(ns: &Netns, tmp: &TempDir, conf: &str, extra: &[&str]) -> Proc {
    common::spawn_ours_with(ns, tmp, conf, &[], extra)
}

/// The file's text once it holds a line, or None after 10 s.
fn wait_for_file(path: &Path) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        match std::fs::read_to_string(path) {
            Ok(text) if text.ends_with('\n') => return Some(text),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    None
}

#[test]
fn pidfile_directive_is_written_and_minus_p_wins() {
    let Some(_lock) = common::setup() else { return };
    let tmp = TempDir::new();
    let from_conf = tmp.path().join("conf.pid");
    let conf = format!("{LOCAL_CONF}pidfile {}\n", from_conf.display());
    let ns = Netns::new();
    let mut proc = start(&ns, &tmp, &conf, &[]);
    let text = wait_for_file(&from_conf)
        .unwrap_or_else(|| panic!("no PID file from the directive\n{}", proc.describe()));
    assert_eq!(text.trim(), proc.pid().to_string());
    proc.stop();

    std::fs::remove_file(&from_conf).ok();
    let from_cli = tmp.path().join("cli.pid");
    let ns = Netns::new();
    let cli = from_cli.to_str().unwrap();
    let proc = start(&ns, &tmp, &conf, &["-p", cli]);
    let text = wait_for_file(&from_cli)
        .unwrap_or_else(|| panic!("no PID file from -p\n{}", proc.describe()));
    assert_eq!(text.trim(), proc.pid().to_string());
    assert!(!from_conf.exists(), "-p wins over the pidfile directive");
}

/// Waits until the daemon serves LOCAL(0) synchronised; returns its log then.
fn synchronised_log(ns: &Netns, proc: &Proc) -> String {
    let addr = "127.0.0.1:123".parse().unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let reply = wait_for_ntp(ns, addr, Duration::from_secs(5));
        if reply.is_ok_and(|r| r.header.leap != Leap::Unsync) {
            // One more second for anything logged with the change.
            std::thread::sleep(Duration::from_secs(1));
            return proc.stderr();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("never synchronised\n{}", proc.describe());
}

#[test]
fn logconfig_leaves_out_classic_classes() {
    let t0 = Instant::now();
    let Some(_lock) = common::setup() else { return };
    let locked = Instant::now();
    let tmp = TempDir::new();
    const SYNC: &str = "synchronized to LOCAL(0), stratum 10";
    const LISTEN: &str = "Listen normally on";

    // Classic's default writes the sync class.
    let ns = Netns::new();
    let proc = start(&ns, &tmp, LOCAL_CONF, &[]);
    let log = synchronised_log(&ns, &proc);
    assert!(log.contains(SYNC) && log.contains(LISTEN), "{log}");
    drop(proc);

    // NetBSD's sample (corpus 006): `-syncstatus` drops the sync status line, and lines
    // outside the classes stay.
    for items in ["-syncstatus", "=clockevents", "=peerall -syncall"] {
        let ns = Netns::new();
        let conf = format!("{LOCAL_CONF}logconfig {items}\n");
        let proc = start(&ns, &tmp, &conf, &[]);
        let log = synchronised_log(&ns, &proc);
        assert!(!log.contains(SYNC), "logconfig {items}:\n{log}");
        assert!(log.contains(LISTEN), "logconfig {items}:\n{log}");
    }
    eprintln!(
        "four daemons to synchronised LOCAL(0): {:?} (waited {:?} for the namespace lock)",
        locked.elapsed(),
        locked - t0
    );
}
