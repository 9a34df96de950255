//! ntpdate against real servers (chronyd, NTPsec's ntpd) in network namespaces.
//!
//! Each test builds its own pair of namespaces joined by a veth link: the server side at
//! 10.231.0.1, the client side (ntpdate) at 10.231.0.2. Every process runs under
//! `setpriv --bounding-set -sys_time`, and ntpdate always runs with -q, -d or
//! --virtual-clock, so the machine's clock cannot be touched. Tests skip (with a note)
//! when not root or when a peer program is missing; chronyd comes from `.peers/chrony`
//! (scripts/install-test-deps.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const SERVER: &str = "10.231.0.1";
const CLIENT: &str = "10.231.0.2";
/// Nobody answers here (no such host on the link).
const DEAD: &str = "10.231.0.99";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Two namespaces and the processes started in them; all removed on drop.
struct Lab {
    server_ns: String,
    client_ns: String,
    dir: PathBuf,
    children: Vec<Child>,
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip {args:?} failed");
}

fn usable() -> bool {
    // SAFETY-free check: root is needed for namespaces.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipping: needs root, ip and setpriv");
        return false;
    }
    true
}

impl Lab {
    fn new() -> Lab {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("ndt{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(&tag);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let lab = Lab {
            server_ns: format!("{tag}s"),
            client_ns: format!("{tag}c"),
            dir,
            children: Vec::new(),
        };
        ip(&["netns", "add", &lab.server_ns]);
        ip(&["netns", "add", &lab.client_ns]);
        ip(&[
            "-n",
            &lab.server_ns,
            "link",
            "add",
            "v0",
            "type",
            "veth",
            "peer",
            "name",
            "v0",
            "netns",
            &lab.client_ns,
        ]);
        for (ns, addr) in [(&lab.server_ns, SERVER), (&lab.client_ns, CLIENT)] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", "v0"]);
            ip(&["-n", ns, "link", "set", "v0", "up"]);
        }
        lab
    }

    fn command(&self, ns: &str, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            ns,
            "setpriv",
            "--bounding-set",
            "-sys_time",
            program,
        ])
        .args(args);
        c
    }

    fn spawn(&mut self, ns: &str, program: &str, args: &[&str]) {
        let log = std::fs::File::create(self.dir.join(format!("{}.log", self.children.len())))
            .expect("log file");
        let child = self
            .command(ns, program, args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn peer");
        self.children.push(child);
    }

    /// chronyd as a stratum-10 server in namespace `ns`.
    fn chronyd(&mut self, ns: &str) -> bool {
        let chronyd = Path::new(env!("CARGO_MANIFEST_DIR")).join(".peers/chrony/usr/sbin/chronyd");
        if !chronyd.exists() {
            eprintln!(
                "skipping: {} missing (scripts/install-test-deps.sh)",
                chronyd.display()
            );
            return false;
        }
        let conf = self.dir.join(format!("chrony-{ns}.conf"));
        let text = format!(
            "local stratum 10\nallow all\ncmdport 0\nbindcmdaddress /\npidfile {}\n",
            self.dir.join(format!("chronyd-{ns}.pid")).display()
        );
        std::fs::write(&conf, text).expect("chrony.conf");
        let conf = conf.display().to_string();
        let program = chronyd.display().to_string();
        self.spawn(ns, &program, &["-d", "-x", "-u", "root", "-f", &conf]);
        true
    }

    /// NTPsec's ntpd in orphan mode (as in the reference captures) in namespace `ns`.
    fn ntpsec(&mut self, ns: &str) -> bool {
        if !Path::new("/usr/sbin/ntpd").exists() {
            eprintln!("skipping: NTPsec's /usr/sbin/ntpd missing");
            return false;
        }
        let conf = self.dir.join(format!("ntpsec-{ns}.conf"));
        let text = format!(
            "driftfile {}\ntos orphan 10 orphanwait 1\ndisable ntp\ndisable kernel\n",
            self.dir.join(format!("ntpsec-{ns}.drift")).display()
        );
        std::fs::write(&conf, text).expect("ntpsec conf");
        let conf = conf.display().to_string();
        let pid = self
            .dir
            .join(format!("ntpsec-{ns}.pid"))
            .display()
            .to_string();
        self.spawn(ns, "/usr/sbin/ntpd", &["-n", "-c", &conf, "-p", &pid]);
        true
    }

    /// Our own ntpd on a virtual clock `offset` seconds ahead, serving its LOCAL clock.
    fn our_ntpd(&mut self, ns: &str, offset: &str) {
        let conf = self.dir.join(format!("ntpd-{ns}.conf"));
        let text = format!(
            "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\ndriftfile {}\n",
            self.dir.join(format!("ntpd-{ns}.drift")).display()
        );
        std::fs::write(&conf, text).expect("ntp.conf");
        let conf = conf.display().to_string();
        self.spawn(
            ns,
            env!("CARGO_BIN_EXE_ntpd"),
            &["-n", "-c", &conf, "--virtual-clock", offset],
        );
    }

    fn ntpdate(&self, args: &[&str]) -> (Output, Duration) {
        let start = Instant::now();
        let out = self
            .command(&self.client_ns, env!("CARGO_BIN_EXE_ntpdate"), args)
            .output()
            .expect("run ntpdate");
        (out, start.elapsed())
    }

    /// Waits until a one-sample query gets an answer with `stratum` (true) or gives up.
    fn wait_for_stratum(&self, stratum: &str) -> bool {
        let want = format!("server {SERVER}, stratum {stratum},");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let (out, _) = self.ntpdate(&["-q", "-p", "1", "-t", "0.4", SERVER]);
            if text(&out.stdout).starts_with(&want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        false
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
    if !usable() {
        return;
    }
    let mut lab = Lab::new();
    let server_ns = lab.server_ns.clone();
    if !lab.chronyd(&server_ns) {
        return;
    }
    assert!(lab.wait_for_stratum("10"), "chronyd never answered");
    let (out, wall) = lab.ntpdate(&["-q", "-p", "2", SERVER]);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let (stratum, offset, delay) = query_fields(lines[0]);
    assert_eq!(stratum, 10);
    assert!(offset.abs() < 0.001, "{stdout}");
    // Classic's constant allowance makes a LAN round trip print as 0.0256x.
    assert!((0.0256..0.0300).contains(&delay), "{stdout}");
    let (kind, adj) = adjust_fields(log_message(lines[1]));
    assert_eq!((kind.as_str(), adj), ("adjust", offset));
    assert_eq!(out.status.code(), Some(0));
    // Two samples, classic's 2 s apart, and done as soon as the second answer is in.
    assert!(
        wall > Duration::from_millis(1900) && wall < Duration::from_millis(3000),
        "{wall:?}"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn debug_dump_against_chronyd() {
    if !usable() {
        return;
    }
    let mut lab = Lab::new();
    let server_ns = lab.server_ns.clone();
    if !lab.chronyd(&server_ns) {
        return;
    }
    assert!(lab.wait_for_stratum("10"));
    let (out, _) = lab.ntpdate(&["-d", "-p", "2", SERVER]);
    let stdout = text(&out.stdout);
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
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).starts_with("host found : "));
}

#[test]
fn virtual_clock_is_stepped_or_slewed() {
    if !usable() {
        return;
    }
    let mut lab = Lab::new();
    let server_ns = lab.server_ns.clone();
    if !lab.chronyd(&server_ns) {
        return;
    }
    assert!(lab.wait_for_stratum("10"));
    // 3 s ahead: stepped back, and the clock is then right within 1 ms.
    let (out, _) = lab.ntpdate(&["--virtual-clock", "3.0", "-p", "1", SERVER]);
    let stdout = text(&out.stdout);
    let (kind, offset) = adjust_fields(log_message(stdout.trim_end()));
    assert_eq!(kind, "step");
    assert!((offset + 3.0).abs() < 0.001, "{stdout}");
    assert!(
        virtual_offset(&text(&out.stderr)).abs() < 0.001,
        "{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
    // 0.2 s: slewed (adjtime-like, so most of it is still pending right after).
    let (out, _) = lab.ntpdate(&["--virtual-clock=0.2", "-p", "1", SERVER]);
    let (kind, offset) = adjust_fields(log_message(text(&out.stdout).trim_end()));
    assert_eq!(kind, "adjust");
    assert!((offset + 0.2).abs() < 0.001);
    // -b and -B force the other way.
    let (out, _) = lab.ntpdate(&["--virtual-clock", "0.2", "-b", "-p", "1", SERVER]);
    assert_eq!(
        adjust_fields(log_message(text(&out.stdout).trim_end())).0,
        "step"
    );
    assert!(virtual_offset(&text(&out.stderr)).abs() < 0.001);
    let (out, _) = lab.ntpdate(&["--virtual-clock", "3.0", "-B", "-p", "1", SERVER]);
    assert_eq!(
        adjust_fields(log_message(text(&out.stdout).trim_end())).0,
        "adjust"
    );
}

#[test]
fn unreachable_server_fails_in_classic_time() {
    if !usable() {
        return;
    }
    let lab = Lab::new();
    let (out, wall) = lab.ntpdate(&["-q", DEAD]);
    assert_eq!(
        text(&out.stdout),
        format!("server {DEAD}, stratum 0, offset 0.000000, delay 0.00000\n")
    );
    assert_eq!(
        log_message(text(&out.stderr).trim_end()),
        "no server suitable for synchronization found"
    );
    assert_eq!(out.status.code(), Some(1));
    // Classic: 4 requests 2 s apart, then one more slot: 8.1 s.
    assert!(
        wall > Duration::from_millis(7900) && wall < Duration::from_millis(8600),
        "{wall:?}"
    );
}

#[test]
fn ntp_socket_in_use_unless_unprivileged() {
    if !usable() {
        return;
    }
    let mut lab = Lab::new();
    let (server_ns, client_ns) = (lab.server_ns.clone(), lab.client_ns.clone());
    if !lab.chronyd(&server_ns) || !lab.ntpsec(&client_ns) {
        return;
    }
    assert!(lab.wait_for_stratum("10"));
    // Let ntpsec bind port 123 (it logs its interfaces within a second).
    std::thread::sleep(Duration::from_secs(2));
    let (out, _) = lab.ntpdate(&["--virtual-clock", "0", "-p", "1", SERVER]);
    assert_eq!(
        log_message(text(&out.stderr).lines().next().unwrap_or("")),
        "the NTP socket is in use, exiting"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(out.status.code(), Some(1));
    for args in [
        &["-u", "--virtual-clock", "0", "-p", "1", SERVER][..],
        &["-q", "-p", "1", SERVER][..],
    ] {
        let (out, _) = lab.ntpdate(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let last = text(&out.stdout).lines().last().unwrap_or("").to_string();
        assert_eq!(adjust_fields(log_message(&last)).0, "adjust");
    }
}

#[test]
fn ntpsec_orphan_is_rejected_as_classic_does() {
    if !usable() {
        return;
    }
    let mut lab = Lab::new();
    let server_ns = lab.server_ns.clone();
    if !lab.ntpsec(&server_ns) {
        return;
    }
    assert!(
        lab.wait_for_stratum("10"),
        "ntpsec never reached orphan stratum 10"
    );
    let (out, _) = lab.ntpdate(&["-q", "-p", "2", SERVER]);
    let stdout = text(&out.stdout);
    let (stratum, offset, _) = query_fields(stdout.lines().next().unwrap_or(""));
    assert_eq!(stratum, 10);
    assert!(offset.abs() < 0.001, "{stdout}");
    assert_eq!(
        log_message(text(&out.stderr).trim_end()),
        "no server suitable for synchronization found"
    );
    assert_eq!(out.status.code(), Some(1));
    let (out, _) = lab.ntpdate(&["-d", "-p", "1", SERVER]);
    assert!(
        text(&out.stdout).contains(&format!(
            "{SERVER}: Server dropped: Server has gone too long without sync\n"
        )),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn our_ntpd_two_seconds_ahead_reads_plus_two() {
    if !usable() {
        return;
    }
    let mut lab = Lab::new();
    let server_ns = lab.server_ns.clone();
    lab.our_ntpd(&server_ns, "2.0");
    // Synchronised to LOCAL(0) at stratum 10, it serves stratum 11.
    assert!(lab.wait_for_stratum("11"), "our ntpd never answered");
    let (out, _) = lab.ntpdate(&["-q", "-p", "2", SERVER]);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let (stratum, offset, _) = query_fields(lines[0]);
    assert_eq!(stratum, 11);
    // Classic's sign: the correction to apply here, so a server 2 s ahead reads +2.
    assert!((offset - 2.0).abs() < 0.001, "{stdout}");
    let (kind, _) = adjust_fields(log_message(lines[1]));
    assert_eq!(kind, "step");
    assert_eq!(out.status.code(), Some(0));
}
