//! Shared harness for the integration tests that run real daemons in network namespaces.
//!
//! Typical test:
//! ```ignore
//! // root + serialisation, a temp dir, a fresh namespace, our ntpd serving LOCAL(0):
//! let Some(mut b) = common::bench::<common::Netns>(common::LOCAL_CONF, None) else { return };
//! b.srv.assert_alive();
//! ```
//! `bench::<Lan>` puts the server on the reference LAN instead.
//! Set `NTP6_TEST_SERVER=ntpsec` to run the same tests against NTPsec's ntpd (orphan mode
//! instead of LOCAL(0), so it serves stratum 10) to check the tests themselves.
#![allow(dead_code, unused_imports)]

mod check;
mod gnss;
mod http;
mod install;
mod json;
mod netns;
mod ntp;
mod peers;
mod pty;
mod rng;
mod scripted;
mod spoof;

pub use check::*;
pub use gnss::*;
pub use http::*;
pub use install::*;
pub use json::*;
pub use netns::*;
pub use ntp::*;
pub use peers::*;
pub use pty::*;
pub use rng::*;
pub use scripted::*;
pub use spoof::*;

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// LOCAL(0) at stratum 10: the daemon serves stratum 11 at once.
pub const LOCAL_CONF: &str = "server 127.127.1.0\nfudge 127.127.1.0 stratum 10\n";

/// The RHEL6 seed defaults: time for everyone, everything else only for localhost.
pub const RESTRICTIVE: &str = "restrict default kod nomodify notrap nopeer noquery\n\
                               restrict 127.0.0.1\n";

/// How long a freshly started daemon may take to answer its first query.
pub const STARTUP: Duration = Duration::from_secs(20);

static TMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A private temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("ntp6t-{}-{}", std::process::id(), n));
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `text` to `name` inside the directory and returns its path as a string.
    pub fn write(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        fs::write(&p, text).expect("write temp file");
        p.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The steps our ntpd's log reports, in seconds ("time reset -2.999982 s").
pub fn logged_steps(log: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| l.split("time reset ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Holds the machine-wide test lock: namespace tests run one at a time (2 cores, and
/// flood tests must not disturb the others).
pub struct Serial(File);

/// Checks that we can create namespaces (root) and takes the serial lock. Without root:
/// fails under CI, otherwise prints SKIP and returns None.
pub fn setup() -> Option<Serial> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("root", "network namespace tests need root");
        return None;
    }
    let f = File::create(std::env::temp_dir().join("ntp6-netns-tests.lock")).expect("lock file");
    // SAFETY: flock on a descriptor we own; the lock goes when the File is dropped.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    Some(Serial(f))
}

/// Which daemon serves in the tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    Ours,
    /// NTPsec's ntpd, to validate the tests before/besides our daemon.
    Ntpsec,
}

/// A running NTP server under test.
pub struct Daemon {
    pub proc: Proc,
    pub kind: ServerKind,
    /// The stratum its replies should carry.
    pub stratum: u8,
}

fn server_kind() -> ServerKind {
    match std::env::var("NTP6_TEST_SERVER").as_deref() {
        Ok("ntpsec") => ServerKind::Ntpsec,
        _ => ServerKind::Ours,
    }
}

/// NTPsec cannot select LOCAL(0) quickly: replace it with orphan mode (stratum 10) and
/// keep its hands off the clock.
fn ntpsec_conf(conf: &str) -> String {
    let mut out: String = conf
        .lines()
        .filter(|l| !l.contains("127.127.1.0"))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str("tos orphan 10 orphanwait 1\ndisable ntp\ndisable kernel\n");
    out
}

/// Starts our ntpd in `ns` in the foreground with config text `conf` (written to `name`
/// in `tmp`), on `--virtual-clock SPEC` if given; no waiting.
pub fn spawn_ours(ns: &Netns, tmp: &TempDir, name: &str, conf: &str, vclock: Option<&str>) -> Proc {
    let path = tmp.write(name, conf);
    let mut argv = vec![env!("CARGO_BIN_EXE_ntpd"), "-n", "-c", &path];
    if let Some(spec) = vclock {
        argv.extend(["--virtual-clock", spec]);
    }
    ns.spawn(tmp, &argv)
}

/// Our ntpd on `conf` (ntp.conf in `tmp`) on a virtual clock at true time, with `extra`
/// arguments, started under the `wrap` command (e.g. `unshare --ipc`) when one is given.
pub fn spawn_ours_with(
    ns: &Netns,
    tmp: &TempDir,
    conf: &str,
    wrap: &[&str],
    extra: &[&str],
) -> Proc {
    let path = tmp.write("ntp.conf", conf);
    let mut argv = wrap.to_vec();
    argv.extend([
        env!("CARGO_BIN_EXE_ntpd"),
        "-n",
        "-c",
        &path,
        "--virtual-clock",
        "0",
    ]);
    argv.extend_from_slice(extra);
    ns.spawn(tmp, &argv)
}

/// Starts the server with config text `conf` (and `--virtual-clock SPEC` if given) in
/// `ns`, and waits until it answers on 127.0.0.1. None = skipped (see [`skip`]).
pub fn start_ntpd(ns: &Netns, tmp: &TempDir, conf: &str, vclock: Option<&str>) -> Option<Daemon> {
    let kind = server_kind();
    let (proc, stratum) = match kind {
        ServerKind::Ours => (spawn_ours(ns, tmp, "ntp.conf", conf, vclock), 11),
        ServerKind::Ntpsec => {
            if vclock.is_some() {
                eprintln!("SKIP: NTPsec stand-in has no virtual clock");
                return None;
            }
            (spawn_ntpsec(ns, tmp, &ntpsec_conf(conf))?, 10)
        }
    };
    let mut d = Daemon {
        proc,
        kind,
        stratum,
    };
    wait_for_sync(ns, &mut d);
    Some(d)
}

/// Starts NTPsec's ntpd in `ns` with config text `conf` as is (no waiting); None = skipped.
pub fn spawn_ntpsec(ns: &Netns, tmp: &TempDir, conf: &str) -> Option<Proc> {
    let bin = require_peer("ntpsec-ntpd")?;
    let path = tmp.write(&format!("ntpsec-{}.conf", ns.name), conf);
    let log = tmp.path().join(format!("ntpsec-{}.log", ns.name));
    let argv = [
        bin.to_str().expect("utf-8 path"),
        "-n",
        "-c",
        &path,
        "-l",
        log.to_str().expect("utf-8 path"),
    ];
    Some(ns.spawn(tmp, &argv))
}

impl Daemon {
    /// Fails the test, with the daemon's output, if it has exited.
    pub fn assert_alive(&mut self) {
        assert!(
            self.proc.is_alive(),
            "{:?} server died\n{}",
            self.kind,
            self.proc.describe()
        );
    }
}

/// Where a test's server runs: one namespace, or the reference [`Lan`].
pub trait Topology {
    fn build() -> Self;
    /// The namespace the server runs in.
    fn server_ns(&self) -> &Netns;
}

impl Topology for Netns {
    fn build() -> Self {
        Netns::new()
    }
    fn server_ns(&self) -> &Netns {
        self
    }
}

impl Topology for Lan {
    fn build() -> Self {
        Lan::new()
    }
    fn server_ns(&self) -> &Netns {
        &self.server
    }
}

/// A running server and everything it needs. Fields drop in order: the server stops,
/// then the namespaces go, then the files, and the serial lock is released last.
pub struct Bench<N> {
    pub srv: Daemon,
    pub net: N,
    pub tmp: TempDir,
    _lock: Serial,
}

/// The usual start of a namespace test: lock, temp dir, topology `N`, and the server with
/// config `conf` (virtual clock `vclock`) in its namespace. None = skipped.
pub fn bench<N: Topology>(conf: &str, vclock: Option<&str>) -> Option<Bench<N>> {
    let lock = setup()?;
    let tmp = TempDir::new();
    let net = N::build();
    let srv = start_ntpd(net.server_ns(), &tmp, conf, vclock)?;
    Some(Bench {
        srv,
        net,
        tmp,
        _lock: lock,
    })
}

/// Waits until the daemon answers on 127.0.0.1 with a synchronised reply (leap not 3).
fn wait_for_sync(ns: &Netns, d: &mut Daemon) {
    let addr = "127.0.0.1:123".parse().expect("addr");
    let deadline = std::time::Instant::now() + STARTUP;
    let mut last = None;
    while std::time::Instant::now() < deadline {
        match wait_for_ntp(ns, addr, deadline - std::time::Instant::now()) {
            Ok(r) if r.header.leap != ntp6::wire::ntp::Leap::Unsync => return,
            Ok(r) => last = Some(r.header),
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let alive = d.proc.is_alive();
    panic!(
        "{:?} never served synchronised time within {STARTUP:?} (last reply: {last:?}, alive: {alive})\n{}",
        d.kind,
        d.proc.describe()
    );
}

/// The reference LAN for one test: the serial lock, a temp dir, and the processes the
/// test starts there. Fields drop in order: processes stop, namespaces go, files go, and
/// the lock is released last.
pub struct LanLab {
    pub procs: Vec<Proc>,
    /// Hosts added to the LAN bridge with [`LanLab::add_host`].
    pub extra: Vec<Netns>,
    pub lan: Lan,
    pub tmp: TempDir,
    _lock: Serial,
}

impl LanLab {
    /// None = skipped (see [`setup`]).
    pub fn new() -> Option<LanLab> {
        let lock = setup()?;
        Some(LanLab {
            procs: Vec::new(),
            extra: Vec::new(),
            lan: Lan::new(),
            tmp: TempDir::new(),
            _lock: lock,
        })
    }

    /// The namespace of the LAN host at `addr` (server, client, client2 or an added host).
    pub fn host(&self, addr: &str) -> &Netns {
        match addr {
            SERVER => &self.lan.server,
            CLIENT => &self.lan.client,
            CLIENT2 => &self.lan.client2,
            _ => {
                let n: usize = addr.rsplit('.').next().unwrap().parse().unwrap();
                &self.extra[n - 14]
            }
        }
    }

    /// Our ntpd at `addr` with config text `conf`, on `--virtual-clock SPEC` if given;
    /// returns its index in `procs`.
    pub fn ours(&mut self, addr: &str, conf: &str, vclock: Option<&str>) -> usize {
        let name = format!("ntp-{addr}.conf");
        let p = spawn_ours(self.host(addr), &self.tmp, &name, conf, vclock);
        self.procs.push(p);
        self.procs.len() - 1
    }

    /// chronyd at `addr` serving its undisciplined clock at stratum 10 (-x: hands off the
    /// clock); None = skipped.
    pub fn chronyd_server(&mut self, addr: &str) -> Option<()> {
        self.chronyd_server_with(addr, "")
    }

    /// [`LanLab::chronyd_server`] with more chrony.conf lines (`extra`).
    pub fn chronyd_server_with(&mut self, addr: &str, extra: &str) -> Option<()> {
        let bin = require_peer("chronyd")?;
        let dir = self.tmp.path().join(format!("chrony-{addr}"));
        fs::create_dir_all(&dir).ok()?;
        let conf = self.tmp.write(
            &format!("chrony-{addr}.conf"),
            &format!(
                "local stratum 10\nallow all\ncmdport 0\nbindcmdaddress /\npidfile {}/pid\n{extra}",
                dir.display()
            ),
        );
        let argv = [bin.to_str()?, "-d", "-x", "-u", "root", "-f", &conf];
        let p = self.host(addr).spawn(&self.tmp, &argv);
        self.procs.push(p);
        Some(())
    }

    /// Every process's output, for assertion messages.
    pub fn outputs(&self) -> String {
        let all: Vec<String> = self.procs.iter().map(Proc::describe).collect();
        all.join("\n")
    }

    /// Multicast on the LAN: a 224.0.0.0/4 route in the server, client and client2
    /// namespaces (there are no default routes), and a bridge that forwards every group
    /// (IGMP snooping off, so no join has to be seen first).
    pub fn enable_multicast(&self) {
        let srv = &self.lan.server;
        srv.ip(&[
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        srv.ip(&["route", "add", "224.0.0.0/4", "dev", "br0"]);
        for host in [&self.lan.client, &self.lan.client2] {
            host.ip(&["route", "add", "224.0.0.0/4", "dev", "eth0"]);
        }
    }

    /// One more host on the LAN bridge, at 172.25.0.(14 + n); returns its address.
    pub fn add_host(&mut self) -> String {
        let addr = format!("172.25.0.{}", 14 + self.extra.len());
        let host = Netns::new();
        let port = format!("x{}", self.extra.len());
        let srv = &self.lan.server;
        srv.ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &host.name,
        ]);
        srv.ip(&["link", "set", &port, "master", "br0"]);
        srv.ip(&["link", "set", &port, "up"]);
        host.addr("eth0", &format!("{addr}/24"));
        self.extra.push(host);
        addr
    }
}
