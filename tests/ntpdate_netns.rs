//! ntpdate against real servers (chronyd, NTPsec's ntpd, ours) on the reference LAN
//! (tests/common/netns.rs): the server at 172.25.0.11, ntpdate on the client at
//! 172.25.0.12. Every process runs under `setpriv --bounding-set -sys_time`, and ntpdate
//! always runs with -q, -d or --virtual-clock, so the machine's clock cannot be touched.
//! chronyd comes from `.peers/chrony` (scripts/install-test-deps.sh).

mod common;

use common::{ntp_addr, LanLab, Output, SERVER};
use std::time::{Duration, Instant};

/// Nobody answers here (no such host on the LAN).
const DEAD: &str = "172.25.0.99";

/// The LAN and the peers started on it; all stopped and removed on drop.
type Lab = LanLab;

impl Lab {
    /// A lab whose server host runs chronyd; None = skipped.
    fn with_chronyd() -> Option<Lab> {
        let mut lab = Lab::new()?;
        lab.chronyd()?;
        Some(lab)
    }

    /// chronyd as a stratum-10 server on the server host; None = skipped.
    fn chronyd(&mut self) -> Option<()> {
        let bin = common::require_peer("chronyd")?;
        let pid = self.tmp.path().join("chronyd.pid");
        let conf = self.tmp.write(
            "chrony.conf",
            &format!(
                "local stratum 10\nallow all\ncmdport 0\nbindcmdaddress /\npidfile {}\n",
                pid.display()
            ),
        );
        let argv = [bin.to_str()?, "-d", "-x", "-u", "root", "-f", &conf];
        self.procs.push(self.lan.server.spawn(&self.tmp, &argv));
        self.wait_for_stratum(10);
        Some(())
    }

    /// NTPsec's ntpd in orphan mode (as in the reference captures) in `ns`; None = skipped.
    fn ntpsec(&mut self, on_client: bool) -> Option<()> {
        let ns = if on_client {
            &self.lan.client
        } else {
            &self.lan.server
        };
        let conf = "tos orphan 10 orphanwait 1\ndisable ntp\ndisable kernel\n";
        self.procs.push(common::spawn_ntpsec(ns, &self.tmp, conf)?);
        Some(())
    }

    /// Waits until the server host serves `stratum` to the client host.
    fn wait_for_stratum(&self, stratum: u8) {
        let timeout = Duration::from_secs(20);
        common::wait_for_stratum(&self.lan.client, ntp_addr(SERVER), stratum, timeout);
    }

    /// Runs our ntpdate on the client host; also returns how long it took.
    fn ntpdate(&self, args: &[&str]) -> (Output, Duration) {
        let mut argv = vec![env!("CARGO_BIN_EXE_ntpdate")];
        argv.extend_from_slice(args);
        let start = Instant::now();
        let out = self
            .lan
            .client
            .run(&self.tmp, &argv, Duration::from_secs(30));
        (out, start.elapsed())
    }
}

/// Splits `21 Nov 02:52:29 ntpdate[28147]: MESSAGE` and returns MESSAGE.
fn log_message(line: &str) -> &str {
    let (prefix, rest) = line.split_once(" ntpdate[").expect("ntpdate[ in log line");
    assert_eq!(prefix.len(), 15, "time prefix in {line:?}");
    let (pid, msg) = rest.split_once("]: ").expect("]: in log line");
    assert!(pid.bytes().all(|b| b.is_ascii_digit()), "{line:?}");
    msg
}

/// From `server A, stratum S, offset O, delay D`: (S, O, D).
fn query_fields(line: &str) -> (u32, f64, f64) {
    let prefix = format!("server {SERVER}, stratum ");
    let rest = line.strip_prefix(&prefix).expect(line);
    let (stratum, rest) = rest.split_once(", offset ").expect(line);
    let (offset, delay) = rest.split_once(", delay ").expect(line);
    assert_eq!(
        offset.split_once('.').map(|(_, f)| f.len()),
        Some(6),
        "{line}"
    );
    assert_eq!(
        delay.split_once('.').map(|(_, f)| f.len()),
        Some(5),
        "{line}"
    );
    (
        stratum.parse().expect(line),
        offset.parse().expect(line),
        delay.parse().expect(line),
    )
}

/// `step time server A offset O sec` -> ("step", O)
fn adjust_fields(msg: &str) -> (String, f64) {
    let (kind, rest) = msg.split_once(" time server ").expect(msg);
    let prefix = format!("{SERVER} offset ");
    let offset = rest
        .strip_prefix(&prefix)
        .and_then(|r| r.strip_suffix(" sec"))
        .expect(msg);
    (kind.to_string(), offset.parse().expect(msg))
}

/// The virtual clock's offset from true time from our stderr line.
fn virtual_offset(stderr: &str) -> f64 {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("virtual clock: offset from true time now "))
        .expect("virtual clock line");
    line.trim_end_matches(" s").parse().expect(line)
}

#[test]
fn query_against_chronyd_prints_classic_lines() {
    let Some(lab) = Lab::with_chronyd() else {
        return;
    };
    let (out, wall) = lab.ntpdate(&["-q", "-p", "2", SERVER]);
    let stdout = &out.stdout;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let (stratum, offset, delay) = query_fields(lines[0]);
    assert_eq!(stratum, 10);
    assert!(offset.abs() < 0.001, "{stdout}");
    // Classic's constant allowance makes a LAN round trip print as 0.0256x.
    assert!((0.0256..0.0300).contains(&delay), "{stdout}");
    let (kind, adj) = adjust_fields(log_message(lines[1]));
    assert_eq!((kind.as_str(), adj), ("adjust", offset));
    assert_eq!(out.code, Some(0));
    // Two samples, classic's 2 s apart, and done as soon as the second answer is in.
    assert!(
        wall > Duration::from_millis(1900) && wall < Duration::from_millis(3000),
        "{wall:?}"
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn debug_dump_against_chronyd() {
    let Some(lab) = Lab::with_chronyd() else {
        return;
    };
    let (out, _) = lab.ntpdate(&["-d", "-p", "2", SERVER]);
    let stdout = out.stdout;
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        log_message(lines[0]).starts_with("ntpdate 4.2.6p5"),
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        format!("Looking for host {SERVER} and service ntp")
    );
    let t = format!("transmit({SERVER})");
    let r = format!("receive({SERVER})");
    assert_eq!(
        &lines[2..6],
        [t.as_str(), r.as_str(), t.as_str(), r.as_str()]
    );
    assert_eq!(lines[6], format!("server {SERVER}, port 123"));
    assert!(lines[7].starts_with("stratum 10, precision "), "{stdout}");
    assert!(lines[7].ends_with(", leap 00, trust 000"), "{stdout}");
    assert!(
        lines[8].starts_with(&format!("refid [{SERVER}], delay 0.02")),
        "{stdout}"
    );
    assert_eq!(lines[9], "transmitted 2, in filter 2");
    assert!(lines[10].starts_with("reference time:    "));
    assert!(lines[13].starts_with("filter delay:  0.02"));
    let (kind, _) = adjust_fields(log_message(lines.last().unwrap()));
    assert_eq!(kind, "adjust");
    assert_eq!(out.code, Some(0));
    assert!(out.stderr.starts_with("host found : "));
}

#[test]
fn virtual_clock_is_stepped_or_slewed() {
    let Some(lab) = Lab::with_chronyd() else {
        return;
    };
    // 3 s ahead: stepped back, and the clock is then right within 1 ms.
    let (out, _) = lab.ntpdate(&["--virtual-clock", "3.0", "-p", "1", SERVER]);
    let stdout = out.stdout;
    let (kind, offset) = adjust_fields(log_message(stdout.trim_end()));
    assert_eq!(kind, "step");
    assert!((offset + 3.0).abs() < 0.001, "{stdout}");
    assert!(virtual_offset(&out.stderr).abs() < 0.001, "{}", out.stderr);
    assert_eq!(out.code, Some(0));
    // 0.2 s: slewed (adjtime-like, so most of it is still pending right after).
    let (out, _) = lab.ntpdate(&["--virtual-clock=0.2", "-p", "1", SERVER]);
    let (kind, offset) = adjust_fields(log_message(out.stdout.trim_end()));
    assert_eq!(kind, "adjust");
    assert!((offset + 0.2).abs() < 0.001);
    // -b and -B force the other way.
    let (out, _) = lab.ntpdate(&["--virtual-clock", "0.2", "-b", "-p", "1", SERVER]);
    assert_eq!(adjust_fields(log_message(out.stdout.trim_end())).0, "step");
    assert!(virtual_offset(&out.stderr).abs() < 0.001);
    let (out, _) = lab.ntpdate(&["--virtual-clock", "3.0", "-B", "-p", "1", SERVER]);
    assert_eq!(
        adjust_fields(log_message(out.stdout.trim_end())).0,
        "adjust"
    );
}

#[test]
fn unreachable_server_fails_in_classic_time() {
    let Some(lab) = Lab::new() else { return };
    let (out, wall) = lab.ntpdate(&["-q", DEAD]);
    assert_eq!(
        out.stdout,
        format!("server {DEAD}, stratum 0, offset 0.000000, delay 0.00000\n")
    );
    assert_eq!(
        log_message(out.stderr.trim_end()),
        "no server suitable for synchronization found"
    );
    assert_eq!(out.code, Some(1));
    // Classic: 4 requests 2 s apart, then one more slot: 8.1 s.
    assert!(
        wall > Duration::from_millis(7900) && wall < Duration::from_millis(8600),
        "{wall:?}"
    );
}

#[test]
fn ntp_socket_in_use_unless_unprivileged() {
    let Some(mut lab) = Lab::new() else { return };
    let (Some(()), Some(())) = (lab.chronyd(), lab.ntpsec(true)) else {
        return;
    };
    // ntpsec has bound port 123 once it answers there.
    let local = ntp_addr("127.0.0.1");
    if let Err(e) = common::wait_for_ntp(&lab.lan.client, local, Duration::from_secs(10)) {
        panic!("{e}\n{}", lab.procs[1].describe());
    }
    let (out, _) = lab.ntpdate(&["--virtual-clock", "0", "-p", "1", SERVER]);
    assert_eq!(
        log_message(out.stderr.lines().next().unwrap_or("")),
        "the NTP socket is in use, exiting"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(out.code, Some(1));
    for args in [
        &["-u", "--virtual-clock", "0", "-p", "1", SERVER][..],
        &["-q", "-p", "1", SERVER][..],
    ] {
        let (out, _) = lab.ntpdate(args);
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
        let last = out.stdout.lines().last().unwrap_or("").to_string();
        assert_eq!(adjust_fields(log_message(&last)).0, "adjust");
    }
}

#[test]
fn ntpsec_orphan_is_rejected_as_classic_does() {
    let Some(mut lab) = Lab::new() else { return };
    let Some(()) = lab.ntpsec(false) else { return };
    lab.wait_for_stratum(10);
    let (out, _) = lab.ntpdate(&["-q", "-p", "2", SERVER]);
    let stdout = out.stdout;
    let (stratum, offset, _) = query_fields(stdout.lines().next().unwrap_or(""));
    assert_eq!(stratum, 10);
    assert!(offset.abs() < 0.001, "{stdout}");
    assert_eq!(
        log_message(out.stderr.trim_end()),
        "no server suitable for synchronization found"
    );
    assert_eq!(out.code, Some(1));
    let (out, _) = lab.ntpdate(&["-d", "-p", "1", SERVER]);
    assert!(
        out.stdout.contains(&format!(
            "{SERVER}: Server dropped: Server has gone too long without sync\n"
        )),
        "{}",
        out.stdout
    );
}

#[test]
fn our_ntpd_two_seconds_ahead_reads_plus_two() {
    let Some(lab) = Lab::new() else { return };
    // Synchronised to LOCAL(0) at stratum 10, it serves stratum 11 (start_ntpd waits).
    let Some(_srv) = common::start_ntpd(&lab.lan.server, &lab.tmp, common::LOCAL_CONF, Some("2.0"))
    else {
        return;
    };
    let (out, _) = lab.ntpdate(&["-q", "-p", "2", SERVER]);
    let stdout = out.stdout;
    let lines: Vec<&str> = stdout.lines().collect();
    let (stratum, offset, _) = query_fields(lines[0]);
    assert_eq!(stratum, 11);
    // Classic's sign: the correction to apply here, so a server 2 s ahead reads +2.
    assert!((offset - 2.0).abs() < 0.001, "{stdout}");
    let (kind, _) = adjust_fields(log_message(lines[1]));
    assert_eq!(kind, "step");
    assert_eq!(out.code, Some(0));
}
