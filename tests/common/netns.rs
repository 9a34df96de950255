//! Network namespaces and the processes run inside them.
//!
//! Every namespace is fresh (no default route, DNS pointed at 127.0.0.1), so nothing a
//! test starts can reach the outside world; every process runs with CAP_SYS_TIME removed
//! from its bounding set, so nothing can set the real clock.

use std::fs::{self, File};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::TempDir;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Runs `ip ARGS`, panicking with its stderr on failure (setup errors are test bugs).
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("cannot run ip(8)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh network namespace with `lo` up; Drop kills what runs in it and deletes it.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ntp6t-{}-{}", std::process::id(), n);
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        // Name lookups inside the namespace must never leave it.
        let etc = ns.etc_dir();
        fs::create_dir_all(&etc).expect("create /etc/netns dir");
        fs::write(etc.join("resolv.conf"), "nameserver 127.0.0.1\n").expect("resolv.conf");
        fs::write(etc.join("hosts"), "127.0.0.1 localhost\n::1 localhost\n").expect("hosts");
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn etc_dir(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }

    /// `ip -n NS ARGS`.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Adds `addr/prefix` to `dev` and brings it up.
    pub fn addr(&self, dev: &str, cidr: &str) {
        self.ip(&["addr", "add", cidr, "dev", dev]);
        self.ip(&["link", "set", dev, "up"]);
    }

    /// Starts `argv` in the namespace without CAP_SYS_TIME; output goes to files in `dir`.
    pub fn spawn(&self, dir: &TempDir, argv: &[&str]) -> Proc {
        let label = format!(
            "{}-{}",
            Path::new(argv[0])
                .file_name()
                .map_or("proc".into(), |f| f.to_string_lossy()),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let stdout = dir.path().join(format!("{label}.out"));
        let stderr = dir.path().join(format!("{label}.err"));
        // `ip netns exec` and `setpriv` both exec, so the child's PID is the program's.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(["setpriv", "--bounding-set", "-sys_time"])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
        Proc {
            child,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            stdout,
            stderr,
        }
    }

    /// Runs `argv` to completion (killed after `timeout`) and returns what it printed.
    pub fn run(&self, dir: &TempDir, argv: &[&str], timeout: Duration) -> Output {
        let mut p = self.spawn(dir, argv);
        let status = p.wait_timeout(timeout);
        if status.is_none() {
            p.stop();
        }
        Output {
            code: status.and_then(|s| s.code()),
            timed_out: status.is_none(),
            stdout: p.stdout(),
            stderr: p.stderr(),
        }
    }

    /// A UDP socket bound to `bind` inside the namespace, for the test's own packets.
    pub fn udp_socket(&self, bind: SocketAddr) -> UdpSocket {
        self.enter(|| UdpSocket::bind(bind))
            .unwrap_or_else(|e| panic!("udp socket {bind} in {}: {e}", self.name))
    }

    /// Runs `f` on a short-lived thread that has joined the namespace: the sockets it
    /// creates (and connects) stay there.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        let path = Path::new("/var/run/netns").join(&self.name);
        std::thread::scope(|s| {
            s.spawn(|| -> io::Result<T> {
                let ns = File::open(&path)?;
                // SAFETY: setns only changes this short-lived thread's network namespace.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
                f()
            })
            .join()
            .expect("setns thread panicked")
        })
    }

    fn pids(&self) -> Vec<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Only processes this test started can live in its private namespace.
        for sig in [libc::SIGTERM, libc::SIGKILL] {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: plain kill(2) on a PID that lives in our own namespace.
                unsafe {
                    libc::kill(pid, sig);
                }
            }
            sleep(Duration::from_millis(300));
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = fs::remove_dir_all(self.etc_dir());
    }
}

/// What a finished (or timed-out) command printed.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

/// A process started in a namespace; Drop stops it (SIGTERM, then SIGKILL) and reaps it.
pub struct Proc {
    child: Child,
    argv: Vec<String>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Command line and output, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "{:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.argv,
            self.stdout(),
            self.stderr()
        )
    }

    /// Waits until every text in `wanted` is in the process's stderr (its log under -n);
    /// how long that took, None after `timeout`.
    pub fn wait_for_stderr(&self, wanted: &[&str], timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            let log = self.stderr();
            if wanted.iter().all(|w| log.contains(w)) {
                return Some(start.elapsed());
            }
            sleep(Duration::from_millis(10));
        }
        None
    }

    /// True while the process has not exited.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, a grace period, then SIGKILL; always reaps.
    pub fn stop(&mut self) {
        if !self.is_alive() {
            return;
        }
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own unreaped child, so the PID cannot have been reused.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        if self.wait_timeout(Duration::from_secs(3)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Host addresses of [`Lan`].
pub const SERVER: &str = "172.25.0.11";
pub const CLIENT: &str = "172.25.0.12";
pub const CLIENT2: &str = "172.25.0.13";
pub const SERVER_OUTSIDE: &str = "172.26.0.11";
pub const OUTSIDER: &str = "172.26.0.13";

/// The reference LAN: server, client and client2 on 172.25.0.0/24 (a bridge in the
/// server's namespace), plus an outsider on 172.26.0.0/24 wired to the server directly.
/// No default routes anywhere.
pub struct Lan {
    pub server: Netns,
    pub client: Netns,
    pub client2: Netns,
    pub outsider: Netns,
}

impl Lan {
    pub fn new() -> Lan {
        let lan = Lan {
            server: Netns::new(),
            client: Netns::new(),
            client2: Netns::new(),
            outsider: Netns::new(),
        };
        let srv = &lan.server;
        srv.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0"]);
        srv.addr("br0", &format!("{SERVER}/24"));
        for (port, host, addr) in [("c1", &lan.client, CLIENT), ("c2", &lan.client2, CLIENT2)] {
            srv.ip(&[
                "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", &host.name,
            ]);
            srv.ip(&["link", "set", port, "master", "br0"]);
            srv.ip(&["link", "set", port, "up"]);
            host.addr("eth0", &format!("{addr}/24"));
        }
        srv.ip(&[
            "link",
            "add",
            "eth1",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &lan.outsider.name,
        ]);
        srv.addr("eth1", &format!("{SERVER_OUTSIDE}/24"));
        lan.outsider.addr("eth0", &format!("{OUTSIDER}/24"));
        lan
    }
}
