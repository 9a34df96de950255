//! Real third-party clients query our ntpd (LOCAL(0) at stratum 10) on 127.0.0.1 in a
//! fresh namespace: NTPsec's ntpdig, chrony's `chronyd -Q` (measure only, never sets the
//! clock) and Python's ntplib. Each must see stratum 11 and our clock's offset.
//!
//! Offset signs: all three tools report "server minus local" (positive when the server is
//! ahead): ntpdig's offset column, ntplib's `offset`, and chrony's measurements.log
//! `Offset` ("positive: the local clock is slow of the source"). `--virtual-clock 2.5`
//! runs our server 2.5 s ahead, so each tool reports about +2.5.

mod common;

use common::{parse_ntpdig, Daemon, Netns, Seen, TempDir};

const TOLERANCE: f64 = 0.001;
use common::CLIENT_TIMEOUT;

/// Runs one client against a fresh server (virtual clock `vclock`) and checks what it saw.
fn check(client: fn(&Netns, &TempDir) -> Option<Seen>, vclock: Option<&str>, expect: f64) {
    let Some(_lock) = common::setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let conf = format!(
        "restrict default kod nomodify notrap nopeer noquery\nrestrict 127.0.0.1\n{}",
        common::LOCAL_CONF
    );
    let Some(mut srv) = common::start_ntpd(&ns, &tmp, &conf, vclock) else {
        return;
    };
    // A busy 2-core machine can delay one side of an exchange by more than the tolerance,
    // so a tool gets three tries; a wrong offset or stratum fails all of them.
    let mut seen_all = Vec::new();
    for _ in 0..3 {
        let Some(seen) = client(&ns, &tmp) else {
            return;
        };
        let good = seen.stratum == srv.stratum && (seen.offset - expect).abs() < TOLERANCE;
        seen_all.push(seen);
        if good {
            break;
        }
    }
    let last = seen_all.last().expect("at least one try");
    assert!(
        last.stratum == srv.stratum && (last.offset - expect).abs() < TOLERANCE,
        "expected stratum {} and offset {expect} s ± {TOLERANCE}, saw {seen_all:?}",
        srv.stratum
    );
    assert_alive(&mut srv);
}

fn assert_alive(srv: &mut Daemon) {
    assert!(srv.proc.is_alive(), "server died\n{}", srv.proc.describe());
}

fn ntpdig(ns: &Netns, tmp: &TempDir) -> Option<Seen> {
    common::ntpdig(ns, tmp, "127.0.0.1")
}

/// `chronyd -Q` takes one measurement, logs it to measurements.log and exits.
fn chrony(ns: &Netns, tmp: &TempDir) -> Option<Seen> {
    let bin = common::require_peer("chronyd")?;
    let dir = tmp.path().join("chrony");
    std::fs::create_dir_all(&dir).ok()?;
    let d = dir.to_str()?;
    let conf = tmp.write(
        "chrony.conf",
        &format!(
            "server 127.0.0.1 iburst maxsamples 1\nlogdir {d}\nlog measurements\n\
             pidfile {d}/chronyd.pid\ndriftfile {d}/drift\ncmdport 0\nbindcmdaddress /\n"
        ),
    );
    // -Q: measure only; -u root: the unpacked package has no _chrony user; -t: bound time.
    let argv = [bin.to_str()?, "-Q", "-u", "root", "-f", &conf, "-t", "20"];
    let out = ns.run(tmp, &argv, CLIENT_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out:?}");
    let log = std::fs::read_to_string(dir.join("measurements.log")).unwrap_or_default();
    Some(parse_chrony(&log).unwrap_or_else(|| panic!("no measurement: {log}\n{out:?}")))
}

/// measurements.log row: `DATE TIME IP L St 123 567 ABCD LP RP Score Offset ...`.
fn parse_chrony(log: &str) -> Option<Seen> {
    let row = log.lines().rev().find(|l| l.contains(" 127.0.0.1 "))?;
    let words: Vec<&str> = row.split_whitespace().collect();
    Some(Seen {
        stratum: words.get(4)?.parse().ok()?,
        offset: words.get(11)?.parse().ok()?,
    })
}

/// Python ntplib (Debian's python3, which has the module).
fn ntplib(ns: &Netns, tmp: &TempDir) -> Option<Seen> {
    let py = common::require_peer("python3-ntplib")?;
    let script = "import ntplib\n\
                  r = ntplib.NTPClient().request('127.0.0.1', version=4, timeout=5)\n\
                  print(r.stratum, repr(r.offset))\n";
    let out = ns.run(tmp, &[py.to_str()?, "-c", script], CLIENT_TIMEOUT);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut words = out.stdout.split_whitespace();
    let seen = (|| {
        Some(Seen {
            stratum: words.next()?.parse().ok()?,
            offset: words.next()?.parse().ok()?,
        })
    })();
    Some(seen.unwrap_or_else(|| panic!("unparsable ntplib output {out:?}")))
}

#[test]
fn ntpdig_sees_stratum_11_in_sync() {
    check(ntpdig, None, 0.0);
}

#[test]
fn ntpdig_sees_virtual_clock_offset() {
    check(ntpdig, Some("2.5"), 2.5);
}

#[test]
fn chronyd_sees_stratum_11_in_sync() {
    check(chrony, None, 0.0);
}

#[test]
fn chronyd_sees_virtual_clock_offset() {
    check(chrony, Some("2.5"), 2.5);
}

#[test]
fn ntplib_sees_stratum_11_in_sync() {
    check(ntplib, None, 0.0);
}

#[test]
fn ntplib_sees_virtual_clock_offset() {
    check(ntplib, Some("2.5"), 2.5);
}

#[test]
fn parsers_read_sample_outputs() {
    let s = parse_ntpdig(
        "2026-11-21 03:09:06.841296 (+0000) +2.500105 +/- 0.000256 127.0.0.1 s11 no-leap\n",
    )
    .expect("ntpdig line");
    assert_eq!((s.stratum, s.offset), (11, 2.500105));
    let s = parse_chrony(
        "   Date (UTC) Time     IP Address   L St 123 567 ABCD  LP RP Score    Offset\n\
         2026-11-21 03:09:14 127.0.0.1       N 11 111 111 1111   6  6 0.00 -1.207e-06  6.4e-06\n",
    )
    .expect("chrony row");
    assert_eq!((s.stratum, s.offset), (11, -1.207e-06));
}

#[test]
fn ntpdig_gets_time_over_ipv6_loopback() {
    let Some(_lock) = common::setup() else { return };
    let tmp = TempDir::new();
    let ns = Netns::new();
    let conf = format!(
        "restrict default kod nomodify notrap nopeer noquery\nrestrict 127.0.0.1\nrestrict ::1\n{}",
        common::LOCAL_CONF
    );
    let Some(mut srv) = common::start_ntpd(&ns, &tmp, &conf, None) else {
        return;
    };
    let Some(seen) = common::ntpdig(&ns, &tmp, "::1") else {
        return;
    };
    assert_eq!(seen.stratum, srv.stratum, "{seen:?}");
    assert_alive(&mut srv);
}
