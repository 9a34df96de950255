//! Addresses that change while our ntpd runs (issue 13, item 1), in namespaces: an address
//! added after the start is answered on (NTPsec's ntpdig, which checks the reply's source
//! address, from a second namespace), a removed one has its socket closed, an IPv6 address
//! still in duplicate address detection is bound once DAD completes, and an `interface
//! ignore` rule holds for an address that appears later. The daemon runs as `-u nobody`
//! with `-U 0` (no periodic scans): the kernel's notifications alone drive the rescans,
//! and binding port 123 after the privilege drop needs the CAP_NET_BIND_SERVICE it keeps.
//! As a `multicastclient`, it joins its group on a new interface too.

mod common;

use common::{require_peer, Netns, Proc, TempDir, LOCAL_CONF};
use std::net::IpAddr;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The bound for answering on a new address and closing a removed one.
const WITHIN: Duration = Duration::from_secs(15);
const SERVER: &str = "172.25.0.11";
const CLIENT: &str = "172.25.0.12";
/// Added after the start, answered on, then removed.
const ADDED: &str = "172.25.0.21";
/// Added after the start but named by `interface ignore`.
const IGNORED: &str = "172.25.0.99";
const CLIENT6: &str = "fd00::12";
/// Added after the start without `nodad`: tentative for a second or two.
const ADDED6: &str = "fd00::21";
/// On a spare link that is brought down.
const DUMMY: &str = "10.9.0.1";
/// The group of the multicast client, joined on every IPv4 interface as it appears.
const GROUP: &str = "224.0.1.1";

/// `ip netns exec NS sysctl -qw SETTING`, inside the namespace only.
fn sysctl(ns: &Netns, setting: &str) {
    let ok = Command::new("ip")
        .args(["netns", "exec", &ns.name, "sysctl", "-qw", setting])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "sysctl {setting} in {}", ns.name);
}

/// The sockets bound to port 123 in the namespace of `pid`, as /proc/PID/net/udp{,6} list
/// them (addresses only).
fn bound_port_123(pid: u32) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for file in ["udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let Some((addr, port)) = line
                .split_whitespace()
                .nth(1)
                .and_then(|l| l.split_once(':'))
            else {
                continue;
            };
            if port != "007B" {
                continue;
            }
            // Each 32-bit word is printed in host (little-endian) order.
            let words: Option<Vec<[u8; 4]>> = (0..addr.len() / 8)
                .map(|i| {
                    u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16)
                        .ok()
                        .map(u32::to_le_bytes)
                })
                .collect();
            let bytes: Vec<u8> = words.into_iter().flatten().flatten().collect();
            if let Ok(v4) = <[u8; 4]>::try_from(bytes.as_slice()) {
                out.push(IpAddr::from(v4));
            } else if let Ok(v6) = <[u8; 16]>::try_from(bytes.as_slice()) {
                out.push(IpAddr::from(v6));
            }
        }
    }
    out
}

fn is_bound(pid: u32, addr: &str) -> bool {
    bound_port_123(pid).contains(&addr.parse().expect("address"))
}

/// Polls `check` every 20 ms until it holds or `timeout` passes; how long it took.
fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return Some(start.elapsed());
        }
        sleep(Duration::from_millis(20));
    }
    None
}

/// ntpdig from `ns` to `addr` until one answers (or `WITHIN` runs out): its output line.
fn ntpdig_answer(ns: &Netns, tmp: &TempDir, ntpdig: &str, addr: &str) -> Option<String> {
    let deadline = Instant::now() + WITHIN;
    while Instant::now() < deadline {
        let out = ns.run(tmp, &[ntpdig, "-t", "1", addr], Duration::from_secs(5));
        if out.code == Some(0) {
            return Some(out.stdout);
        }
    }
    None
}

/// What `ip -6 addr show dev DEV` says in `ns`.
fn ip6_addrs(ns: &Netns, dev: &str) -> String {
    Command::new("ip")
        .args(["-n", &ns.name, "-6", "addr", "show", "dev", dev])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The server namespace, wired to the client's by a veth pair with DAD enabled, and our
/// ntpd in it, started while the link-local address of the new link is still tentative.
/// Drops in order: daemon, namespaces, files, lock.
struct Bench {
    ntpd: Proc,
    /// When the daemon was started, and whether eth0's link-local address was tentative.
    started: Instant,
    link_local_tentative: bool,
    srv: Netns,
    cli: Netns,
    tmp: TempDir,
    _lock: common::Serial,
}

fn start() -> Option<Bench> {
    let lock = common::setup()?;
    let tmp = TempDir::new();
    let (srv, cli) = (Netns::new(), Netns::new());
    srv.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &cli.name,
    ]);
    for ns in [&srv, &cli] {
        sysctl(ns, "net.ipv6.conf.eth0.disable_ipv6=0");
        sysctl(ns, "net.ipv6.conf.eth0.accept_dad=1");
    }
    srv.addr("eth0", &format!("{SERVER}/24"));
    cli.addr("eth0", &format!("{CLIENT}/24"));
    cli.ip(&[
        "addr",
        "add",
        &format!("{CLIENT6}/64"),
        "dev",
        "eth0",
        "nodad",
    ]);
    let conf = tmp.write(
        "ntp.conf",
        &format!("{LOCAL_CONF}interface ignore {IGNORED}\nmulticastclient {GROUP}\n"),
    );
    let argv = [
        env!("CARGO_BIN_EXE_ntpd"),
        "-n",
        "-c",
        &conf,
        "-U",
        "0",
        "-u",
        "nobody",
        "--virtual-clock",
        "0",
    ];
    let link_local_tentative = ip6_addrs(&srv, "eth0")
        .lines()
        .any(|l| l.contains("fe80::") && l.contains("tentative"));
    let started = Instant::now();
    let ntpd = srv.spawn(&tmp, &argv);
    let ready = ntpd.wait_for_stderr(
        &[
            "Listening on routing socket",
            "keeping cap_net_bind_service",
        ],
        Duration::from_secs(10),
    );
    assert!(ready.is_some(), "no start\n{}", ntpd.describe());
    Some(Bench {
        ntpd,
        started,
        link_local_tentative,
        srv,
        cli,
        tmp,
        _lock: lock,
    })
}

#[test]
fn addresses_that_come_and_go_are_bound_answered_and_closed() {
    let Some(ntpdig) = require_peer("ntpdig") else {
        return;
    };
    let ntpdig = ntpdig.to_str().expect("utf-8 path");
    let Some(b) = start() else {
        return;
    };
    let began = Instant::now();
    assert!(is_bound(b.pid(), SERVER), "{:?}", bound_port_123(b.pid()));
    b.link_local_bound();
    b.new_address_answered(ntpdig);
    b.removed_address_closed();
    b.tentative_address_bound(ntpdig);
    b.link_down_closes_its_sockets();
    eprintln!(
        "test ran {:.1} s once the namespace lock was taken",
        began.elapsed().as_secs_f64()
    );
}

impl Bench {
    fn pid(&self) -> u32 {
        self.ntpd.pid()
    }

    /// Waits for `texts` in the daemon's log; how long that took. Fails after `WITHIN`.
    fn logged(&self, texts: &[&str]) -> Duration {
        let took = self.ntpd.wait_for_stderr(texts, WITHIN);
        took.unwrap_or_else(|| panic!("never logged {texts:?}\n{}", self.ntpd.describe()))
    }

    /// The new link's IPv6 link-local address, tentative when the daemon started (the case
    /// classic binds about 3 s later): bound once its DAD is over.
    fn link_local_bound(&self) {
        self.logged(&["Listen normally on ", " eth0 fe80::"]);
        eprintln!(
            "eth0 link-local ({} at start): bound {:.3} s after the daemon started",
            if self.link_local_tentative {
                "tentative"
            } else {
                "already usable"
            },
            self.started.elapsed().as_secs_f64()
        );
    }

    /// A new address: bound, logged as classic, answered on from that very address. An
    /// ignored one added in the same burst stays unbound.
    fn new_address_answered(&self, ntpdig: &str) {
        self.srv
            .ip(&["addr", "add", &format!("{IGNORED}/24"), "dev", "eth0"]);
        let added = Instant::now();
        self.srv
            .ip(&["addr", "add", &format!("{ADDED}/24"), "dev", "eth0"]);
        let listen = format!(" eth0 {ADDED} UDP 123");
        let bound = self.logged(&[&listen]);
        let answer = ntpdig_answer(&self.cli, &self.tmp, ntpdig, ADDED);
        let answered = added.elapsed();
        let answer =
            answer.unwrap_or_else(|| panic!("no answer from {ADDED}\n{}", self.ntpd.describe()));
        assert!(answer.contains(ADDED), "{answer}");
        eprintln!(
            "new address {ADDED}: bound after {:.3} s, answered after {:.3} s",
            bound.as_secs_f64(),
            answered.as_secs_f64()
        );
        assert!(answered <= WITHIN, "{answered:?}");
        let log = self.ntpd.stderr();
        assert!(
            log.lines()
                .any(|l| l.contains("Listen normally on ") && l.ends_with(&listen)),
            "{log}"
        );
        assert!(
            !is_bound(self.pid(), IGNORED),
            "{:?}",
            bound_port_123(self.pid())
        );
        assert!(!log.contains(&format!(" {IGNORED} UDP 123")), "{log}");
    }

    /// Removed: the socket is closed and the removal logged with the socket's counters.
    fn removed_address_closed(&self) {
        let removed = Instant::now();
        self.srv
            .ip(&["addr", "del", &format!("{ADDED}/24"), "dev", "eth0"]);
        let gone = wait_until(WITHIN, || !is_bound(self.pid(), ADDED));
        let gone = gone.unwrap_or_else(|| panic!("{ADDED} still bound\n{}", self.ntpd.describe()));
        let deleting = format!(" eth0, {ADDED}#123, interface stats: received=");
        self.logged(&["Deleting interface #", &deleting]);
        eprintln!(
            "removed address {ADDED}: socket closed after {:.3} s, logged after {:.3} s",
            gone.as_secs_f64(),
            removed.elapsed().as_secs_f64()
        );
        let log = self.ntpd.stderr();
        let line = log
            .lines()
            .find(|l| l.contains(&deleting))
            .unwrap_or_default();
        assert!(line.contains("active_time="), "{line}");
        assert!(
            !line.contains("received=0,"),
            "ntpdig's request not counted: {line}"
        );
        assert!(is_bound(self.pid(), SERVER), "the other sockets stay");
    }

    /// IPv6 without nodad: tentative while DAD runs, bound once it is over, never tried
    /// before (no failed bind logged), then answered on.
    fn tentative_address_bound(&self, ntpdig: &str) {
        let added = Instant::now();
        self.srv
            .ip(&["addr", "add", &format!("{ADDED6}/64"), "dev", "eth0"]);
        let tentative = ip6_addrs(&self.srv, "eth0")
            .lines()
            .any(|l| l.contains(ADDED6) && l.contains("tentative"));
        self.logged(&[&format!(" eth0 {ADDED6} UDP 123")]);
        eprintln!(
            "IPv6 {ADDED6} added with DAD ({}): bound {:.3} s after it was added",
            if tentative {
                "seen tentative"
            } else {
                "DAD already over when looked at"
            },
            added.elapsed().as_secs_f64()
        );
        let log = self.ntpd.stderr();
        assert!(!log.contains(&format!("bind() to [{ADDED6}]")), "{log}");
        let answer = ntpdig_answer(&self.cli, &self.tmp, ntpdig, ADDED6)
            .unwrap_or_else(|| panic!("no answer from {ADDED6}\n{}", self.ntpd.describe()));
        assert!(answer.contains(ADDED6), "{answer}");
    }

    /// A link that goes down keeps its IPv4 address (no address event), but only
    /// interfaces that are up are listened on: the link event alone (`-U 0`, no IPv6 on
    /// the link) closes the socket.
    fn link_down_closes_its_sockets(&self) {
        // A veth pair inside the namespace: no dummy driver needed.
        self.srv.ip(&[
            "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1",
        ]);
        self.srv.ip(&["link", "set", "dummy1", "up"]);
        // No IPv6 on either end: going down must announce nothing but the links' state.
        sysctl(&self.srv, "net.ipv6.conf.dummy0.disable_ipv6=1");
        sysctl(&self.srv, "net.ipv6.conf.dummy1.disable_ipv6=1");
        self.srv.addr("dummy0", &format!("{DUMMY}/24"));
        self.logged(&[&format!(" dummy0 {DUMMY} UDP 123")]);
        // A multicast client hears its group on the new interface too (joined at start on
        // the interfaces there were).
        self.logged(&[&format!("joined multicast group {GROUP} on {DUMMY}")]);
        let log = self.ntpd.stderr();
        assert!(
            log.contains(&format!("joined multicast group {GROUP} on {SERVER}")),
            "{log}"
        );
        let down = Instant::now();
        self.srv.ip(&["link", "set", "dummy0", "down"]);
        self.logged(&[&format!(" dummy0, {DUMMY}#123, interface stats: ")]);
        eprintln!(
            "link dummy0 down: its socket closed after {:.3} s",
            down.elapsed().as_secs_f64()
        );
        assert!(
            !is_bound(self.pid(), DUMMY),
            "{:?}",
            bound_port_123(self.pid())
        );
    }
}
